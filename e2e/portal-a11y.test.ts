/**
 * An accessibility scan of every page of the portal with axe-core (WCAG 2.1 A/AA and best practices), at a
 * desktop width and a phone's: the login page and its factor step, each signed-in page, the consent page and the
 * authenticator. No serious or critical violation is allowed; the failure lists each one with its element.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
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
  });

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
  });
});
