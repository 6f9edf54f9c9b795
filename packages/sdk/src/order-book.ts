/**
 * @module order-book
 * What a supervisor knows of its accounts' orders: the last event seen per account (what a reconnect resumes after),
 * each order's status from its events, the `clientOrderId`s it sent itself (recorded before the request leaves, so
 * an order still in flight is never taken for someone else's), the cancels it asked for, and the orphans already
 * reported (each once).
 */
import type { EventType, OrderView } from '@gatehouse/protocol';
import type { KnownOrder } from './supervisor-types.js';

/** One account event as the supervisor applies it. */
export interface AppliedEvent {
  accountId: string;
  eventSeq: number;
  type: EventType;
  orderId: string | null;
  data: Record<string, unknown>;
}

const FINAL: readonly string[] = ['filled', 'cancelled', 'expired', 'rejected'];

export class OrderBook {
  /** The last event sequence seen per account. */
  readonly lastSeq = new Map<string, number>();
  /** Orders as their events describe them. */
  readonly orders = new Map<string, KnownOrder>();
  readonly #sent = new Set<string>();
  readonly #cancelsAsked = new Set<string>();
  readonly #reported = new Set<string>();

  constructor(readonly isOwnOrder: (order: OrderView) => boolean = () => false) {}

  /** Applies an event once, in sequence: false for an older or repeated one (dropped). */
  apply(e: AppliedEvent): boolean {
    if (e.eventSeq <= (this.lastSeq.get(e.accountId) ?? 0)) return false;
    this.lastSeq.set(e.accountId, e.eventSeq);
    if (e.orderId !== null) {
      const known = this.orders.get(e.orderId);
      const status = e.type === 'accepted' ? 'working' : FINAL.includes(e.type) ? e.type : known?.status;
      this.orders.set(e.orderId, {
        id: e.orderId,
        accountId: e.accountId,
        clientOrderId: (e.data.clientOrderId as string | undefined) ?? known?.clientOrderId ?? null,
        status: status ?? 'working',
      });
    }
    return true;
  }

  /** Records a `clientOrderId` this supervisor is about to send. */
  sending(clientOrderId: string): void {
    this.#sent.add(clientOrderId);
  }

  /** Whether this supervisor sent it (in flight or answered). */
  sent(clientOrderId: string): boolean {
    return this.#sent.has(clientOrderId);
  }

  cancelAsked(orderId: string): void {
    this.#cancelsAsked.add(orderId);
  }

  /** A working order seen on the server: `missedCancel`, `orphanedOrder` (first time only), or nothing. */
  classify(order: OrderView): 'missedCancel' | 'orphanedOrder' | null {
    if (this.#cancelsAsked.has(order.id)) return 'missedCancel';
    if (this.sent(order.clientOrderId) || this.#reported.has(order.id) || this.isOwnOrder(order)) return null;
    this.#reported.add(order.id);
    return 'orphanedOrder';
  }

  /** The position to resume after, per account. */
  cursor(): Record<string, number> {
    return Object.fromEntries(this.lastSeq);
  }
}
