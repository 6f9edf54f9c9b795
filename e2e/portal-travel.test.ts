/**
 * Issue 22, item 3, in Chromium: on the Security page, "Travelling?" announces a trip, lists it and cancels it;
 * a refused trip says why in words and changes nothing. The form is labelled, announces its results (role=status,
 * focused), fits 390 px and has no serious accessibility violation.
 */
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

const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);

describe('Travelling? on the Security page', () => {
  it('announces a trip, refuses a reversed one in words, lists and cancels, at 390 px', async () => {
    const page = await rig.newPage(390);
    await loginWithTotp(page, rig.base, 'alice');
    await page.goto(`${rig.base}/security`);
    await page.getByRole('heading', { name: 'Travelling?' }).waitFor();
    await page.getByText('No trips announced.').waitFor();
    const form = page.getByRole('form', { name: 'Announce a trip' });

    // A last day before the first: refused, in words, and nothing is listed.
    await form.getByLabel('Country').selectOption('FR');
    await form.getByLabel('First day').fill(day(5));
    await form.getByLabel('Last day').fill(day(2));
    await form.getByRole('button', { name: 'Announce trip' }).click();
    await form.getByText('The last day is before the first day.').waitFor();
    expect(await page.getByText('No trips announced.').isVisible()).toBe(true);

    await form.getByLabel('Country').selectOption('DE');
    await form.getByLabel('First day').fill(day(0));
    await form.getByLabel('Last day').fill(day(7));
    await form.getByRole('button', { name: 'Announce trip' }).click();
    const announced = `Trip to Germany from ${day(0)} to ${day(7)} announced.`;
    await page.getByRole('status').filter({ hasText: announced }).waitFor();
    await expect.poll(() => page.evaluate(() => document.activeElement?.textContent ?? '')).toBe(announced);
    const list = page.getByRole('list', { name: 'Trips announced' });
    expect(await list.innerText()).toContain(`Germany: ${day(0)} to ${day(7)}`);

    expect(await unlabelledControls(page)).toEqual([]);
    expect(await horizontalOverflow(page)).toBe(0);
    expect(await axeViolations(page)).toEqual([]);
    await screenshot(page, 'security-travel');

    await list
      .getByRole('button', { name: `Cancel the trip to Germany from ${day(0)} to ${day(7)}` })
      .click();
    await page.getByRole('status').filter({ hasText: 'Trip to Germany cancelled.' }).waitFor();
    await page.getByText('No trips announced.').waitFor();
  }, 90_000);
});
