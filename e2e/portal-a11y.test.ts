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
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_TOKEN,
  axeViolations,
  loginWithTotp,
  type PortalRig,
  startLogin,
  startPortalRig,
} from './support/browser.js';

let rig: PortalRig;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  rig = await startPortalRig();
}, 600_000);

afterAll(async () => {
  for (const context of contexts) await context.close().catch(() => {});
  await rig?.stop();
});

async function newPage(width: number): Promise<Page> {
  const context = await rig.browser.newContext({ viewport: { width, height: width > 600 ? 860 : 844 } });
  contexts.push(context);
  return context.newPage();
}

const SIGNED_IN = [
  { path: '/trade', heading: 'Trade' },
  { path: '/account', heading: 'Account' },
  { path: '/security', heading: 'Security' },
  { path: '/api-clients', heading: 'API clients' },
  { path: '/sandbox', heading: 'Sandbox' },
];

describe.each([1280, 390])('every page at %i px', (width) => {
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
    await loginWithTotp(page, rig.base, 'alice');
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
    await loginWithTotp(page, rig.base, 'alice');
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
