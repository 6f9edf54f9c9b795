/**
 * Restrictions before submitting (issue 20, item 6), in Chromium: an EU retail client finds funds by name, sees
 * on SPY's quote — before any order — that it is closing only for him and why, in plain words, with the UCITS funds
 * tracking the S&P 500 and their own availability; opens one he may buy; and ordering SPY anyway is refused in the
 * same words. At 390 px nothing scrolls sideways, and axe finds no serious or critical violation.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import {
  axeViolations,
  horizontalOverflow,
  loginWithTotp,
  screenshot,
  usePortalRig,
} from './support/browser.js';

const rig = usePortalRig();

const newPage = (viewport = { width: 1280, height: 860 }): Promise<Page> => rig.newPage(viewport);

async function search(page: Page, text: string): Promise<void> {
  await page.getByLabel('Symbol or name').fill(text);
  await page.getByRole('button', { name: 'Search' }).click();
}

const badge = (page: Page) => page.locator('.availability [role=status] .availability-badge');
const equivalents = (page: Page) =>
  page
    .getByRole('list', { name: /^Equivalents of / })
    .locator('li')
    .allInnerTexts();

const SPY_REFUSAL =
  'Not available to EU retail clients: no KID — closing only. SPY has no key information document (KID), which EU retail clients need to buy it; selling what you hold is allowed.';

describe('Restrictions before submitting, in Chromium', () => {
  it('shows an EU retail client that SPY is closing only, offers UCITS funds, and refuses the order in the same words', async () => {
    const page = await newPage();
    await loginWithTotp(page, rig.base, 'bruno');
    await page.goto(`${rig.base}/trade`);
    await page.getByRole('heading', { level: 1, name: 'Trade' }).waitFor();

    // Search by name: an index finds the funds tracking it, a company's name its share.
    await search(page, 'S&P 500');
    const results = page.locator('.results li');
    await expect.poll(() => results.count()).toBeGreaterThan(3);
    const found = await results.allInnerTexts();
    for (const symbol of ['SPY', 'CSPX', 'SXR8', 'VUSA'])
      expect(found.some((line) => line.startsWith(`${symbol} `))).toBe(true);
    await search(page, 'apple');
    await expect.poll(() => results.allInnerTexts()).toEqual(['AAPL Apple Inc. · NASDAQ · USD']);

    // SPY's quote says before any order what this account may do with it.
    await search(page, 'SPY');
    await page.getByRole('heading', { name: /^SPY / }).waitFor();
    await expect
      .poll(() => badge(page).innerText())
      .toBe('Not available to EU retail clients: no KID — closing only');
    const facts = page.locator('.availability-facts');
    expect(await facts.innerText()).toContain(
      'Buy: not allowed — SPY has no key information document (KID), which EU retail clients need to buy it; selling what you hold is allowed.',
    );
    expect(await facts.innerText()).toContain('Sell what you hold: allowed');
    expect(await facts.innerText()).toContain(
      'Market data: Delayed 15 min (US equities (NYSE, NASDAQ, ARCA))',
    );
    await page.getByRole('heading', { name: 'Funds tracking the S&P 500 you may buy instead' }).waitFor();
    expect(await equivalents(page)).toEqual([
      'SXR8 iShares Core S&P 500 UCITS ETF (Acc) · IBIS · EUR Available on this account',
      'VUSA Vanguard S&P 500 UCITS ETF (Dist) · AEB · EUR Available on this account',
      'CSPX iShares Core S&P 500 UCITS ETF · LSEETF · USD ETF · UK not permitted on this account',
    ]);
    // Nothing was ordered: the ticket has no outcome yet.
    expect((await page.locator('.outcome').innerText()).trim()).toBe('');
    expect(await axeViolations(page)).toEqual([]);
    await screenshot(page, 'trade-restrictions');

    // One click opens an equivalent's quote, with its own availability; focus moves to it.
    await page.getByRole('button', { name: 'Open SXR8 quote' }).click();
    await page.getByRole('heading', { name: /^SXR8 / }).waitFor();
    await expect.poll(() => badge(page).innerText()).toBe('Available on this account');
    await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe('availability-h');
    expect(await page.getByRole('button', { name: 'Buy SXR8' }).isEnabled()).toBe(true);

    // Ordering SPY anyway: refused, naming what is missing in plain words.
    await search(page, 'SPY');
    await page.getByRole('heading', { name: /^SPY / }).waitFor();
    await page.getByRole('button', { name: 'Buy SPY' }).click();
    await expect.poll(() => page.locator('.outcome [role=alert]').innerText()).toBe(SPY_REFUSAL);

    // And a London listing he has no permission for.
    await search(page, 'CSPX');
    await page.getByRole('heading', { name: /^CSPX / }).waitFor();
    await expect.poll(() => badge(page).innerText()).toBe('ETF · UK not permitted on this account');
    await page.getByRole('button', { name: 'Buy CSPX' }).click();
    await expect
      .poll(() => page.locator('.outcome [role=alert]').innerText())
      .toBe(
        'ETF · UK not permitted on this account. The account has no trading permission for ETFs in the UK.',
      );
  }, 120_000);

  it('fits 390 px with the badge and the equivalents, with no serious or critical violation', async () => {
    const page = await newPage({ width: 390, height: 844 });
    await loginWithTotp(page, rig.base, 'bruno');
    await page.goto(`${rig.base}/trade`);
    await search(page, 'SPY');
    await page.getByRole('heading', { name: /^SPY / }).waitFor();
    await expect
      .poll(() => badge(page).innerText())
      .toBe('Not available to EU retail clients: no KID — closing only');
    await page.getByRole('button', { name: 'Open VUSA quote' }).waitFor();
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    expect(await axeViolations(page)).toEqual([]);
    await page.getByRole('heading', { name: 'Can I trade SPY?' }).scrollIntoViewIfNeeded();
    await screenshot(page, 'trade-restrictions-390');
  }, 120_000);
});
