/**
 * @module login/push-login
 * The second step by push approval: the challenge goes to every enrolled device, and the login screen learns the
 * outcome by long-poll (or its stream) — authenticated, denied, expired, or fallback factors when undelivered.
 *
 * Push bombing (sending request after request until a tired user approves one) is bounded twice, each by one
 * atomic claim made before the push goes out: a push spends one of its login's second-factor attempts, and a user
 * gets at most `PUSH_LIMIT.perWindow` pushes before each further one waits (a minute, doubling), counted until an
 * hour passes without one. A wrong number denies its push (factors/push), so every guess costs a new push.
 */

import { appendAudit } from '../audit/index.js';
import { GatehouseError } from '../core/index.js';
import { describeUserAgent, networkOf, pushDeviceIds } from '../devices/index.js';
import { backupFactorMissing, type FactorType } from '../factors/index.js';
import {
  announceCancelled,
  cancelLoginPushes,
  createPushChallenge,
  latestPushForLogin,
} from '../factors/push.js';

import type { LoginCompletion, LoginLimits, LoginTransactions, PushLogins } from './deps.js';
import { type BackoffPolicy, claimAttempt } from './throttle.js';
import {
  afterLoginIssued,
  type ClientInfo,
  findOpenLogin,
  issueLoginSession,
  type LoginCompleted,
  type OpenLogin,
  returnLoginAttempt,
  spendLoginAttempt,
  usableFactors,
} from './transaction.js';

export interface PushStarted {
  status: 'push_pending';
  challengeId: string;
  /** Show this on the login screen; the phone shows the same number. */
  number: string;
  expiresAt: string;
  /** Ask `GET /v1/auth/login/{loginId}` after this long at the latest to learn whether fallbacks are offered. */
  fallbackAfterMs: number;
}

/** A user's push budget: the pushes free of wait within a rolling hour, then the wait before the next. */
export const PUSH_LIMIT: BackoffPolicy = {
  freeFailures: 10,
  baseDelayMs: 60_000,
  maxDelayMs: 3_600_000,
  failureResetMs: 3_600_000,
  maxFailures: 1_000,
};

/**
 * Claims a push for a login: one of the login's attempts, then one of the user's pushes; refused, it spends
 * neither.
 */
async function claimPush(deps: LoginLimits & LoginTransactions, tx: OpenLogin): Promise<void> {
  const now = deps.clock.now();
  await spendLoginAttempt(deps, tx, now);
  const claim = await claimAttempt(deps.db, [{ subject: `push ${tx.user_id}`, policy: PUSH_LIMIT }], now);
  if (claim.ok) return;
  await returnLoginAttempt(deps, tx);
  throw new GatehouseError('PUSH_LIMIT_REACHED', undefined, { retryAfterMs: claim.waitMs });
}

/**
 * Second step by push: sends a challenge to every enrolled device of the user, when the person asks for it (the
 * login page sends none merely because its factor step opened). A newer push cancels the login's pending one, so
 * the phone never shows two; after a denial the login sends no further push (`PUSH_DENIED`), though its other
 * factors stay open. The push expires no later than its login.
 */
export async function startPushLogin(
  deps: LoginLimits & LoginTransactions & PushLogins,
  loginId: string,
  client: ClientInfo,
): Promise<PushStarted> {
  const { db, clock } = deps;
  const tx = await findOpenLogin(deps, loginId, client);
  if (!(await usableFactors(deps, tx.user_id, tx.channel)).includes('push'))
    throw new GatehouseError('FACTOR_NOT_AVAILABLE');
  const deviceIds = await pushDeviceIds(db, tx.user_id);
  if (deviceIds.length === 0) throw new GatehouseError('FACTOR_NOT_AVAILABLE');
  if ((await latestPushForLogin(db, clock, tx.id))?.status === 'denied')
    throw new GatehouseError('PUSH_DENIED');
  await claimPush(deps, tx);
  let cancelled: string[] = [];
  const message = await db.transaction().execute(async (trx) => {
    cancelled = await cancelLoginPushes(trx, clock, tx.id);
    const created = await createPushChallenge(trx, clock, {
      userId: tx.user_id,
      loginId: tx.id,
      ttlMs: Math.min(deps.pushTimeoutMs, tx.expires_at - clock.now()),
      context: {
        channel: tx.channel,
        // Readable on the phone ("Chrome on Linux"), never the raw user agent.
        requestingDevice: describeUserAgent(client.userAgent),
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
  await announceCancelled(deps.bus, tx.id, cancelled);
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
 * the session here, to the client that started the login. A denial ends push for this login (its other factors stay open); a wrong number or an expired
 * push leaves it open for a new push or another factor. Without a delivery receipt in time, the answer offers the fallback factors.
 */
export async function pollLogin(
  deps: LoginLimits & LoginTransactions & LoginCompletion & PushLogins,
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
      await afterLoginIssued(deps, tx.user_id, issued, client);
      return {
        status: 'authenticated',
        ...issued,
        backupFactorMissing: await backupFactorMissing(db, tx.user_id),
      };
    }
    // Denied: the person said it is not theirs. No further push for this login (startPushLogin refuses one); a
    // person who denied by mistake may still use another factor.
    if (push.status === 'denied') throw new GatehouseError('PUSH_DENIED');
    // Cancelled by a newer push or the login's end: the login (when still open) waits for a factor again.
    if (push.status === 'cancelled') {
      return { status: 'second_factor_required', factors: (await factors()).map((type) => ({ type })) };
    }
    // The phone picked another number: that push is void (its attempt spent), the login may send a new one.
    if (push.status === 'wrong_number') throw new GatehouseError('WRONG_NUMBER');
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
