/**
 * Push approval on two screens at once, as a person uses it: the login page at 1280 px and the authenticator page
 * on a phone-sized screen (390×844). The phone is added by scanning the Security page's QR code (decoded here as
 * a camera would), which opens the authenticator page ready to activate; the desktop confirms the activation and
 * sends a test push the phone answers. Then every push ends in one final state shown on both screens (a wrong
 * number, a denial), a push is sent only when asked for, a stale prompt leaves the phone when the login finishes
 * with a TOTP code, and a revoked phone says only that it is revoked.
 */
import * as jsqrModule from 'jsqr';
import type { Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  axeViolations,
  DEMO,
  horizontalOverflow,
  loginWithTotp,
  nextTotp,
  screenshot,
  startLogin,
  usePortalRig,
} from './support/browser.js';

// jsqr is CommonJS: its function is the module's default export under Node's ESM interop.
const jsQR = (jsqrModule as unknown as { default: typeof jsqrModule.default }).default;

// Served over TLS, as a gateway facing the web is: the activation link in the QR code is an https link a phone's
// camera opens. The test's own requests accept the rig's self-signed certificate (loopback only).
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
const rig = usePortalRig({ https: true });
/** The desktop (login and Security pages) and the phone (the authenticator page), shared by the journeys. */
let desk: Page;
let phone: Page;

beforeAll(async () => {
  desk = await rig.newPage({ width: 1280, height: 800 });
  phone = await rig.newPage({ width: 390, height: 844 });
});

/** Decodes the QR code drawn in an <img> (a PNG data URL) exactly as a camera would read it. */
async function readQr(page: Page, name: string): Promise<string> {
  const src = await page.getByRole('img', { name }).getAttribute('src');
  expect(src).toMatch(/^data:image\/png;base64,/);
  const png = PNG.sync.read(Buffer.from((src as string).split(',')[1] as string, 'base64'));
  const decoded = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
  if (decoded === null) throw new Error('the QR code does not decode');
  return decoded.data;
}

async function signOut(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await expect.poll(() => page.getByText('You signed out.').isVisible()).toBe(true);
}

/** Opens the factor step and asks for a push; returns the number the login screen shows. */
async function sendPush(): Promise<string> {
  await desk.getByRole('button', { name: 'Send a push to my phone' }).click();
  const number = desk.getByLabel('Number to match');
  await expect.poll(() => number.innerText()).toMatch(/^\d{2}$/);
  return number.innerText();
}

const loginRequest = () => phone.getByRole('region', { name: 'Log in to Gatehouse?' });

async function answer(number: string, decision: 'Approve' | 'Deny' = 'Approve'): Promise<void> {
  const request = loginRequest();
  await request.getByLabel('Type the number shown on the login screen').fill(number);
  await request.getByRole('button', { name: decision }).click();
}

const otherNumber = (number: string) => String(((Number(number) - 10 + 1) % 90) + 10);

describe('push approval on a desktop and a phone', () => {
  it('the QR code opens the authenticator page on the phone, which activates; the desktop confirms it and a test push arrives and is answered', async () => {
    await loginWithTotp(desk, rig.base, 'hana');
    await desk.getByRole('link', { name: 'Security' }).click();
    await desk.getByRole('button', { name: 'Add mobile device' }).click();
    await desk.getByText('Scan with your phone’s camera').waitFor();
    const link = await readQr(desk, 'QR code to activate a mobile device');
    // The authenticator page's https link on the configured public URL (never the request's Host).
    const url = new URL(link);
    expect(url.protocol).toBe('https:');
    expect(`${url.origin}${url.pathname}`).toBe(`${rig.base}/authenticator`);
    expect(url.searchParams.get('activate')).toMatch(/^[A-Za-z0-9_-]{16,}$/);
    expect(link).not.toMatch(/^gatehouse:/);
    expect(await desk.getByLabel('Activation link').inputValue()).toBe(link);
    await screenshot(desk, 'security-add-device');
    expect(await axeViolations(desk), 'add a mobile device').toEqual([]);

    // The phone's camera opens the link: the page is ready to activate.
    await phone.goto(link);
    expect(await phone.getByLabel('Activation link').inputValue()).toBe(link);
    await phone.getByLabel('Name of this device').fill('Pixel');
    await phone.getByRole('button', { name: 'Activate' }).click();
    await phone.getByText('Ready for requests').waitFor();

    // The desktop confirms it as it happens, then sends a test push that the phone shows and answers.
    await desk.getByText('Pixel activated ✓').waitFor();
    await desk.getByRole('button', { name: 'Send a test push' }).click();
    const sent = desk.getByText(/^Sent to Pixel\. On the phone, type (\d{2}) and approve\.$/);
    await sent.waitFor();
    const number = /type (\d{2})/.exec(await sent.innerText())?.[1] as string;
    const test = phone.getByRole('region', { name: 'Test request from the Security page' });
    await test.waitFor();
    await test.getByLabel('Type the number shown on the Security page').fill(number);
    await test.getByRole('button', { name: 'Approve' }).click();
    await phone.getByText('Test approved. This phone receives and answers requests.').waitFor();
    await desk.getByText('Test push approved on the phone ✓').waitFor();
    await desk.getByRole('button', { name: 'Done' }).click();
    await signOut(desk);
  }, 120_000);

  it('a wrong number and a denial end the push with the same final state on both screens', async () => {
    await startLogin(desk, rig.base, 'hana');
    // Opening the factor step sends nothing: the phone waits for a push the person asks for.
    await desk.waitForTimeout(1_500);
    expect(await loginRequest().count()).toBe(0);
    const shown = await sendPush();
    await loginRequest().waitFor();
    // A readable label of what asked: the browser, its system and its address, not a raw user agent.
    const facts = await loginRequest().innerText();
    expect(facts).toMatch(/Chrome on Linux · (127\.0\.0\.1|::1)/);
    expect(facts).not.toContain('Mozilla');
    await screenshot(desk, 'login-push');
    await screenshot(phone, 'authenticator');
    expect(await axeViolations(desk), 'the login page with a push').toEqual([]);
    expect(await axeViolations(phone), 'the authenticator with a request').toEqual([]);
    expect(await horizontalOverflow(phone)).toBeLessThanOrEqual(0);

    // A wrong number: the phone says so (never "Approved"), the login screen stops counting and offers another.
    await answer(otherNumber(shown));
    await phone.getByText(/^Wrong number — this request was cancelled\./).waitFor();
    expect(await phone.getByText(/Approved/).count()).toBe(0);
    await desk.getByText(/^Wrong number — this request was cancelled\./).waitFor();
    expect(await desk.getByText(/^Expires in \d+ s$/).count()).toBe(0);
    const another = desk.getByRole('button', { name: 'Send another push' });
    await expect.poll(() => another.evaluate((b) => b === document.activeElement)).toBe(true);
    await screenshot(desk, 'login-push-mismatch');
    expect(await axeViolations(desk), 'the login page after a wrong number').toEqual([]);
    expect(await axeViolations(phone), 'the authenticator after a wrong number').toEqual([]);

    // Another push, denied: both screens say denied, the countdown stops, and the other factors are offered.
    await another.click();
    const number = desk.getByLabel('Number to match');
    await expect.poll(() => loginRequest().count()).toBe(1);
    await answer(await number.innerText(), 'Deny');
    await phone.getByText('Denied. The login was stopped.').waitFor();
    await desk.getByText(/^The request was denied on your phone\./).waitFor();
    expect(await desk.getByText(/^Expires in \d+ s$/).count()).toBe(0);
    expect(await desk.getByRole('button', { name: 'Send another push' }).count()).toBe(0);
    await desk.getByRole('button', { name: 'Authenticator app code' }).click();
    await desk.getByLabel('6-digit code from your authenticator app').waitFor();
  }, 120_000);

  it('a stale push leaves the phone at once when the login finishes with a TOTP code', async () => {
    await startLogin(desk, rig.base, 'hana');
    await sendPush();
    await loginRequest().waitFor();
    await desk.getByRole('radio', { name: 'Authenticator app code' }).check();
    await desk.getByText('Your push request is still waiting').waitFor();
    await desk.getByLabel('6-digit code from your authenticator app').fill(await nextTotp(DEMO.hana.totp));
    await desk.getByRole('button', { name: 'Verify' }).click();
    await desk.waitForURL('**/trade');
    // The gateway cancelled the push with the login's completion, and told the phone.
    await phone.getByText(/^This request was cancelled: its login finished another way/).waitFor();
    expect(await loginRequest().count()).toBe(0);
    await screenshot(phone, 'authenticator-cancelled');
    expect(await axeViolations(phone), 'the authenticator after a cancelled request').toEqual([]);
  }, 120_000);

  it('a push left by "Start again", or by leaving the page, leaves the phone at once', async () => {
    await signOut(desk);
    await startLogin(desk, rig.base, 'hana');
    await sendPush();
    await loginRequest().waitFor();
    await desk.getByRole('button', { name: 'Start again' }).click();
    await phone.getByText(/^This request was cancelled: its login finished another way/).waitFor();
    expect(await loginRequest().count()).toBe(0);

    // The page goes elsewhere (closed, reloaded): its beacon ends the login and the prompt goes.
    await startLogin(desk, rig.base, 'hana');
    await sendPush();
    await loginRequest().waitFor();
    await desk.goto(`${rig.base}/login`);
    await expect.poll(() => loginRequest().count()).toBe(0);
  }, 120_000);

  it('a revoked phone says only that it is revoked', async () => {
    // The desktop's session revokes the phone through the API (a fresh second factor, as revoking needs).
    const started = (await (
      await fetch(`${rig.base}/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'hana', password: DEMO.hana.password, channel: 'web' }),
      })
    ).json()) as { loginId: string };
    const done = await fetch(`${rig.base}/v1/auth/login/${started.loginId}/factor`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'totp', code: await nextTotp(DEMO.hana.totp) }),
    });
    expect(done.status).toBe(200);
    const cookie = (done.headers.get('set-cookie') ?? '').split(';')[0] as string;
    const { csrfToken } = (await done.json()) as { csrfToken: string };
    const { devices } = (await (await fetch(`${rig.base}/v1/devices`, { headers: { cookie } })).json()) as {
      devices: { id: string; name: string }[];
    };
    const pixel = devices.find((d) => d.name === 'Pixel');
    const revoked = await fetch(`${rig.base}/v1/devices/${pixel?.id}`, {
      method: 'DELETE',
      headers: { cookie, 'x-csrf-token': csrfToken },
    });
    expect(revoked.status).toBe(200);
    await phone.getByText(/^Pixel was revoked on the Security page\./).waitFor();
    expect(await phone.getByText(/Ready for requests|Approved/).count()).toBe(0);
    expect(await phone.getByRole('button', { name: 'Remove from this browser' }).isVisible()).toBe(true);
    expect(await axeViolations(phone), 'the authenticator, revoked').toEqual([]);
  }, 120_000);
});
