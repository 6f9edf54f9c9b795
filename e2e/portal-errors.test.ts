/**
 * Issue 20, item 10: error copy that blames the right thing. A wrong code after the password was accepted says how
 * many tries are left, and the last one sends the person back to the start; an API client with no account is
 * stopped at the field before anything is sent; a demo instance shows the person logging in the simulated text of
 * their own login. API client registration makes a key pair in the browser (the private key downloaded once) and
 * shows the next steps.
 */
import { readFile } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { totpCode } from '../packages/gateway/src/factors/index.js';
import {
  axeViolations,
  DEMO,
  horizontalOverflow,
  loginWithTotp,
  screenshot,
  startLogin,
  usePortalRig,
} from './support/browser.js';

const rig = usePortalRig();

const newPage = (width = 1280): Promise<Page> => rig.newPage(width);

/** Six-digit codes that are not the user's valid TOTP code now (±1 step). */
function wrongCodes(secret: string, n: number): string[] {
  const now = Date.now();
  const valid = new Set([-60_000, -30_000, 0, 30_000, 60_000].map((d) => totpCode(secret, now + d)));
  const out: string[] = [];
  for (let i = 0; out.length < n; i += 1) {
    const code = String(100_000 + i * 7919);
    if (!valid.has(code)) out.push(code);
  }
  return out;
}

async function alertText(page: Page, text: string): Promise<void> {
  await expect.poll(() => page.getByRole('alert').allInnerTexts()).toContain(text);
}

describe('error copy', () => {
  it('counts the tries left after a wrong code, and sends the person back to the start after the last', async () => {
    const page = await newPage(390);
    await startLogin(page, rig.base, 'hana');
    await page.getByRole('radio', { name: 'Authenticator app code' }).check();
    const codeField = page.getByLabel('6-digit code from your authenticator app');
    const wrong = wrongCodes(DEMO.hana.totp, 5);
    const expected = [
      'Wrong code, 4 tries left',
      'Wrong code, 3 tries left',
      'Wrong code, 2 tries left',
      'Wrong code, 1 try left',
    ];
    for (const [i, text] of expected.entries()) {
      await codeField.fill(wrong[i] as string);
      await page.getByRole('button', { name: 'Verify' }).click();
      await alertText(page, text);
      // Never the password's blame: it was accepted.
      expect((await page.getByRole('alert').allInnerTexts()).join(' ')).not.toContain('username, password');
      if (text === 'Wrong code, 2 tries left') {
        expect(await axeViolations(page)).toEqual([]);
        expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
        await screenshot(page, 'login-wrong-code');
      }
    }
    await codeField.fill(wrong[4] as string);
    await page.getByRole('button', { name: 'Verify' }).click();
    await alertText(page, 'Too many wrong codes — start again');
    // Back at the start: no Verify left to press, the password form is there.
    expect(await page.getByRole('button', { name: 'Verify' }).count()).toBe(0);
    expect(await page.getByRole('group', { name: 'Choose a second factor' }).count()).toBe(0);
    await page.getByLabel('Username').waitFor();
    await expect
      .poll(() => page.evaluate(() => document.activeElement?.getAttribute('autocomplete')))
      .toBe('username');
    expect(await page.getByText('This login has expired').count()).toBe(0);
  }, 90_000);

  it('asks for an account at the field before sending, makes a key pair in the browser, and shows the next steps', async () => {
    const page = await newPage();
    await loginWithTotp(page, rig.base, 'alice');
    await page.getByRole('link', { name: 'API clients' }).click();
    await page.getByRole('heading', { name: 'Register a personal client' }).waitFor();
    const posted: string[] = [];
    page.on('request', (r) => {
      if (r.method() === 'POST' && r.url().endsWith('/v1/oauth/clients')) posted.push(r.url());
    });

    await page.getByLabel('Name', { exact: true }).fill('Key-pair bot');
    await page.getByRole('button', { name: 'Generate a key pair in this browser' }).click();
    const publicKey = page.getByLabel(/^Public key/);
    await expect.poll(() => publicKey.inputValue()).toContain('"kty": "EC"');
    const jwk = JSON.parse(await publicKey.inputValue()) as Record<string, string>;
    expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    expect(jwk.d).toBeUndefined();
    const link = page.getByRole('link', { name: 'Download the private key (JWK)' });
    await screenshot(page, 'api-clients-keypair');
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    const file = await download.path();
    const privateJwk = JSON.parse(await readFile(file, 'utf8')) as Record<string, string>;
    expect(privateJwk).toMatchObject({ kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, kid: jwk.kid });
    expect(privateJwk.d).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Offered once: the link is gone.
    await page.getByText('The private key was downloaded. This page no longer holds it.').waitFor();
    expect(await link.count()).toBe(0);

    // No account chosen: said at the field, before anything is sent, and focus goes there.
    await page.getByRole('button', { name: 'Register', exact: true }).click();
    const accounts = page.getByRole('group', { name: 'Accounts' });
    await accounts.getByText('Choose at least one account', { exact: true }).waitFor();
    expect(await page.getByText(/wrongly typed/).count()).toBe(0);
    expect(posted).toEqual([]);
    expect(await page.evaluate(() => (document.activeElement as HTMLInputElement | null)?.type)).toBe(
      'checkbox',
    );
    expect(await axeViolations(page)).toEqual([]);

    // The gateway's own words for the same mistake are as specific.
    const refused = await page.evaluate(async (key) => {
      const who = (await (await fetch('/v1/session')).json()) as { csrfToken: string };
      const answer = await fetch('/v1/oauth/clients', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-csrf-token': who.csrfToken },
        body: JSON.stringify({ name: 'x', keys: [key], accounts: [], scopes: ['read'] }),
      });
      return ((await answer.json()) as { error: { message: string } }).error.message;
    }, jwk);
    expect(refused).toBe('accounts: choose at least one account');

    await accounts.getByRole('checkbox', { name: /^DU1000001/ }).check();
    expect(await accounts.getByText('Choose at least one account').count()).toBe(0);
    await page.getByRole('button', { name: 'Register', exact: true }).click();
    await page.getByText(/^Registered Key-pair bot\. Its client id is cli/).waitFor();
    const next = page.getByRole('region', { name: 'Next steps' });
    const clientId = (await next.locator('code').first().innerText()).trim();
    expect(clientId).toMatch(/^cli_/);
    const snippet = await next.locator('pre').innerText();
    expect(snippet).toContain(`clientId: '${clientId}'`);
    expect(snippet).toContain('new PersonalClientAuth(');
    expect(snippet).toContain('gatehouse-client-key.jwk');
    expect(await next.innerText()).toContain('npm install @gatehouse/sdk');
    expect(await axeViolations(page)).toEqual([]);
    await screenshot(page, 'api-clients');
  }, 90_000);

  it('links the simulated text of this login at the SMS step of a demo instance', async () => {
    const phone = '+14155550177';
    const setup = await newPage();
    await loginWithTotp(setup, rig.base, 'bruno');
    // A phone number for Bruno, confirmed with the simulator's text (the developer's outbox).
    await setup.evaluate(async (number) => {
      const who = (await (await fetch('/v1/session')).json()) as { csrfToken: string };
      const post = (path: string, body: unknown) =>
        fetch(path, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-csrf-token': who.csrfToken },
          body: JSON.stringify(body),
        });
      const { factorId } = (await (await post('/v1/factors/sms', { phone: number })).json()) as {
        factorId: string;
      };
      const { messages } = (await (await fetch('/v1/dev/sms-outbox')).json()) as {
        messages: { to: string; body: string }[];
      };
      const code = /\b(\d{6})\b/.exec(messages.find((m) => m.to === number)?.body ?? '')?.[1];
      const confirmed = await post(`/v1/factors/${factorId}/confirm`, { code });
      if (!confirmed.ok) throw new Error(`confirm: ${confirmed.status}`);
    }, phone);
    // The resend interval is per user: the login's text may go 30 s after the enrolment's.
    await new Promise((resolve) => setTimeout(resolve, 31_000));

    const page = await newPage(390);
    await startLogin(page, rig.base, 'bruno');
    await page.getByRole('radio', { name: 'Text message code' }).check();
    await page.getByRole('button', { name: 'Send me a code' }).click();
    await page.getByText(/^Code sent\./).waitFor();
    await page.getByText('This is a demo: texts are simulated, not sent to a phone.').waitFor();
    await page.getByRole('button', { name: 'View simulated texts' }).click();
    const texts = page.getByRole('region', { name: 'Simulated texts for this login' });
    await texts.waitFor();
    const shown = await texts.innerText();
    expect(shown).toContain('To +14•••••••77: Gatehouse code: ');
    const code = /Gatehouse code: (\d{6})/.exec(shown)?.[1] as string;
    expect(await axeViolations(page)).toEqual([]);
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    await page.getByLabel('Code from the text message').fill(code);
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL('**/trade');
  }, 120_000);
});
