/**
 * The Readiness page in headless Chromium (issue 22): a new user — created by the operator's CLI, with an
 * authenticator app and an account, and nothing else — logs in, lands on Readiness, sees the missing items, fixes
 * two of them (reviews the legal entity right on the page; adds an instrument with live data to the watchlist on
 * the Trade page) and sees them turn OK.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import {
  axeViolations,
  horizontalOverflow,
  nextTotp,
  screenshot,
  unlabelledControls,
  usePortalRig,
} from './support/browser.js';

const rig = usePortalRig();

const cli = join(new URL('..', import.meta.url).pathname, 'packages/gateway/bin/gatehouse.js');

/** The operator's `gatehouse` command on the rig's database. */
const operator = (args: string[], input?: string) =>
  new Promise<string>((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [cli, ...args, '--config', rig.configFile],
      (error, stdout, stderr) => (error === null ? resolve(stdout) : reject(new Error(stderr))),
    );
    if (input !== undefined) child.stdin?.end(input);
  });

const PASSWORD = 'lantern harbour mosaic 41';
/** The new user's authenticator secret, from the operator's enrolment in the first test. */
let secret = '';

/** An item's state as the page shows it: the badge's state and its word. */
async function itemState(page: Page, id: string): Promise<string> {
  const badge = page.locator(`#${id} h2 [data-state]`);
  return `${await badge.getAttribute('data-state')}: ${(await badge.innerText()).replace(/^\W+\s*/, '')}`;
}

/** What has focus: its tag and its text. */
const focused = (page: Page) =>
  page.evaluate(() => ({
    tag: document.activeElement?.tagName ?? '',
    text: (document.activeElement?.textContent ?? '').trim(),
  }));

describe('the Readiness page in Chromium', () => {
  it('a new user lands on Readiness, sees the missing items, fixes two and sees them turn OK', async () => {
    await operator(
      ['user', 'create', '--username', 'nadia', '--display-name', 'Nadia New', '--password-stdin'],
      PASSWORD,
    );
    secret = /secret: ([A-Z2-7]+)/.exec(await operator(['user', 'add-totp', 'nadia']))?.[1] ?? '';
    // An account with live US equities data (alice's margin account, under IB LLC), owned with alice.
    await operator(['account', 'grant', 'U1000001', 'nadia', '--role', 'owner']);

    const page = await rig.newPage(1280);
    await page.goto(`${rig.base}/login`);
    await page.getByLabel('Username').fill('nadia');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('radio', { name: 'Authenticator app code' }).check();
    await page.getByLabel('6-digit code from your authenticator app').fill(await nextTotp(secret));
    await page.getByRole('button', { name: 'Verify' }).click();

    // Nothing asked for a page, and items are missing: the login lands on Readiness, its heading focused.
    await page.waitForURL('**/readiness');
    await expect.poll(() => focused(page)).toEqual({ tag: 'H1', text: 'Readiness' });
    const items = page.locator('.readiness-items > li');
    await expect.poll(() => items.count()).toBe(7);
    expect(await itemState(page, 'legal_entity')).toBe('missing: Missing');
    expect(await itemState(page, 'market_data')).toBe('missing: Missing');
    const missingBefore = await page.locator('.readiness-items [data-state="missing"]').count();
    expect(missingBefore).toBeGreaterThanOrEqual(2);
    // The navigation counts them, in words for a screen reader too.
    const nav = page.getByRole('navigation', { name: 'Main' });
    const readinessLink = (name: string) => nav.getByRole('link', { name, exact: true });
    await expect.poll(() => readinessLink(`Readiness ${missingBefore} missing`).count()).toBe(1);
    expect(await nav.locator('.nav-count').innerText()).toMatch(new RegExp(`^${missingBefore}\\b`));
    await expect
      .poll(() => page.getByTestId('readiness-summary').innerText())
      .toMatch(new RegExp(`^${missingBefore} missing\\b`));
    // Each item says why it matters and what was found; the market data's action is a link to the watchlist.
    const legal = page.locator('#legal_entity');
    expect(await legal.locator('.why').innerText()).not.toBe('');
    expect(await legal.innerText()).toContain('U1000001');
    expect(await legal.innerText()).toMatch(/Reviewed\s+never/);
    expect(await unlabelledControls(page)).toEqual([]);
    expect(await axeViolations(page)).toEqual([]);
    await screenshot(page, 'readiness-red');

    // 1. The legal entity, reviewed right here: announced, and the item turns OK.
    const review = legal.getByRole('button', { name: /^Mark reviewed: .* for U1000001$/ });
    await review.click();
    await legal
      .getByRole('status')
      .getByText(/^Reviewed .* for U1000001; asked again after /)
      .waitFor();
    await expect.poll(() => itemState(page, 'legal_entity')).toBe('ok: OK');
    expect(await legal.innerText()).not.toMatch(/Reviewed\s+never/);
    // The button stays where it was, with the focus, and now offers to review again.
    expect(await focused(page)).toEqual({ tag: 'BUTTON', text: 'Review again' });

    // 2. Market data: the item's action goes to the watchlist on the Trade page, which takes the focus.
    await page.locator('#market_data .item-action a').click();
    await page.waitForURL('**/trade#watchlist');
    await expect.poll(() => focused(page)).toEqual({ tag: 'H2', text: 'Watchlist' });
    const watchlist = page.getByRole('region', { name: 'Watchlist' });
    await watchlist.getByText('Nothing yet').waitFor();
    // An instrument found with the page's search is added with one button, and shows its market data.
    await page.getByLabel('Symbol').fill('AAPL');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('heading', { name: /^AAPL/ }).waitFor();
    await watchlist.getByRole('button', { name: 'Add AAPL to the watchlist' }).click();
    await watchlist.getByRole('status').getByText('AAPL added to your watchlist.').waitFor();
    await expect.poll(() => focused(page)).toEqual({ tag: 'H2', text: 'Watchlist' });
    const row = watchlist.locator('[data-instrument="AAPL"]');
    await expect.poll(() => row.locator('.badge').innerText()).toBe('Live');
    expect(await watchlist.getByRole('button', { name: 'Add AAPL to the watchlist' }).count()).toBe(0);
    expect(await unlabelledControls(page)).toEqual([]);

    // Back on Readiness: both items are OK, the count is two less.
    await nav.getByRole('link', { name: /^Readiness/ }).click();
    await page.waitForURL('**/readiness');
    await expect.poll(() => itemState(page, 'market_data')).toBe('ok: OK');
    expect(await itemState(page, 'legal_entity')).toBe('ok: OK');
    const aapl = page.locator('#market_data').getByRole('row', { name: /AAPL/ });
    expect(await aapl.innerText()).toMatch(/AAPL\s+Live\s+—\s+Accepted/);
    const missingAfter = missingBefore - 2;
    await expect
      .poll(() => page.locator('.readiness-items [data-state="missing"]').count())
      .toBe(missingAfter);
    await expect
      .poll(() =>
        readinessLink(missingAfter === 0 ? 'Readiness' : `Readiness ${missingAfter} missing`).count(),
      )
      .toBe(1);
    expect(await axeViolations(page)).toEqual([]);
    await screenshot(page, 'readiness-green');

    // At a phone's width the page fits without scrolling sideways.
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    await screenshot(page, 'readiness-390');
  }, 120_000);

  it('shows a watchlist instrument in the ticket, removes it, and the market data is missing again', async () => {
    const page = await rig.newPage(390);
    await page.goto(`${rig.base}/trade`);
    await page.getByLabel('Username').fill('nadia');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('radio', { name: 'Authenticator app code' }).check();
    await page.getByLabel('6-digit code from your authenticator app').fill(await nextTotp(secret));
    await page.getByRole('button', { name: 'Verify' }).click();
    // The login was on the Trade page: it stays there, missing items or not. The watchlist is the user's, kept
    // from the other browser's session.
    await page.getByRole('heading', { level: 1, name: 'Trade' }).waitFor();
    const watchlist = page.getByRole('region', { name: 'Watchlist' });
    // A symbol on the watchlist shows its quote and ticket.
    await watchlist.getByRole('button', { name: 'Trade AAPL' }).click();
    await page.getByRole('heading', { level: 2, name: /^AAPL/ }).waitFor();
    await page.getByRole('button', { name: 'Buy AAPL' }).waitFor();
    expect(await watchlist.getByRole('button', { name: 'Add AAPL to the watchlist' }).count()).toBe(0);
    await watchlist.getByRole('button', { name: 'Remove AAPL from the watchlist' }).click();
    await watchlist.getByRole('status').getByText('AAPL removed from your watchlist.').waitFor();
    await watchlist.getByText('Nothing yet').waitFor();
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    await page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: /^Readiness/ })
      .click();
    await expect.poll(() => itemState(page, 'market_data')).toBe('missing: Missing');

    // Push is missing: its action is one click from the button that adds a phone, which takes the focus.
    expect(await itemState(page, 'push')).toBe('missing: Missing');
    await page.locator('#push .item-action a').click();
    await page.waitForURL('**/security#push');
    await expect.poll(() => focused(page)).toEqual({ tag: 'BUTTON', text: 'Add mobile device' });
  }, 120_000);
});
