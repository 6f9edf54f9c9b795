/**
 * The Trade page through a trader's day in headless Chromium (issue 20, items 1, 7, 8 and the ticket's part of 10):
 * a limit order typed with a decimal comma, modified from the blotter through the gate (a change, a question
 * declined with Escape, a refusal), cancelled with feedback; the order history, executions and positions named by
 * symbol and side; the confirmation as a modal dialog that takes and keeps focus; a skip link; and the page at a
 * phone's width with no sideways scrolling.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import {
  axeViolations,
  horizontalOverflow,
  loginWithTotp,
  screenshot,
  unlabelledControls,
  usePortalRig,
} from './support/browser.js';

const rig = usePortalRig();

const newPage = (viewport = { width: 1280, height: 800 }): Promise<Page> => rig.newPage(viewport);

async function searchInstrument(page: Page, symbol: string): Promise<void> {
  await page.getByLabel('Symbol').fill(symbol);
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('heading', { name: new RegExp(`^${symbol.replace(/[/ ]/g, '.')}`) }).waitFor();
}

/** The quote's ask, once the snapshot is in. */
async function ask(page: Page): Promise<number> {
  const cell = page.locator('.prices dd').nth(1);
  await expect.poll(() => cell.innerText()).toMatch(/^\d/);
  return Number(await cell.innerText());
}

/**
 * Takes trading over when another session of the same person holds it (an earlier test's page holds it; the first
 * test's session finds it free, so the banner does not come).
 */
/** Makes this session the one that trades: "Trade here" when the top bar says it is read-only. */
async function takeTrading(page: Page): Promise<void> {
  const tier = page.getByRole('status', { name: 'This session' });
  await expect.poll(() => tier.innerText()).toMatch(/^(Trading|Read-only)$/);
  if ((await tier.innerText()) === 'Read-only') {
    await page.getByRole('alert').getByRole('button', { name: 'Trade here' }).click();
    await expect.poll(() => tier.innerText()).toBe('Trading');
  }
}

const focused = (page: Page) =>
  page.evaluate(() => {
    const el = document.activeElement;
    return {
      tag: el?.tagName ?? '',
      text: (el?.textContent ?? '').trim().slice(0, 80),
      label: el?.getAttribute('aria-label') ?? '',
      inDialog: el?.closest('dialog[open]') !== null && el?.closest('dialog[open]') !== undefined,
    };
  });

const feedback = (page: Page) => page.locator('.blotter .feedback').innerText();
const workingRows = (page: Page) => page.locator('#panel-working tbody tr').allInnerTexts();

describe('the Trade page in Chromium', () => {
  it('checks the price on its field, accepts a decimal comma, and modifies and cancels a working order', async () => {
    const page = await newPage();
    await loginWithTotp(page, rig.base, 'alice');
    await takeTrading(page);
    await searchInstrument(page, 'AAPL');
    await page.getByLabel('Quantity').fill('10');
    await page.getByLabel('Order type').selectOption('LMT');
    const limit = page.getByLabel('Limit price');

    // A value that is not a price is named on its field, and nothing is sent.
    await limit.fill('abc');
    await page.getByRole('button', { name: 'Buy AAPL' }).click();
    expect(await limit.getAttribute('aria-invalid')).toBe('true');
    expect(await page.getByText('Enter a price above zero, such as 150.50 or 150,50.').isVisible()).toBe(
      true,
    );
    expect((await focused(page)).tag).toBe('INPUT');
    expect(await page.locator('.outcome').innerText()).toBe('');
    expect(await workingRows(page)).toEqual([]);

    // A decimal comma is a decimal point.
    await limit.fill('150,50');
    await page.getByRole('button', { name: 'Buy AAPL' }).click();
    await expect
      .poll(() => page.locator('.outcome').innerText())
      .toBe('Order accepted: buy 10 AAPL, working.');
    expect(await limit.getAttribute('aria-invalid')).toBeNull();
    // Focus moved to the outcome.
    expect(await page.evaluate(() => document.activeElement?.className)).toBe('outcome');
    await expect.poll(() => workingRows(page)).toEqual([expect.stringContaining('BUY 10 AAPL LMT 150.50')]);
    expect(await axeViolations(page), 'the ticket').toEqual([]);
    await screenshot(page, 'trade');

    // Modify: a pre-filled ticket whose heading takes focus.
    await page.getByRole('button', { name: 'Modify BUY 10 AAPL LMT 150.50' }).click();
    const ticket = page.getByRole('form', { name: 'Modify order: BUY 10 AAPL LMT 150.50' });
    await ticket.waitFor();
    expect(await focused(page)).toMatchObject({ tag: 'H2', text: 'Modify order' });
    expect(await ticket.getByLabel('Quantity').inputValue()).toBe('10');
    expect(await ticket.getByLabel('Limit price').inputValue()).toBe('150.50');
    await screenshot(page, 'trade-modify');

    // A price 10 % through the market: the gate asks, as for a new order; Escape declines and changes nothing.
    const market = await ask(page);
    await ticket.getByLabel('Limit price').fill((market * 1.1).toFixed(2));
    await ticket.getByRole('button', { name: 'Change order' }).click();
    const question = page.getByRole('alertdialog', { name: 'Please confirm' });
    await question.waitFor();
    expect(await question.innerText()).toContain('Modify order: BUY 10 AAPL LMT 150.50');
    expect(await ticket.getByRole('button', { name: 'Change order' }).isDisabled()).toBe(true);
    await page.keyboard.press('Escape');
    await expect.poll(() => question.count()).toBe(0);
    expect(await workingRows(page)).toEqual([expect.stringContaining('BUY 10 AAPL LMT 150.50')]);

    // 30 % through: refused in the gateway's words; the order stays as it was.
    await ticket.getByLabel('Limit price').fill((market * 1.3).toFixed(2));
    await ticket.getByRole('button', { name: 'Change order' }).click();
    await expect.poll(() => page.locator('.ticket .outcome [role=alert]').innerText()).toMatch(/\S/);
    expect(await page.locator('.ticket .outcome [role=alert]').innerText()).toMatch(
      /through the market|band/i,
    );
    await page.waitForTimeout(300);
    expect(await workingRows(page)).toEqual([expect.stringContaining('BUY 10 AAPL LMT 150.50')]);

    // A change the gate accepts, typed with a decimal comma: a short confirmation, and the row shows the new values.
    await ticket.getByLabel('Quantity').fill('12');
    await ticket.getByLabel('Limit price').fill('151,25');
    await ticket.getByRole('button', { name: 'Change order' }).click();
    await expect.poll(() => feedback(page)).toBe('Order changed: BUY 12 AAPL LMT 151.25');
    expect(await focused(page)).toMatchObject({ text: 'Order changed: BUY 12 AAPL LMT 151.25' });
    await expect.poll(() => workingRows(page)).toEqual([expect.stringContaining('BUY 12 AAPL LMT 151.25')]);
    expect(await page.getByRole('form', { name: /^Modify order/ }).count()).toBe(0);

    // Cancel: pending, then done; the ticket's own line no longer says "working".
    await page.getByLabel('Order type').selectOption('LMT');
    await page.getByLabel('Limit price').fill('149.00');
    await page.getByLabel('Quantity').fill('3');
    await page.getByRole('button', { name: 'Buy AAPL' }).click();
    await expect
      .poll(() => page.locator('.outcome').innerText())
      .toBe('Order accepted: buy 3 AAPL, working.');
    await page.getByRole('button', { name: 'Cancel BUY 3 AAPL LMT 149.00' }).click();
    await expect.poll(() => feedback(page)).toBe('Cancelled: BUY 3 AAPL LMT 149.00');
    await expect
      .poll(() => page.locator('.outcome').innerText())
      .toBe('Order accepted: buy 3 AAPL, cancelled.');
    await page.getByRole('button', { name: 'Cancel BUY 12 AAPL LMT 151.25' }).click();
    await expect.poll(() => feedback(page)).toBe('Cancelled: BUY 12 AAPL LMT 151.25');
    expect((await focused(page)).text).toBe('Cancelled: BUY 12 AAPL LMT 151.25');
    await expect.poll(() => workingRows(page)).toEqual([]);
    expect(await page.locator('#panel-working').innerText()).toContain('No working orders.');
  }, 120_000);

  it('shows the history, executions and positions by symbol and side, with value and P&L', async () => {
    const page = await newPage();
    await loginWithTotp(page, rig.base, 'alice');
    await takeTrading(page);
    await searchInstrument(page, 'AAPL');
    const market = await ask(page);
    // A market order fills; a limit beyond the outer band is rejected.
    await page.getByLabel('Quantity').fill('5');
    await page.getByRole('button', { name: 'Buy AAPL' }).click();
    await expect
      .poll(() => page.locator('.outcome').innerText())
      .toMatch(/^Order accepted: buy 5 AAPL, filled at/);
    await page.getByLabel('Order type').selectOption('LMT');
    const far = (market * 1.5).toFixed(2);
    await page.getByLabel('Limit price').fill(far);
    await page.getByLabel('Quantity').fill('2');
    await page.getByRole('button', { name: 'Buy AAPL' }).click();
    await expect.poll(() => page.locator('.outcome [role=alert]').innerText()).toMatch(/\S/);

    const history = page.getByRole('tab', { name: 'Order history' });
    await history.click();
    expect(await history.getAttribute('aria-selected')).toBe('true');
    const rows = page.locator('#panel-history tbody tr');
    await expect.poll(() => rows.count()).toBeGreaterThanOrEqual(4);
    const texts = await rows.allInnerTexts();
    expect(texts.find((t) => t.includes('BUY 12 AAPL LMT 151.25'))).toContain('Cancelled');
    expect(texts.find((t) => t.includes('BUY 3 AAPL LMT 149.00'))).toContain('Cancelled');
    expect(texts.find((t) => t.includes('BUY 5 AAPL MKT'))).toMatch(/Filled[\s\S]*5 filled at/);
    expect(texts.find((t) => t.includes(`BUY 2 AAPL LMT ${far}`))).toMatch(
      /Rejected[\s\S]*The price is too far through the market/,
    );
    // No row is only a raw id.
    for (const t of texts) expect(t).toMatch(/^(BUY|SELL) \d+ AAPL/);
    // The arrow keys move between the tabs.
    await history.focus();
    await page.keyboard.press('ArrowLeft');
    expect(await page.getByRole('tab', { name: /^Working orders/ }).getAttribute('aria-selected')).toBe(
      'true',
    );
    await page.keyboard.press('ArrowRight');
    expect(await history.getAttribute('aria-selected')).toBe('true');
    expect(await axeViolations(page), 'the history tab').toEqual([]);
    await screenshot(page, 'trade-history');

    const executions = await page.getByRole('region', { name: 'Executions' }).locator('li').allInnerTexts();
    expect(executions[0]).toMatch(/^\d\d:\d\d:\d\d BUY 5 AAPL @ \d+\.\d\d USD$/);
    const position = page.getByRole('table', { name: 'Positions' }).getByRole('row', { name: /^AAPL/ });
    const cells = await position.locator('td').allInnerTexts();
    // Quantity, average cost, last, market value, unrealised P&L.
    expect(cells).toHaveLength(5);
    expect(cells[0]).toBe('5');
    const last = Number(cells[2]);
    expect(last).toBeGreaterThan(0);
    expect(cells[3]).toBe(`${(5 * last).toLocaleString('en-US', { minimumFractionDigits: 2 })} USD`);
    expect(cells[4]).toMatch(/^[+-]?[\d,]+\.\d\d USD$/);
  }, 120_000);

  it('opens the confirmation as a modal in view, keeps focus in it, and Escape means "Don’t send"', async () => {
    const page = await newPage();
    await loginWithTotp(page, rig.base, 'alice');
    await takeTrading(page);

    // The skip link is the first stop of Tab, and takes focus past the navigation.
    await page.goto(`${rig.base}/trade`);
    await page.getByLabel('Symbol').waitFor();
    await page.keyboard.press('Tab');
    expect(await focused(page)).toMatchObject({ tag: 'A', text: 'Skip to content' });
    await page.keyboard.press('Enter');
    expect((await focused(page)).tag).toBe('MAIN');

    await searchInstrument(page, 'T 4 1/4 11/15/34');
    await expect.poll(() => page.getByTestId('entitlement').innerText()).toBe('No market data');
    const buy = page.getByRole('button', { name: /^Buy T 4/ });
    await buy.click();
    const dialog = page.getByRole('alertdialog', { name: 'Please confirm' });
    await dialog.waitFor();
    expect(await dialog.getAttribute('aria-modal')).toBe('true');
    // In view at 1280×800 without scrolling.
    const box = await dialog.boundingBox();
    expect(box).not.toBeNull();
    expect(box?.y ?? -1).toBeGreaterThanOrEqual(0);
    expect((box?.y ?? 0) + (box?.height ?? 0)).toBeLessThanOrEqual(800);
    // Focus moved into it; the ticket is locked.
    expect(await focused(page)).toMatchObject({ tag: 'H3', text: 'Please confirm', inDialog: true });
    expect(await buy.isDisabled()).toBe(true);
    expect(await axeViolations(page), 'the confirmation dialog').toEqual([]);
    await screenshot(page, 'trade-confirmation');
    // Tab and Shift+Tab stay inside.
    const stops: string[] = [];
    for (let i = 0; i < 4; i += 1) {
      await page.keyboard.press('Tab');
      const f = await focused(page);
      expect(f.inDialog).toBe(true);
      stops.push(f.text);
    }
    expect(stops).toEqual(['Confirm and send', 'Don’t send', 'Confirm and send', 'Don’t send']);
    await page.keyboard.press('Shift+Tab');
    expect(await focused(page)).toMatchObject({ text: 'Confirm and send', inDialog: true });
    // Escape: not sent, focus back on the ticket's button.
    await page.keyboard.press('Escape');
    await expect.poll(() => dialog.count()).toBe(0);
    expect(await page.locator('.outcome').innerText()).toBe('');
    await expect.poll(async () => (await focused(page)).text).toMatch(/^Buy T 4/);
    expect(await buy.isDisabled()).toBe(false);

    // Asked again and confirmed: the order is sent once, and focus moves to its outcome.
    await buy.click();
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Confirm and send' }).click();
    await expect
      .poll(() => page.locator('.outcome').innerText())
      .toMatch(/^Order accepted: buy 1 T 4 1\/4 11\/15\/34/);
    expect(await page.evaluate(() => document.activeElement?.className)).toBe('outcome');
  }, 120_000);

  it('fits a phone: no sideways scrolling, the blotter as cards, every control labelled', async () => {
    const page = await newPage({ width: 390, height: 844 });
    await loginWithTotp(page, rig.base, 'alice');
    await takeTrading(page);
    await searchInstrument(page, 'AAPL');
    await page.getByLabel('Order type').selectOption('LMT');
    await page.getByLabel('Limit price').fill('140,00');
    await page.getByRole('button', { name: 'Buy AAPL' }).click();
    await expect
      .poll(() => workingRows(page))
      .toEqual(expect.arrayContaining([expect.stringContaining('BUY 1 AAPL LMT 140.00')]));
    await page.waitForLoadState('networkidle');
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    expect(await unlabelledControls(page)).toEqual([]);
    // Each row is a card: its cells stacked, the actions reachable.
    const row = page.locator('#panel-working tbody tr').first();
    expect(await row.evaluate((el) => getComputedStyle(el).display)).toBe('block');
    const modify = page.getByRole('button', { name: 'Modify BUY 1 AAPL LMT 140.00' });
    const box = await modify.boundingBox();
    expect((box?.x ?? 0) + (box?.width ?? 0)).toBeLessThanOrEqual(390);
    await screenshot(page, 'trade-390');
    expect(await axeViolations(page), 'the Trade page at 390 px').toEqual([]);
    await page.getByRole('tab', { name: 'Order history' }).click();
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
  }, 120_000);

  it('gives a viewer no Modify or Cancel', async () => {
    const page = await newPage();
    await loginWithTotp(page, rig.base, 'viktor');
    await expect.poll(() => page.getByLabel('Account').inputValue()).toBe('U1000001');
    await page.getByRole('heading', { name: 'Orders' }).waitFor();
    await page.waitForLoadState('networkidle');
    expect(await page.getByRole('button', { name: /^(Modify|Cancel) / }).count()).toBe(0);
  }, 60_000);
});
