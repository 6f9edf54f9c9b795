/**
 * @module trading/service
 * Order entry behind the gate, and the paper engine behind the `OrderRouter` interface.
 *
 * Placing an order: check access and the order's shape, return the existing order for a known `clientOrderId`
 * (idempotent for 24 h), build the gate's snapshot (session tier, entitlements, position, market, buying power),
 * and act on the gate's answer — reject (a `rejected` event, then a coded 422), confirm (a confirmation valid for
 * 60 s, a 409 with its questions), or accept: the order and its `accepted` event are committed in one transaction
 * before the client hears `201`, so nothing acknowledged is lost, then the router takes it.
 *
 * The router (the paper engine by default, or a broker's own behind `OrderRouter`) works the order and reports
 * fills, triggers and expiries. Each report is applied at once to this node's view of the account — its working
 * orders and its ledger (cash and positions) — and written to the journal in report order: the execution, the order,
 * the position, the cash and the event commit together, grouped with the other writes of the same moment
 * (`store/journal`). A caller hears about a change only once it has committed.
 *
 * This node's view is the account's working state, so an account's orders go to one node (a multi-node deployment
 * routes by account). If the journal fails, or finds a fill's order no longer working in the database (another
 * writer on the account), the view can no longer be trusted: trading halts on this node (`TRADING_HALTED`, `/readyz`
 * not ready) until it restarts and rebuilds the view from the database. Matching engines treat a journal failure
 * the same way.
 */
import type { PortfolioView } from '@gatehouse/protocol';
import type { Kysely } from 'kysely';
import { accountAccess } from '../access/index.js';
import { appendAudit } from '../audit/index.js';
import { type Clock, type EventBus, GatehouseError, newId, newTimeOrderedId } from '../core/index.js';
import { type AccountEntitlements, type EntitlementsCache, PRODUCT_RULES } from '../entitlements/index.js';
import type { UserAccount } from '../identity/index.js';
import { entitlementFor, type MarketData } from '../marketdata/index.js';
import {
  type BrokerageDeps,
  type ChannelPolicies,
  nextResetAt,
  type Principal,
  requireBrokerage,
  type TradingState,
  tradingState,
} from '../sessions/index.js';
import {
  type Database,
  type Journal,
  type JournalTx,
  type OrdersTable,
  type PreparedQuery,
  preparedQuery,
} from '../store/index.js';
import { applyFill, convert, type Ledger, orderRequirement, type UsdRates, valuate } from './accounting.js';
import { ClientOrderIds } from './client-order-ids.js';
import {
  evaluateGate,
  type GateResult,
  type GateSnapshot,
  NO_MARKET_DATA,
  type OrderRequest,
  type OrderType,
  type Question,
} from './gate.js';
import { findInstrument, INSTRUMENTS, type Instrument } from './instruments.js';
import { validateOrder } from './order-shape.js';
import { type OrderRouter, PaperEngine, type RouterEvent } from './router.js';
import {
  type AccountEvent,
  appendEvent,
  type EventType,
  insertExecution,
  insertOrder,
  listEvents,
  loadLedger,
  type OrderView,
  presentOrder,
  saveLedgerChange,
  updateWorkingOrder,
} from './store.js';
import { positionAfterWorking, workingExposure } from './working.js';

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
  brokerage: BrokerageDeps;
  policies: ChannelPolicies;
  options: TradingOptions;
  /** Where accepted orders go; the paper engine when absent. */
  router?: OrderRouter;
  /** The paper engine's matching interval (null: only when `matchAll` is called). */
  matchingIntervalMs?: number | null;
  /** Called once if trading halts on this node (the journal failed); the gateway logs it. */
  onHalt?: (error: Error) => void;
}

export type PlaceResult =
  | { status: 'accepted'; order: OrderView }
  | { status: 'existing'; order: OrderView }
  | ConfirmationRequired;

/** A modify's answer: the order as changed, or the questions to answer first (as for a new order). */
export type ModifyResult = { status: 'modified'; order: OrderView } | ConfirmationRequired;

export interface ConfirmationRequired {
  status: 'confirmation_required';
  confirmationId: string;
  questions: Question[];
}

/** A change to a working order: any of quantity, limit price, stop price. */
export interface OrderChange {
  quantity?: number;
  limitPrice?: number;
  stopPrice?: number;
}

/**
 * Who may end orders without a trading session, each named: the dead-man switch firing, a session-loss policy, an
 * operator (the admin API), and the engine itself (expiry, IOC remainders). A person's or a program's cancel goes
 * through `cancelOrder` and its checks instead.
 */
export type SystemCanceller = 'dead_man' | 'session_loss' | 'operator' | 'engine';

/** What `#gateInputs` reads for the gate. */
interface GateInputs {
  entitlements: AccountEntitlements;
  state: TradingState;
}

/** What a confirmation row stores: the order as it would be placed (or changed), and what was answered already. */
interface SavedIntent {
  order: OrderRequest;
  acknowledged: string[];
  /** The working order this confirmation changes; absent for a new order. */
  modifies?: string;
}

const FX_PAIRS = INSTRUMENTS.filter((i) => i.fx !== undefined);

/** The coded error for the gate's rejection, with the rule that decided it. */
function refusal(verdict: Extract<GateResult, { outcome: 'reject' }>): GatehouseError {
  return new GatehouseError(verdict.code, verdict.message, {
    ...(verdict.ruleId === undefined ? {} : { ruleId: verdict.ruleId }),
    ...verdict.details,
  });
}

/** A journal entry's answer when its order is no longer working in the database (it wrote nothing). */
const NOT_WORKING = Symbol('not working');

/** An order's latest state on this node and the commit that makes it durable. */
interface Pending {
  row: OrdersTable;
  durable: Promise<unknown>;
}

export class TradingService {
  readonly #d: TradingDeps;
  readonly #router: OrderRouter;
  readonly #ledgers = new Map<string, Ledger>();
  /** The working orders of this node's accounts: the state fills are computed from. */
  readonly #open = new Map<string, OrdersTable>();
  /** Orders the gate accepted whose commit is on its way: they count against buying power as working ones do. */
  readonly #reserved = new Map<string, OrdersTable>();
  /** Changes applied here whose commit is still on its way, by order id. */
  readonly #pending = new Map<string, Pending>();
  #halted: Error | null = null;
  readonly #clientOrderIds: ClientOrderIds;
  readonly #orderById: PreparedQuery<OrdersTable>;

  constructor(deps: TradingDeps) {
    this.#d = deps;
    this.#clientOrderIds = new ClientOrderIds(deps.db, deps.options.idempotencyWindowMs);
    this.#orderById = preparedQuery(deps.db, 1, (db, id) =>
      db.selectFrom('orders').selectAll().where('id', '=', id),
    );
    this.#router =
      deps.router ??
      new PaperEngine(
        deps.marketData,
        deps.clock,
        deps.matchingIntervalMs === undefined ? deps.marketData.feed.tickMs : deps.matchingIntervalMs,
      );
    this.#router.events((event) => this.#onRouterEvent(event));
  }

  /** Hands the working orders to the router (after a restart) and starts it. */
  async start(): Promise<void> {
    const rows = await this.#d.db.selectFrom('orders').selectAll().where('status', '=', 'working').execute();
    for (const row of rows) this.#open.set(row.id, row);
    for (const row of rows) await this.#router.submit(row);
    this.#router.start();
  }

  async stop(): Promise<void> {
    await this.#router.stop();
    await this.#d.journal.drain();
  }

  /** Why trading stopped on this node, or null while it runs (`/readyz` reports it). */
  get halted(): Error | null {
    return this.#halted;
  }

  /** Runs one paper-engine matching pass now (tests with a frozen clock); other routers work on their own. */
  async matchAll(): Promise<void> {
    if (this.#router instanceof PaperEngine) await this.#router.matchAll();
    await this.#d.journal.drain();
  }

  #ratesMemo: { step: number; rates: UsdRates } | null = null;

  /** USD rates from the feed's FX mids (units of each currency per USD), computed once per feed step. */
  #rates(): UsdRates {
    const step = this.#d.marketData.feed.step(this.#d.clock.now());
    if (this.#ratesMemo?.step === step) return this.#ratesMemo.rates;
    const rates = new Map<string, number>();
    for (const pair of FX_PAIRS) {
      const q = this.#d.marketData.live(pair);
      const mid = (q.bid + q.ask) / 2;
      const base = pair.fx?.base as string;
      if (pair.currency === 'USD') rates.set(base, 1 / mid);
      else if (base === 'USD') rates.set(pair.currency, mid);
    }
    this.#ratesMemo = { step, rates };
    return rates;
  }

  #mark = (instrument: Instrument) => {
    const q = this.#d.marketData.live(instrument);
    return (q.bid + q.ask) / 2;
  };

  async #ledger(accountId: string): Promise<Ledger> {
    let ledger = this.#ledgers.get(accountId);
    if (ledger === undefined) {
      const loaded = await loadLedger(this.#d.db, accountId);
      // A fill applied while the ledger was loading is already in the one that won.
      ledger = this.#ledgers.get(accountId) ?? loaded;
      this.#ledgers.set(accountId, ledger);
    }
    return ledger;
  }

  #running(): void {
    if (this.#halted !== null) throw new GatehouseError('TRADING_HALTED');
  }

  /** Stops trading on this node: its view of the accounts no longer matches the database. */
  #halt(error: unknown): void {
    if (this.#halted !== null) return;
    this.#halted = error instanceof Error ? error : new Error(String(error));
    void this.#router.stop();
    this.#d.onHalt?.(this.#halted);
  }

  /**
   * Journals a change already applied to this node's view. The view runs ahead of the database by at most the
   * batch in flight; if that batch fails, the view is wrong, so trading halts.
   */
  #journalApplied<T>(
    row: OrdersTable,
    entry: (tx: JournalTx) => Promise<T | typeof NOT_WORKING>,
  ): Promise<T> {
    const durable = this.#d.journal.write(entry).then((value) => {
      // This node applied a change to an order the database says another writer ended: its view is wrong.
      if (value === NOT_WORKING) throw new Error(`order ${row.id} is no longer working in the database`);
      return value;
    });
    const pending: Pending = { row, durable };
    this.#pending.set(row.id, pending);
    return durable.then(
      (value) => {
        if (this.#pending.get(row.id) === pending) this.#pending.delete(row.id);
        return value;
      },
      (error: unknown) => {
        if (this.#pending.get(row.id) === pending) this.#pending.delete(row.id);
        this.#halt(error);
        throw new GatehouseError('TRADING_HALTED');
      },
    );
  }

  /**
   * The market-data subscriptions a session sees quotes with: those of the named account of theirs, or of their
   * first account.
   */
  async marketDataView(principal: Principal, accountId?: string) {
    const account = accountAccess(principal, accountId ?? principal.profile.accounts[0]?.id ?? '', 'view');
    const entitlements = await this.#d.entitlements.get(account.id);
    if (entitlements === undefined) throw new GatehouseError('ACCOUNT_NOT_FOUND');
    return { accountId: account.id, subscriptions: entitlements.subscriptions };
  }

  /** The account's events after `after`, in sequence order. */
  async events(
    principal: Principal,
    accountId: string,
    after: number,
    limit: number,
  ): Promise<AccountEvent[]> {
    accountAccess(principal, accountId, 'view');
    return listEvents(this.#d.db, accountId, after, limit);
  }

  async summary(principal: Principal, accountId: string): Promise<PortfolioView> {
    const account = accountAccess(principal, accountId, 'view');
    const ledger = await this.#ledger(accountId);
    const type = (await this.#d.entitlements.get(accountId))?.account.type ?? account.type;
    const rates = this.#rates();
    const v = valuate(ledger, account.baseCurrency, type, rates, findInstrument, this.#mark);
    return {
      accountId,
      baseCurrency: account.baseCurrency,
      cash: Object.fromEntries([...ledger.cash].sort()),
      positions: [...ledger.positions].map(([instrumentId, p]) => ({
        instrumentId,
        symbol: findInstrument(instrumentId)?.symbol ?? null,
        quantity: p.quantity,
        avgCost: p.avgCost,
      })),
      netLiquidation: v.netLiquidation,
      initialMargin: v.initialMargin,
      buyingPower: this.#available(type, v),
    };
  }

  #available(type: UserAccount['type'], v: { netLiquidation: number; initialMargin: number; cash: number }) {
    return type === 'cash' ? Math.max(0, v.cash) : Math.max(0, v.netLiquidation - v.initialMargin);
  }

  async place(
    principal: Principal,
    accountId: string,
    order: OrderRequest,
    acknowledged: readonly string[] = [],
  ): Promise<PlaceResult> {
    const { db, clock, journal } = this.#d;
    this.#running();
    const account = accountAccess(principal, accountId, 'trade');
    const instrument = findInstrument(order.instrumentId);
    if (instrument === undefined) throw new GatehouseError('INSTRUMENT_NOT_FOUND');
    validateOrder(order, instrument);
    const now = clock.now();
    const existingId = await this.#clientOrderIds.find(accountId, order.clientOrderId, now);
    if (existingId !== undefined) {
      const existing = await this.#orderById.first(existingId);
      if (existing !== undefined) return { status: 'existing', order: presentOrder(existing) };
    }

    const row: OrdersTable = {
      id: newTimeOrderedId('ord', now),
      account_id: accountId,
      client_order_id: order.clientOrderId,
      user_id: principal.session.userId,
      session_id: principal.session.id,
      instrument_id: instrument.id,
      side: order.side,
      type: order.type,
      quantity: order.quantity,
      limit_price: order.type === 'LMT' || order.type === 'STP_LMT' ? (order.limitPrice ?? null) : null,
      stop_price: order.type === 'STP' || order.type === 'STP_LMT' ? (order.stopPrice ?? null) : null,
      tif: order.tif,
      status: 'working',
      filled_quantity: 0,
      avg_fill_price: null,
      triggered: 0,
      acknowledged: JSON.stringify(acknowledged),
      expires_at:
        order.tif === 'DAY'
          ? nextResetAt(now, { timeZone: instrument.hours.timeZone, time: instrument.hours.close })
          : null,
      created_at: now,
      updated_at: now,
    };
    // The gate's verdict and the reservation are one synchronous step: an order accepted here counts against the
    // next one's buying power and position at once, before it is committed, so orders racing on one account cannot
    // all pass.
    const inputs = await this.#gateInputs(principal, account);
    const verdict = evaluateGate(this.#snapshot(principal, account, inputs, instrument, order, acknowledged));
    if (verdict.outcome === 'accept') this.#reserved.set(row.id, row);
    if (verdict.outcome === 'reject') {
      const event = await journal.write((tx) =>
        appendEvent(
          tx,
          accountId,
          'rejected',
          null,
          {
            clientOrderId: order.clientOrderId,
            code: verdict.code,
            ...(verdict.ruleId === undefined ? {} : { ruleId: verdict.ruleId }),
          },
          now,
        ),
      );
      this.#announce(accountId, event);
      throw refusal(verdict);
    }
    if (verdict.outcome === 'confirm')
      return this.#askConfirmation(principal, accountId, { order, acknowledged: [...acknowledged] }, verdict);

    let event: AccountEvent | null;
    try {
      event = await journal.write(async (tx) =>
        (await insertOrder(tx, row))
          ? appendEvent(
              tx,
              accountId,
              'accepted',
              row.id,
              { clientOrderId: row.client_order_id, order: presentOrder(row) },
              now,
            )
          : null,
      );
    } finally {
      // From here the order is working (below) or was never placed: either way no longer only reserved.
      this.#reserved.delete(row.id);
    }
    if (event === null) {
      // Another submission with this clientOrderId holds the unique key (a race, or an id older than the window).
      const winner = await db
        .selectFrom('orders')
        .selectAll()
        .where('account_id', '=', accountId)
        .where('client_order_id', '=', order.clientOrderId)
        .executeTakeFirstOrThrow();
      return { status: 'existing', order: presentOrder(winner) };
    }
    this.#clientOrderIds.add(accountId, row.client_order_id, row.id, now);
    this.#running();
    this.#open.set(row.id, row);
    this.#announce(accountId, event);
    await this.#router.submit(row);
    // The router may have filled the order at once: answer with that, once it is durable.
    const pending = this.#pending.get(row.id);
    if (pending !== undefined) await pending.durable;
    return { status: 'accepted', order: presentOrder(pending?.row ?? row) };
  }

  /** The account's working and reserved orders, but `except` (the order being changed). */
  #workingOrders(accountId: string, except?: string): OrdersTable[] {
    const out: OrdersTable[] = [];
    for (const rows of [this.#open.values(), this.#reserved.values()])
      for (const row of rows) if (row.account_id === accountId && row.id !== except) out.push(row);
    return out;
  }

  /**
   * What the gate needs that takes I/O: the account's entitlements (with its type as it is now: an operator may have
   * changed it since this session's profile was read), the session's trading state read authoritatively, and the
   * account's ledger loaded. Read before the gate's synchronous step (`#snapshot`).
   */
  async #gateInputs(principal: Principal, account: UserAccount): Promise<GateInputs> {
    const entitlements = await this.#d.entitlements.get(account.id);
    if (entitlements === undefined) throw new GatehouseError('ACCOUNT_NOT_FOUND');
    const state = await tradingState(this.#d.brokerage, principal);
    await this.#ledger(account.id);
    return { entitlements, state };
  }

  /**
   * The gate's snapshot of an order, built without I/O from `inputs` and this node's view of the account as it is
   * at this instant: its ledger and its working and reserved orders (`changing`, an order being changed, excluded).
   * Synchronous, so the verdict and the reservation that follows it cannot interleave with another order's.
   */
  #snapshot(
    principal: Principal,
    account: UserAccount,
    inputs: GateInputs,
    instrument: Instrument,
    order: OrderRequest,
    acknowledged: readonly string[],
    changing?: string,
  ): GateSnapshot {
    const { entitlements, state } = inputs;
    const { type } = entitlements.account;
    const ledger = this.#ledgers.get(account.id) as Ledger;
    const rates = this.#rates();
    const quote = this.#d.marketData.live(instrument);
    const underlying =
      instrument.option === undefined ? undefined : findInstrument(instrument.option.underlyingId);
    const price =
      order.limitPrice !== undefined && (order.type === 'LMT' || order.type === 'STP_LMT')
        ? order.limitPrice
        : order.side === 'BUY'
          ? quote.ask
          : quote.bid;
    const v = valuate(ledger, account.baseCurrency, type, rates, findInstrument, this.#mark);
    const toBase = (amount: number, currency: string) =>
      convert(amount, currency, account.baseCurrency, rates);
    const policy = this.#d.policies[principal.session.channel as keyof ChannelPolicies];
    const held = (id: number) => ledger.positions.get(id)?.quantity ?? 0;
    const working = workingExposure({
      orders: this.#workingOrders(account.id, changing),
      position: held,
      instrument: findInstrument,
      price: (row, i) => {
        if (row.limit_price !== null) return Number(row.limit_price);
        const q = this.#d.marketData.live(i);
        return row.side === 'BUY' ? q.ask : q.bid;
      },
      underlyingMark: (i) => {
        const u = i.option === undefined ? undefined : findInstrument(i.option.underlyingId);
        return u === undefined ? 0 : this.#mark(u);
      },
      accountType: type,
      toBase,
    });
    return {
      now: this.#d.clock.now(),
      session: { ...state, channel: principal.session.channel },
      allowedOrderTypes: policy?.orderTypes ?? [],
      entitlements,
      instrument,
      order,
      position: positionAfterWorking(
        held(instrument.id),
        order.side,
        working.pending(instrument.id, order.side),
      ),
      // Shares already offered for sale cannot cover a call.
      underlyingPosition:
        underlying === undefined ? 0 : held(underlying.id) - working.pending(underlying.id, 'SELL'),
      quote,
      marketData: entitlementFor(instrument, entitlements.subscriptions),
      buyingPower: {
        available: Math.max(0, this.#available(type, v) - working.reserved),
        required: orderRequirement(
          instrument,
          order.side,
          order.quantity,
          price,
          type,
          underlying === undefined ? 0 : this.#mark(underlying),
          toBase,
        ),
        currency: account.baseCurrency,
      },
      netLiquidationUsd: convert(v.netLiquidation, account.baseCurrency, 'USD', rates),
      priceBand: this.#d.options.priceBand,
      acknowledged: new Set(acknowledged),
      rules: PRODUCT_RULES,
    };
  }

  /** Stores the gate's questions for an order (new or changed); the answer comes within the confirmation's TTL. */
  async #askConfirmation(
    principal: Principal,
    accountId: string,
    intent: SavedIntent,
    verdict: Extract<GateResult, { outcome: 'confirm' }>,
  ): Promise<ConfirmationRequired> {
    const now = this.#d.clock.now();
    const confirmationId = newId('cnf');
    await this.#d.db
      .insertInto('order_confirmations')
      .values({
        id: confirmationId,
        account_id: accountId,
        user_id: principal.session.userId,
        order: JSON.stringify(intent),
        questions: JSON.stringify(verdict.questions),
        created_at: now,
        expires_at: now + this.#d.options.confirmationTtlMs,
        used_at: null,
      })
      .execute();
    return { status: 'confirmation_required', confirmationId, questions: verdict.questions };
  }

  /**
   * Answers a confirmation (once, within 60 s, by its owner): places the order, or makes the change, with its
   * questions acknowledged — through the whole gate again, so what changed meanwhile (a takeover, a fill, the
   * market) still counts.
   */
  async confirm(
    principal: Principal,
    accountId: string,
    confirmationId: string,
  ): Promise<PlaceResult | ModifyResult> {
    this.#running();
    accountAccess(principal, accountId, 'trade');
    // Checked before the confirmation is spent: a session that may not trade leaves it for one that may.
    await requireBrokerage(this.#d.brokerage, principal);
    const { db, clock } = this.#d;
    const now = clock.now();
    const row = await db
      .selectFrom('order_confirmations')
      .selectAll()
      .where('id', '=', confirmationId)
      .executeTakeFirst();
    if (
      row === undefined ||
      row.account_id !== accountId ||
      row.user_id !== principal.session.userId ||
      row.used_at !== null ||
      now >= Number(row.expires_at)
    ) {
      throw new GatehouseError('CONFIRMATION_INVALID');
    }
    const claimed = await db
      .updateTable('order_confirmations')
      .set({ used_at: now })
      .where('id', '=', confirmationId)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    if (claimed.numUpdatedRows === 0n) throw new GatehouseError('CONFIRMATION_INVALID');
    const saved = JSON.parse(row.order) as SavedIntent;
    const questions = JSON.parse(row.questions) as Question[];
    const acknowledged = [...saved.acknowledged, ...questions.map((q) => q.id)];
    if (questions.some((q) => q.id === NO_MARKET_DATA.id || q.id === 'delayed_market_data')) {
      await appendAudit(db, clock, {
        type: 'order.confirmed_without_market_data',
        userId: principal.session.userId,
        sessionId: principal.session.id,
        data: { accountId, clientOrderId: saved.order.clientOrderId, questions: questions.map((q) => q.id) },
      });
    }
    const result =
      saved.modifies === undefined
        ? await this.place(principal, accountId, saved.order, acknowledged)
        : await this.modifyOrder(
            principal,
            accountId,
            saved.modifies,
            {
              quantity: saved.order.quantity,
              ...(saved.order.limitPrice === undefined ? {} : { limitPrice: saved.order.limitPrice }),
              ...(saved.order.stopPrice === undefined ? {} : { stopPrice: saved.order.stopPrice }),
            },
            acknowledged,
          );
    if (result.status === 'accepted' || result.status === 'modified') {
      const event = await this.#d.journal.write((tx) =>
        appendEvent(
          tx,
          accountId,
          'confirmed',
          result.order.id,
          { confirmationId, questions: questions.map((q) => q.id) },
          now,
        ),
      );
      this.#announce(accountId, event);
    }
    return result;
  }

  /** An order of the account (which the principal may use for `need`); another account's order is unknown. */
  async #ownOrder(principal: Principal, accountId: string, orderId: string, need: 'view' | 'trade') {
    const account = accountAccess(principal, accountId, need);
    const row = await this.#d.db
      .selectFrom('orders')
      .selectAll()
      .where('id', '=', orderId)
      .where('account_id', '=', accountId)
      .executeTakeFirst();
    if (row === undefined) throw new GatehouseError('ORDER_NOT_FOUND');
    return { account, row };
  }

  async get(principal: Principal, accountId: string, orderId: string): Promise<OrderView> {
    return presentOrder((await this.#ownOrder(principal, accountId, orderId, 'view')).row);
  }

  async list(
    principal: Principal,
    accountId: string,
    filter: { status?: 'open' | 'filled' | 'cancelled' | 'expired'; today?: boolean; clientOrderId?: string },
  ): Promise<OrderView[]> {
    accountAccess(principal, accountId, 'view');
    let query = this.#d.db.selectFrom('orders').selectAll().where('account_id', '=', accountId);
    if (filter.status !== undefined)
      query = query.where('status', '=', filter.status === 'open' ? 'working' : filter.status);
    if (filter.today === true) query = query.where('created_at', '>=', this.#d.clock.now() - 24 * 3_600_000);
    if (filter.clientOrderId !== undefined) query = query.where('client_order_id', '=', filter.clientOrderId);
    const rows = await query.orderBy('created_at', 'desc').orderBy('id').limit(500).execute();
    return rows.map(presentOrder);
  }

  /**
   * A person's or a program's cancel: the same checks as order entry — a role and scope that may trade the
   * account, and a session that may trade now (brokerage, not competing, no step-up pending, its channel's
   * assurance, its device key) — with the same coded refusals.
   */
  async cancelOrder(principal: Principal, accountId: string, orderId: string): Promise<OrderView> {
    this.#running();
    await this.#ownOrder(principal, accountId, orderId, 'trade');
    await requireBrokerage(this.#d.brokerage, principal);
    const [ended] = await Promise.all([
      this.#end(orderId, 'cancelled', { by: 'user', sessionId: principal.session.id }),
      this.#router.cancel(orderId),
    ]);
    return presentOrder(ended);
  }

  /**
   * Changes a working order. The order as it would stand after the change goes through the whole gate, exactly as
   * a new order does (session, order type, account flags, product rules, permissions, options level, margin,
   * disclosures, buying power, market data, price band): a change cannot do what placing the order could not.
   * Questions come back as a confirmation to answer, as for a new order.
   */
  async modifyOrder(
    principal: Principal,
    accountId: string,
    orderId: string,
    change: OrderChange,
    acknowledged: readonly string[] = [],
  ): Promise<ModifyResult> {
    this.#running();
    const { account } = await this.#ownOrder(principal, accountId, orderId, 'trade');
    const inputs = await this.#gateInputs(principal, account);
    // From here to the change in this node's view nothing waits: the order is judged as it stands at this instant
    // (a fill meanwhile is included), and no other order of the account is judged in between.
    const row = this.#open.get(orderId);
    if (row === undefined) throw new GatehouseError('ORDER_NOT_OPEN');
    const instrument = findInstrument(Number(row.instrument_id)) as Instrument;
    const next: OrderRequest = {
      clientOrderId: row.client_order_id,
      instrumentId: instrument.id,
      side: row.side as OrderRequest['side'],
      type: row.type as OrderType,
      quantity: change.quantity ?? Number(row.quantity),
      limitPrice: change.limitPrice ?? row.limit_price ?? undefined,
      stopPrice: change.stopPrice ?? row.stop_price ?? undefined,
      tif: row.tif as OrderRequest['tif'],
    };
    validateOrder(next, instrument);
    if (next.quantity < Number(row.filled_quantity))
      throw new GatehouseError('QUANTITY_INVALID', 'The quantity cannot go below what has already filled.', {
        filledQuantity: Number(row.filled_quantity),
      });
    // The gate weighs what is still to fill, as it weighs a new order's whole quantity, against what the account's
    // other working orders leave.
    const remaining = { ...next, quantity: next.quantity - Number(row.filled_quantity) };
    const verdict = evaluateGate(
      this.#snapshot(principal, account, inputs, instrument, remaining, acknowledged, orderId),
    );
    if (verdict.outcome === 'reject') throw refusal(verdict);
    if (verdict.outcome === 'confirm')
      return this.#askConfirmation(
        principal,
        accountId,
        { order: next, acknowledged: [...acknowledged], modifies: orderId },
        verdict,
      );
    const updated: OrdersTable = {
      ...row,
      quantity: next.quantity,
      limit_price: row.limit_price === null ? null : (next.limitPrice ?? null),
      stop_price: row.stop_price === null ? null : (next.stopPrice ?? null),
      updated_at: this.#d.clock.now(),
    };
    this.#open.set(row.id, updated);
    return { status: 'modified', order: await this.#commitChange(updated, change) };
  }

  /** Hands a change already applied to this node's view to the router, and journals it with its event. */
  async #commitChange(updated: OrdersTable, change: OrderChange): Promise<OrderView> {
    const now = Number(updated.updated_at);
    await this.#router.modify(updated);
    const event = await this.#journalApplied(updated, async (tx) =>
      (await updateWorkingOrder(tx, updated))
        ? appendEvent(tx, updated.account_id, 'modified', updated.id, { change }, now)
        : NOT_WORKING,
    );
    this.#announce(updated.account_id, event);
    return presentOrder(updated);
  }

  /** An operator's cancel (the admin API): no session; audited with the operator's address. */
  async cancelByOperator(accountId: string, orderId: string, ip: string | null): Promise<OrderView> {
    this.#running();
    const row = await this.#orderById.first(orderId);
    if (row === undefined || row.account_id !== accountId) throw new GatehouseError('ORDER_NOT_FOUND');
    const [cancelled] = await this.cancelOrders('operator', [orderId]);
    if (cancelled === undefined) throw new GatehouseError('ORDER_NOT_OPEN');
    await appendAudit(this.#d.db, this.#d.clock, {
      type: 'order.cancelled_by_operator',
      userId: row.user_id,
      ip,
      data: { accountId, orderId, clientOrderId: row.client_order_id },
    });
    return presentOrder((await this.#orderById.first(orderId)) ?? row);
  }

  /** The working orders on this node, optionally only one session's or one account's. */
  openOrders(filter: { sessionId?: string; accountId?: string } = {}): OrdersTable[] {
    const out: OrdersTable[] = [];
    for (const row of this.#open.values()) {
      if (filter.sessionId !== undefined && row.session_id !== filter.sessionId) continue;
      if (filter.accountId !== undefined && row.account_id !== filter.accountId) continue;
      out.push(row);
    }
    return out;
  }

  /**
   * Cancels working orders for one of the named system principals (a dead-man switch firing, a session-loss policy,
   * an operator): no session is involved, so no session check applies. Each ends with a `cancelled` event whose
   * data says who and why. Orders that ended meanwhile are skipped. Returns the ids cancelled.
   */
  async cancelOrders(
    by: Exclude<SystemCanceller, 'engine'>,
    orderIds: readonly string[],
    data: Record<string, unknown> = {},
  ): Promise<string[]> {
    this.#running();
    const cancelled = await Promise.all(
      orderIds.map(async (id) => {
        try {
          await Promise.all([this.#end(id, 'cancelled', { ...data, by }), this.#router.cancel(id)]);
          return id;
        } catch (error) {
          if (error instanceof GatehouseError && error.code === 'ORDER_NOT_OPEN') return null;
          throw error;
        }
      }),
    );
    return cancelled.filter((id): id is string => id !== null);
  }

  /**
   * Applies what the router reports to this node's view at once, in report order, and journals it; the router may
   * go on without waiting for the commit.
   */
  async #onRouterEvent(event: RouterEvent): Promise<void> {
    const row = this.#open.get(event.orderId);
    if (row === undefined || this.#halted !== null) return;
    const now = this.#d.clock.now();
    if (event.type === 'fill') {
      const instrument = findInstrument(Number(row.instrument_id)) as Instrument;
      await this.#fill(row, instrument, event, now);
    } else if (event.type === 'triggered') {
      const triggered: OrdersTable = { ...row, triggered: 1, updated_at: now };
      this.#open.set(row.id, triggered);
      this.#journalApplied(triggered, async (tx) =>
        (await updateWorkingOrder(tx, triggered)) ? null : NOT_WORKING,
      ).catch(() => {});
    } else {
      const by: SystemCanceller = 'engine';
      this.#end(row.id, event.status, { by, reason: event.reason }).catch(() => {});
    }
  }

  async #fill(
    row: OrdersTable,
    instrument: Instrument,
    fill: Extract<RouterEvent, { type: 'fill' }>,
    now: number,
  ): Promise<void> {
    const { end, triggered } = fill;
    const accountId = row.account_id;
    const ledger = await this.#ledger(accountId);
    if (this.#open.get(row.id) !== row) return;
    const fee = fill.commission;
    const next: Ledger = { cash: new Map(ledger.cash), positions: new Map(ledger.positions) };
    const realized = applyFill(next, instrument, row.side as 'BUY' | 'SELL', fill.quantity, fill.price, fee);
    const filled = Number(row.filled_quantity) + fill.quantity;
    const avg =
      (Number(row.avg_fill_price ?? 0) * Number(row.filled_quantity) + fill.price * fill.quantity) / filled;
    const status = end === 'filled' ? 'filled' : end === 'cancelled' ? 'cancelled' : 'working';
    const updated: OrdersTable = {
      ...row,
      filled_quantity: filled,
      avg_fill_price: avg,
      status,
      triggered: triggered || row.triggered === 1 ? 1 : 0,
      updated_at: now,
    };
    const currencies =
      instrument.fx === undefined ? [instrument.currency] : [instrument.currency, instrument.fx.base];
    // Applied here first, so the next fill and the next order's buying power see it.
    this.#ledgers.set(accountId, next);
    if (status === 'working') this.#open.set(row.id, updated);
    else this.#open.delete(row.id);
    const events = this.#journalApplied(updated, async (tx) => {
      if (!(await updateWorkingOrder(tx, updated))) return NOT_WORKING;
      await insertExecution(tx, {
        id: newTimeOrderedId('exe', now),
        order_id: row.id,
        account_id: accountId,
        instrument_id: instrument.id,
        side: row.side,
        quantity: fill.quantity,
        price: fill.price,
        commission: fee,
        currency: instrument.currency,
        created_at: now,
      });
      await saveLedgerChange(tx, accountId, next, instrument.id, currencies);
      const type: EventType = status === 'filled' ? 'filled' : 'partially_filled';
      const out = [
        await appendEvent(
          tx,
          accountId,
          type,
          row.id,
          {
            quantity: fill.quantity,
            price: fill.price,
            commission: fee,
            currency: instrument.currency,
            filledQuantity: filled,
            realizedPnl: realized,
          },
          now,
        ),
      ];
      if (status === 'cancelled')
        out.push(
          await appendEvent(
            tx,
            accountId,
            'cancelled',
            row.id,
            { by: 'engine' satisfies SystemCanceller, reason: 'ioc' },
            now,
          ),
        );
      return out;
    });
    events.then(
      (out) => {
        for (const e of out) this.#announce(accountId, e);
      },
      () => {},
    );
  }

  /**
   * Ends a working order (a user's cancel, an engine's expiry or IOC remainder): it leaves this node's working set
   * at once, so no fill follows, and the change commits with its event.
   */
  async #end(
    orderId: string,
    status: 'cancelled' | 'expired',
    data: Record<string, unknown>,
  ): Promise<OrdersTable> {
    const row = this.#open.get(orderId);
    if (row === undefined) throw new GatehouseError('ORDER_NOT_OPEN');
    const now = this.#d.clock.now();
    const ended: OrdersTable = { ...row, status, updated_at: now };
    this.#open.delete(orderId);
    const event = await this.#journalApplied(ended, async (tx) =>
      (await updateWorkingOrder(tx, ended))
        ? appendEvent(tx, row.account_id, status, orderId, data, now)
        : NOT_WORKING,
    );
    this.#announce(row.account_id, event);
    return ended;
  }

  #announce(accountId: string, event: AccountEvent): void {
    this.#d.bus
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
