/**
 * @module login/service
 * The login transaction: password first, then a second factor, then a session. Between the two steps the
 * client holds an opaque `loginId` (256 bits; only its hash is stored) that expires after 5 minutes, allows a
 * few wrong codes and completes once. Wrong password, unknown user and disabled user give the same answer after
 * the same argon2id work; wrong, replayed and out-of-window codes give the same answer too. The audit log, not
 * the client, learns which it was. Every password and code is checked only after its attempt was claimed under
 * the brute-force limits (`login/limits`, `login/throttle`).
 */

import { appendAudit } from '../audit/index.js';
import { GatehouseError, newId, randomToken, sha256 } from '../core/index.js';
import {
  activeSmsFactorId,
  backupFactorMissing,
  type CodeProof,
  type FactorType,
  remainingRecoveryCodes,
  type SmsSent,
  sendSmsCode,
  verifyCodeFactor,
} from '../factors/index.js';
import { findLoginCandidate, type LoginCandidate, normaliseUsername, type User } from '../identity/index.js';
import type { Channel, Principal } from '../sessions/index.js';
import type { CodeFactors, LoginCompletion, LoginLimits, LoginTransactions, PasswordChecks } from './deps.js';
import { type Attempter, attemptBuckets, identifyAttempter, networkAttempter } from './limits.js';
import { claimAttempt, releaseAttempt } from './throttle.js';

import {
  afterLoginIssued,
  auditedUsername,
  auditFactorFailure,
  type ClientInfo,
  cancelPushesOfEndedLogin,
  claimFactorAttempt,
  findOpenLogin,
  issueLoginSession,
  type LoginCompleted,
  type LoginStarted,
  noticeAfterCommit,
  ownFailures,
  refuseThrottled,
  usableFactors,
} from './transaction.js';

/** Step 1: username and password. */
export async function startLogin(
  deps: LoginLimits & LoginTransactions & PasswordChecks,
  input: { username: string; password: string; channel: Channel },
  client: ClientInfo,
): Promise<LoginStarted> {
  const { user } = await checkPassword(deps, input, client);
  const factors = await usableFactors(deps, user.id, input.channel);
  return openLoginTransaction(deps, { userId: user.id, channel: input.channel, factors }, client);
}

export interface PasswordChecked {
  user: User;
  /** Who made the attempt: its buckets are the ones a completed login forgets. */
  attempter: Attempter;
}

/**
 * Checks a username and password under the brute-force limits: the attempt is claimed in the requester's buckets
 * before argon2id runs, and given back if the password is right. `signedBy` is the device whose key signed this
 * login (desktop), already verified. Wrong password, unknown user, disabled user and an operator's initial password
 * past its lifetime give the same answer after the same work; the audit log records which it was.
 */
export async function checkPassword(
  deps: LoginLimits & PasswordChecks,
  input: { username: string; password: string; channel: Channel },
  client: ClientInfo,
  signedBy?: { id: string; userId: string },
): Promise<PasswordChecked> {
  const username = normaliseUsername(input.username);
  const candidate = await findLoginCandidate(deps.db, username);
  const attempter = await identifyAttempter(deps.db, deps.deviceKey, {
    userId: candidate?.user.id ?? null,
    ip: client.ip,
    ...(client.deviceCookie === undefined ? {} : { deviceCookie: client.deviceCookie }),
    ...(signedBy === undefined ? {} : { signedBy }),
  });
  const { user } = await verifyPasswordClaimed(deps, {
    username,
    candidate,
    attempter,
    password: input.password,
    channel: input.channel,
    client,
  });
  return { user, attempter };
}

/**
 * Checks the current password of a session's user (a password change) exactly as a login checks one: the attempt
 * is claimed before argon2id runs, in the bucket of the device the session is bound to (a session without one
 * draws on its network's and the account's buckets, as step-up does), and given back if the password is right.
 * A wrong or expired password answers `INVALID_CREDENTIALS` and is audited as `password.change_failed`. Returns
 * the stored hash it matched, for a change conditional on it.
 */
export async function checkSessionPassword(
  deps: LoginLimits & PasswordChecks,
  principal: Principal,
  password: string,
  client: ClientInfo,
): Promise<{ passwordHash: string }> {
  const { session, profile } = principal;
  const username = profile.user.username;
  const candidate = await findLoginCandidate(deps.db, username);
  const attempter: Attempter =
    session.deviceId === null ? networkAttempter(client.ip) : { kind: 'device', deviceId: session.deviceId };
  const { passwordHash } = await verifyPasswordClaimed(deps, {
    username,
    candidate,
    attempter,
    password,
    channel: session.channel,
    client,
    sessionId: session.id,
  });
  return { passwordHash };
}

/**
 * The one password check: claim the attempt in the attempter's buckets, verify with argon2id (against the dummy
 * hash when there is no such user), refuse a wrong password, an inactive user and an operator's initial password
 * past its lifetime alike (`INVALID_CREDENTIALS`, the audit log says which), and give the claim back when it was
 * right. With `sessionId` it is a password change's check of the current password, audited as such.
 */
async function verifyPasswordClaimed(
  deps: LoginLimits & PasswordChecks,
  input: {
    username: string;
    candidate: LoginCandidate | undefined;
    attempter: Attempter;
    password: string;
    channel: Channel;
    client: ClientInfo;
    sessionId?: string;
  },
): Promise<LoginCandidate> {
  const { db, clock } = deps;
  const { username, candidate, channel, client } = input;
  const inSession = input.sessionId !== undefined;
  const typed = auditedUsername(deps, username, candidate !== undefined);
  const claim = await claimAttempt(db, attemptBuckets(deps.backoff, username, input.attempter), clock.now());
  if (!claim.ok) {
    throw await refuseThrottled(deps, {
      userId: inSession ? (candidate?.user.id ?? null) : null,
      typed,
      channel,
      client,
      waitMs: claim.waitMs,
    });
  }

  const passwordOk = await deps.hasher.verify(candidate?.passwordHash ?? null, input.password);
  const user = candidate?.user;
  const expiry = candidate?.initialPasswordExpiresAt ?? null;
  const expired = expiry !== null && clock.now() >= expiry;
  if (!passwordOk || candidate === undefined || user === undefined || user.status !== 'active' || expired) {
    const cause =
      user === undefined
        ? 'unknown_user'
        : !passwordOk
          ? 'wrong_password'
          : user.status !== 'active'
            ? 'user_disabled'
            : 'initial_password_expired';
    await appendAudit(db, clock, {
      type: inSession ? 'password.change_failed' : 'login.password_failed',
      userId: user?.id ?? null,
      sessionId: input.sessionId ?? null,
      ip: client.ip,
      data: { ...typed, channel, failures: ownFailures(claim.claims), cause },
    });
    if (!inSession) deps.metrics.logins.inc({ channel, result: 'invalid_credentials' });
    throw new GatehouseError('INVALID_CREDENTIALS');
  }
  await releaseAttempt(db, claim.claims);
  return candidate;
}

/**
 * Opens the login transaction after a correct password: an opaque `loginId` the second step presents. `deviceId`
 * names a pre-validated device that already proved itself (desktop); the session will be bound to it.
 */
export async function openLoginTransaction(
  deps: LoginLimits & LoginTransactions,
  input: { userId: string; channel: Channel; factors: FactorType[]; deviceId?: string },
  client: ClientInfo,
): Promise<LoginStarted> {
  const { db, clock } = deps;
  const { userId, channel, factors } = input;
  if (factors.length === 0) {
    await appendAudit(db, clock, {
      type: 'login.password_ok',
      userId,
      ip: client.ip,
      data: { channel, outcome: 'no_second_factor' },
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
        user_id: userId,
        channel,
        created_at: now,
        expires_at: now + deps.transactionTtlMs,
        completed_at: null,
        attempts: 0,
        ip: client.ip,
        user_agent: client.userAgent,
        device_id: input.deviceId ?? null,
      })
      .execute();
    await appendAudit(trx, clock, {
      type: 'login.password_ok',
      userId,
      ip: client.ip,
      data: { channel, factors, ...(input.deviceId === undefined ? {} : { deviceId: input.deviceId }) },
    });
  });
  return { status: 'second_factor_required', loginId: handle, factors: factors.map((type) => ({ type })) };
}

/** Sends an SMS code for a started login (within the SMS resend limits). */
export async function sendLoginSms(
  deps: LoginLimits & LoginTransactions & CodeFactors,
  loginId: string,
  client: ClientInfo,
): Promise<SmsSent> {
  const tx = await findOpenLogin(deps, loginId, client);
  const sent = await sendSmsCode(
    deps.db,
    deps.clock,
    deps.sms,
    tx.user_id,
    await activeSmsFactorId(deps.db, tx.user_id),
    { purpose: 'login', loginId: tx.id },
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
  deps: LoginLimits & LoginTransactions & LoginCompletion & CodeFactors,
  loginId: string,
  factor: CodeProof,
  client: ClientInfo,
): Promise<LoginCompleted> {
  const { db, clock } = deps;
  const tx = await findOpenLogin(deps, loginId, client);
  const available = await usableFactors(deps, tx.user_id, tx.channel);
  if (!available.includes(factor.type)) throw new GatehouseError('FACTOR_NOT_AVAILABLE');
  const { failures, attemptsLeft } = await claimFactorAttempt(deps, tx, client);

  // One transaction: the code's step is consumed only if the session is issued with it.
  const outcome = await db.transaction().execute(async (trx) => {
    const check = await verifyCodeFactor(
      trx,
      { clock, box: deps.box, totpWindow: deps.totpWindow, ...(deps.log ? { log: deps.log } : {}) },
      tx.user_id,
      factor,
      { purpose: 'login', loginId: tx.id },
    );
    if (!check.ok) {
      await auditFactorFailure(trx, deps, {
        userId: tx.user_id,
        channel: tx.channel,
        factor: factor.type,
        cause: check.reason,
        client,
        failures,
      });
      return undefined;
    }
    const issued = await issueLoginSession(trx, deps, tx, check.factor, client);
    if (factor.type !== 'recovery_code') return { ...issued, remaining: undefined };
    // The code's use is audited with the session it issued: both or neither.
    const remaining = await remainingRecoveryCodes(trx, tx.user_id);
    await appendAudit(trx, clock, {
      type: 'recovery.used',
      userId: tx.user_id,
      ip: client.ip,
      data: { remaining },
    });
    return { ...issued, remaining };
  });
  // How many codes may still be tried: the page says "Wrong code, 2 tries left" instead of blaming the password.
  // At 0 the login is spent: the next request is refused as `LOGIN_INVALID` (also with `attemptsLeft: 0`), and
  // its pending pushes are cancelled.
  if (outcome === undefined) {
    await cancelPushesOfEndedLogin(deps, tx.id);
    throw new GatehouseError('INVALID_CREDENTIALS', 'The code is not valid.', { attemptsLeft });
  }
  const { remaining, ...issued } = outcome;
  await afterLoginIssued(deps, tx.user_id, issued, client);
  const result: LoginCompleted = {
    ...issued,
    backupFactorMissing: await backupFactorMissing(db, tx.user_id),
  };
  if (remaining !== undefined) {
    await noticeAfterCommit(deps, tx.user_id, () =>
      deps.notifier.notify(tx.user_id, 'recovery_code_used', { remaining, ip: client.ip }),
    );
    result.remainingRecoveryCodes = remaining;
  }
  return result;
}
