/**
 * bench/reauth-clients.ts — how bench/reauth.ts's clients talk to the gateway over HTTP: JSON posts and their error
 * codes, a web login (password + TOTP, from a browser that keeps its device cookie), and the logins of the devices
 * that hold a key (a desktop workstation: password + a statement signed by its key; a phone: key + PIN), whose
 * sessions send a fresh device proof with every request.
 */
import { type JsonWebKey as NodeJwk, randomBytes } from 'node:crypto';
import {
  type DeviceIdentity,
  deviceProof,
  signWithDevice,
} from '../packages/gateway/src/authenticator/index.js';
import type { DEMO_USERS } from '../packages/gateway/src/demo/index.js';
import { totpCode } from '../packages/gateway/src/factors/index.js';
import { deviceLoginMessage } from '../packages/gateway/src/login/device-login.js';
import { mobileLogin } from './stream.js';

/** The PIN the bench's phone is enrolled with. */
export const PIN = '2468';

export interface WebUser {
  username: string;
  password: string;
  secret: string;
}

export async function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

/** The error code of an answer, or `ok`. */
export function codeOf(answer: { status: number; body: Record<string, unknown> }): string {
  if (answer.status < 300) return 'ok';
  return ((answer.body.error as { code?: string } | undefined)?.code ?? `HTTP ${answer.status}`) as string;
}

export function expectOk(what: string, answer: { status: number; body: Record<string, unknown> }) {
  if (answer.status >= 300) throw new Error(`${what}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}

export interface WebSession {
  cookie: string;
  headers: Record<string, string>;
  sessionId: string;
  /** The browser's device cookie (`gh_device`), sent with its next login: a known browser. */
  device: string;
}

const TOTP_STEP_MS = 30_000;

/**
 * When to take a TOTP code for: now, or the previous 30 s step — a code the gateway still accepts (±1 step), so that a
 * later login with the current step's code is not a replay. The previous step's code is never sent in the last second
 * of a step, where the gateway could already be a step further and find it two steps old.
 */
async function totpTime(step: 'current' | 'previous'): Promise<number> {
  if (step === 'current') return Date.now();
  const left = TOTP_STEP_MS - (Date.now() % TOTP_STEP_MS);
  if (left < 1_000) await new Promise((resolve) => setTimeout(resolve, left + 10));
  return Date.now() - TOTP_STEP_MS;
}

/**
 * A web login (password, then the TOTP code of `step`) from a browser that sends `device`, its device cookie from an
 * earlier login (none: a browser the gateway has not seen); every call is over HTTP.
 */
export async function webLogin(
  url: string,
  user: WebUser | (typeof DEMO_USERS)[number],
  step: 'current' | 'previous',
  device?: string,
): Promise<WebSession> {
  const browser: Record<string, string> = device === undefined ? {} : { cookie: device };
  const started = expectOk(
    'web login',
    await post(
      `${url}/v1/auth/login`,
      { username: user.username, password: user.password, channel: 'web' },
      browser,
    ),
  );
  const secret = 'secret' in user ? user.secret : user.totpSecret;
  const code = totpCode(secret, await totpTime(step));
  const response = await fetch(`${url}/v1/auth/login/${started.loginId as string}/factor`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...browser },
    body: JSON.stringify({ type: 'totp', code }),
  });
  const body = (await response.json()) as { csrfToken: string; session: { id: string } };
  if (response.status !== 200) throw new Error(`totp: ${response.status} ${JSON.stringify(body)}`);
  const cookies = response.headers.getSetCookie().map((c) => c.split(';')[0] ?? '');
  const cookie = cookies.find((c) => c.startsWith('gh_session=')) ?? '';
  return {
    cookie,
    headers: { cookie, 'x-csrf-token': body.csrfToken },
    sessionId: body.session.id,
    device: cookies.find((c) => c.startsWith('gh_device=')) ?? device ?? '',
  };
}

/** A session bound to a device key (mobile, desktop): a bearer token, and a fresh device proof per request. */
export interface DeviceSession {
  token: string;
  sessionId: string;
  key: { privateKey: NodeJwk };
}

export function deviceHeaders(session: DeviceSession, method: string, url: string): Record<string, string> {
  return {
    authorization: `Bearer ${session.token}`,
    'x-device-proof': deviceProof(session.key, method, url, session.token),
  };
}

export interface Workstation {
  username: string;
  password: string;
  deviceId: string;
  privateKey: NodeJwk;
}

/** A desktop login from the pre-validated workstation: the password and a statement signed by its key. */
export async function desktopLogin(url: string, station: Workstation): Promise<DeviceSession> {
  const ts = Date.now();
  const nonce = randomBytes(16).toString('base64url');
  const body = expectOk(
    'desktop login',
    await post(`${url}/v1/auth/login`, {
      channel: 'desktop',
      username: station.username,
      password: station.password,
      device: {
        deviceId: station.deviceId,
        ts,
        nonce,
        signature: signWithDevice(
          station.privateKey,
          deviceLoginMessage('desktop', station.deviceId, ts, nonce),
        ),
      },
    }),
  );
  return {
    token: body.token as string,
    sessionId: (body.session as { id: string }).id,
    key: station,
  };
}

/** The phone's device-key login (key signature and PIN). */
export async function phoneLogin(url: string, phone: DeviceIdentity): Promise<DeviceSession> {
  const { token, sessionId } = await mobileLogin(url, phone, PIN);
  return { token, sessionId, key: phone };
}
