/**
 * @module safety/service
 * Making a lost session safe (research/broker-sessions.md §2):
 *
 * - The dead-man switch, as venues offer it (BitMEX `cancelAllAfter`, Kraken `CancelAllOrdersAfter`, Binance
 *   `countdownCancelAll`): `PUT /v1/safety/dead-man {timeoutMs, scope, excludeGtc}` sets a deadline `timeoutMs`
 *   from now; every call replaces it, `0` disarms, and after firing it stays disarmed until armed again (Kraken).
 *   When the deadline passes, the open orders of the scope — the arming session's, or the whole account's — are
 *   cancelled (GTC ones kept with `excludeGtc`, as CME's cancel-on-disconnect keeps GTC/GTD), each with its event on
 *   the stream, and the firing goes to the audit log and to the user. Deadlines are rows, so they survive a
 *   restart; a deadline passed while the gateway was down fires as soon as it is back. Firing claims the row first
 *   (a conditional delete), so only one node fires a switch.
 *
 * - The session-loss policy: when a session that placed orders is lost — revoked, ended for a reused refresh token,
 *   past its idle or absolute expiry, competing after a takeover, or cut by the daily reset — its open orders are
 *   left alone (`none`, the default, as brokers do), or its DAY orders (`cancel_day`) or all of them
 *   (`cancel_all`) are cancelled. The policy is set per API client and per account; the stricter applies. Losses
 *   are noticed at once for revocations and takeovers (bus messages), and by a sweep every second for expiry and
 *   resets.
 *
 * Longer than most modules: the dead-man switch and the session-loss policy share one sweep and one cancellation
 * path.
 */
import {
  DEAD_MAN_MAX_MS,
  DEAD_MAN_MIN_MS,
  type DeadManState,
  type SessionLossPolicy,
} from '@gatehouse/protocol';
import { type Kysely, sql } from 'kysely';
import { accountAccess, ROLE_ALLOWS } from '../access/index.js';
import { appendAudit } from '../audit/index.js';
import { type Clock, type EventBus, GatehouseError } from '../core/index.js';
import {
  type AccountRole,
  listUserAccounts,
  type UserAccount,
  updateAccountSettings,
} from '../identity/index.js';
import type { Notifier } from '../notifications/index.js';
import {
  type BrokerageTier,
  type LossReason,
  type Principal,
  type SessionService,
  standingRefusal,
} from '../sessions/index.js';
import type { Database, DeadManSwitchesTable, OrdersTable } from '../store/index.js';
import type { TradingService } from '../trading/index.js';

/**
 * The longest an armed switch's timer sleeps before comparing its deadline with the clock again (ms): how late a
 * deadline the wall clock jumped over fires, at most.
 */
export const DEAD_MAN_RECHECK_MS = 1_000;

const STRICTNESS: Record<SessionLossPolicy, number> = { none: 0, cancel_day: 1, cancel_all: 2 };

export type { DeadManState, SessionLossPolicy };

export { DEAD_MAN_MAX_MS, DEAD_MAN_MIN_MS };

export interface SafetyDeps {
  db: Kysely<Database>;
  clock: Clock;
  bus: EventBus;
  trading: TradingService;
  sessions: SessionService;
  brokerage: Pick<BrokerageTier, 'tradingState' | 'requireTrading' | 'losses'>;
  notifier: Notifier;
  /** How often lost sessions with open orders are looked for (expiry, resets); null: only when `sweep` is called. */
  sweepIntervalMs: number | null;
  /**
   * With several nodes: how often every armed switch is read again, in case a `safety.dead_man` message was lost
   * (a switch armed on a node that then died must still fire elsewhere). Null: never (one node).
   */
  reloadSwitchesMs?: number | null;
  onError: (error: unknown) => void;
}

export class SafetyService {
  readonly #d: SafetyDeps;
  readonly #deadlines = new Map<string, DeadManSwitchesTable>();
  #timer: NodeJS.Timeout | undefined;
  #sweeper: NodeJS.Timeout | undefined;
  #reloader: NodeJS.Timeout | undefined;
  #firing: Promise<void> = Promise.resolve();
  #sweeping: Promise<void> = Promise.resolve();
  /** Losses already acted on: `${sessionId}:${reason}:${epoch}`, so each is handled (and audited) once. */
  readonly #handled = new Set<string>();
  readonly #unsubscribe: (() => void)[] = [];

  constructor(deps: SafetyDeps) {
    this.#d = deps;
  }

  /** Loads the armed switches (firing those whose deadline passed while the gateway was down), starts watching. */
  async start(): Promise<void> {
    const rows = await this.#d.db.selectFrom('dead_man_switches').selectAll().execute();
    for (const row of rows) this.#deadlines.set(row.id, row);
    this.#schedule();
    const lost = (sessionId: string) => {
      this.sweep([sessionId]).catch(this.#d.onError);
    };
    this.#unsubscribe.push(
      this.#d.bus.subscribe('session.revoked', (m) => lost(m.sessionId)),
      this.#d.bus.subscribe('session.competing', (m) => lost(m.sessionId)),
      this.#d.bus.subscribe('safety.dead_man', (m) => {
        this.#reload(m.id).catch(this.#d.onError);
      }),
    );
    const reloadMs = this.#d.reloadSwitchesMs ?? null;
    if (reloadMs !== null) {
      this.#reloader = setInterval(() => {
        this.#reload().catch(this.#d.onError);
      }, reloadMs);
      this.#reloader.unref();
    }
    if (this.#d.sweepIntervalMs !== null) {
      this.#sweeper = setInterval(() => {
        this.sweep().catch(this.#d.onError);
      }, this.#d.sweepIntervalMs);
      this.#sweeper.unref();
    }
  }

  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#sweeper !== undefined) clearInterval(this.#sweeper);
    if (this.#reloader !== undefined) clearInterval(this.#reloader);
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    await this.#firing;
    await this.#sweeping.catch(() => {});
  }

  // ---- the dead-man switch ---------------------------------------------------------------------------------------

  /** Arms, re-arms (a new deadline replaces the old) or, with `timeoutMs: 0`, disarms the caller's switch. */
  async arm(
    principal: Principal,
    input: { timeoutMs: number; scope: 'session' | 'account'; accountId?: string; excludeGtc?: boolean },
  ): Promise<DeadManState> {
    const { db, clock } = this.#d;
    let accountId: string | null = null;
    if (input.scope === 'account') {
      // An account's switch cancels every order of the account when it fires: a trading need.
      accountId = accountAccess(principal, input.accountId ?? '', 'trade').id;
    } else if (input.accountId !== undefined) {
      throw new GatehouseError('INVALID_REQUEST', 'accountId goes with scope "account" only.');
    }
    const id = accountId === null ? `session:${principal.session.id}` : `account:${accountId}`;
    const now = clock.now();
    const was =
      this.#deadlines.get(id) ??
      (await db.selectFrom('dead_man_switches').selectAll().where('id', '=', id).executeTakeFirst());
    // A switch cancels orders when it fires, so setting one is a trading action. An account's switch cancels every
    // order of the account, the trading session's too: arming one, or taking over another session's, needs a
    // session that may trade now. The session that armed a switch may re-arm or disarm it after losing trading (a
    // bot that lost a takeover keeps its promise until it stops), and a session's own switch touches only its own
    // orders — but never from a session in doubt (a step-up pending: another network, as a stolen cookie is).
    if (accountId !== null && was?.session_id !== principal.session.id) {
      await this.#d.brokerage.requireTrading(principal);
    } else {
      const refusal = standingRefusal(await this.#d.brokerage.tradingState(principal));
      if (refusal !== null) throw new GatehouseError(refusal.code, undefined, refusal.details);
    }
    if (input.timeoutMs === 0) {
      await db.deleteFrom('dead_man_switches').where('id', '=', id).execute();
      this.#deadlines.delete(id);
      this.#schedule();
      this.#announce(id);
      if (was !== undefined)
        await appendAudit(db, clock, {
          type: 'safety.dead_man_armed',
          userId: principal.session.userId,
          sessionId: principal.session.id,
          data: { scope: input.scope, accountId, disarmed: true },
        });
      return { armed: false };
    }
    const row: DeadManSwitchesTable = {
      id,
      scope: input.scope,
      user_id: principal.session.userId,
      session_id: principal.session.id,
      account_id: accountId,
      timeout_ms: input.timeoutMs,
      exclude_gtc: input.excludeGtc === true ? 1 : 0,
      deadline: now + input.timeoutMs,
      armed_at: now,
    };
    await db
      .insertInto('dead_man_switches')
      .values(row)
      .onConflict((oc) =>
        oc.column('id').doUpdateSet({
          session_id: row.session_id,
          timeout_ms: row.timeout_ms,
          exclude_gtc: row.exclude_gtc,
          deadline: row.deadline,
          armed_at: row.armed_at,
        }),
      )
      .execute();
    this.#deadlines.set(id, row);
    this.#schedule();
    this.#announce(id);
    // Re-arming every few seconds is the normal life of a switch: only arming it from disarmed is audited.
    if (was === undefined)
      await appendAudit(db, clock, {
        type: 'safety.dead_man_armed',
        userId: principal.session.userId,
        sessionId: principal.session.id,
        data: {
          scope: input.scope,
          accountId,
          timeoutMs: input.timeoutMs,
          excludeGtc: row.exclude_gtc === 1,
        },
      });
    return this.#present(row);
  }

  /** The caller's switch for a scope. */
  async state(principal: Principal, scope: 'session' | 'account', accountId?: string): Promise<DeadManState> {
    if (scope === 'account') accountAccess(principal, accountId ?? '', 'view');
    const id = scope === 'account' ? `account:${accountId}` : `session:${principal.session.id}`;
    const row = await this.#d.db
      .selectFrom('dead_man_switches')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row === undefined ? { armed: false } : this.#present(row);
  }

  #present(row: DeadManSwitchesTable): DeadManState {
    return {
      armed: true,
      scope: row.scope as 'session' | 'account',
      accountId: row.account_id,
      timeoutMs: Number(row.timeout_ms),
      excludeGtc: row.exclude_gtc === 1,
      deadline: new Date(Number(row.deadline)).toISOString(),
    };
  }

  /** Tells the other nodes a switch changed. */
  #announce(id: string): void {
    this.#d.bus.publish('safety.dead_man', { id }).catch(this.#d.onError);
  }

  /** Reads one switch (or all) again from the database: armed elsewhere, re-armed, disarmed or fired elsewhere. */
  async #reload(id?: string): Promise<void> {
    let query = this.#d.db.selectFrom('dead_man_switches').selectAll();
    if (id !== undefined) query = query.where('id', '=', id);
    const rows = await query.execute();
    if (id !== undefined) this.#deadlines.delete(id);
    else this.#deadlines.clear();
    for (const row of rows) this.#deadlines.set(row.id, row);
    this.#schedule();
  }

  /**
   * One timer, for the earliest deadline, waking at least every `DEAD_MAN_RECHECK_MS`. A deadline is a wall-clock
   * instant but a timer's delay is not: it runs on the monotonic clock, so a wall clock stepped forward (NTP, a
   * virtual machine resumed) would leave the switch waiting out the old delay. Waking to compare with the clock
   * again fires a deadline the clock jumped over within that bound; a wake before the deadline (the clock stepped
   * back) finds nothing due and sleeps again, so the deadline is neither skipped nor fired early.
   */
  #schedule(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    let earliest = Number.POSITIVE_INFINITY;
    for (const row of this.#deadlines.values()) earliest = Math.min(earliest, Number(row.deadline));
    if (earliest === Number.POSITIVE_INFINITY) return;
    const delay = Math.max(0, earliest - this.#d.clock.now());
    this.#timer = setTimeout(
      () => {
        this.fireDue().catch(this.#d.onError);
      },
      Math.min(delay, DEAD_MAN_RECHECK_MS),
    );
    this.#timer.unref();
  }

  /** Fires every switch whose deadline has passed (the timer calls it; so can tests with a frozen clock). */
  fireDue(): Promise<void> {
    const run = async () => {
      const now = this.#d.clock.now();
      const due = [...this.#deadlines.values()].filter((row) => Number(row.deadline) <= now);
      await Promise.all(due.map((row) => this.#fire(row)));
      this.#schedule();
    };
    this.#firing = this.#firing.then(run, run);
    return this.#firing;
  }

  async #fire(row: DeadManSwitchesTable): Promise<void> {
    const { db, clock, trading } = this.#d;
    this.#deadlines.delete(row.id);
    // Claim it: only if it is still this deadline (not re-armed, not fired by another node).
    const claimed = await db
      .deleteFrom('dead_man_switches')
      .where('id', '=', row.id)
      .where('deadline', '=', row.deadline)
      .executeTakeFirst();
    if (claimed.numDeletedRows === 0n) {
      const current = await db
        .selectFrom('dead_man_switches')
        .selectAll()
        .where('id', '=', row.id)
        .executeTakeFirst();
      if (current !== undefined) this.#deadlines.set(current.id, current);
      return;
    }
    // The switch acts for the user who armed it: only on accounts that user may still trade (a role taken away since
    // takes the switch's power with it). Each account's cancels run where the account is worked.
    const tradable = await this.#tradableAccounts(row.user_id);
    const accounts = row.account_id === null ? await this.#sessionAccounts(row.session_id) : [row.account_id];
    let cancelled = 0;
    for (const accountId of accounts) {
      if (!tradable.has(accountId)) continue;
      const filter = {
        excludeGtc: row.exclude_gtc === 1,
        ...(row.account_id === null ? { sessionId: row.session_id } : {}),
      };
      const ids = await untilPlaced(() =>
        trading.cancelOpen('dead_man', accountId, filter, { scope: row.scope }),
      );
      cancelled += ids.length;
    }
    const lateMs = clock.now() - Number(row.deadline);
    await appendAudit(db, clock, {
      type: 'safety.dead_man_fired',
      userId: row.user_id,
      sessionId: row.session_id,
      data: { scope: row.scope, accountId: row.account_id, cancelled, lateMs },
    });
    await this.#d.notifier.notify(row.user_id, 'dead_man_fired', {
      scope: row.scope,
      accountId: row.account_id,
      cancelled,
    });
  }

  /** The accounts on which the session has working orders. */
  async #sessionAccounts(sessionId: string): Promise<string[]> {
    const rows = await this.#d.db
      .selectFrom('orders')
      .select('account_id')
      .distinct()
      .where('session_id', '=', sessionId)
      .where('status', '=', 'working')
      .execute();
    return rows.map((r) => r.account_id);
  }

  /** The accounts on which the user's role allows trading now (the account-access policy's roles). */
  async #tradableAccounts(userId: string): Promise<Set<string>> {
    const rows = await this.#d.db
      .selectFrom('account_roles')
      .select(['account_id', 'role'])
      .where('user_id', '=', userId)
      .execute();
    return new Set(
      rows
        .filter((r) =>
          (ROLE_ALLOWS[r.role as AccountRole] as readonly string[] | undefined)?.includes('trade'),
        )
        .map((r) => r.account_id),
    );
  }

  // ---- the session-loss policy -----------------------------------------------------------------------------------

  /**
   * Looks for lost sessions among those with open orders on this node (or the given ones) and applies the policy
   * to their orders.
   */
  sweep(only?: readonly string[]): Promise<void> {
    // One sweep at a time: a bus-triggered one and the periodic one never act on the same loss twice.
    const run = () => this.#sweep(only);
    this.#sweeping = this.#sweeping.then(run, run);
    return this.#sweeping;
  }

  async #sweep(only?: readonly string[]): Promise<void> {
    const open = this.#d.trading.openOrders();
    const bySession = new Map<string, OrdersTable[]>();
    for (const order of open) {
      if (only !== undefined && !only.includes(order.session_id)) continue;
      const list = bySession.get(order.session_id) ?? [];
      list.push(order);
      bySession.set(order.session_id, list);
    }
    if (bySession.size === 0) return;
    const accounts = new Map<string, Promise<readonly UserAccount[]>>();
    const accountsOf = (userId: string) => {
      let list = accounts.get(userId);
      if (list === undefined) {
        list = listUserAccounts(this.#d.db, userId);
        accounts.set(userId, list);
      }
      return list;
    };
    const losses = await this.#d.brokerage.losses([...bySession.keys()], accountsOf, (id) =>
      this.#d.sessions.pendingLastSeen(id),
    );
    for (const [sessionId, reason] of losses) {
      const orders = bySession.get(sessionId) ?? [];
      await this.#onLoss(sessionId, reason, orders);
    }
  }

  async #onLoss(sessionId: string, reason: LossReason, orders: OrdersTable[]): Promise<void> {
    const { db, clock, trading } = this.#d;
    const clientPolicy = await this.#clientPolicy(sessionId);
    const accountPolicies = await this.#accountPolicies([...new Set(orders.map((o) => o.account_id))]);
    const targets: string[] = [];
    const applied = new Map<string, SessionLossPolicy>();
    for (const order of orders) {
      const policy = stricter(clientPolicy, accountPolicies.get(order.account_id) ?? 'none');
      applied.set(order.account_id, policy);
      if (policy === 'cancel_all' || (policy === 'cancel_day' && order.tif === 'DAY')) targets.push(order.id);
    }
    const key = `${sessionId}:${reason}:${targets.join(',')}`;
    if (this.#handled.has(key)) return;
    this.#handled.add(key);
    if (this.#handled.size > 100_000) this.#handled.clear();
    const cancelled = await trading.cancelOrders('session_loss', targets, { reason });
    await appendAudit(db, clock, {
      type: 'safety.session_loss',
      // The session's user placed its orders.
      userId: orders[0]?.user_id ?? null,
      sessionId,
      data: {
        reason,
        policies: Object.fromEntries(applied),
        openOrders: orders.length,
        cancelled: cancelled.length,
      },
    });
  }

  /** The policy of the client whose tokens act through the session, or (an app's) whose grant names it. */
  async #clientPolicy(sessionId: string): Promise<SessionLossPolicy> {
    const row = await this.#d.db
      .selectFrom('oauth_grants')
      .innerJoin('oauth_clients', 'oauth_clients.id', 'oauth_grants.client_id')
      .select('oauth_clients.session_loss_policy')
      .where(sql<boolean>`oauth_grants.session_id = ${sessionId}
        or oauth_grants.id in (select grant_id from oauth_tokens where session_id = ${sessionId})`)
      .executeTakeFirst();
    return (row?.session_loss_policy as SessionLossPolicy | undefined) ?? 'none';
  }

  async #accountPolicies(accountIds: string[]): Promise<Map<string, SessionLossPolicy>> {
    if (accountIds.length === 0) return new Map();
    const rows = await this.#d.db
      .selectFrom('accounts')
      .select(['id', 'session_loss_policy'])
      .where('id', 'in', accountIds)
      .execute();
    return new Map(rows.map((r) => [r.id, r.session_loss_policy as SessionLossPolicy]));
  }

  /** Sets an account's session-loss policy (its owner, from a person's session). */
  async setAccountPolicy(principal: Principal, accountId: string, policy: SessionLossPolicy): Promise<void> {
    accountAccess(principal, accountId, 'own');
    await updateAccountSettings(this.#d.db, accountId, { session_loss_policy: policy });
    await appendAudit(this.#d.db, this.#d.clock, {
      type: 'account.entitlements_changed',
      userId: principal.session.userId,
      sessionId: principal.session.id,
      data: { accountId, sessionLossPolicy: policy },
    });
  }
}

/**
 * Runs `action` until the account's node takes it: while the node that worked the account is gone and its lease has
 * not yet expired (`ACCOUNT_MOVING`), waits as told and asks again, for at most a minute.
 */
async function untilPlaced<T>(action: () => Promise<T>): Promise<T> {
  // A bound on how long to wait is an interval, not an instant: measured on the monotonic clock, a wall clock stepped
  // forward does not cut it short nor one stepped back stretch it.
  const giveUpAt = performance.now() + 60_000;
  for (;;) {
    try {
      return await action();
    } catch (error) {
      if (
        !(error instanceof GatehouseError) ||
        error.code !== 'ACCOUNT_MOVING' ||
        performance.now() > giveUpAt
      )
        throw error;
      const wait = Math.min(1_000, Math.max(50, Number(error.details?.retryAfterMs ?? 100)));
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

function stricter(a: SessionLossPolicy, b: SessionLossPolicy): SessionLossPolicy {
  return STRICTNESS[a] >= STRICTNESS[b] ? a : b;
}
