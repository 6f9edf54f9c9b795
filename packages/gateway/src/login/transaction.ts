/**
 * @module login/transaction
 * The login transaction's shared parts: its dependencies, finding an open login by its id, issuing the session
 * when a second factor completes it (claimed once, device recorded, audited), and counting failures towards the
 * per-user backoff. Every factor completes a login through these, so each completes it the same way.
 */

import type { Kysely } from 'kysely';
import { appendAudit } from '../audit/index.js';
import {
  type Clock,
  type EventBus,
  GatehouseError,
  type LruCache,
  type SecretBox,
  sha256,
} from '../core/index.js';
import {
  assessBrowser,
  describeUserAgent,
  deviceCookieValue,
  networkOf,
  recordBrowserLogin,
} from '../devices/index.js';
import { availableFactorTypes, type FactorType, type SmsSender } from '../factors/index.js';
import type { PushTransport } from '../factors/push.js';
import type { PushWaiters } from '../factors/push-waiters.js';
import type { WebauthnConfig } from '../factors/webauthn.js';
import type { PasswordHasher } from '../identity/index.js';
import type { GatewayMetrics } from '../metrics/index.js';
import type { Notifier } from '../notifications/index.js';
import type { Channel, ChannelPolicies, SessionRecord, SessionService } from '../sessions/index.js';
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
  /** Web: the signed device cookie to (re)set on the browser. */
  deviceCookie?: string;
  /** True while the user has a single way to pass the second step. */
  backupFactorMissing: boolean;
  /** Set when a recovery code was used: how many remain (the user is told to enrol a new device). */
  remainingRecoveryCodes?: number;
}

export function tooManyAttempts(waitMs: number): GatehouseError {
  return new GatehouseError('TOO_MANY_ATTEMPTS', undefined, { retryAfterMs: waitMs });
}

/** The user's enrolled factors that the channel's policy allows, strongest first. */
export async function usableFactors(deps: LoginDeps, userId: string, channel: string): Promise<FactorType[]> {
  const allowed = deps.policies[channel as Channel]?.allowedFactors ?? [];
  return (await availableFactorTypes(deps.db, userId)).filter((t) => allowed.includes(t));
}

/** A started login, as the second step sees it. */
export interface OpenLogin {
  id: string;
  user_id: string;
  channel: string;
  username: string;
  /** Desktop: the pre-validated device whose key signed the login. */
  device_id: string | null;
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
      'login_transactions.device_id',
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

export interface IssuedFactor {
  type: string;
  factorId: string | null;
  aal: number;
  amr: string;
}

/**
 * Completes a login transaction inside `trx`: claims it (once), creates the session, audits the factor and the
 * login, and clears the user's failure count. Shared by every factor, so each completes a login the same way.
 */
export async function issueLoginSession(
  trx: Kysely<Database>,
  deps: LoginDeps,
  tx: OpenLogin,
  factor: IssuedFactor,
  client: ClientInfo,
): Promise<{ token: string; session: SessionRecord; deviceCookie?: string; newDevice: boolean }> {
  const { clock } = deps;
  const now = clock.now();
  const channel = tx.channel as Channel;
  // The web channel recognises the browser by its device cookie; the desktop channel binds the session to the
  // device key that signed the login (or to the key it registers next).
  const device =
    channel === 'web'
      ? await recordBrowserLogin(trx, clock, {
          userId: tx.user_id,
          assessment: await assessBrowser(trx, deps.deviceKey, tx.user_id, client.deviceCookie),
          ip: client.ip,
          userAgent: client.userAgent,
        })
      : { deviceId: tx.device_id, isNew: false };
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
      amr: [...new Set(['pwd', ...(tx.device_id === null ? [] : ['swk']), factor.amr])],
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
    ...(channel === 'web' && device.deviceId !== null
      ? { deviceCookie: deviceCookieValue(deps.deviceKey, device.deviceId) }
      : {}),
    newDevice: device.isNew,
  };
}

/** Tells the user about a login from a browser not seen before (after the login committed). */
export async function notifyNewDevice(
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
export async function countFactorFailure(
  trx: Kysely<Database>,
  deps: LoginDeps,
  input: {
    userId: string;
    /** The channel of the login or session the factor was for. */
    channel: string;
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
    channel: input.channel,
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
