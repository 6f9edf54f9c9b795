/**
 * An in-process gateway for HTTP tests: a frozen clock, an in-memory SQLite database (or a PostgreSQL schema),
 * a fixed server secret, and helpers to log in through the real routes with `app.inject`, whose every response is
 * checked against the gateway's OpenAPI document (test-support/openapi.ts).
 */
import { randomBytes } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { createGateway, type Gateway } from '../app/index.js';
import { createLogger } from '../app/logger.js';
import { type DeviceIdentity, signWithDevice } from '../authenticator/index.js';
import { type ConfigInput, defaultConfig } from '../config/index.js';
import { type EventBus, ManualClock } from '../core/index.js';
import { DEMO_USERS, seedDemo } from '../demo/index.js';
import { totpCode } from '../factors/index.js';
import { mobileLoginMessage } from '../login/mobile.js';
import type { OrderRouter } from '../trading/index.js';
import type { TestDatabase } from './databases.js';
import { checkResponses } from './openapi.js';

export const TEST_SECRET = Buffer.alloc(32, 7).toString('base64');

/**
 * The configured public URL (`server.publicUrl`, and so the OAuth issuer) of test gateways driven with
 * `app.inject`, whatever Host a request names. A test gateway given a `server.port` listens: it is in development
 * (tests listen on loopback) and its public URL is the listener's.
 */
export const TEST_PUBLIC_URL = 'http://localhost:8080';

export interface TestGateway extends Gateway {
  clock: ManualClock;
  queries: { count: number };
}

export interface TestGatewayOptions {
  config?: ConfigInput;
  database?: TestDatabase;
  clock?: ManualClock;
  /** Receives every log line (tests that check what is logged). */
  logSink?: (line: string) => void;
  demo?: boolean;
  /** Paper-engine matching interval; tests default to none (matching runs when the test calls `matchAll`). */
  matchingIntervalMs?: number | null;
  orderRouter?: OrderRouter;
  /** The event bus (default: a new in-process one); gateways given one bus and one database act as nodes. */
  bus?: EventBus;
  /**
   * The server secret as configured (`config.secrets`, or the secret file beside a file database) instead of
   * TEST_SECRET: rotation tests.
   */
  ownSecret?: boolean;
}

export async function startTestGateway(options: TestGatewayOptions = {}): Promise<TestGateway> {
  const clock = options.clock ?? new ManualClock();
  const queries = { count: 0 };
  const config = defaultConfig({
    ...options.config,
    server: {
      ...(options.config?.server?.port === undefined ? { publicUrl: TEST_PUBLIC_URL } : {}),
      ...options.config?.server,
    },
    database: { url: options.database?.url ?? ':memory:', ...options.config?.database },
    // A listening test gateway's metrics listener takes any free port: test files run side by side.
    metrics: { listen: '127.0.0.1:0', ...options.config?.metrics },
    secrets:
      options.ownSecret === true
        ? options.config?.secrets
        : { ...options.config?.secrets, serverSecret: TEST_SECRET },
    log: { level: options.logSink === undefined ? 'silent' : 'trace' },
  });
  const sink = options.logSink;
  const logger = createLogger(
    config.log.level,
    sink === undefined ? undefined : { write: (line: string) => sink(line) },
  );
  const gateway = await createGateway(config, {
    clock,
    logger,
    matchingIntervalMs: options.matchingIntervalMs ?? null,
    safetySweepMs: null,
    ...(options.orderRouter === undefined ? {} : { orderRouter: options.orderRouter }),
    ...(options.bus === undefined ? {} : { bus: options.bus }),
    database: {
      ...options.database?.options,
      onQuery: (text) => {
        queries.count += 1;
        options.database?.options.onQuery?.(text);
      },
    },
  });
  if (options.demo !== false) await seedDemo(gateway.ctx);
  // Every response a test gets from `app.inject` is held to the gateway's OpenAPI document.
  checkResponses(gateway.app);
  return Object.assign(gateway, { clock, queries });
}

export const ALICE = DEMO_USERS[0] as (typeof DEMO_USERS)[number];
export const BRUNO = DEMO_USERS[1] as (typeof DEMO_USERS)[number];
/** The demo adviser: a viewer on Alice's U1000001, with no account of his own. */
export const VIKTOR = DEMO_USERS.find((u) => u.username === 'viktor') as (typeof DEMO_USERS)[number];

export function json(response: LightMyRequestResponse): Record<string, unknown> {
  return response.json() as Record<string, unknown>;
}

export function errorCode(response: LightMyRequestResponse): string | undefined {
  return (response.json() as { error?: { code?: string } }).error?.code;
}

export async function startLogin(gw: TestGateway, username: string, password: string, ip = '127.0.0.1') {
  return gw.app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    payload: { username, password, channel: 'web' },
    remoteAddress: ip,
  });
}

export async function submitTotp(gw: TestGateway, loginId: string, code: string) {
  return gw.app.inject({
    method: 'POST',
    url: `/v1/auth/login/${loginId}/factor`,
    payload: { type: 'totp', code },
  });
}

export interface LoggedIn {
  cookie: string;
  csrf: string;
  sessionId: string;
}

/** Logs a demo user in through both steps; advances the clock one TOTP step so each login uses a fresh code. */
export async function loginAs(
  gw: TestGateway,
  user: { username: string; password: string; totpSecret: string },
): Promise<LoggedIn> {
  gw.clock.advance(30_000);
  const started = await startLogin(gw, user.username, user.password);
  if (started.statusCode !== 200) throw new Error(`login failed: ${started.body}`);
  const { loginId } = started.json() as { loginId: string };
  const done = await submitTotp(gw, loginId, totpCode(user.totpSecret, gw.clock.now()));
  if (done.statusCode !== 200) throw new Error(`factor failed: ${done.body}`);
  const cookie = done.cookies.find((c) => c.name === 'gh_session');
  if (cookie === undefined) throw new Error('no session cookie');
  const body = done.json() as { csrfToken: string; session: { id: string } };
  return { cookie: `gh_session=${cookie.value}`, csrf: body.csrfToken, sessionId: body.session.id };
}

/** Logs a demo user in and takes the brokerage (trading) capability, over any other session of theirs. */
export async function loginTrading(
  gw: TestGateway,
  user: { username: string; password: string; totpSecret: string },
): Promise<LoggedIn> {
  const as = await loginAs(gw, user);
  const acquired = await callAs(gw, 'POST', '/v1/session/brokerage', as, { compete: true });
  if (acquired.statusCode !== 200) throw new Error(`brokerage: ${acquired.body}`);
  return as;
}

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A request as a logged-in web session: its cookie and CSRF token, plus any extra headers. */
export function callAs(
  gw: TestGateway,
  method: Method,
  url: string,
  as: LoggedIn,
  payload?: unknown,
  headers: Record<string, string> = {},
) {
  return gw.app.inject({
    method,
    url,
    headers: { cookie: as.cookie, 'x-csrf-token': as.csrf, ...headers },
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
}

/** The newest code the SMS simulator "sent". */
export async function lastSmsCode(gw: TestGateway): Promise<string> {
  const row = await gw.ctx.store.db
    .selectFrom('sms_outbox')
    .select('body')
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .executeTakeFirstOrThrow();
  return /(\d{6})/.exec(row.body)?.[1] ?? '';
}

/**
 * Enrols an SMS number for `user` (from their session `as`) and logs in with a texted code: a session whose last
 * factor is SMS, which may not make sensitive changes.
 */
export async function loginWithSms(
  gw: TestGateway,
  user: { username: string; password: string },
  as: LoggedIn,
): Promise<LoggedIn> {
  const enrol = await callAs(gw, 'POST', '/v1/factors/sms', as, { phone: '+14155550100' });
  if (enrol.statusCode !== 200) throw new Error(`SMS enrolment failed: ${enrol.body}`);
  const { factorId } = enrol.json() as { factorId: string };
  const confirm = await callAs(gw, 'POST', `/v1/factors/${factorId}/confirm`, as, {
    code: await lastSmsCode(gw),
  });
  if (confirm.statusCode !== 200) throw new Error(`SMS confirmation failed: ${confirm.body}`);
  gw.clock.advance(31_000);
  const started = await startLogin(gw, user.username, user.password);
  const { loginId } = started.json() as { loginId: string };
  await gw.app.inject({ method: 'POST', url: `/v1/auth/login/${loginId}/sms` });
  const done = await gw.app.inject({
    method: 'POST',
    url: `/v1/auth/login/${loginId}/factor`,
    payload: { type: 'sms', code: await lastSmsCode(gw) },
  });
  if (done.statusCode !== 200) throw new Error(`SMS login failed: ${done.body}`);
  const cookie = done.cookies.find((c) => c.name === 'gh_session');
  const body = done.json() as { csrfToken: string; session: { id: string } };
  return { cookie: `gh_session=${cookie?.value}`, csrf: body.csrfToken, sessionId: body.session.id };
}

/**
 * The web session as it goes on after `response`: a step-up gives the session a new token in a new cookie and ends
 * the old one (ASVS 5.0 7.2.4); the session id and CSRF token stay. Without a new cookie, `as` unchanged.
 */
export function renewed(as: LoggedIn, response: LightMyRequestResponse): LoggedIn {
  const cookie = response.cookies.find((c) => c.name === 'gh_session');
  return cookie === undefined ? as : { ...as, cookie: `gh_session=${cookie.value}` };
}

/** The body of a phone's own login (`channel: mobile`): its device key's statement over a fresh nonce, and its PIN. */
export function mobileLoginBody(
  phone: Pick<DeviceIdentity, 'deviceId' | 'privateKey'>,
  pin: string,
  now: number,
): Record<string, unknown> {
  const nonce = randomBytes(16).toString('base64url');
  return {
    channel: 'mobile',
    deviceId: phone.deviceId,
    pin,
    ts: now,
    nonce,
    signature: signWithDevice(phone.privateKey, mobileLoginMessage(phone.deviceId, now, nonce)),
  };
}
