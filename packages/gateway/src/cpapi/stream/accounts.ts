/**
 * @module cpapi/stream/accounts
 * A socket's account topics, over the accounts the held session may view: `sor` (the working orders on
 * subscribing, then each order's new state as its events arrive: accepted, modified, filled, cancelled, expired;
 * RealtimeSubscription.md), `str` (each execution as it happens, campus "Trades" topic) and `spl` (P&L rows on
 * subscribing and after each fill, research §6). `sor+{"filters":[…]}` keeps the orders whose IBKR status is named
 * (`Submitted`, `submitted` and `pre_submitted`-style spellings compare equal, as ibind's filter values).
 */
import type { BusMessages } from '../../core/index.js';
import { GatehouseError } from '../../core/index.js';
import type { Principal } from '../../sessions/index.js';
import { type OrderView, presentOrder } from '../../trading/index.js';
import { liveOrder } from '../orders-wire.js';
import { pnlRow, valueAccount } from '../portfolio.js';
import type { StreamRoutesDeps } from './deps.js';
import { type FillData, tradeOf, viewableAccountIds } from './frames.js';

/** What the topics need of their socket. */
export interface TopicHost {
  readonly deps: StreamRoutesDeps;
  /** The held session as last read. */
  principal(): Principal;
  send(frame: object, droppable?: boolean): boolean;
}

export class AccountTopics {
  /** `sor`: the status filters (normalised), empty for all; null when not subscribed. */
  #orders: ReadonlySet<string> | null = null;
  #pnl = false;
  #trades = false;

  constructor(readonly host: TopicHost) {}

  /** Whether an account event may concern the socket. */
  get listening(): boolean {
    return this.#orders !== null || this.#trades || this.#pnl;
  }

  /** `sor`: subscribes, then sends the working orders (an empty `args` when there are none). */
  async subscribeOrders(filters: readonly string[] = []): Promise<void> {
    this.#orders = new Set(filters.map(normalStatus));
    const { deps } = this.host;
    const args = [];
    for (const accountId of viewableAccountIds(this.host.principal())) {
      for (const row of deps.trading.openOrders({ accountId })) {
        const order = presentOrder(row);
        const item = liveOrder(order, await deps.face.numbers.numberOf(order.id, accountId));
        if (this.#wantsOrder(item.status)) args.push(item);
      }
    }
    this.host.send({ topic: 'sor', args });
  }

  unsubscribeOrders(): void {
    this.#orders = null;
  }

  /** `spl`: subscribes, then sends every viewable account's row. */
  async subscribePnl(): Promise<void> {
    this.#pnl = true;
    await this.#sendPnl(viewableAccountIds(this.host.principal()));
  }

  unsubscribePnl(): void {
    this.#pnl = false;
  }

  /** `str`: executions from now on; past days' are read with `iserver/account/trades`. */
  subscribeTrades(): void {
    this.#trades = true;
  }

  unsubscribeTrades(): void {
    this.#trades = false;
  }

  /** The brokerage session was lost: the `/iserver` topics (`sor`, `str`) end; `spl` does not need it. */
  endBrokerageTopics(): void {
    this.#orders = null;
    this.#trades = false;
  }

  #wantsOrder(status: string | undefined): boolean {
    const filters = this.#orders;
    return filters !== null && (filters.size === 0 || filters.has(normalStatus(status ?? '')));
  }

  async #sendPnl(accountIds: readonly string[]): Promise<void> {
    const { deps } = this.host;
    const args: Record<string, ReturnType<typeof pnlRow>> = {};
    for (const accountId of accountIds)
      args[`${accountId}.Core`] = pnlRow(await valueAccount(deps, this.host.principal(), accountId));
    this.host.send({ topic: 'spl', args }, true);
  }

  /** An account event: the order's new state (`sor`), and on a fill the execution (`str`) and P&L (`spl`). */
  async event(m: BusMessages['account.event']): Promise<void> {
    const principal = this.host.principal();
    if (m.orderId === null || !viewableAccountIds(principal).includes(m.accountId)) return;
    const fill = (m.type === 'filled' || m.type === 'partially_filled') && isFill(m.data) ? m.data : null;
    if (this.#orders === null && !(fill !== null && (this.#trades || this.#pnl))) return;
    const { deps } = this.host;
    let order: OrderView;
    try {
      order = await deps.trading.get(principal, m.accountId, m.orderId);
    } catch (error) {
      if (error instanceof GatehouseError) return;
      throw error;
    }
    if (this.#orders !== null) {
      const item = liveOrder(order, await deps.face.numbers.numberOf(order.id, m.accountId));
      if (this.#wantsOrder(item.status)) this.host.send({ topic: 'sor', args: [item] });
    }
    if (fill === null) return;
    if (this.#trades) this.host.send({ topic: 'str', args: [tradeOf(order, fill, m.seq, deps.clock.now())] });
    if (this.#pnl) await this.#sendPnl([m.accountId]);
  }
}

function normalStatus(status: string): string {
  return status.toLowerCase().replaceAll('_', '');
}

function isFill(data: unknown): data is FillData {
  const d = data as Partial<FillData> | null;
  return (
    typeof d === 'object' &&
    d !== null &&
    typeof d.quantity === 'number' &&
    typeof d.price === 'number' &&
    typeof d.commission === 'number'
  );
}
