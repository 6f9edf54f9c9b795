/**
 * What a browser, a phone and a program send to a chosen node of the cluster rig (e2e/support/cluster.ts): a web
 * login with TOTP, a phone's enrolment, mobile login and device proofs (made for the cluster's public URL, so valid
 * on any node), order entry (retrying while the account's owner cannot be reached), and every answer with the
 * `x-gatehouse-node` that made it.
 */
import { randomBytes } from 'node:crypto';
import {
  type DeviceIdentity,
  deviceProof,
  enrolDevice,
  signWithDevice,
} from '../../packages/gateway/src/authenticator/index.js';
import { DEMO_USERS } from '../../packages/gateway/src/demo/index.js';
import { mobileLoginMessage } from '../../packages/gateway/src/login/mobile.js';
import { type Cluster, type ClusterNode, sleep } from './cluster.js';
import { nextTotp } from './local.js';

export const DEVICE_PIN = '2468';

export type DemoName = 'alice' | 'bruno' | 'charlotte' | 'hana' | 'viktor';

export function demoUser(name: DemoName) {
  const user = DEMO_USERS.find((u) => u.username === name);
  if (user === undefined) throw new Error(`no demo user ${name}`);
  return user;
}

export { nextTotp };

export interface WebSession {
  cookie: string;
  csrf: string;
  sessionId: string;
  /** The node the login completed on. */
  nodeId: string;
}

export interface Answer {
  status: number;
  body: Record<string, unknown>;
  /** `x-gatehouse-node`: the node that made the answer. */
  node: string | null;
  code: string | undefined;
  headers: Headers;
}

export async function call(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
): Promise<Answer> {
  const response = await fetch(url, {
    method: init.method ?? 'GET',
    headers: {
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...init.headers,
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
  } catch {
    body = { text };
  }
  const error = body.error as { code?: string } | undefined;
  return {
    status: response.status,
    body,
    node: response.headers.get('x-gatehouse-node'),
    code: error?.code ?? (typeof body.error === 'string' ? body.error : undefined),
    headers: response.headers,
  };
}

/** A web login (password, then a TOTP code) on `node`; both steps go to that node. */
export async function webLogin(node: ClusterNode, name: DemoName): Promise<WebSession> {
  const user = demoUser(name);
  const started = await call(`${node.url}/v1/auth/login`, {
    method: 'POST',
    body: { username: user.username, password: user.password, channel: 'web' },
  });
  if (started.status !== 200) throw new Error(`login on ${node.nodeId}: ${JSON.stringify(started.body)}`);
  const loginId = started.body.loginId as string;
  const response = await fetch(`${node.url}/v1/auth/login/${loginId}/factor`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'totp', code: await nextTotp(user.totpSecret) }),
  });
  const body = (await response.json()) as { csrfToken: string; session: { id: string } };
  if (response.status !== 200) throw new Error(`factor on ${node.nodeId}: ${JSON.stringify(body)}`);
  const cookie = (response.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  return {
    cookie,
    csrf: body.csrfToken,
    sessionId: body.session.id,
    nodeId: response.headers.get('x-gatehouse-node') ?? node.nodeId,
  };
}

/** A request of a web session to `node` (cookie and CSRF token). */
export function asWeb(
  node: ClusterNode,
  session: WebSession,
  method: string,
  path: string,
  body?: unknown,
): Promise<Answer> {
  return call(`${node.url}${path}`, {
    method,
    headers: { cookie: session.cookie, 'x-csrf-token': session.csrf },
    body,
  });
}

/** Enrols a phone for the session's user (from `node`); its identity talks to `node` unless told another. */
export async function enrolPhone(node: ClusterNode, session: WebSession): Promise<DeviceIdentity> {
  const enrol = await asWeb(node, session, 'POST', '/v1/devices/mobile/enroll', {});
  if (enrol.status !== 200) throw new Error(`enrol: ${JSON.stringify(enrol.body)}`);
  const identity = await enrolDevice(enrol.body.activationUri as string, {
    name: 'cluster phone',
    platform: 'test',
    pin: DEVICE_PIN,
  });
  return { ...identity, server: node.url };
}

export interface MobileSession {
  token: string;
  sessionId: string;
}

/** The phone logs in on the mobile channel (signed challenge and PIN) at `node`. */
export async function mobileLogin(node: ClusterNode, phone: DeviceIdentity): Promise<MobileSession> {
  const ts = Date.now();
  const nonce = randomBytes(16).toString('base64url');
  const answer = await call(`${node.url}/v1/auth/login`, {
    method: 'POST',
    body: {
      channel: 'mobile',
      deviceId: phone.deviceId,
      pin: DEVICE_PIN,
      ts,
      nonce,
      signature: signWithDevice(phone.privateKey, mobileLoginMessage(phone.deviceId, ts, nonce)),
    },
  });
  if (answer.status !== 200) throw new Error(`mobile login: ${JSON.stringify(answer.body)}`);
  return { token: answer.body.token as string, sessionId: (answer.body.session as { id: string }).id };
}

/** The headers of one phone request: its bearer token and a fresh device proof for the public URL + `path`. */
export function phoneHeaders(
  cluster: Cluster,
  phone: DeviceIdentity,
  session: MobileSession,
  method: string,
  path: string,
): Record<string, string> {
  return {
    authorization: `Bearer ${session.token}`,
    'x-device-proof': deviceProof(phone, method, `${cluster.publicUrl}${path}`, session.token),
  };
}

export interface OrderAnswer extends Answer {
  /** How many answers were `ACCOUNT_MOVING` (503) before this one. */
  moving: number;
}

/**
 * Places a 1-share market order for `accountId` on `node` (the session must hold brokerage). A 503
 * `ACCOUNT_MOVING` (the account's owner cannot be reached; its lease has not expired) is retried every 20 ms
 * until `retryMs` has passed.
 */
export async function placeOrder(
  node: ClusterNode,
  session: WebSession,
  clientOrderId: string,
  options: { accountId?: string; side?: 'BUY' | 'SELL'; retryMs?: number } = {},
): Promise<OrderAnswer> {
  const end = Date.now() + (options.retryMs ?? 0);
  let moving = 0;
  for (;;) {
    const answer = await asWeb(
      node,
      session,
      'POST',
      `/v1/accounts/${options.accountId ?? 'DU1000001'}/orders`,
      {
        clientOrderId,
        instrumentId: 265598,
        side: options.side ?? 'BUY',
        type: 'MKT',
        quantity: 1,
        tif: 'DAY',
      },
    );
    if (answer.status === 503 && answer.code === 'ACCOUNT_MOVING' && Date.now() < end) {
      moving += 1;
      await sleep(20);
      continue;
    }
    return { ...answer, moving };
  }
}
