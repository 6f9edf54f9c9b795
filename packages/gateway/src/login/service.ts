/**
 * @module login/service
 * The login transaction: password first, then a second factor, then a session. Between the two steps the
 * client holds an opaque `loginId` (256 bits; only its hash is stored) that expires after 5 minutes, allows a
 * few wrong codes and completes once. Wrong password, unknown user and disabled user give the same answer after
 * the same argon2id work; wrong, replayed and out-of-window codes give the same answer too. The audit log, not
 * the client, learns which it was.
 */

import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import type { Kysely } from 'kysely';
import { appendAudit } from '../audit/index.js';
import {
  type Clock,
  type EventBus,
  GatehouseError,
  type LruCache,
  newId,
  randomToken,
  type SecretBox,
  sha256,
} from '../core/index.js';
import {
  assessBrowser,
  describeUserAgent,
  deviceCookieValue,
  networkOf,
  pushDeviceIds,
  recordBrowserLogin,
} from '../devices/index.js';
import {
  activeSmsFactorId,
  availableFactorTypes,
  backupFactorMissing,
  type CodeProof,
  type FactorType,
  remainingRecoveryCodes,
  type SmsSender,
  type SmsSent,
  sendSmsCode,
  verifyCodeFactor,
} from '../factors/index.js';
import { createPushChallenge, latestPushForLogin, type PushTransport } from '../factors/push.js';
import type { PushWaiters } from '../factors/push-waiters.js';
import { authenticationOptions, verifyAssertion, type WebauthnConfig } from '../factors/webauthn.js';
import { findLoginCandidate, normaliseUsername, type PasswordHasher } from '../identity/index.js';
import type { GatewayMetrics } from '../metrics/index.js';
import type { Notifier } from '../notifications/index.js';
import type {
  Channel,
  ChannelPolicies,
  Principal,
  SessionRecord,
  SessionService,
} from '../sessions/index.js';
import type { Database } from '../store/index.js';
import { type BackoffPolicy, clearFailures, recordFailure, throttleWaitMs } from './throttle.js';

export interface LoginDeps {
  db: Kysely<Database>;
  clock: Clock;
  hasher: PasswordHasher;
  box: SecretBox;
  sessions: SessionService;
  backoff: BackoffPolicy;
  transactionTtlMs: number;
  maxFactorAttempts: number;
  totpWindow: number;
  sms: SmsSender;
  push: PushTransport;
  pushWaiters: PushWaiters;
  pushTimeoutMs: number;
  pushDeliveryTimeoutMs: number;
  longPollMs: number;
  webauthn: WebauthnConfig;
  notifier: Notifier;
  /** Key for signing device cookies. */
  deviceKey: Buffer;
  bus: EventBus;
  metrics: GatewayMetrics;
  policies: ChannelPolicies;
  /** Nonces of recent signed device logins (a reused one is a replay); per node, bounded. */
  replayCache: LruCache<string, number>;
}

export interface ClientInfo {
  ip: string;
  userAgent: string;
  /** The browser's device cookie, when it sent one. */
  deviceCookie?: string;
}

export interface LoginStarted {
  status: 'second_factor_required';
  loginId: string;
  factors: { type: FactorType }[];
}

export interface LoginCompleted {
  token: string;
  session: SessionRecord;
  /** The signed device cookie to (re)set on the browser. */
  deviceCookie: string;
  /** True while the user has a single way to pass the second step. */
  backupFactorMissing: boolean;
  /** Set when a recovery code was used: how many remain (the user is told to enrol a new device). */
  remainingRecoveryCodes?: number;
}

function tooManyAttempts(waitMs: number): GatehouseError {
  return new GatehouseError('TOO_MANY_ATTEMPTS', undefined, { retryAfterMs: waitMs });
}

/** The user's enrolled factors that the channel's policy allows, strongest first. */
async function usableFactors(deps: LoginDeps, userId: string, channel: string): Promise<FactorType[]> {
  const allowed = deps.policies[channel as Channel]?.allowedFactors ?? [];
  return (await availableFactorTypes(deps.db, userId)).filter((t) => allowed.includes(t));
}

/** Step 1: username and password. */
export async function startLogin(
  deps: LoginDeps,
  input: { username: string; password: string; channel: Channel },
  client: ClientInfo,
): Promise<LoginStarted> {
  const { db, clock } = deps;
  const subject = normaliseUsername(input.username);
  const waitMs = await throttleWaitMs(db, subject, clock.now());
  if (waitMs > 0) {
    await appendAudit(db, clock, {
      type: 'login.throttled',
      ip: client.ip,
      data: { username: subject, waitMs },
    });
    deps.metrics.logins.inc({ channel: input.channel, result: 'throttled' });
    throw tooManyAttempts(waitMs);
  }

  const candidate = await findLoginCandidate(db, subject);
  const passwordOk = await deps.hasher.verify(candidate?.passwordHash ?? null, input.password);
  const user = candidate?.user;
  if (!passwordOk || user === undefined || user.status !== 'active') {
    await db.transaction().execute(async (trx) => {
      const { failures } = await recordFailure(trx, subject, clock.now(), deps.backoff);
      await appendAudit(trx, clock, {
        type: 'login.password_failed',
        userId: user?.id ?? null,
        ip: client.ip,
        data: {
          username: subject,
          channel: input.channel,
          failures,
          cause: user === undefined ? 'unknown_user' : passwordOk ? 'user_disabled' : 'wrong_password',
        },
      });
    });
    deps.metrics.logins.inc({ channel: input.channel, result: 'invalid_credentials' });
    throw new GatehouseError('INVALID_CREDENTIALS');
  }

  const factors = await usableFactors(deps, user.id, input.channel);
  if (factors.length === 0) {
    await appendAudit(db, clock, {
      type: 'login.password_ok',
      userId: user.id,
      ip: client.ip,
      data: { channel: input.channel, outcome: 'no_second_factor' },
    });
    throw new GatehouseError('NO_SECOND_FACTOR');
  }

  const handle = randomToken(32);
  const now = clock.now();
  await db.transaction().execute(async (trx) => {
    await trx
      .insertInto('login_transactions')
      .values({
        id: newId('lgn'),
        handle_hash: sha256(handle),
        user_id: user.id,
        channel: input.channel,
        created_at: now,
        expires_at: now + deps.transactionTtlMs,
        completed_at: null,
        attempts: 0,
        ip: client.ip,
        user_agent: client.userAgent,
      })
      .execute();
    await appendAudit(trx, clock, {
      type: 'login.password_ok',
      userId: user.id,
      ip: client.ip,
      data: { channel: input.channel, factors },
    });
  });
  return { status: 'second_factor_required', loginId: handle, factors: factors.map((type) => ({ type })) };
}

export interface OpenLogin {
  id: string;
  user_id: string;
  channel: string;
  username: string;
}

/** A started login that may still complete: known, unexpired, not completed, attempts left, user active. */
export async function findOpenLogin(
  deps: LoginDeps,
  loginId: string,
  client: ClientInfo,
): Promise<OpenLogin> {
  const { db, clock } = deps;
  const now = clock.now();
  const tx = await db
    .selectFrom('login_transactions')
    .innerJoin('users', 'users.id', 'login_transactions.user_id')
    .select([
      'login_transactions.id',
      'login_transactions.user_id',
      'login_transactions.channel',
      'login_transactions.expires_at',
      'login_transactions.completed_at',
      'login_transactions.attempts',
      'users.username',
      'users.status',
    ])
    .where('login_transactions.handle_hash', '=', sha256(loginId))
    .executeTakeFirst();
  if (
    tx === undefined ||
    tx.completed_at !== null ||
    now >= tx.expires_at ||
    tx.attempts >= deps.maxFactorAttempts ||
    tx.status !== 'active'
  ) {
    throw new GatehouseError('LOGIN_INVALID');
  }
  const waitMs = await throttleWaitMs(db, tx.username, now);
  if (waitMs > 0) {
    await appendAudit(db, clock, {
      type: 'login.throttled',
      userId: tx.user_id,
      ip: client.ip,
      data: { waitMs },
    });
    deps.metrics.logins.inc({ channel: tx.channel, result: 'throttled' });
    throw tooManyAttempts(waitMs);
  }
  return tx;
}

interface IssuedFactor {
  type: string;
  factorId: string | null;
  aal: number;
  amr: string;
}

/**
 * Completes a login transaction inside `trx`: claims it (once), creates the session, audits the factor and the
 * login, and clears the user's failure count. Shared by every factor, so each completes a login the same way.
 */
async function issueLoginSession(
  trx: Kysely<Database>,
  deps: LoginDeps,
  tx: OpenLogin,
  factor: IssuedFactor,
  client: ClientInfo,
): Promise<{ token: string; session: SessionRecord; deviceCookie: string; newDevice: boolean }> {
  const { clock } = deps;
  const now = clock.now();
  const channel = tx.channel as Channel;
  const assessment = await assessBrowser(trx, deps.deviceKey, tx.user_id, client.deviceCookie);
  const device = await recordBrowserLogin(trx, clock, {
    userId: tx.user_id,
    assessment,
    ip: client.ip,
    userAgent: client.userAgent,
  });
  const claimed = await trx
    .updateTable('login_transactions')
    .set({ completed_at: now })
    .where('id', '=', tx.id)
    .where('completed_at', 'is', null)
    .executeTakeFirst();
  if (claimed.numUpdatedRows === 0n) throw new GatehouseError('LOGIN_INVALID');
  const issued = await deps.sessions.create(
    {
      userId: tx.user_id,
      channel,
      aal: factor.aal,
      amr: ['pwd', factor.amr],
      ip: client.ip,
      userAgent: client.userAgent,
      secondFactorAt: now,
      lastFactor: factor.type,
      deviceId: device.deviceId,
    },
    trx,
  );
  if (device.isNew) {
    await appendAudit(trx, clock, {
      type: 'device.new',
      userId: tx.user_id,
      sessionId: issued.session.id,
      ip: client.ip,
      data: { deviceId: device.deviceId, kind: 'browser', name: describeUserAgent(client.userAgent) },
    });
  }
  await appendAudit(trx, clock, {
    type: 'factor.used',
    userId: tx.user_id,
    sessionId: issued.session.id,
    ip: client.ip,
    data: { factor: factor.type, factorId: factor.factorId },
  });
  await appendAudit(trx, clock, {
    type: 'login.succeeded',
    userId: tx.user_id,
    sessionId: issued.session.id,
    ip: client.ip,
    data: { channel, aal: factor.aal },
  });
  await clearFailures(trx, tx.username);
  const started = await trx
    .selectFrom('login_transactions')
    .select('created_at')
    .where('id', '=', tx.id)
    .executeTakeFirst();
  if (started !== undefined) {
    deps.metrics.secondFactorSeconds.observe({ factor: factor.type }, (now - started.created_at) / 1000);
  }
  deps.metrics.logins.inc({ channel, result: 'success' });
  return {
    ...issued,
    deviceCookie: deviceCookieValue(deps.deviceKey, device.deviceId),
    newDevice: device.isNew,
  };
}

/** Tells the user about a login from a browser not seen before (after the login committed). */
async function notifyNewDevice(
  deps: LoginDeps,
  userId: string,
  issued: { newDevice: boolean; session: SessionRecord },
  client: ClientInfo,
): Promise<void> {
  if (!issued.newDevice) return;
  await deps.notifier.notify(userId, 'new_device_login', {
    device: describeUserAgent(client.userAgent),
    ip: client.ip,
    network: networkOf(client.ip),
    channel: issued.session.channel,
  });
}

/**
 * Counts one failed second-factor check: the login's attempt (when there is a login), the user's backoff and the
 * audit row, inside the caller's transaction.
 */
async function countFactorFailure(
  trx: Kysely<Database>,
  deps: LoginDeps,
  input: {
    userId: string;
    subject: string;
    factor: string;
    cause: string;
    client: ClientInfo;
    loginTxId?: string;
    sessionId?: string;
  },
): Promise<void> {
  if (input.loginTxId !== undefined) {
    await trx
      .updateTable('login_transactions')
      .set((eb) => ({ attempts: eb('attempts', '+', 1) }))
      .where('id', '=', input.loginTxId)
      .execute();
  }
  const { failures } = await recordFailure(trx, input.subject, deps.clock.now(), deps.backoff);
  deps.metrics.logins.inc({
    channel: 'web',
    result: input.sessionId === undefined ? 'factor_failed' : 'step_up_failed',
  });
  await appendAudit(trx, deps.clock, {
    type: input.cause === 'replayed' ? 'login.factor_replayed' : 'login.factor_failed',
    userId: input.userId,
    sessionId: input.sessionId ?? null,
    ip: input.client.ip,
    data: {
      factor: input.factor,
      failures,
      cause: input.cause,
      ...(input.sessionId === undefined ? {} : { purpose: 'step_up' }),
    },
  });
}

/** Sends an SMS code for a started login (within the SMS resend limits). */
export async function sendLoginSms(deps: LoginDeps, loginId: string, client: ClientInfo): Promise<SmsSent> {
  const tx = await findOpenLogin(deps, loginId, client);
  const sent = await sendSmsCode(
    deps.db,
    deps.clock,
    deps.sms,
    tx.user_id,
    await activeSmsFactorId(deps.db, tx.user_id),
  );
  await appendAudit(deps.db, deps.clock, {
    type: 'sms.sent',
    userId: tx.user_id,
    ip: client.ip,
    data: { purpose: 'login' },
  });
  return sent;
}

/** Step 2: a second factor for a started login; issues the session. */
export async function completeLoginFactor(
  deps: LoginDeps,
  loginId: string,
  factor: CodeProof,
  client: ClientInfo,
): Promise<LoginCompleted> {
  const { db, clock } = deps;
  const tx = await findOpenLogin(deps, loginId, client);
  const available = await usableFactors(deps, tx.user_id, tx.channel);
  if (!available.includes(factor.type)) throw new GatehouseError('FACTOR_NOT_AVAILABLE');

  // One transaction: the code's step is consumed only if the session is issued with it, and a failure is
  // counted together with its audit row.
  const outcome = await db.transaction().execute(async (trx) => {
    const check = await verifyCodeFactor(
      trx,
      { clock, box: deps.box, totpWindow: deps.totpWindow },
      tx.user_id,
      factor,
    );
    if (!check.ok) {
      await countFactorFailure(trx, deps, {
        userId: tx.user_id,
        subject: tx.username,
        factor: factor.type,
        cause: check.reason,
        client,
        loginTxId: tx.id,
      });
      return undefined;
    }
    const issued = await issueLoginSession(trx, deps, tx, check.factor, client);
    return issued;
  });
  if (outcome === undefined) throw new GatehouseError('INVALID_CREDENTIALS');
  await notifyNewDevice(deps, tx.user_id, outcome, client);
  const result: LoginCompleted = {
    ...outcome,
    backupFactorMissing: await backupFactorMissing(db, tx.user_id),
  };
  if (factor.type === 'recovery_code') {
    const remaining = await remainingRecoveryCodes(db, tx.user_id);
    await appendAudit(db, clock, {
      type: 'recovery.used',
      userId: tx.user_id,
      ip: client.ip,
      data: { remaining },
    });
    await deps.notifier.notify(tx.user_id, 'recovery_code_used', { remaining, ip: client.ip });
    result.remainingRecoveryCodes = remaining;
  }
  return result;
}

/**
 * Verifies a second factor again inside a session (step-up): clears `stepUpRequired` and refreshes the recent
 * second-factor time. Failures count towards the same per-user backoff as login failures.
 */
export async function stepUp(
  deps: LoginDeps,
  principal: Principal,
  factor: CodeProof,
  client: ClientInfo,
): Promise<void> {
  const { db, clock } = deps;
  const { session, profile } = principal;
  const subject = profile.user.username;
  const waitMs = await throttleWaitMs(db, subject, clock.now());
  if (waitMs > 0) throw tooManyAttempts(waitMs);
  const available = await usableFactors(deps, session.userId, session.channel);
  if (!available.includes(factor.type)) throw new GatehouseError('FACTOR_NOT_AVAILABLE');
  const check = await db.transaction().execute(async (trx) => {
    const result = await verifyCodeFactor(
      trx,
      { clock, box: deps.box, totpWindow: deps.totpWindow },
      session.userId,
      factor,
    );
    if (!result.ok) {
      await countFactorFailure(trx, deps, {
        userId: session.userId,
        subject,
        factor: factor.type,
        cause: result.reason,
        client,
        sessionId: session.id,
      });
    }
    return result;
  });
  if (!check.ok) throw new GatehouseError('INVALID_CREDENTIALS');
  await deps.sessions.recordSecondFactor(session, factor.type, check.factor.aal);
  await appendAudit(db, clock, {
    type: 'session.step_up',
    userId: session.userId,
    sessionId: session.id,
    ip: client.ip,
    data: { factor: factor.type },
  });
  await clearFailures(db, subject);
}

/** Sends an SMS code for a step-up in an existing session. */
export async function sendStepUpSms(
  deps: LoginDeps,
  principal: Principal,
  client: ClientInfo,
): Promise<SmsSent> {
  const sent = await sendSmsCode(
    deps.db,
    deps.clock,
    deps.sms,
    principal.session.userId,
    await activeSmsFactorId(deps.db, principal.session.userId),
  );
  await appendAudit(deps.db, deps.clock, {
    type: 'sms.sent',
    userId: principal.session.userId,
    sessionId: principal.session.id,
    ip: client.ip,
    data: { purpose: 'step_up' },
  });
  return sent;
}

export interface PushStarted {
  status: 'push_pending';
  challengeId: string;
  /** Show this on the login screen; the phone shows the same number. */
  number: string;
  expiresAt: string;
  /** Ask `GET /v1/auth/login/{loginId}` after this long at the latest to learn whether fallbacks are offered. */
  fallbackAfterMs: number;
}

/** Second step by push: sends a challenge to every enrolled device of the user. */
export async function startPushLogin(
  deps: LoginDeps,
  loginId: string,
  client: ClientInfo,
): Promise<PushStarted> {
  const { db, clock } = deps;
  const tx = await findOpenLogin(deps, loginId, client);
  if (!(await usableFactors(deps, tx.user_id, tx.channel)).includes('push'))
    throw new GatehouseError('FACTOR_NOT_AVAILABLE');
  const deviceIds = await pushDeviceIds(db, tx.user_id);
  if (deviceIds.length === 0) throw new GatehouseError('FACTOR_NOT_AVAILABLE');
  const message = await db.transaction().execute(async (trx) => {
    const created = await createPushChallenge(trx, clock, {
      userId: tx.user_id,
      loginId: tx.id,
      ttlMs: deps.pushTimeoutMs,
      context: {
        channel: tx.channel,
        requestingDevice: client.userAgent.slice(0, 120) || 'unknown browser',
        ip: client.ip,
        network: networkOf(client.ip),
        time: new Date(clock.now()).toISOString(),
      },
    });
    await appendAudit(trx, clock, {
      type: 'push.sent',
      userId: tx.user_id,
      ip: client.ip,
      data: { challengeId: created.challengeId, devices: deviceIds.length },
    });
    return created;
  });
  const { state, ...wire } = message;
  await deps.push.deliver(deviceIds, wire);
  await deps.bus.publish('push.updated', { challengeId: message.challengeId, loginId: tx.id });
  return {
    status: 'push_pending',
    challengeId: message.challengeId,
    number: message.number,
    expiresAt: message.expiresAt,
    fallbackAfterMs: deps.pushDeliveryTimeoutMs,
  };
}

export type LoginPoll =
  | { status: 'second_factor_required'; factors: { type: FactorType }[] }
  | {
      status: 'push_pending';
      challengeId: string;
      number: string;
      delivered: boolean;
      /** Present once the push was not delivered in time: the other factors the user may use now. */
      fallbackFactors?: { type: FactorType }[];
    }
  | ({ status: 'authenticated' } & LoginCompleted);

/**
 * The state of a started login, waiting up to `waitMs` (real time) for a pending push to change. Approval issues
 * the session here, to the client that started the login. A denial voids the login; an expired push leaves it
 * open for another factor. Without a delivery receipt in time, the answer offers the fallback factors.
 */
export async function pollLogin(
  deps: LoginDeps,
  loginId: string,
  client: ClientInfo,
  waitMs: number,
): Promise<LoginPoll> {
  const { db, clock } = deps;
  const deadline = Date.now() + Math.min(Math.max(0, waitMs), deps.longPollMs);
  for (;;) {
    const tx = await findOpenLogin(deps, loginId, client);
    const push = await latestPushForLogin(db, clock, tx.id);
    const factors = () => usableFactors(deps, tx.user_id, tx.channel);
    if (push === undefined) {
      return { status: 'second_factor_required', factors: (await factors()).map((type) => ({ type })) };
    }
    if (push.status === 'approved') {
      const issued = await db
        .transaction()
        .execute((trx) =>
          issueLoginSession(trx, deps, tx, { type: 'push', factorId: null, aal: 2, amr: 'mca' }, client),
        );
      await notifyNewDevice(deps, tx.user_id, issued, client);
      return {
        status: 'authenticated',
        ...issued,
        backupFactorMissing: await backupFactorMissing(db, tx.user_id),
      };
    }
    if (push.status === 'denied') {
      await db
        .updateTable('login_transactions')
        .set({ attempts: deps.maxFactorAttempts })
        .where('id', '=', tx.id)
        .execute();
      throw new GatehouseError('PUSH_DENIED');
    }
    if (push.status === 'expired') throw new GatehouseError('PUSH_EXPIRED');
    const now = clock.now();
    const delivered = push.deliveredAt !== null;
    const pending = { status: 'push_pending' as const, challengeId: push.id, number: push.number, delivered };
    if (!delivered && now >= push.createdAt + deps.pushDeliveryTimeoutMs) {
      return {
        ...pending,
        fallbackFactors: (await factors()).filter((t) => t !== 'push').map((type) => ({ type })),
      };
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) return pending;
    const untilFallback = delivered ? remaining : push.createdAt + deps.pushDeliveryTimeoutMs - now;
    await deps.pushWaiters.wait(push.id, Math.min(remaining, Math.max(untilFallback, 50)));
  }
}

/** WebAuthn options for a started login: the challenge and the user's credentials. */
export async function startWebauthnLogin(deps: LoginDeps, loginId: string, client: ClientInfo) {
  const tx = await findOpenLogin(deps, loginId, client);
  if (!(await usableFactors(deps, tx.user_id, tx.channel)).includes('webauthn'))
    throw new GatehouseError('FACTOR_NOT_AVAILABLE');
  return authenticationOptions(deps.db, deps.clock, deps.webauthn, tx.user_id, 'login', tx.id);
}

/** Second step by security key or passkey. */
export async function completeWebauthnLogin(
  deps: LoginDeps,
  loginId: string,
  response: AuthenticationResponseJSON,
  client: ClientInfo,
): Promise<LoginCompleted> {
  const { db, clock } = deps;
  const tx = await findOpenLogin(deps, loginId, client);
  let check: Awaited<ReturnType<typeof verifyAssertion>>;
  try {
    check = await verifyAssertion(db, clock, deps.webauthn, tx.user_id, 'login', response);
  } catch (error) {
    await db.transaction().execute((trx) =>
      countFactorFailure(trx, deps, {
        userId: tx.user_id,
        subject: tx.username,
        factor: 'webauthn',
        cause: 'mismatch',
        client,
        loginTxId: tx.id,
      }),
    );
    throw error;
  }
  const issued = await db
    .transaction()
    .execute((trx) => issueLoginSession(trx, deps, tx, { type: 'webauthn', ...check }, client));
  await notifyNewDevice(deps, tx.user_id, issued, client);
  return { ...issued, backupFactorMissing: await backupFactorMissing(db, tx.user_id) };
}
