/**
 * Read-only versus trading in the portal (issue 20, finding 2), in headless Chromium: the top bar says whether this
 * session trades; a closed tab gives trading up (a `pagehide` beacon) so the next login trades at once; a second
 * login while the first is open is read-only with the reason — when and from where the holder was last seen — and
 * may cancel; "Trade here" takes trading over and the first tab says so; signing out gives trading up.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { axeViolations, loginWithTotp, SCREENSHOT_DIR, screenshot, usePortalRig } from './support/browser.js';

const rig = usePortalRig();

/** A new browser (its own cookies: a session and a device of its own). */
const newBrowser = (): Promise<BrowserContext> => rig.newContext({ width: 1280, height: 860 });

const tier = (page: Page) => page.getByRole('status', { name: 'This session' }).innerText();
const banner = (page: Page) => page.locator('.banner[role=alert]');

async function searchInstrument(page: Page, symbol: string): Promise<void> {
  await page.getByLabel('Symbol').fill(symbol);
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('heading', { name: new RegExp(`^${symbol}`) }).waitFor();
}

/** Whether this page's session holds trading now, as the gateway says. */
const holdsTrading = (page: Page) =>
  page.evaluate(async () => {
    const who = (await (await fetch('/v1/session')).json()) as { csrfToken: string };
    const response = await fetch('/v1/session/tickle', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': who.csrfToken },
      body: '{}',
    });
    return ((await response.json()) as { tier: string }).tier === 'brokerage';
  });

describe('the trading tier in the portal', () => {
  it('gives trading up when the last tab of a session closes: the next login trades at once', async () => {
    const first = await newBrowser();
    const tab = await first.newPage();
    await loginWithTotp(tab, rig.base, 'hana');
    await expect.poll(() => tier(tab)).toBe('Trading');
    // A second tab of the same browser shares the session: closing one of the two keeps trading.
    const other = await first.newPage();
    await other.goto(`${rig.base}/trade`);
    await expect.poll(() => tier(other)).toBe('Trading');
    await tab.close();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await holdsTrading(other)).toBe(true);
    // The last one closes: its beacon gives trading up.
    await other.close();

    const second = await (await newBrowser()).newPage();
    await loginWithTotp(second, rig.base, 'hana');
    await expect.poll(() => tier(second)).toBe('Trading');
    expect(await banner(second).count()).toBe(0);
    expect(await holdsTrading(second)).toBe(true);
    expect(await axeViolations(second)).toEqual([]);
  }, 120_000);

  it('makes a second login read-only with the reason, lets it cancel, and "Trade here" turns the first read-only', async () => {
    const first = await (await newBrowser()).newPage();
    await loginWithTotp(first, rig.base, 'alice');
    await expect.poll(() => tier(first)).toBe('Trading');
    await expect.poll(() => first.getByLabel('Account').inputValue()).toBe('DU1000001');
    // A resting order: a limit far below the market.
    await searchInstrument(first, 'AAPL');
    await first.getByLabel('Order type').selectOption('LMT');
    await first.getByLabel('Limit price').fill('1');
    await first.getByRole('button', { name: 'Buy AAPL' }).click();
    await expect
      .poll(() => first.locator('.outcome').innerText())
      .toMatch(/^Order accepted: buy 1 AAPL, working/);

    const second = await (await newBrowser()).newPage();
    await loginWithTotp(second, rig.base, 'alice');
    await expect.poll(() => tier(second)).toBe('Read-only');
    const held = banner(second);
    await expect
      .poll(() => held.innerText())
      .toMatch(
        /^This session can view and cancel orders, not place them\. Trading is held by your web session on Chrome on Linux, last seen (just now|\d+ min ago) from [0-9a-f.:]+\./,
      );
    // The ticket says why it is disabled, before anything is submitted.
    await expect.poll(() => second.getByLabel('Account').inputValue()).toBe('DU1000001');
    await searchInstrument(second, 'AAPL');
    const buy = second.getByRole('button', { name: 'Buy AAPL' });
    expect(await buy.isDisabled()).toBe(true);
    expect(await second.getByLabel('Side').isDisabled()).toBe(true);
    const describedBy = await buy.getAttribute('aria-describedby');
    expect(await second.locator(`[id="${describedBy}"]`).innerText()).toMatch(/^Read-only: /);
    expect(await second.getByRole('form', { name: 'Order ticket' }).innerText()).toMatch(
      /Read-only: trading is held by your web session on Chrome on Linux, last seen (just now|\d+ min ago) from [0-9a-f.:]+\. You can view and cancel orders here, not place them\./,
    );
    expect(await axeViolations(second)).toEqual([]);
    await screenshot(second, 'trade-read-only');

    // Read-only may cancel: the first tab's working order ends.
    await second.getByRole('button', { name: 'Cancel BUY 1 AAPL' }).click();
    await second.getByText('No working orders.').waitFor();
    await second.getByRole('tab', { name: 'Working orders (0)' }).waitFor();

    // "Trade here" takes trading over: this top bar says Trading, the first tab's says Read-only at once.
    await held.getByRole('button', { name: 'Trade here' }).click();
    await expect.poll(() => tier(second)).toBe('Trading');
    await expect.poll(() => held.count()).toBe(0);
    expect(await buy.isDisabled()).toBe(false);
    await expect.poll(() => tier(first)).toBe('Read-only');
    const competing = banner(first);
    await expect
      .poll(() => competing.innerText())
      .toMatch(
        /^Another session took trading over\. This session can view and cancel orders, not place them\. Trading is held by your web session on Chrome on Linux, last seen (just now|\d+ min ago) from [0-9a-f.:]+\./,
      );
    expect(await first.getByRole('button', { name: 'Buy AAPL' }).isDisabled()).toBe(true);
    expect(await axeViolations(first)).toEqual([]);
    await screenshot(first, 'trade-competing');
    for (const name of ['trade-read-only', 'trade-competing'])
      expect(existsSync(join(SCREENSHOT_DIR, `${name}.png`)), name).toBe(true);
  }, 120_000);

  it('gives trading up at sign-out: the next login trades at once', async () => {
    const first = await (await newBrowser()).newPage();
    await loginWithTotp(first, rig.base, 'charlotte');
    await expect.poll(() => tier(first)).toBe('Trading');
    await first.getByRole('button', { name: 'Sign out', exact: true }).click();
    await expect.poll(() => first.getByText('You signed out.').isVisible()).toBe(true);

    const second = await (await newBrowser()).newPage();
    await loginWithTotp(second, rig.base, 'charlotte');
    await expect.poll(() => tier(second)).toBe('Trading');
    expect(await banner(second).count()).toBe(0);
  }, 120_000);
});
