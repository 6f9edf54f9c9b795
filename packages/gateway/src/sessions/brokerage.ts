/**
 * @module sessions/brokerage
 * The two tiers of a session (ARCHITECTURE.md, Sessions: two tiers). Every session starts read-only; the brokerage
 * capability (may trade) is asked for with `compete`. Under the default `exclusive` policy at most one session per
 * user holds it — the `brokerage_holders` primary key guarantees that on every engine — and a session that loses
 * it to a takeover turns `competing` (IBKR's "competing session"). At the daily reset of the user's region every
 * brokerage capability ends; the session stays logged in, read-only, until it asks again.
 *
 * `BrokerageTier` is the tier as a service, built once per gateway (app/gateway) from its options; callers hold it
 * (or the methods of it they use) instead of its options. A class because it holds, for the gateway's lifetime, what
 * every rule reads and the tier's prepared query. Rules that need nothing of the gateway (`tierAt`, `tradingRefusal`,
 * `standingRefusal`, `userResetSchedules`) stay plain functions.
 *
 * Longer than most modules: every rule of the brokerage tier (acquire, takeover, reset, whether a session may
 * trade now, how it was lost) is stated once, here.
 */

import type { SessionState, Tier } from '@gatehouse/protocol';
import type { Kysely } from 'kysely';
import { appendAudit } from '../audit/index.js';
import { type Clock, type ErrorCode, type EventBus, GatehouseError } from '../core/index.js';
import { describeUserAgent } from '../devices/index.js';
import type { Region, UserAccount } from '../identity/index.js';
import { type Database, preparedQuery } from '../store/index.js';
import type { HolderView } from './holder-view.js';
import { awaitingDeviceKey, type Channel, type ChannelPolicies } from './policy.js';
import { lastResetAt, nextResetAt, type ResetSchedule } from './reset.js';
import type { Principal } from './service.js';
import { parseStepUpReason, type StepUpReason, stepUpDetails } from './step-up-reason.js';
import { findSessionById, type SessionRecord, withinIdle } from './store.js';

export type { SessionState, Tier };
export type BrokeragePolicy = 'exclusive' | 'shared';

/** What the brokerage tier is built from (app/gateway). */
export interface BrokerageTierOptions {
  db: Kysely<Database>;
  clock: Clock;
  bus: EventBus;
  /** `brokerage.resets`: the daily reset of each region. */
  resets: Readonly<Record<Region, ResetSchedule>>;
  /** Channel policies: the assurance and the device binding each channel needs for trading. */
  policies: ChannelPolicies;
  /** Counts takeovers (optional: unit tests of the tier logic need no metrics). */
  onTakeover?: (channel: string) => void;
  /**
   * Observes re-authentication latency: from losing trading on a channel to holding it again there, in ms, with the
   * session that took it back (how it logged in names the path). Awaited before the acquisition answers.
   */
  onReauthentication?: (channel: string, ms: number, session: SessionRecord) => void | Promise<void>;
  /**
   * This node's cached view (optional: without it every question is read from the database): a session whose
   * cached entry is current (`sessions.isCurrent`) and whose user's holder is cached has its tier answered from
   * memory (sessions/holder-view).
   */
  view?: { isCurrent(principal: Principal): boolean; holders: HolderView };
}

/**
 * The reset that governs a user: that of the region of their accounts; with accounts in several regions, whichever
 * comes first. Users without accounts follow North America.
 */
export function userResetSchedules(
  resets: Readonly<Record<Region, ResetSchedule>>,
  accounts: readonly UserAccount[],
): ResetSchedule[] {
  const regions = new Set<Region>(accounts.map((a) => a.entity.region));
  if (regions.size === 0) regions.add('north_america');
  return [...regions].map((r) => resets[r]);
}

function lastReset(now: number, schedules: readonly ResetSchedule[]): number {
  return Math.max(...schedules.map((s) => lastResetAt(now, s)));
}

function nextReset(now: number, schedules: readonly ResetSchedule[]): number {
  return Math.min(...schedules.map((s) => nextResetAt(now, s)));
}

function alive(session: SessionRecord | undefined, now: number): session is SessionRecord {
  return (
    session !== undefined &&
    session.revokedAt === null &&
    now < session.expiresAt &&
    withinIdle(session.lastSeenAt, session.idleTimeoutMs, now)
  );
}

/**
 * The tier a session has now, from when it last acquired brokerage, the user's policy and the exclusive holder.
 * A reset ends what was acquired before its instant; what is acquired at the instant itself comes after it. A reset
 * recorded as having ended the acquisition (`resetAt`, after it) ends it whatever the clock says now: a wall clock
 * stepped back before the reset instant does not give trading back, nor makes the reset happen a second time.
 */
export function tierAt(
  sessionId: string,
  input: {
    acquiredAt: number | null;
    shared: boolean;
    holderSessionId: string | null | undefined;
    resetAt?: number | null | undefined;
  },
  since: number,
): { tier: Tier; competing: boolean; reset: boolean } {
  const recordedReset =
    input.acquiredAt !== null && input.resetAt != null && input.resetAt > input.acquiredAt;
  const hadBrokerage = input.acquiredAt !== null && input.acquiredAt >= since && !recordedReset;
  const holds = hadBrokerage && (input.shared || input.holderSessionId === sessionId);
  return {
    tier: holds ? 'brokerage' : 'read_only',
    competing: hadBrokerage && !holds,
    reset: input.acquiredAt !== null && !hadBrokerage,
  };
}

/** Sessions joined with what decides their tier: the user's brokerage policy and the user's exclusive holder. */
function withTier(db: Kysely<Database>) {
  return db
    .selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .leftJoin('brokerage_holders', 'brokerage_holders.user_id', 'sessions.user_id');
}

const TIER_COLUMNS = [
  'sessions.brokerage_at',
  'sessions.brokerage_reset_at',
  'sessions.revoked_at',
  'sessions.last_seen_at',
  'sessions.idle_timeout_ms',
  'sessions.expires_at',
  'users.brokerage_policy',
  'brokerage_holders.session_id as holder',
] as const;

/** `tierAt` for a row of `withTier`. */
function tierOfRow(
  sessionId: string,
  row: {
    brokerage_at: number | null;
    brokerage_reset_at: number | null;
    brokerage_policy: string;
    holder: string | null;
  },
  since: number,
) {
  return tierAt(
    sessionId,
    {
      acquiredAt: row.brokerage_at === null ? null : Number(row.brokerage_at),
      shared: row.brokerage_policy === 'shared',
      holderSessionId: row.holder,
      resetAt: row.brokerage_reset_at === null ? null : Number(row.brokerage_reset_at),
    },
    since,
  );
}

/** How a session that was trading was lost, as the session-loss policy names it. */
export type LossReason = 'revoked' | 'refresh_token_reused' | 'expired' | 'idle' | 'competing' | 'reset';

/** The session's row with its user's policy and the user's exclusive holder: one authoritative query. */
const tierQuery = (db: Kysely<Database>) =>
  preparedQuery(db, 1, (db, sessionId) =>
    withTier(db)
      .select([
        'sessions.step_up_required',
        'sessions.step_up_reason',
        'sessions.channel',
        'sessions.aal',
        'sessions.device_id',
        ...TIER_COLUMNS,
      ])
      .where('sessions.id', '=', sessionId),
  );

/** What the tier questions need of a session: its stored fields, and the tier they give now. */
interface TierRead {
  session: Pick<
    SessionRecord,
    | 'channel'
    | 'aal'
    | 'deviceId'
    | 'stepUpRequired'
    | 'stepUpReason'
    | 'revokedAt'
    | 'lastSeenAt'
    | 'idleTimeoutMs'
    | 'expiresAt'
  >;
  tier: { tier: Tier; competing: boolean; reset: boolean };
  now: number;
  schedules: ResetSchedule[];
}

/** What order entry needs to know of a session, re-checked for every order (`tradingState`). */
export interface TradingState {
  tier: Tier;
  competing: boolean;
  /** The session held brokerage before the last daily reset and has not asked again since. */
  reset: boolean;
  stepUpRequired: boolean;
  /** Why a step-up is pending (a network change when absent). */
  stepUpReason?: StepUpReason | null;
  /** The session's assurance level, and the one its channel needs for trading. */
  aal: number;
  aalForTrading: number;
  /** A desktop session that has not bound its device key yet. */
  deviceKeyRequired: boolean;
}

/** Why a session may not trade now: a coded refusal, as order entry gives it. */
export interface TradingRefusal {
  code: ErrorCode;
  details?: Record<string, unknown>;
}

/**
 * The one rule for "may this session trade now", used by the pre-trade gate and by modify: not competing,
 * no step-up pending, bound to its device key (desktop), at the assurance its channel needs, and holding the
 * brokerage capability since the last reset. Null when it may.
 */
export function tradingRefusal(state: TradingState): TradingRefusal | null {
  if (state.competing) return { code: 'SESSION_COMPETING' };
  if (state.stepUpRequired)
    return { code: 'STEP_UP_REQUIRED', details: stepUpDetails(state.stepUpReason ?? null) };
  if (state.deviceKeyRequired) return { code: 'DEVICE_KEY_REQUIRED' };
  if (state.aal < state.aalForTrading)
    return { code: 'STEP_UP_REQUIRED', details: { reason: `aal${state.aalForTrading}_required` } };
  if (state.tier !== 'brokerage') return { code: state.reset ? 'SESSION_RESET' : 'BROKERAGE_REQUIRED' };
  return null;
}

async function policyOf(db: Kysely<Database>, userId: string): Promise<BrokeragePolicy> {
  const row = await db
    .selectFrom('users')
    .select('brokerage_policy')
    .where('id', '=', userId)
    .executeTakeFirst();
  return row?.brokerage_policy === 'shared' ? 'shared' : 'exclusive';
}

/**
 * Why a session is not in good standing for a safety action on its own orders (arming its dead-man switch), or
 * null: the checks of `tradingRefusal` that say the session itself is in doubt — a step-up pending (another
 * network: what a stolen cookie looks like), no device key yet, below its channel's assurance — without the
 * brokerage tier, which a session that lost a takeover no longer has but may still protect its own orders without.
 */
export function standingRefusal(state: TradingState): TradingRefusal | null {
  return tradingRefusal({ ...state, competing: false, tier: 'brokerage' });
}

/** Another live session holds trading and the request did not compete: the acquisition's transaction rolls back. */
class HeldElsewhere extends Error {
  constructor(readonly holder: SessionRecord) {
    super('brokerage held elsewhere');
  }
}

/**
 * The brokerage tier of this gateway's sessions: acquiring it (with takeover), the tickle's state, the per-order
 * re-check, and which sessions lost it. Built once per gateway (app/gateway).
 */
export class BrokerageTier {
  readonly #options: BrokerageTierOptions;
  /** The session's row with its user's policy and holder, compiled once. */
  readonly #tierQuery: ReturnType<typeof tierQuery>;

  constructor(options: BrokerageTierOptions) {
    this.#options = options;
    this.#tierQuery = tierQuery(options.db);
  }

  /**
   * Asks for the brokerage capability. With `compete: false` a capability held by another live session since the
   * last reset answers `BROKERAGE_HELD_ELSEWHERE` naming its channel and device; with `compete: true` it is taken
   * over and the previous holder turns `competing` (told on the event bus). Every transition is one conditional
   * statement, so two sessions racing end with exactly one holder.
   */
  async acquire(principal: Principal, compete: boolean): Promise<SessionState> {
    const { db, clock, bus, resets, policies } = this.#options;
    const session = await findSessionById(db, principal.session.id);
    if (session === undefined || session.revokedAt !== null) throw new GatehouseError('SESSION_REVOKED');
    const needed = policies[session.channel as Channel]?.aalForTrading ?? 2;
    if (awaitingDeviceKey(session)) throw new GatehouseError('DEVICE_KEY_REQUIRED');
    if (session.aal < needed)
      throw new GatehouseError('STEP_UP_REQUIRED', undefined, { reason: `aal${needed}_required` });
    if (session.stepUpRequired)
      throw new GatehouseError('STEP_UP_REQUIRED', undefined, stepUpDetails(session.stepUpReason));
    const now = clock.now();
    const since = lastReset(now, userResetSchedules(resets, principal.profile.accounts));
    // Dated no earlier than the user's latest acquisition or recorded reset: with the wall clock stepped back over a
    // reset that already ended trading, trading taken again counts as after that reset, so the reset instant,
    // reached again, does not end it a second time.
    const acquiredAt = Math.max(now, await this.#latestOfUser(session.userId));
    // Read before the holder changes, so that nothing stands between the change and its announcement below.
    const latency = await this.#reauthenticationLatencyMs(session, now, principal.profile.accounts);
    const exclusive = (await policyOf(db, session.userId)) === 'exclusive';
    // The holder, the session's mark and the audit row commit together or not at all: a request refused by a
    // storage fault (STORAGE_UNAVAILABLE, "nothing was changed") has moved nothing (docs/reliability.md).
    let previous: string | null = null;
    try {
      await db.transaction().execute(async (trx) => {
        // The session's own row first, then the user's holder: the order the daily reset takes them in (`resetNow`),
        // so the two never wait on each other's row locks (PostgreSQL).
        await trx
          .updateTable('sessions')
          .set({ brokerage_at: acquiredAt, brokerage_reset_at: null })
          .where('id', '=', session.id)
          .execute();
        if (exclusive) {
          for (let attempt = 0; ; attempt += 1) {
            const holder = await trx
              .selectFrom('brokerage_holders')
              .selectAll()
              .where('user_id', '=', session.userId)
              .executeTakeFirst();
            if (holder === undefined) {
              const inserted = await trx
                .insertInto('brokerage_holders')
                .values({ user_id: session.userId, session_id: session.id, acquired_at: acquiredAt })
                .onConflict((oc) => oc.column('user_id').doNothing())
                .executeTakeFirst();
              if ((inserted.numInsertedOrUpdatedRows ?? 0n) > 0n) break;
            } else if (holder.session_id === session.id) {
              await trx
                .updateTable('brokerage_holders')
                .set({ acquired_at: acquiredAt })
                .where('user_id', '=', session.userId)
                .execute();
              break;
            } else {
              const other = await findSessionById(trx, holder.session_id);
              const contested = alive(other, now) && holder.acquired_at >= since;
              // Answered once the transaction has rolled back (the holder's details are read outside it).
              if (contested && !compete) throw new HeldElsewhere(other as SessionRecord);
              const replaced = await trx
                .updateTable('brokerage_holders')
                .set({ session_id: session.id, acquired_at: acquiredAt })
                .where('user_id', '=', session.userId)
                .where('session_id', '=', holder.session_id)
                .executeTakeFirst();
              if (replaced.numUpdatedRows > 0n) {
                previous = contested ? holder.session_id : null;
                break;
              }
            }
            // Another session changed the holder between our read and write: read again (bounded).
            if (attempt >= 5) throw new GatehouseError('OVERLOADED');
          }
        }
        await appendAudit(trx, clock, {
          type: 'session.brokerage_acquired',
          userId: session.userId,
          sessionId: session.id,
          data: { compete, tookOverFrom: previous },
        });
      });
    } catch (error) {
      if (!(error instanceof HeldElsewhere)) throw error;
      throw new GatehouseError(
        'BROKERAGE_HELD_ELSEWHERE',
        undefined,
        await this.#holderDetails(session, error.holder),
      );
    }
    // Announced once the change committed: every node's holder view (sessions/holder-view) drops the user at once,
    // so the session that lost answers its next order from the database.
    await bus.publish('session.brokerage', {
      sessionId: session.id,
      tokenHash: session.tokenHash,
      userId: session.userId,
    });
    if (previous !== null) {
      this.#options.onTakeover?.(session.channel);
      await bus.publish('session.competing', {
        sessionId: previous,
        bySessionId: session.id,
        userId: session.userId,
      });
    }
    if (latency !== null) await this.#options.onReauthentication?.(session.channel, latency, session);
    return this.sessionState(principal);
  }

  /**
   * Gives up the brokerage capability this session holds — at sign-out, when its page closes, when a program stops —
   * so that another session of the user takes it at once instead of after this one idles out. Only ever the
   * caller's own hold: the holder row goes only while it still names this session, so a release that arrives late
   * (a closed tab's beacon) never ends a hold another session took since. Idempotent. A session that stays logged in
   * is read-only after it (not competing: nobody took trading from it); a session that is ending (`ending`, at
   * sign-out) keeps its acquisition time, which the re-authentication latency measures from. Every node drops the
   * session and the user's holder (`session.released`). Resolves to whether this session held trading until now.
   */
  async release(principal: Principal, options: { ending?: boolean } = {}): Promise<boolean> {
    const { db, clock, bus } = this.#options;
    const { session } = principal;
    const { held, cleared } = await db.transaction().execute(async (trx) => {
      // The session's own row first (a write that changes nothing but takes its row lock), then the user's holder:
      // the order `acquire` and `resetNow` take them in, so a release racing either never deadlocks (PostgreSQL
      // 40P01) and waits its turn instead.
      await trx
        .updateTable('sessions')
        .set((eb) => ({ brokerage_at: eb.ref('brokerage_at') }))
        .where('id', '=', session.id)
        .execute();
      const deleted = await trx
        .deleteFrom('brokerage_holders')
        .where('user_id', '=', session.userId)
        .where('session_id', '=', session.id)
        .executeTakeFirst();
      const held = (deleted.numDeletedRows ?? 0n) > 0n;
      // A session taken over holds nothing to give up: it stays marked competing (it was taken over), and its late
      // release (a closing tab's beacon) is neither told nor audited. Under the shared policy no row names a
      // holder, and the session's own mark is what it gives up.
      const clears = options.ending !== true && (held || (await policyOf(trx, session.userId)) === 'shared');
      const updated = !clears
        ? undefined
        : await trx
            .updateTable('sessions')
            .set({ brokerage_at: null })
            .where('id', '=', session.id)
            .where('brokerage_at', 'is not', null)
            .executeTakeFirst();
      return { held, cleared: (updated?.numUpdatedRows ?? 0n) > 0n };
    });
    if (!held && !cleared) return false;
    await bus.publish('session.released', {
      sessionId: session.id,
      tokenHash: session.tokenHash,
      userId: session.userId,
    });
    await appendAudit(db, clock, {
      type: 'session.brokerage_released',
      userId: session.userId,
      sessionId: session.id,
      data: { held, ending: options.ending === true },
    });
    // Under the shared policy no row names a holder: a session that had acquired trading held it.
    return held || (cleared && (await policyOf(db, session.userId)) === 'shared');
  }

  /** The latest acquisition or recorded reset among the user's sessions (0: none). */
  async #latestOfUser(userId: string): Promise<number> {
    const row = await this.#options.db
      .selectFrom('sessions')
      .select((eb) => [eb.fn.max('brokerage_at').as('acquired'), eb.fn.max('brokerage_reset_at').as('reset')])
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return Math.max(Number(row?.acquired ?? 0), Number(row?.reset ?? 0));
  }

  /**
   * Records that the daily reset ended a session's acquisition: the first reset instant after it, in
   * `brokerage_reset_at`. Whoever notices first records it (the tickle, order entry, the session-loss sweep); the
   * write is conditional on the same acquisition and no record yet, so nodes noticing it together record it once.
   * Once recorded, the session stays reset when the wall clock is stepped back before the instant (`tierAt`).
   * Resolves to the instant recorded.
   */
  async #recordReset(
    sessionId: string,
    acquiredAt: number,
    schedules: readonly ResetSchedule[],
  ): Promise<number> {
    const at = nextReset(acquiredAt, schedules);
    await this.#options.db
      .updateTable('sessions')
      .set({ brokerage_reset_at: at })
      .where('id', '=', sessionId)
      .where('brokerage_at', '=', acquiredAt)
      .where('brokerage_reset_at', 'is', null)
      .execute();
    return at;
  }

  /**
   * What `BROKERAGE_HELD_ELSEWHERE` tells the asking session of the holder — always a session of the same user:
   * its channel, a readable device label (the device's name; for a browser without one, the browser and system from
   * its user agent, never the raw string), when it was last seen and from which address and network, and whether
   * it is this same device (a tab of this browser that was closed without signing out looks like "another session"
   * otherwise).
   */
  async #holderDetails(asking: SessionRecord, holder: SessionRecord): Promise<Record<string, unknown>> {
    const device =
      holder.deviceId === null
        ? undefined
        : await this.#options.db
            .selectFrom('devices')
            .select('name')
            .where('id', '=', holder.deviceId)
            .executeTakeFirst();
    return {
      channel: holder.channel,
      // A program's user agent already names its client and key; a browser's is reduced to "Chrome on Linux".
      device:
        device?.name ?? (holder.channel === 'web' ? describeUserAgent(holder.userAgent) : holder.userAgent),
      sessionId: holder.id,
      lastSeenAt: new Date(holder.lastSeenAt).toISOString(),
      ip: holder.ip,
      network: holder.network,
      sameDevice: holder.deviceId !== null && holder.deviceId === asking.deviceId,
    };
  }

  /**
   * The daily reset, now, for these sessions (the failure sandbox's `reset.daily`): each one holding the brokerage
   * capability loses it as the reset of its user's region does — its acquisition (and its holder row) dated just
   * before the last reset instant, which `tierAt` reads as `reset` — so order entry answers `SESSION_RESET`, the tickle
   * `read_only`, the session-loss policy's sweep finds it lost (`reset`) and asking again takes it back. Every node
   * reloads the session (`session.changed`). Resolves to how many were reset.
   */
  async resetNow(
    sessionIds: readonly string[],
    accountsOf: (userId: string) => Promise<readonly UserAccount[]>,
  ): Promise<number> {
    const { db, clock, bus, resets } = this.#options;
    const now = clock.now();
    let reset = 0;
    for (const sessionId of sessionIds) {
      const row = await this.#tierQuery.first(sessionId);
      const session = await findSessionById(db, sessionId);
      if (row === undefined || session === undefined || !alive(session, now)) continue;
      const since = lastReset(now, userResetSchedules(resets, await accountsOf(session.userId)));
      if (tierOfRow(sessionId, row, since).tier !== 'brokerage') continue;
      const before = since - 1;
      await db.transaction().execute(async (trx) => {
        await trx
          .updateTable('sessions')
          .set({ brokerage_at: before, brokerage_reset_at: now })
          .where('id', '=', sessionId)
          .execute();
        await trx
          .updateTable('brokerage_holders')
          .set({ acquired_at: before })
          .where('user_id', '=', session.userId)
          .where('session_id', '=', sessionId)
          .execute();
      });
      // The session's cached entry carries its acquisition time: every node reloads it (the holder is unchanged).
      await bus.publish('session.changed', { sessionId, tokenHash: session.tokenHash });
      reset += 1;
    }
    return reset;
  }

  /**
   * The session's tier and timers (the tickle's answer): from this node's current view, else read authoritatively.
   */
  async sessionState(principal: Principal): Promise<SessionState> {
    const { session, tier, now, schedules } = await this.#readTier(principal);
    const expiresAt = session.expiresAt;
    const lastSeen = Math.max(session.lastSeenAt, principal.session.lastSeenAt);
    return {
      tier: tier.tier,
      competing: tier.competing,
      stepUpRequired: session.stepUpRequired,
      idleExpiresInMs: Math.max(0, Math.min(lastSeen + session.idleTimeoutMs, expiresAt) - now),
      expiresInMs: Math.max(0, expiresAt - now),
      nextResetAt: new Date(nextReset(now, schedules)).toISOString(),
    };
  }

  /**
   * The session's trading state: every trading path (order entry, confirm, modify, cancel) re-checks it for every
   * call (docs/architecture.md, The request path). It is answered from this node's view, which every node drops on
   * the bus when a takeover, a revocation or a step-up changes it, so a takeover elsewhere stops this session's
   * orders as soon as its announcement arrives (at once on one node; within 30 s if a message is lost).
   */
  async tradingState(principal: Principal): Promise<TradingState> {
    const { session, tier } = await this.#readTier(principal);
    if (session.revokedAt !== null) throw new GatehouseError('SESSION_REVOKED');
    return {
      ...tier,
      stepUpRequired: session.stepUpRequired,
      stepUpReason: session.stepUpReason,
      aal: session.aal,
      aalForTrading: this.#options.policies[session.channel]?.aalForTrading ?? 2,
      deviceKeyRequired: awaitingDeviceKey({ channel: session.channel, deviceId: session.deviceId }),
    };
  }

  /**
   * The guard for trading calls that do not go through the gate (confirm): the session must be allowed to trade now
   * (`tradingRefusal`). Returns the state it read.
   */
  async requireTrading(principal: Principal): Promise<TradingState> {
    const state = await this.tradingState(principal);
    const refusal = tradingRefusal(state);
    if (refusal !== null) throw new GatehouseError(refusal.code, undefined, refusal.details);
    return state;
  }

  /**
   * The guard for cancelling an order: the session must be in good standing (`standingRefusal`: no step-up
   * pending, its device key, its channel's assurance) but need not hold trading. A cancel only takes risk off, so a
   * read-only session — one that never asked for trading, or lost it to a takeover — may cancel, as the person who
   * sees a working order they no longer want expects; placing and changing orders still need trading. Returns the
   * state it read.
   */
  async requireStanding(principal: Principal): Promise<TradingState> {
    const state = await this.tradingState(principal);
    const refusal = standingRefusal(state);
    if (refusal !== null) throw new GatehouseError(refusal.code, undefined, refusal.details);
    return state;
  }

  /**
   * Which of these sessions are lost for trading now, and how: revoked (or ended for a reused refresh token), past
   * their absolute or idle expiry, competing (another session took brokerage over), or reset (brokerage acquired
   * before the last daily reset). One query for all of them; `lastSeen` adds activity not yet written behind.
   */
  async losses(
    sessionIds: readonly string[],
    accountsOf: (userId: string) => Promise<readonly UserAccount[]>,
    lastSeen: (sessionId: string) => number | undefined,
  ): Promise<Map<string, LossReason>> {
    const losses = new Map<string, LossReason>();
    if (sessionIds.length === 0) return losses;
    const rows = await withTier(this.#options.db)
      .select(['sessions.id', 'sessions.user_id', 'sessions.revoke_reason', ...TIER_COLUMNS])
      .where('sessions.id', 'in', [...sessionIds])
      .execute();
    const now = this.#options.clock.now();
    for (const row of rows) {
      const seen = Math.max(Number(row.last_seen_at), lastSeen(row.id) ?? 0);
      let reason: LossReason | null = null;
      if (row.revoked_at !== null)
        reason = row.revoke_reason === 'refresh_token_reused' ? 'refresh_token_reused' : 'revoked';
      else if (now >= Number(row.expires_at)) reason = 'expired';
      else if (!withinIdle(seen, Number(row.idle_timeout_ms), now)) reason = 'idle';
      else {
        const schedules = userResetSchedules(this.#options.resets, await accountsOf(row.user_id));
        const tier = tierOfRow(row.id, row, lastReset(now, schedules));
        if (tier.competing) reason = 'competing';
        else if (tier.reset) {
          reason = 'reset';
          if (row.brokerage_reset_at === null && row.brokerage_at !== null)
            await this.#recordReset(row.id, Number(row.brokerage_at), schedules);
        }
      }
      if (reason !== null) losses.set(row.id, reason);
    }
    return losses;
  }

  /**
   * The session's tier from this node's view when it is current (its cached entry and its user's holder, both kept
   * by bus announcements and re-read within 30 s: sessions/holder-view), else read authoritatively in one query,
   * which refills the holder view.
   */
  async #readTier(principal: Principal): Promise<TierRead> {
    const { clock, resets, view } = this.#options;
    const now = clock.now();
    const schedules = userResetSchedules(resets, principal.profile.accounts);
    const { session } = principal;
    if (view?.isCurrent(principal)) {
      const holder = view.holders.current(session.userId);
      if (holder !== undefined) {
        const tier = tierAt(
          session.id,
          {
            acquiredAt: session.brokerageAt,
            shared: holder.shared,
            holderSessionId: holder.holderSessionId,
            resetAt: session.brokerageResetAt,
          },
          lastReset(now, schedules),
        );
        if (tier.reset && session.brokerageAt !== null && session.brokerageResetAt == null)
          session.brokerageResetAt = await this.#recordReset(session.id, session.brokerageAt, schedules);
        return { session, tier, now, schedules };
      }
    }
    const epoch = view?.holders.begin();
    const row = await this.#tierQuery.first(session.id);
    if (row === undefined) throw new GatehouseError('SESSION_REVOKED');
    if (view !== undefined && epoch !== undefined)
      view.holders.remember(
        session.userId,
        { shared: row.brokerage_policy === 'shared', holderSessionId: row.holder },
        epoch,
      );
    const tier = tierOfRow(session.id, row, lastReset(now, schedules));
    if (tier.reset && row.brokerage_at !== null && row.brokerage_reset_at === null)
      await this.#recordReset(session.id, Number(row.brokerage_at), schedules);
    return {
      session: {
        channel: row.channel as Channel,
        aal: Number(row.aal),
        deviceId: row.device_id,
        stepUpRequired: row.step_up_required === 1,
        stepUpReason: row.step_up_required === 1 ? parseStepUpReason(row.step_up_reason) : null,
        revokedAt: row.revoked_at === null ? null : Number(row.revoked_at),
        lastSeenAt: Number(row.last_seen_at),
        idleTimeoutMs: Number(row.idle_timeout_ms),
        expiresAt: Number(row.expires_at),
      },
      tier,
      now,
      schedules,
    };
  }

  /**
   * How long the user was without trading on this channel: from the moment the previous trading session on the
   * same channel (this one included, when it is taking trading back) lost its capability (revoked, idle or absolute
   * expiry, daily reset, or taken over) to `now`.
   * Derived from the stored sessions alone, so it holds across nodes. Null when there was no earlier one.
   */
  async #reauthenticationLatencyMs(
    session: SessionRecord,
    now: number,
    accounts: readonly UserAccount[],
  ): Promise<number | null> {
    const { db, resets } = this.#options;
    const previous = await db
      .selectFrom('sessions')
      .selectAll()
      .where('user_id', '=', session.userId)
      .where('channel', '=', session.channel)
      .where('brokerage_at', 'is not', null)
      .orderBy('brokerage_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (previous?.brokerage_at == null) return null;
    const since = previous.brokerage_at;
    const takenOver = await db
      .selectFrom('sessions')
      .select((eb) => eb.fn.min<number>('brokerage_at').as('at'))
      .where('user_id', '=', session.userId)
      .where('id', '!=', previous.id)
      .where('brokerage_at', '>', since)
      .where('brokerage_at', '<', now)
      .executeTakeFirst();
    const schedules = userResetSchedules(resets, accounts);
    const lostAt = Math.min(
      previous.revoked_at ?? Number.POSITIVE_INFINITY,
      previous.expires_at,
      previous.last_seen_at + previous.idle_timeout_ms,
      // A reset the sandbox made now was lost now, not at the last real reset its acquisition is dated before.
      previous.brokerage_reset_at ?? nextReset(since, schedules),
      takenOver?.at == null ? Number.POSITIVE_INFINITY : Number(takenOver.at),
    );
    return lostAt <= now ? now - lostAt : null;
  }
}
