/**
 * The API reference page (`/api-reference`) in Chromium, served by the built gateway: Swagger UI renders every
 * operation of `/openapi.json` under the gateway's Content-Security-Policy — no violation reported, no request to
 * any other origin.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PortalRig, screenshot, startPortalRig } from './support/browser.js';

let rig: PortalRig;

// Long enough for the setup to install Debian's Chromium on a fresh machine (see support/browser.ts).
beforeAll(async () => {
  rig = await startPortalRig();
}, 600_000);

afterAll(async () => {
  await rig?.stop();
});

describe('GET /api-reference', () => {
  it('renders every operation of the document under the Content-Security-Policy, from this origin only', async () => {
    const spec = (await (await fetch(`${rig.base}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const operations = Object.values(spec.paths).reduce((n, ops) => n + Object.keys(ops).length, 0);

    const page = await rig.browser.newPage();
    const violations: string[] = [];
    const foreign: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
    });
    page.on('pageerror', (error) => violations.push(`page error: ${error.message}`));
    page.on('request', (request) => {
      if (!request.url().startsWith(rig.base)) foreign.push(request.url());
    });
    await page.exposeFunction('reportViolation', (text: string) => violations.push(text));
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (event) => {
        (window as unknown as { reportViolation(t: string): void }).reportViolation(
          `${event.violatedDirective} ${event.blockedURI}`,
        );
      });
    });

    const response = await page.goto(`${rig.base}/api-reference`);
    expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");
    await page.locator('.opblock').first().waitFor();
    expect(await page.locator('.opblock').count()).toBe(operations);
    await expect(page.locator('.info .title').innerText()).resolves.toContain('Gatehouse');
    // An operation opens with its schemas and credentials.
    await page.locator('#operations-login-postAuthLogin .opblock-summary').click();
    await page.locator('#operations-login-postAuthLogin .responses-wrapper').waitFor();
    await screenshot(page, 'api-reference');
    expect(violations).toEqual([]);
    expect(foreign).toEqual([]);
    await page.close();
    // Swagger UI lays out every operation of the document at once: on a 2-core machine beside the portal suite's
    // browser that takes longer than the default 20 s.
  }, 90_000);
});
