/**
 * An accessibility scan of every page of the portal with axe-core (WCAG 2.1 A/AA and best practices), at a
 * desktop width and a phone's: the login page and its factor step, each signed-in page, the consent page and the
 * authenticator. No serious or critical violation is allowed; the failure lists each one with its element.
 */
import {
  AppAuth,
  generateEs256,
  newDpopKey,
  publicJwk,
  realScheduler,
  ServerClock,
  Transport,
} from '@gatehouse/sdk';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import {
  ADMIN_TOKEN,
  axeViolations,
  DEMO,
  loginWithTotp,
  nextTotp,
  startLogin,
  usePortalRig,
} from './support/browser.js';

const rig = usePortalRig();

const newPage = (width: number): Promise<Page> => rig.newPage(width);

const SIGNED_IN = [
  { path: '/trade', heading: 'Trade' },
  { path: '/account', heading: 'Account' },
  { path: '/security', heading: 'Security' },
  { path: '/api-clients', heading: 'API clients' },
  { path: '/sandbox', heading: 'Sandbox' },
  { path: '/readiness', heading: 'Readiness' },
];

// Each login spends a TOTP time step of its user (replays are refused), so the scans log in as different demo users
// and never wait for a new step.
const USERS = {
  1280: { pages: 'bruno', consent: 'charlotte' },
  390: { pages: 'hana', consent: 'bruno' },
} as const;

describe.each([1280, 390] as const)('every page at %i px', (width) => {
  it('the login page, its factor step and the authenticator have no serious or critical violation', async () => {
    const page = await newPage(width);
    await page.goto(`${rig.base}/login`);
    await page.getByLabel('Username').waitFor();
    expect(await axeViolations(page), '/login').toEqual([]);
    await startLogin(page, rig.base, 'alice');
    expect(await axeViolations(page), 'the factor step').toEqual([]);
    await page.goto(`${rig.base}/authenticator`);
    await page.getByRole('heading', { level: 1 }).waitFor();
    expect(await axeViolations(page), '/authenticator').toEqual([]);
  }, 60_000);

  it('each signed-in page has no serious or critical violation', async () => {
    const page = await newPage(width);
    await loginWithTotp(page, rig.base, USERS[width].pages);
    const found: Record<string, string[]> = {};
    for (const { path, heading } of SIGNED_IN) {
      await page.goto(`${rig.base}${path}`);
      await page.getByRole('heading', { level: 1, name: heading }).waitFor();
      await page.waitForLoadState('networkidle');
      const violations = await axeViolations(page);
      if (violations.length > 0) found[path] = violations;
    }
    expect(found).toEqual({});
  }, 90_000);

  it('the consent page an app sends a person to has no serious or critical violation', async () => {
    const page = await newPage(width);
    await loginWithTotp(page, rig.base, USERS[width].consent);
    const appKey = await generateEs256(false);
    const registered = await fetch(`${rig.base}/v1/admin/oauth/clients`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'Charting app',
        keys: [await publicJwk(appKey.publicKey)],
        redirectUris: ['http://127.0.0.1:9/callback'],
        scopes: ['read', 'trade'],
      }),
    });
    expect(registered.status).toBe(201);
    const { clientId } = (await registered.json()) as { clientId: string };
    const transport = new Transport(rig.base, await newDpopKey(), new ServerClock(realScheduler));
    const app = new AppAuth({ clientId, clientKey: appKey.privateKey, issuer: rig.base });
    const pushed = await app.pushAuthorization(transport, {
      redirectUri: 'http://127.0.0.1:9/callback',
      scope: 'read trade',
      state: 'a11y',
    });
    await page.goto(pushed.authorizeUrl);
    await page.getByRole('heading', { name: 'Charting app asks to act for you' }).waitFor();
    expect(await axeViolations(page)).toEqual([]);
  }, 60_000);
});

/** What has focus: its tag, its text and its accessible name's source (a label, for a radio). */
async function focused(page: Page): Promise<{ tag: string; text: string; label: string }> {
  return page.evaluate(() => {
    const el = document.activeElement as HTMLInputElement | null;
    return {
      tag: el?.tagName ?? '',
      text: (el?.textContent ?? '').trim(),
      label: (el?.labels?.[0]?.textContent ?? '').trim(),
    };
  });
}

describe('focus moves into each new step, never to the page’s body', () => {
  it('Continue, Verify, a page of the navigation, a step-up prompt and its Verify', async () => {
    const page = await newPage(1280);
    await page.goto(`${rig.base}/login`);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(DEMO.alice.password);
    await page.keyboard.press('Enter');
    // Continue: the factor step's first choice has the focus, read out with the group's name.
    await page.getByRole('group', { name: 'Choose a second factor' }).waitFor();
    await expect.poll(() => focused(page)).toMatchObject({ tag: 'INPUT', label: 'Authenticator app code' });
    await page.getByRole('radio', { name: 'Authenticator app code' }).check();
    await page.getByLabel('6-digit code from your authenticator app').fill(await nextTotp(DEMO.alice.totp));
    await page.getByRole('button', { name: 'Verify' }).click();
    // Verify: the signed-in page's heading — Readiness, where a login lands while an item is missing (alice has no
    // push device).
    await page.waitForURL('**/readiness');
    await expect.poll(() => focused(page)).toEqual({ tag: 'H1', text: 'Readiness', label: '' });

    // A page chosen in the navigation by keyboard: its heading.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Sandbox' }).focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => focused(page)).toEqual({ tag: 'H1', text: 'Sandbox', label: '' });

    // A move to another network (the failure sandbox's fault): the step-up prompt takes the focus at its heading,
    // and after its Verify the focus is on the page's heading (the button that opened it is gone).
    await page.getByRole('button', { name: 'Network change', exact: true }).click();
    await page.getByRole('button', { name: 'Verify it is you' }).click();
    await expect.poll(() => focused(page)).toEqual({ tag: 'H3', text: 'Confirm it is you', label: '' });
    await page.getByLabel('Code', { exact: true }).fill(await nextTotp(DEMO.alice.totp));
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Verify it is you' }).waitFor({ state: 'detached' });
    await expect.poll(() => focused(page)).toEqual({ tag: 'H1', text: 'Sandbox', label: '' });
  }, 90_000);
});
