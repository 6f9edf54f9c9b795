/**
 * @module trading/desk
 * This node's working state for the accounts it trades: each account's ledger (cash and positions), its working
 * orders, the orders the gate accepted whose commit is on its way, and the changes applied here whose commit is still
 * on its way. A change is applied here first, so the next fill and the next order's buying power see it, and then
 * journalled (`store/journal`); a caller hears of it only once it has committed.
 *
 * The view runs ahead of the database by at most the batch in flight. If that batch fails, or finds an order this
 * node changed no longer working in the database (another writer on the account), the view can no longer be trusted:
 * trading halts on this node (`TRADING_HALTED`). When the batch failed because the database could not be reached (a
 * PostgreSQL restart, a connection lost, even during its COMMIT: `store/unavailable`), the database itself is still
 * right — it holds exactly what committed — so the halt ends by itself: once the database answers again, the view is
 * rebuilt from it, as a restart would, and trading resumes (`TRADING_HALTED` with `Retry-After` meanwhile). Nothing
 * is guessed: a batch whose commit is unknown was never acknowledged, and the rebuilt view holds it if and only if it
 * committed. Any other halt — a write the storage refuses (a full disk, a read-only file: `store/faults`), whatever
 * it was, or another writer found — lasts until an operator resumes it (`resume`, the same rebuild) or a restart.
 * With several nodes (`placement`), only that account is let go instead: the next request takes it again, on this
 * node or another, and rebuilds it from the database (`ACCOUNT_MOVING` meanwhile).
 *
 * Longer than most modules: the halt, its resumes (one rebuild at a time) and the view they rebuild share the same
 * private maps; apart, each would have to reach into the other's state.
 */
import { type Kysely, sql } from 'kysely';
import { accountAccess } from '../access/index.js';
import { appendAudit } from '../audit/index.js';
import {
  type Clock,
  type EventBus,
  type FaultProbe,
  type FaultSubject,
  GatehouseError,
} from '../core/index.js';
import type { EntitlementsCache } from '../entitlements/index.js';
import type { UserAccount } from '../identity/index.js';
import { INSTRUMENTS, type Instrument } from '../instruments/index.js';
import type { MarketData } from '../marketdata/index.js';
import type { BrokerageTier, ChannelPolicies, Principal } from '../sessions/index.js';
import type {
  Database,
  Journal,
  JournalEntry,
  JournalTx,
  OrdersTable,
  PreparedQuery,
} from '../store/index.js';
import {
  DATABASE_RETRY_AFTER_MS,
  isDatabaseUnavailable,
  type StorageFaultKind,
  storageError,
  storageFault,
} from '../store/index.js';
import type { Ledger, UsdRates } from './accounting.js';
import { ClientOrderIds } from './client-order-ids.js';
import type { Placement } from './placement.js';
import { type OrderRouter, PaperEngine } from './router.js';
import {
  type AccountEvent,
  findAccountOrder,
  listWorkingOrders,
  loadLedger,
  prepareOrderById,
} from './store.js';

export interface TradingOptions {
  priceBand: { confirm: number; reject: number };
  confirmationTtlMs: number;
  idempotencyWindowMs: number;
}

export interface TradingDeps {
  db: Kysely<Database>;
  /** Group commit of order entry and fills. */
  journal: Journal;
  clock: Clock;
  bus: EventBus;
  marketData: MarketData;
  entitlements: EntitlementsCache;
  /** Whether a session may trade now: order entry reads the state, confirm, modify and cancel require it. */
  brokerage: Pick<BrokerageTier, 'tradingState' | 'requireTrading' | 'requireStanding'>;
  policies: ChannelPolicies;
  options: TradingOptions;
  /** Where accepted orders go; the paper engine when absent. */
  router?: OrderRouter;
  /** The paper engine's matching interval (null: only when `matchAll` is called). */
  matchingIntervalMs?: number | null;
  /**
   * Called once if trading halts on this node (the journal failed); the gateway logs it. `resumes`: the database
   * could not be reached, and trading resumes by itself once it answers again.
   */
  onHalt?: (error: Error, resumes: boolean) => void;
  /** Called when trading resumed, with the working orders rebuilt from the database. */
  onResume?: (workingOrders: number) => void;
  /** How often a halted desk asks whether the database answers again (ms); 250 by default. */
  resumeProbeMs?: number;
  /** Whether the database takes writes (`Store.probeWrites`): an operator's resume goes ahead only when it does. */
  probeWrites?: () => Promise<StorageFaultKind | null>;
  /**
   * Where each account is worked, with several nodes (`cluster/`): accounts worked elsewhere are served there, and
   * every journal write of an account carries this node's fencing token. Absent on one node (every account is here).
   */
  placement?: Placement;
  /**
   * The failure sandbox's probe: entitlement faults where the gate reads the account, an expiring confirmation,
   * and the paper engine's delayed, partial and rejected fills (`trading/engine-faults`). None when absent.
   */
  faults?: FaultProbe;
}

/** What an order request is about, for the sandbox's faults: the session's user, session and client, the account. */
export function faultSubject(principal: Principal, accountId: string, instrument?: Instrument): FaultSubject {
  return {
    userId: principal.session.userId,
    sessionId: principal.session.id,
    clientId: principal.api?.clientId,
    accountId,
    instrument: instrument?.symbol,
  };
}

/** A journal entry's answer when its order is no longer working in the database (it wrote nothing). */
export const NOT_WORKING = Symbol('not working');

/** An order's latest state on this node and the commit that makes it durable. */
export interface Pending {
  row: OrdersTable;
  durable: Promise<unknown>;
}

const FX_PAIRS = INSTRUMENTS.filter((i) => i.fx !== undefined);

export class Desk {
  readonly deps: TradingDeps;
  /** Where accepted orders go. */
  readonly router: OrderRouter;
  /** Each account's cash and positions, loaded on first use, then kept here. */
  readonly ledgers = new Map<string, Ledger>();
  /** The working orders of this node's accounts: the state fills are computed from. */
  readonly open = new Map<string, OrdersTable>();
  /** Orders the gate accepted whose commit is on its way: they count against buying power as working ones do. */
  readonly reserved = new Map<string, OrdersTable>();
  /** Changes applied here whose commit is still on its way, by order id. */
  readonly pending = new Map<string, Pending>();
  readonly clientOrderIds: ClientOrderIds;
  readonly orderById: PreparedQuery<OrdersTable>;
  #halted: Error | null = null;
  /** The halt ends by itself once the database answers again. */
  #resumes = false;
  #probe: NodeJS.Timeout | undefined;
  /** The rebuild under way (an operator's resume or the automatic one): one at a time, the others join it. */
  #rebuilding: Promise<number> | null = null;
  #closed = false;
  #ratesMemo: { step: number; rates: UsdRates } | null = null;

  constructor(deps: TradingDeps) {
    this.deps = deps;
    this.clientOrderIds = new ClientOrderIds(deps.db, deps.options.idempotencyWindowMs);
    this.orderById = prepareOrderById(deps.db);
    this.router =
      deps.router ??
      new PaperEngine(
        deps.marketData,
        deps.clock,
        deps.matchingIntervalMs === undefined ? deps.marketData.feed.tickMs : deps.matchingIntervalMs,
        deps.faults,
      );
  }

  /** Why trading stopped on this node, or null while it runs. */
  get halted(): Error | null {
    return this.#halted;
  }

  /** Throws `TRADING_HALTED` once trading has stopped on this node (with `Retry-After` if it resumes by itself). */
  running(): void {
    if (this.#halted !== null) throw this.#haltedError();
  }

  /**
   * `TRADING_HALTED`: with `Retry-After` while the database cannot be reached (it resumes by itself), naming the
   * storage fault that halted trading if one did (`details.fault`).
   */
  #haltedError(): GatehouseError {
    if (this.#resumes)
      return new GatehouseError(
        'TRADING_HALTED',
        'Trading is paused on this node: the database cannot be reached. It resumes by itself once the database is back; retry shortly.',
        { retryAfterMs: DATABASE_RETRY_AFTER_MS },
      );
    const fault = storageFault(this.#halted);
    return new GatehouseError('TRADING_HALTED', undefined, fault === undefined ? undefined : { fault });
  }

  /**
   * An operator's resume after a halt, once the database takes writes (else `STORAGE_UNAVAILABLE`): the view is
   * rebuilt from the database, as a restart does, and audited. What was answered had committed, so it is all there;
   * what was not is not.
   */
  async resume(ip: string | null): Promise<{ resumed: boolean; workingOrders: number }> {
    // A resume while a rebuild runs joins it (two at once would each release and resubmit the orders, and a fill
    // the first one's router reported could land on an order the second had just taken out of the engine).
    if (this.#rebuilding === null && this.#halted !== null) {
      const still = await this.deps.probeWrites?.();
      if (still !== undefined && still !== null) throw storageError(still);
    }
    const rebuilding = this.#rebuildOnce(ip);
    return rebuilding === null
      ? { resumed: false, workingOrders: 0 }
      : { resumed: true, workingOrders: await rebuilding };
  }

  /** The rebuild under way, else a new one if trading is still halted, else null (it runs). */
  #rebuildOnce(ip: string | null): Promise<number> | null {
    if (this.#rebuilding === null && this.#halted !== null)
      this.#rebuilding = this.#rebuild(ip).finally(() => {
        this.#rebuilding = null;
      });
    return this.#rebuilding;
  }

  /** Stops trading on this node: its view of the accounts no longer matches the database. */
  halt(error: unknown): void {
    if (this.#halted !== null) return;
    this.#halted = error instanceof Error ? error : new Error(String(error));
    this.#resumes = isDatabaseUnavailable(error);
    void this.router.stop();
    this.deps.onHalt?.(this.#halted, this.#resumes);
    if (this.#resumes) this.#probeLater();
  }

  /** Stops asking whether the database is back (the node is stopping). */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#probe);
  }

  #probeLater(): void {
    if (this.#closed) return;
    this.#probe = setTimeout(() => {
      this.#resume().then(
        (resumed) => {
          if (!resumed) this.#probeLater();
        },
        () => this.#probeLater(),
      );
    }, this.deps.resumeProbeMs ?? 250);
    this.#probe.unref();
  }

  /** Resumes trading by itself once the database answers again; resolves false while it still cannot be reached. */
  async #resume(): Promise<boolean> {
    try {
      await sql`select 1`.execute(this.deps.db);
      // The operator's resume may have begun (joined) or ended (nothing to do) meanwhile.
      await this.#rebuildOnce(null);
      return true;
    } catch (error) {
      if (isDatabaseUnavailable(error)) return false;
      throw error;
    }
  }

  /**
   * Rebuilds the view from the database, as a start does, and resumes trading: once every batch in flight has
   * settled (committed or failed), this node's view (working orders, reservations, changes not yet committed,
   * ledgers) is forgotten, the working orders are read again and handed to the router, and the ledgers reload on
   * first use. Audited first: if the database refuses even that, trading stays halted and nothing here has changed.
   */
  async #rebuild(ip: string | null): Promise<number> {
    await this.deps.journal.drain();
    await this.router.stop();
    const rows = await listWorkingOrders(this.deps.db);
    const fault = storageFault(this.#halted);
    await appendAudit(this.deps.db, this.deps.clock, {
      type: 'trading.resumed',
      ip,
      data: {
        workingOrders: rows.length,
        by: this.#resumes ? 'database_back' : 'operator',
        ...(fault === undefined ? {} : { fault }),
      },
    });
    if (this.#closed) return rows.length;
    for (const id of [...this.open.keys(), ...this.pending.keys()]) this.router.release(id);
    this.open.clear();
    this.reserved.clear();
    this.pending.clear();
    this.ledgers.clear();
    for (const row of rows) this.open.set(row.id, row);
    // Running again before the router has the orders: what it reports from here (a fill at once) is applied.
    this.#halted = null;
    this.#resumes = false;
    clearTimeout(this.#probe);
    for (const row of rows) await this.router.submit(row);
    this.router.start();
    this.deps.onResume?.(rows.length);
    return rows.length;
  }

  /** The account's ledger, loaded from the database the first time. */
  async ledger(accountId: string): Promise<Ledger> {
    let ledger = this.ledgers.get(accountId);
    if (ledger === undefined) {
      const loaded = await loadLedger(this.deps.db, accountId);
      // A fill applied while the ledger was loading is already in the one that won.
      ledger = this.ledgers.get(accountId) ?? loaded;
      this.ledgers.set(accountId, ledger);
    }
    return ledger;
  }

  /** The account's working and reserved orders, but `except` (the order being changed). */
  workingOrders(accountId: string, except?: string): OrdersTable[] {
    const out: OrdersTable[] = [];
    for (const rows of [this.open.values(), this.reserved.values()])
      for (const row of rows) if (row.account_id === accountId && row.id !== except) out.push(row);
    return out;
  }

  /** USD rates from the feed's FX mids (units of each currency per USD), computed once per feed step. */
  rates(): UsdRates {
    const step = this.deps.marketData.feed.step(this.deps.clock.now());
    if (this.#ratesMemo?.step === step) return this.#ratesMemo.rates;
    const rates = new Map<string, number>();
    for (const pair of FX_PAIRS) {
      const q = this.deps.marketData.live(pair);
      const mid = (q.bid + q.ask) / 2;
      const base = pair.fx?.base as string;
      if (pair.currency === 'USD') rates.set(base, 1 / mid);
      else if (base === 'USD') rates.set(pair.currency, mid);
    }
    this.#ratesMemo = { step, rates };
    return rates;
  }

  /** The instrument's mid now. */
  mark = (instrument: Instrument): number => {
    const q = this.deps.marketData.live(instrument);
    return (q.bid + q.ask) / 2;
  };

  /** An order of the account (which the principal may use for `need`); another account's order is unknown. */
  async ownOrder(
    principal: Principal,
    accountId: string,
    orderId: string,
    need: 'view' | 'trade',
  ): Promise<{ account: UserAccount; row: OrdersTable }> {
    const account = accountAccess(principal, accountId, need);
    const row = await findAccountOrder(this.deps.db, accountId, orderId);
    if (row === undefined) throw new GatehouseError('ORDER_NOT_FOUND');
    return { account, row };
  }

  /**
   * Journals a change already applied to this node's view. The view runs ahead of the database by at most the
   * batch in flight; if that batch fails, the view is wrong, so trading halts.
   */
  journalApplied<T>(row: OrdersTable, entry: (tx: JournalTx) => Promise<T | typeof NOT_WORKING>): Promise<T> {
    const { placement } = this.deps;
    const guard = placement?.guard(row.account_id);
    const durable = this.deps.journal.write(entry, guard).then((value) => {
      // This node applied a change to an order the database says another writer ended: its view is wrong.
      if (value === NOT_WORKING) throw new Error(`order ${row.id} is no longer working in the database`);
      return value;
    });
    const pending: Pending = { row, durable };
    this.pending.set(row.id, pending);
    return durable.then(
      (value) => {
        if (this.pending.get(row.id) === pending) this.pending.delete(row.id);
        return value;
      },
      (error: unknown) => {
        if (this.pending.get(row.id) === pending) this.pending.delete(row.id);
        // With several nodes, the account alone is let go: moved to another node (this one was paused or cut off
        // past its lease: it wrote nothing), or its write failed (its view here may be ahead of the database). The
        // next request takes it again — here or elsewhere — and rebuilds it from the database, as a restart would;
        // the other accounts this node works are unaffected.
        if (placement !== undefined) {
          placement.lost(row.account_id);
          throw new GatehouseError('ACCOUNT_MOVING', undefined, { retryAfterMs: 100 });
        }
        this.halt(error);
        throw this.#haltedError();
      },
    );
  }

  /** Journals an entry of the account (under its fencing token with several nodes); resolves once committed. */
  write<T>(accountId: string, entry: JournalEntry<T>): Promise<T> {
    const { placement, journal } = this.deps;
    if (placement === undefined)
      return journal.write(entry).catch((error: unknown) => {
        // The storage refuses writes: nothing was written, but no fill can be recorded either (see above).
        if (storageFault(error) === undefined) throw error;
        this.halt(error);
        throw this.#haltedError();
      });
    return journal.write(entry, placement.guard(accountId)).catch(() => {
      // Not committed (another node holds the account, or the write failed): let the account go, as above.
      placement.lost(accountId);
      throw new GatehouseError('ACCOUNT_MOVING', undefined, { retryAfterMs: 100 });
    });
  }

  /** Loads the account from the database and works its orders here (its lease was just taken). */
  async adopt(accountId: string): Promise<void> {
    const rows = await listWorkingOrders(this.deps.db, accountId);
    this.ledgers.delete(accountId);
    for (const row of rows) this.open.set(row.id, row);
    for (const row of rows) await this.router.submit(row);
  }

  /** Stops working the account here: its orders stay working in the database, for the node that took it. */
  drop(accountId: string): void {
    for (const [id, row] of this.open)
      if (row.account_id === accountId) {
        this.open.delete(id);
        this.router.release(id);
      }
    for (const [id, row] of this.reserved) if (row.account_id === accountId) this.reserved.delete(id);
    this.ledgers.delete(accountId);
    this.clientOrderIds.forget(accountId);
  }

  /** Tells the account's subscribers of an event that has committed. */
  announce(accountId: string, event: AccountEvent): void {
    this.deps.bus
      .publish('account.event', {
        accountId,
        seq: event.seq,
        type: event.type,
        orderId: event.orderId,
        data: event.data,
      })
      .catch(() => {});
  }
}
