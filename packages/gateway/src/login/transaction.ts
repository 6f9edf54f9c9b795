/**
 * @module login/transaction
 * The login transaction's shared parts: finding an open login by its id, issuing the session when a second factor
 * completes it (claimed once, device recorded, audited), and claiming each second-factor attempt — one of the
 * login's few attempts and the attempter's failure buckets — before the factor is checked. Every factor completes
 * a login through these, so each completes it the same way. What each step needs is in `login/deps`.
 *
 * Longer than most modules: the login transaction's steps and their limits (attempts spent and given back,
 * brute-force claims) are one invariant, kept in one place.
 */

import type { Kysely } from 'kysely';
import { appendAudit } from '../audit/index.js';
import { GatehouseError, hmacSha256, sha256 } from '../core/index.js';
import {
  assessBrowser,
  describeUserAgent,
  deviceCookieValue,
  networkOf,
  recordBrowserLogin,
} from '../devices/index.js';
import { availableFactorTypes, type FactorType } from '../factors/index.js';
import { announceCancelled, cancelLoginPushes } from '../factors/push.js';
import type { Channel, IssuedSession, SessionRecord } from '../sessions/index.js';
import { type Database, storageFault } from '../store/index.js';
import type { LoginCompletion, LoginLimits, LoginTransactions, PasswordChecks } from './deps.js';
import { type Attempter, attemptBuckets, identifyAttempter, successBuckets } from './limits.js';
import { type BucketClaim, claimAttempt, clearBuckets, throttleWaitMs } from './throttle.js';

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

/** A typed username as the audit log keeps it: as typed when it names a user, else only its keyed hash. */
export type AuditedUsername = { username: string } | { usernameHash: string };

/**
 * How a username typed at login is written to the audit log, which is hash-chained and never edited: a name that
 * is a user's as it is (normalised; the user id is recorded too), any other as the first 16 characters (96 bits) of
 * its HMAC-SHA256 under a key derived from the server secret. People type passwords into the username field; such
 * a "name" must not be readable from the log for ever, and the hash still ties repeated attempts on one name
 * together. The hash is computed for every name, so a user's and a stranger's cost the same work.
 */
export function auditedUsername(
  deps: Pick<PasswordChecks, 'usernameKey'>,
  username: string,
  namesUser: boolean,
): AuditedUsername {
  const usernameHash = hmacSha256(deps.usernameKey, username).slice(0, 16);
  return namesUser ? { username } : { usernameHash };
}

/** Audits and counts an attempt refused by the backoff; returns the error to throw. */
export async function refuseThrottled(
  deps: LoginLimits,
  input: {
    userId: string | null;
    typed?: AuditedUsername;
    channel: string;
    client: ClientInfo;
    waitMs: number;
  },
): Promise<GatehouseError> {
  await appendAudit(deps.db, deps.clock, {
    type: 'login.throttled',
    userId: input.userId,
    ip: input.client.ip,
    data: { ...input.typed, waitMs: input.waitMs },
  });
  deps.metrics.logins.inc({ channel: input.channel, result: 'throttled' });
  return tooManyAttempts(input.waitMs);
}

/** The user's enrolled factors that the channel's policy allows, strongest first. */
export async function usableFactors(
  deps: Pick<LoginLimits, 'db'> & Pick<LoginTransactions, 'policies'>,
  userId: string,
  channel: string,
): Promise<FactorType[]> {
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
  /** When the login stops accepting a second factor (ms). */
  expires_at: number;
  /** Who makes this request, for the brute-force limits. */
  attempter: Attempter;
}

/**
 * A started login that may still complete: known, unexpired, not completed, attempts left, user active, and the
 * requester's buckets not waiting. A read, for a quick answer: a factor check still claims its attempt
 * (`claimFactorAttempt`).
 */
export async function findOpenLogin(
  deps: LoginLimits & LoginTransactions,
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
  if (tx === undefined || tx.completed_at !== null || now >= tx.expires_at || tx.status !== 'active') {
    throw new GatehouseError('LOGIN_INVALID');
  }
  // Only the holder of the login's id learns this: its attempts are spent, so it must start again.
  if (tx.attempts >= deps.maxFactorAttempts) throw attemptsExhausted();
  // Desktop: the device whose key signed the password step; web: the browser's device cookie.
  const attempter = await identifyAttempter(db, deps.deviceKey, {
    userId: tx.user_id,
    ip: client.ip,
    ...(client.deviceCookie === undefined ? {} : { deviceCookie: client.deviceCookie }),
    ...(tx.device_id === null ? {} : { signedBy: { id: tx.device_id, userId: tx.user_id } }),
  });
  const waitMs = await throttleWaitMs(db, attemptBuckets(deps.backoff, tx.username, attempter), now);
  if (waitMs > 0)
    throw await refuseThrottled(deps, { userId: tx.user_id, channel: tx.channel, client, waitMs });
  return {
    id: tx.id,
    user_id: tx.user_id,
    channel: tx.channel,
    username: tx.username,
    device_id: tx.device_id,
    expires_at: tx.expires_at,
    attempter,
  };
}

/**
 * `LOGIN_INVALID` for a login whose second-factor attempts are all spent, with `details.attemptsLeft: 0`, so that
 * the page can say "too many wrong codes" rather than "expired": the person starts again from the password.
 */
export function attemptsExhausted(): GatehouseError {
  return new GatehouseError(
    'LOGIN_INVALID',
    'Too many wrong codes for this login: start again with the password.',
    { attemptsLeft: 0 },
  );
}

/** What claiming a second-factor attempt leaves. */
export interface FactorAttemptClaim {
  /** The requester's own bucket count, this attempt included. */
  failures: number;
  /**
   * The login's attempts left should this one fail: read back from the UPDATE that spent it, so parallel
   * submissions each learn their own count and together never spend more than `maxFactorAttempts`.
   */
  attemptsLeft: number;
}

/**
 * Claims one second-factor attempt before the factor is checked: one of the login's `maxFactorAttempts` (a
 * conditional UPDATE, so parallel submissions cannot spend more) and a failure in each of the requester's buckets.
 * The attempt stays counted unless the factor completes the login.
 */
export async function claimFactorAttempt(
  deps: LoginLimits & LoginTransactions,
  tx: OpenLogin,
  client: ClientInfo,
): Promise<FactorAttemptClaim> {
  const now = deps.clock.now();
  const attemptsLeft = await spendLoginAttempt(deps, tx, now);
  const claim = await claimAttempt(deps.db, attemptBuckets(deps.backoff, tx.username, tx.attempter), now);
  if (!claim.ok) {
    // Not checked, so not spent.
    await returnLoginAttempt(deps, tx);
    throw await refuseThrottled(deps, {
      userId: tx.user_id,
      channel: tx.channel,
      client,
      waitMs: claim.waitMs,
    });
  }
  return { failures: ownFailures(claim.claims), attemptsLeft };
}

/**
 * Spends one of a login's second-factor attempts (a code checked, a push sent) with one conditional UPDATE, so
 * parallel requests cannot spend more than there are; `LOGIN_INVALID` when none is left or the login ended.
 * Returns the attempts left after this one, as the UPDATE itself counted them.
 */
export async function spendLoginAttempt(
  deps: Pick<LoginLimits, 'db'> & Pick<LoginTransactions, 'maxFactorAttempts'>,
  tx: OpenLogin,
  now: number,
): Promise<number> {
  const spent = await deps.db
    .updateTable('login_transactions')
    .set((eb) => ({ attempts: eb('attempts', '+', 1) }))
    .where('id', '=', tx.id)
    .where('completed_at', 'is', null)
    .where('expires_at', '>', now)
    .where('attempts', '<', deps.maxFactorAttempts)
    .returning('attempts')
    .executeTakeFirst();
  if (spent === undefined) {
    const row = await deps.db
      .selectFrom('login_transactions')
      .select('attempts')
      .where('id', '=', tx.id)
      .executeTakeFirst();
    throw row !== undefined && row.attempts >= deps.maxFactorAttempts
      ? attemptsExhausted()
      : new GatehouseError('LOGIN_INVALID');
  }
  return Math.max(0, deps.maxFactorAttempts - Number(spent.attempts));
}

/**
 * A wrong number answered to the login's push spends one of its attempts, inside the decision's transaction
 * (factors/push.ts), whatever is left: the push is already void.
 */
export async function spendAttemptOnWrongNumber(trx: Kysely<Database>, loginId: string): Promise<void> {
  await trx
    .updateTable('login_transactions')
    .set((eb) => ({ attempts: eb('attempts', '+', 1) }))
    .where('id', '=', loginId)
    .where('completed_at', 'is', null)
    .execute();
}

/** Gives back an attempt `spendLoginAttempt` took for something refused before it was used. */
export async function returnLoginAttempt(deps: Pick<LoginLimits, 'db'>, tx: OpenLogin): Promise<void> {
  await deps.db
    .updateTable('login_transactions')
    .set((eb) => ({ attempts: eb('attempts', '-', 1) }))
    .where('id', '=', tx.id)
    .execute();
}

/** The failure count of the attempter's own bucket (the first claimed). */
export function ownFailures(claims: BucketClaim[]): number {
  return claims[0]?.failures ?? 0;
}

export interface IssuedFactor {
  type: string;
  factorId: string | null;
  aal: number;
  amr: string;
}

/**
 * Completes a login transaction inside `trx`: claims it (once), creates the session, cancels its pending pushes,
 * audits the factor and the login, and clears the user's failure count. Shared by every factor, so each completes a
 * login the same way. Once `trx` commits, the caller passes the result to `afterLoginIssued`.
 */
export async function issueLoginSession(
  trx: Kysely<Database>,
  deps: LoginLimits & LoginCompletion,
  tx: OpenLogin,
  factor: IssuedFactor,
  client: ClientInfo,
): Promise<IssuedLogin> {
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
  const cancelledPushes = await cancelLoginPushes(trx, clock, tx.id);
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
  await clearBuckets(trx, successBuckets(deps.backoff, tx.username, tx.attempter));
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
    loginId: tx.id,
    cancelledPushes,
  };
}

/** A login `issueLoginSession` completed. */
export interface IssuedLogin extends IssuedSession {
  deviceCookie?: string;
  newDevice: boolean;
  loginId: string;
  /** The login's pushes still pending when it completed, now cancelled: their devices are told once it commits. */
  cancelledPushes: string[];
}

/**
 * What follows a completed login once it committed: the devices still showing its pushes drop them, and the user
 * hears of a browser not seen before and of a first login from a country.
 */
export async function afterLoginIssued(
  deps: Pick<LoginCompletion, 'notifier' | 'bus' | 'sessions' | 'noticeLog'>,
  userId: string,
  issued: IssuedLogin,
  client: ClientInfo,
): Promise<void> {
  await announceCancelled(deps.bus, issued.loginId, issued.cancelledPushes);
  await noticeAfterCommit(deps, userId, async () => {
    await notifyNewDevice(deps, userId, issued, client);
    await deps.sessions.announceCountry(issued);
  });
}

/**
 * Sends a login's notices once the login committed. A notice the storage refuses then (a full disk) is reported, not
 * made the login's answer: a 503 would tell the client nothing was changed while its session exists, and its retry
 * would find the device known and send no notice either (docs/reliability.md, the disk fills).
 */
export async function noticeAfterCommit(
  deps: Pick<LoginCompletion, 'noticeLog'>,
  userId: string,
  send: () => Promise<void>,
): Promise<void> {
  try {
    await send();
  } catch (error) {
    const fault = storageFault(error);
    if (fault === undefined) throw error;
    deps.noticeLog?.error(
      { userId, fault },
      'a login notice was lost: the storage refused it after the login committed',
    );
  }
}

/**
 * Ends a login its person gave up ("Start again", or the login page closed): it can no longer complete, and its
 * pending pushes are cancelled and their phones told at once — a prompt left on a phone after its person walked
 * away trains approving without reading. The same answer for an unknown, ended or completed login.
 */
export async function abandonLogin(
  deps: Pick<LoginLimits, 'db' | 'clock'> & Pick<LoginCompletion, 'bus'>,
  loginId: string,
): Promise<void> {
  const { db, clock } = deps;
  const now = clock.now();
  const ended = await db
    .updateTable('login_transactions')
    .set({ expires_at: now })
    .where('handle_hash', '=', sha256(loginId))
    .where('completed_at', 'is', null)
    .where('expires_at', '>', now)
    .returning('id')
    .executeTakeFirst();
  if (ended === undefined) return;
  await announceCancelled(deps.bus, ended.id, await cancelLoginPushes(db, clock, ended.id));
}

/**
 * After a failed second-factor check: when the login can no longer complete (its attempts spent, expired or
 * completed), its pending pushes are cancelled and their devices told at once.
 */
export async function cancelPushesOfEndedLogin(
  deps: Pick<LoginLimits, 'db' | 'clock'> &
    Pick<LoginTransactions, 'maxFactorAttempts'> &
    Pick<LoginCompletion, 'bus'>,
  loginId: string,
): Promise<void> {
  const { db, clock } = deps;
  const login = await db
    .selectFrom('login_transactions')
    .select(['attempts', 'expires_at', 'completed_at'])
    .where('id', '=', loginId)
    .executeTakeFirst();
  if (login === undefined) return;
  const ended =
    login.completed_at !== null ||
    clock.now() >= login.expires_at ||
    login.attempts >= deps.maxFactorAttempts;
  if (!ended) return;
  await announceCancelled(deps.bus, loginId, await cancelLoginPushes(db, clock, loginId));
}

/** Tells the user about a login from a browser not seen before (after the login committed). */
export async function notifyNewDevice(
  deps: Pick<LoginCompletion, 'notifier'>,
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
 * Audits one failed second-factor check (login or step-up) inside the caller's transaction; the failure itself
 * was counted when the attempt was claimed.
 */
export async function auditFactorFailure(
  trx: Kysely<Database>,
  deps: Pick<LoginLimits, 'clock' | 'metrics'>,
  input: {
    userId: string;
    /** The channel of the login or session the factor was for. */
    channel: string;
    factor: string;
    cause: string;
    client: ClientInfo;
    /** The requester's failure count, this one included. */
    failures: number;
    sessionId?: string;
  },
): Promise<void> {
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
      failures: input.failures,
      cause: input.cause,
      ...(input.sessionId === undefined ? {} : { purpose: 'step_up' }),
    },
  });
}
