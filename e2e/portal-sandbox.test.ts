/**
 * The portal's Sandbox page in headless Chromium, on `gatehouse serve --demo` (the failure sandbox on): shown in
 * the navigation only when `/v1/session` says `sandbox: true`, usable at 390 px and by keyboard; a network change
 * injected on the own session with its button is listed and the portal asks for a step-up, as after a real move;
 * a fault is cleared with its button, and Clear all clears the rest. Saved as docs/screenshots/sandbox-page.png.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import {
  horizontalOverflow,
  loginWithTotp,
  screenshot,
  unlabelledControls,
  usePortalRig,
} from './support/browser.js';

const rig = usePortalRig();

const newPage = (viewport = { width: 390, height: 844 }): Promise<Page> => rig.newPage(viewport);

const faultRow = (page: Page, kind: string) =>
  page.getByRole('table', { name: 'Your faults' }).getByRole('row', { name: new RegExp(kind) });

describe('the portal’s Sandbox page in Chromium', () => {
  it('injects a network change on the own session by keyboard, lists it, and the portal asks for a step-up', async () => {
    const page = await newPage();
    await loginWithTotp(page, rig.base, 'alice');
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Sandbox' }).focus();
    await page.keyboard.press('Enter');
    await page.waitForURL('**/sandbox');
    await page.getByRole('heading', { level: 1, name: 'Sandbox' }).waitFor();
    await page.getByText('No faults yet.').waitFor();
    expect(await unlabelledControls(page)).toEqual([]);
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);

    // By keyboard: focus the kind's button and press Enter.
    await page.getByRole('button', { name: 'Network change', exact: true }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('status').getByText('Network change: injected.').waitFor();
    const row = faultRow(page, 'Network change');
    await row.waitFor();
    expect(await row.innerText()).toMatch(/Network change\s+This session\s+done\s+.+\s+—\s+1/);
    // The portal reacts as to a real move to another network: this session must verify a factor to trade.
    const banner = page.getByRole('alert').filter({ hasText: 'This session cannot trade yet.' });
    await banner.waitFor();
    expect(await banner.innerText()).toContain('Confirm it is you');
    await banner.getByRole('button', { name: 'Verify it is you' }).waitFor();

    // A condition on the person, with its parameter: listed active, then cleared with its own button.
    await page.getByRole('combobox', { name: 'Delay for Text message late' }).selectOption({ label: '60 s' });
    await page.getByRole('button', { name: 'Text message late', exact: true }).click();
    await faultRow(page, 'Text message late').getByText('active').waitFor();
    await page.getByRole('button', { name: 'Text message lost', exact: true }).click();
    await faultRow(page, 'Text message lost').getByText('active').waitFor();
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    await screenshot(page, 'sandbox-page');

    await page.getByRole('button', { name: 'Clear Text message late' }).click();
    await faultRow(page, 'Text message late').getByText('cleared').waitFor();
    await page.getByRole('button', { name: 'Clear all' }).click();
    await faultRow(page, 'Text message lost').getByText('cleared').waitFor();
    await page.getByRole('status').getByText('1 fault cleared.').waitFor();
    expect(await page.getByRole('button', { name: 'Clear all' }).isDisabled()).toBe(true);
  }, 90_000);

  it('is not in the navigation when /v1/session does not say sandbox', async () => {
    const page = await newPage({ width: 1280, height: 860 });
    // A gateway with the sandbox off leaves the flag out: the same answer without it.
    await page.route('**/v1/session', async (route) => {
      const response = await route.fetch();
      const body = (await response.json()) as Record<string, unknown>;
      delete body.sandbox;
      await route.fulfill({ response, json: body });
    });
    await loginWithTotp(page, rig.base, 'bruno');
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Trade' }).waitFor();
    expect(await nav.getByRole('link', { name: 'Sandbox' }).count()).toBe(0);
    await page.goto(`${rig.base}/sandbox`);
    await page.getByText('The failure sandbox is off on this gateway.').waitFor();
  }, 60_000);
});
