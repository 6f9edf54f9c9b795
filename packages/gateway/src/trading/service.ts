/**
 * @module trading/service
 * Order entry behind the gate, and the paper engine behind the `OrderRouter` interface: the one object the routes,
 * the safety services and the WebSocket streams hold. It checks who may do what and wires the jobs together:
 *
 * - `trading/place`, `trading/modify`, `trading/confirm`: new orders, changes and confirmations through the gate,
 *   whose snapshot `trading/snapshot` builds without I/O;
 * - `trading/fills`: what the router reports (fills, triggers, expiries) and every end of a working order;
 * - `trading/desk`: this node's view (working orders, ledgers), its journal; `trading/store`: the tables' statements.
 *
 * This node's view is the account's working state, so an account is worked by one node: with several nodes, the
 * holder of its lease (`trading/placement`, `trading/remote`); a request for it on another node runs there. If the
 * journal fails, the view can no longer be trusted: trading halts on this node (`TRADING_HALTED`, `/readyz` not
 * ready) until a restart, `resume` or a lost database's return rebuilds the view from the database (`trading/desk`).
 */
import type { Availability, PortfolioView } from '@gatehouse/protocol';
import { accountAccess } from '../access/index.js';
import { appendAudit } from '../audit/index.js';
import { GatehouseError } from '../core/index.js';
import { findInstrument } from '../instruments/index.js';
import type { Principal } from '../sessions/index.js';
import type { OrdersTable } from '../store/index.js';
import { valuate } from './accounting.js';
import { instrumentAvailability } from './availability.js';
import { confirmOrder } from './confirm.js';
import { Desk, faultSubject, type TradingDeps } from './desk.js';
import { applyRouterEvent, endOrder, type SystemCanceller } from './fills.js';
import type { OrderRequest } from './gate.js';
import { type ModifyResult, modifyOrder, type OrderChange } from './modify.js';
import { type PlaceResult, placeOrder } from './place.js';
import { type OrderPreview, previewOrder } from './preview.js';
import { checkRemoteCall, type OpenFilter, principalFromWire, type RemoteMethod, routed } from './remote.js';
import { PaperEngine } from './router.js';
import { availableBuyingPower } from './snapshot.js';
import {
  type AccountEvent,
  listEvents,
  listExecutions,
  listOrders,
  listWorkingOrders,
  type OrderView,
  presentOrder,
  presentPosition,
} from './store.js';

export type { TradingDeps, TradingOptions } from './desk.js';
export type { SystemCanceller } from './fills.js';
export type { ModifyResult, OrderChange } from './modify.js';
export type { ConfirmationRequired, PlaceResult } from './place.js';
export type { OrderPreview } from './preview.js';

export class TradingService {
  readonly #desk: Desk;

  constructor(deps: TradingDeps) {
    this.#desk = new Desk(deps);
    this.#desk.router.events((event) => applyRouterEvent(this.#desk, event));
  }

  /**
   * Hands the working orders to the router (after a restart) and starts it. With several nodes this node works
   * only the accounts it takes (`adopt`), each rebuilt from the database then.
   */
  async start(): Promise<void> {
    const { db, placement } = this.#desk.deps;
    if (placement === undefined) {
      const rows = await listWorkingOrders(db);
      for (const row of rows) this.#desk.open.set(row.id, row);
      for (const row of rows) await this.#desk.router.submit(row);
    }
    this.#desk.router.start();
  }

  /** Works the account here from now on (its lease was taken: `trading/placement`), or no longer (it moved). */
  readonly adopt = (accountId: string): Promise<void> => this.#desk.adopt(accountId);
  readonly drop = (accountId: string): void => this.#desk.drop(accountId);

  /** Runs `local` where the account is worked: here, or on its owner (`trading/remote`). */
  #route<T>(
    principal: Principal | null,
    accountId: string,
    method: RemoteMethod,
    args: Record<string, unknown>,
    local: () => Promise<T>,
  ): Promise<T> {
    const { placement } = this.#desk.deps;
    if (placement === undefined) return local();
    return routed(placement, principal, accountId, method, args, local);
  }

  /**
   * Runs a method another node forwarded for an account this node works (or takes now, if it is free); a call is
   * forwarded once, never on. The principal is the one the forwarding node authenticated.
   */
  async serve(method: string, args: unknown): Promise<unknown> {
    const { placement } = this.#desk.deps;
    if (placement === undefined) throw new GatehouseError('ACCOUNT_MOVING');
    // What the call is and whom it is for are checked before this node takes the account for it.
    const a = checkRemoteCall(method, args);
    const caller = a.principal === undefined ? null : principalFromWire(a.principal);
    if (caller !== null) accountAccess(caller, a.accountId, 'view');
    await placement.hold(a.accountId);
    // A person's or a program's method comes with its principal (`checkRemoteCall`).
    const principal = () => caller as Principal;
    switch (method as RemoteMethod) {
      case 'place':
        return placeOrder(
          this.#desk,
          principal(),
          a.accountId,
          a.order as OrderRequest,
          a.acknowledged as string[],
        );
      case 'preview':
        return previewOrder(this.#desk, principal(), a.accountId, a.order as OrderRequest);
      case 'confirm':
        return confirmOrder(this.#desk, principal(), a.accountId, String(a.confirmationId));
      case 'modify':
        return modifyOrder(
          this.#desk,
          principal(),
          a.accountId,
          String(a.orderId),
          a.change as OrderChange,
          a.acknowledged as string[],
        );
      case 'cancel':
        return this.#cancelOrder(principal(), a.accountId, String(a.orderId));
      case 'cancelByOperator':
        return this.#cancelByOperator(a.accountId, String(a.orderId), (a.ip as string | null) ?? null);
      case 'summary':
        return this.#summary(principal(), a.accountId);
      case 'availability':
        return instrumentAvailability(this.#desk, principal(), a.accountId, Number(a.instrumentId));
      case 'cancelOpen':
        return this.#cancelOpen(
          a.by as Exclude<SystemCanceller, 'engine'>,
          a.accountId,
          a.filter as OpenFilter,
          a.data as Record<string, unknown>,
        );
      default:
        throw new GatehouseError('INVALID_REQUEST');
    }
  }

  async stop(): Promise<void> {
    this.#desk.close();
    await this.#desk.router.stop();
    await this.#desk.deps.journal.drain();
  }

  /** Why trading stopped on this node, or null while it runs (`/readyz` reports it); `resume` trades again. */
  get halted(): Error | null {
    return this.#desk.halted;
  }
  readonly resume = (ip: string | null) => this.#desk.resume(ip);

  /** Runs one paper-engine matching pass now (tests with a frozen clock); other routers work on their own. */
  async matchAll(): Promise<void> {
    if (this.#desk.router instanceof PaperEngine) await this.#desk.router.matchAll();
    await this.#desk.deps.journal.drain();
  }

  /**
   * The market-data subscriptions a session sees quotes with: those of the named account of theirs, or of their
   * first account.
   */
  async marketDataView(principal: Principal, accountId?: string) {
    const account = accountAccess(principal, accountId ?? principal.profile.accounts[0]?.id ?? '', 'view');
    // A view: a sandbox fault revoking a bundle for this session, user, client or account shows in the quotes.
    const cache = this.#desk.deps.entitlements;
    const entitlements = await cache.get(
      account.id,
      cache.faults.armed ? { subject: faultSubject(principal, account.id) } : undefined,
    );
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
    return listEvents(this.#desk.deps.db, accountId, after, limit);
  }

  summary(principal: Principal, accountId: string): Promise<PortfolioView> {
    return this.#route(principal, accountId, 'summary', {}, () => this.#summary(principal, accountId));
  }

  async #summary(principal: Principal, accountId: string): Promise<PortfolioView> {
    const account = accountAccess(principal, accountId, 'view');
    const ledger = await this.#desk.ledger(accountId);
    const entitlements = await this.#desk.deps.entitlements.get(accountId);
    const type = entitlements?.account.type ?? account.type;
    const rates = this.#desk.rates();
    const v = valuate(ledger, account.baseCurrency, type, rates, findInstrument, this.#desk.mark);
    return {
      accountId,
      baseCurrency: account.baseCurrency,
      cash: Object.fromEntries([...ledger.cash].sort()),
      positions: [...ledger.positions].map(([instrumentId, p]) =>
        presentPosition(instrumentId, p, (i) =>
          entitlements === undefined
            ? null
            : this.#desk.deps.marketData.view(i, entitlements.subscriptions).last,
        ),
      ),
      netLiquidation: v.netLiquidation,
      initialMargin: v.initialMargin,
      buyingPower: availableBuyingPower(type, v),
    };
  }

  /** Whether the account may open or close a position in the instrument, in plain words (`trading/availability`). */
  availability(principal: Principal, accountId: string, instrumentId: number): Promise<Availability> {
    return this.#route(principal, accountId, 'availability', { instrumentId }, () =>
      instrumentAvailability(this.#desk, principal, accountId, instrumentId),
    );
  }

  /** What an order would do, through the same gate as `place`, placing nothing (`trading/preview`). */
  preview(principal: Principal, accountId: string, order: OrderRequest): Promise<OrderPreview> {
    return this.#route(principal, accountId, 'preview', { order }, () =>
      previewOrder(this.#desk, principal, accountId, order),
    );
  }

  /** The account's executions since `since` (epoch ms), oldest first, at most `limit`. */
  async executions(principal: Principal, accountId: string, since: number, limit = 1_000) {
    accountAccess(principal, accountId, 'view');
    return listExecutions(this.#desk.deps.db, accountId, since, limit);
  }

  /** Places a new order through the gate (`trading/place`). */
  place(
    principal: Principal,
    accountId: string,
    order: OrderRequest,
    acknowledged: readonly string[] = [],
  ): Promise<PlaceResult> {
    return this.#route(principal, accountId, 'place', { order, acknowledged }, () =>
      placeOrder(this.#desk, principal, accountId, order, acknowledged),
    );
  }

  /**
   * Answers a confirmation (once, within 60 s, by its owner): places the order, or makes the change, with its
   * questions acknowledged — through the whole gate again, so what changed meanwhile (a takeover, a fill, the
   * market) still counts.
   */
  confirm(
    principal: Principal,
    accountId: string,
    confirmationId: string,
  ): Promise<PlaceResult | ModifyResult> {
    return this.#route(principal, accountId, 'confirm', { confirmationId }, () =>
      confirmOrder(this.#desk, principal, accountId, confirmationId),
    );
  }

  async get(principal: Principal, accountId: string, orderId: string): Promise<OrderView> {
    return presentOrder((await this.#desk.ownOrder(principal, accountId, orderId, 'view')).row);
  }

  async list(
    principal: Principal,
    accountId: string,
    filter: { status?: 'open' | 'filled' | 'cancelled' | 'expired'; today?: boolean; clientOrderId?: string },
  ): Promise<OrderView[]> {
    accountAccess(principal, accountId, 'view');
    const { db, clock } = this.#desk.deps;
    const rows = await listOrders(db, accountId, {
      ...(filter.status === undefined
        ? {}
        : { status: filter.status === 'open' ? 'working' : filter.status }),
      ...(filter.today === true ? { since: clock.now() - 24 * 3_600_000 } : {}),
      ...(filter.clientOrderId === undefined ? {} : { clientOrderId: filter.clientOrderId }),
    });
    return rows.map(presentOrder);
  }

  /**
   * A person's or a program's cancel: a role and scope that may trade the account, as for order entry, and a session
   * in good standing (no step-up pending, its channel's assurance, its device key) — but not the trading tier: a
   * read-only or competing session may cancel, since a cancel only takes risk off (`BrokerageTier.requireStanding`).
   */
  cancelOrder(principal: Principal, accountId: string, orderId: string): Promise<OrderView> {
    return this.#route(principal, accountId, 'cancel', { orderId }, () =>
      this.#cancelOrder(principal, accountId, orderId),
    );
  }

  async #cancelOrder(principal: Principal, accountId: string, orderId: string): Promise<OrderView> {
    this.#desk.running();
    await this.#desk.ownOrder(principal, accountId, orderId, 'trade');
    await this.#desk.deps.brokerage.requireStanding(principal);
    const [ended] = await Promise.all([
      endOrder(this.#desk, orderId, 'cancelled', { by: 'user', sessionId: principal.session.id }),
      this.#desk.router.cancel(orderId),
    ]);
    return presentOrder(ended);
  }

  /**
   * Changes a working order. The order as it would stand after the change goes through the whole gate, exactly as
   * a new order does (session, order type, account flags, product rules, permissions, options level, margin,
   * disclosures, buying power, market data, price band): a change cannot do what placing the order could not.
   * Questions come back as a confirmation to answer, as for a new order.
   */
  modifyOrder(
    principal: Principal,
    accountId: string,
    orderId: string,
    change: OrderChange,
    acknowledged: readonly string[] = [],
  ): Promise<ModifyResult> {
    return this.#route(principal, accountId, 'modify', { orderId, change, acknowledged }, () =>
      modifyOrder(this.#desk, principal, accountId, orderId, change, acknowledged),
    );
  }

  /** An operator's cancel (the admin API): no session; audited with the operator's address. */
  cancelByOperator(accountId: string, orderId: string, ip: string | null): Promise<OrderView> {
    return this.#route(null, accountId, 'cancelByOperator', { orderId, ip }, () =>
      this.#cancelByOperator(accountId, orderId, ip),
    );
  }

  async #cancelByOperator(accountId: string, orderId: string, ip: string | null): Promise<OrderView> {
    this.#desk.running();
    const row = await this.#desk.orderById.first(orderId);
    if (row === undefined || row.account_id !== accountId) throw new GatehouseError('ORDER_NOT_FOUND');
    const [cancelled] = await this.cancelOrders('operator', [orderId]);
    if (cancelled === undefined) throw new GatehouseError('ORDER_NOT_OPEN');
    await appendAudit(this.#desk.deps.db, this.#desk.deps.clock, {
      type: 'order.cancelled_by_operator',
      userId: row.user_id,
      ip,
      data: { accountId, orderId, clientOrderId: row.client_order_id },
    });
    return presentOrder((await this.#desk.orderById.first(orderId)) ?? row);
  }

  /**
   * Cancels the account's working orders (a session's only, with `sessionId`; GTC ones kept with `excludeGtc`) for
   * a system principal, where the account is worked: a dead-man switch fires on whichever node sees its deadline
   * first, and its cancels run on the owner. Returns the ids cancelled.
   */
  cancelOpen(
    by: Exclude<SystemCanceller, 'engine'>,
    accountId: string,
    filter: OpenFilter,
    data: Record<string, unknown> = {},
  ): Promise<string[]> {
    return this.#route(null, accountId, 'cancelOpen', { by, filter, data }, () =>
      this.#cancelOpen(by, accountId, filter, data),
    );
  }

  #cancelOpen(
    by: Exclude<SystemCanceller, 'engine'>,
    accountId: string,
    filter: OpenFilter,
    data: Record<string, unknown>,
  ): Promise<string[]> {
    const targets = this.openOrders({
      accountId,
      ...(filter.sessionId === undefined ? {} : { sessionId: filter.sessionId }),
    })
      .filter((o) => filter.excludeGtc !== true || o.tif !== 'GTC')
      .map((o) => o.id);
    return this.cancelOrders(by, targets, data);
  }

  /** The working orders on this node, optionally only one session's or one account's. */
  openOrders(filter: { sessionId?: string; accountId?: string } = {}): OrdersTable[] {
    const out: OrdersTable[] = [];
    for (const row of this.#desk.open.values()) {
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
    this.#desk.running();
    const cancelled = await Promise.all(
      orderIds.map(async (id) => {
        try {
          await Promise.all([
            endOrder(this.#desk, id, 'cancelled', { ...data, by }),
            this.#desk.router.cancel(id),
          ]);
          return id;
        } catch (error) {
          if (error instanceof GatehouseError && error.code === 'ORDER_NOT_OPEN') return null;
          throw error;
        }
      }),
    );
    return cancelled.filter((id): id is string => id !== null);
  }
}
