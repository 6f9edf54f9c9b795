/**
 * What-if before placing on the Trade page, in headless Chromium (issue 22, item 2): as a quantity is typed the
 * ticket shows what the order would do — accepted, with its buying power before and after and its commission — and
 * an order the gate refuses shows the refusal before it is placed, in the words the ticket shows after placing it;
 * the questions a far limit would ask; only the latest answer, even when an older one comes back last; announced
 * politely; at a phone's width with no sideways scrolling and no jump as the answers change.
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

async function tradeAapl(page: Page): Promise<void> {
  await loginWithTotp(page, rig.base, 'alice');
  const tier = page.getByRole('status', { name: 'This session' });
  await expect.poll(() => tier.innerText()).toMatch(/^(Trading|Read-only)$/);
  if ((await tier.innerText()) === 'Read-only') {
    await page.getByRole('alert').getByRole('button', { name: 'Trade here' }).click();
    await expect.poll(() => tier.innerText()).toBe('Trading');
  }
  await page.getByLabel('Symbol').fill('AAPL');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('heading', { name: /^AAPL/ }).waitFor();
}

const whatIf = (page: Page) => page.getByRole('status', { name: 'What this order would do' });
const settled = async (page: Page) => {
  await expect.poll(() => whatIf(page).getAttribute('aria-busy')).toBe('false');
  return whatIf(page).innerText();
};
const ACCEPTED =
  /^Would be accepted — buying power ([\d,]+\.\d\d) → ([\d,]+\.\d\d) USD, commission 1\.00 USD\.\n+Initial margin [\d,]+\.\d\d → [\d,]+\.\d\d USD · position (-?\d+) → (-?\d+)$/;
const amount = (s: string | undefined) => Number((s ?? '').replaceAll(',', ''));
/** The change in position an accepted answer shows. */
const positionChange = (text: string) => {
  const [, from, to] = /position (-?\d+) → (-?\d+)$/.exec(text) ?? [];
  return Number(to) - Number(from);
};

describe('what-if on the Trade page in Chromium', () => {
  it('shows what a typed order would do, and a refusal before the order is placed, in the same words', async () => {
    const page = await rig.newPage(390);
    await tradeAapl(page);
    const quantity = page.getByLabel('Quantity');
    expect(await whatIf(page).getAttribute('aria-live')).toBe('polite');

    await quantity.fill('10');
    await expect.poll(() => settled(page)).toMatch(ACCEPTED);
    const [, before, after, from, to] = ACCEPTED.exec(await whatIf(page).innerText()) ?? [];
    expect(amount(after)).toBeLessThan(amount(before));
    expect(Number(to) - Number(from)).toBe(10);
    // Where the ticket's outcome line sits on the page (not in the viewport: focus may scroll it).
    const y = () =>
      page.locator('.outcome').evaluate((el) => Math.round(el.getBoundingClientRect().top + window.scrollY));
    const yAccepted = await y();

    // Far more than the account can carry: refused before anything is sent.
    await quantity.fill('100000');
    await expect.poll(() => settled(page)).toMatch(/^Would be refused — /);
    const refusedWords = (await whatIf(page).innerText()).replace(/^Would be refused — /, '');
    expect(refusedWords.length).toBeGreaterThan(10);
    expect(await page.locator('.outcome').innerText()).toBe('');
    const yRefused = await y();
    expect(yRefused).toBeGreaterThanOrEqual(yAccepted);
    expect(await horizontalOverflow(page)).toBe(0);
    expect(await unlabelledControls(page)).toEqual([]);
    expect(await axeViolations(page), 'the ticket with a refusal ahead').toEqual([]);
    await screenshot(page, 'whatif');

    // Placing it anyway meets the same refusal, in the same words.
    await page.getByRole('button', { name: 'Buy AAPL' }).click();
    await expect.poll(() => page.locator('.outcome').innerText()).toBe(refusedWords);

    // Back to a small order: accepted again, and the page below does not move up under the reader.
    await quantity.fill('3');
    await expect.poll(() => settled(page)).toMatch(ACCEPTED);
    expect(await y()).toBe(yRefused);
  });

  it('shows the questions a far limit would ask, and only the latest answer when an older one comes back last', async () => {
    const page = await rig.newPage(1280);
    await tradeAapl(page);
    const askCell = page.locator('.prices dd').nth(1);
    await expect.poll(() => askCell.innerText()).toMatch(/^\d/);
    const ask = Number(await askCell.innerText());
    await page.getByLabel('Order type').selectOption('LMT');
    await page.getByLabel('Limit price').fill((ask * 1.1).toFixed(2));
    await page.getByLabel('Quantity').fill('2');
    await expect.poll(() => settled(page)).toMatch(/^Would ask you to confirm — buying power /);
    expect(await whatIf(page).locator('[data-question="price_far_through_market"]').innerText()).toContain(
      'through the market',
    );
    await page.getByLabel('Order type').selectOption('MKT');

    // The answer about 5 shares is held back until the one about 7 is shown: it is never shown over it.
    let releaseFive: () => void = () => {};
    const fiveHeld = new Promise<void>((resolve) => {
      releaseFive = resolve;
    });
    await page.route('**/orders/what-if', async (route) => {
      const body = route.request().postDataJSON() as { quantity: number };
      const response = await route.fetch();
      if (body.quantity === 5) await fiveHeld;
      await route.fulfill({ response });
    });
    await page.getByLabel('Quantity').fill('5');
    await page.waitForRequest((r) => r.url().endsWith('/orders/what-if') && r.postDataJSON().quantity === 5);
    await page.getByLabel('Quantity').fill('7');
    await expect.poll(async () => positionChange(await settled(page))).toBe(7);
    releaseFive();
    await page.waitForResponse(
      (r) => r.url().endsWith('/orders/what-if') && r.request().postDataJSON().quantity === 5,
    );
    await page.waitForTimeout(200);
    expect(positionChange(await whatIf(page).innerText())).toBe(7);
    await page.unroute('**/orders/what-if');
  });
});
