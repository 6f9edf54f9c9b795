/**
 * @module trading/router
 * Where accepted orders go once the gate has passed them and they are committed: the `OrderRouter`. A broker puts
 * its own engine behind this interface; the default is the paper engine below. The router reports what happens to
 * an order as events (fills with their commission, stop triggers, expiries, engine-side cancels); the order service
 * persists each one — with the position, cash and account event it implies — before the router goes on, so the
 * router never needs storage of its own.
 */
import { type Clock, type FaultProbe, noFaults } from '../core/index.js';
import { findInstrument, type Instrument } from '../instruments/index.js';
import type { MarketData } from '../marketdata/index.js';
import type { OrdersTable } from '../store/index.js';
import { commission } from './accounting.js';
import { EngineFaults } from './engine-faults.js';
import type { OrderType, Side, TimeInForce } from './gate.js';
import { matchOrder } from './matching.js';

export type RouterEvent =
  | {
      type: 'fill';
      orderId: string;
      quantity: number;
      price: number;
      commission: number;
      /** The order ends with this fill: completely filled, or the IOC remainder cancelled. */
      end: 'filled' | 'cancelled' | null;
      /** The stop price was reached on the quote that filled. */
      triggered: boolean;
    }
  | { type: 'triggered'; orderId: string }
  | { type: 'ended'; orderId: string; status: 'cancelled' | 'expired'; reason: string }
  /** The venue refused an order it had taken (after the gateway accepted it); the order ends. */
  | { type: 'rejected'; orderId: string; reason: string };

export type RouterListener = (event: RouterEvent) => Promise<void>;

export interface OrderRouter {
  /** Takes an order just committed as accepted; may report fills before it returns. */
  submit(order: OrdersTable): Promise<void>;
  /** Stops working an order (already recorded as cancelled). */
  cancel(orderId: string): Promise<void>;
  /** Picks up an order's new quantity or prices (already recorded). */
  modify(order: OrdersTable): Promise<void>;
  /**
   * Stops working an order here without ending it anywhere: its account moved to another node, which works it from
   * now on (`cluster/`). A router whose venue session is per node sends nothing.
   */
  release(orderId: string): void;
  /** Where the router reports what happens to orders; awaited before the router goes on. */
  events(listener: RouterListener): void;
  start(): void;
  stop(): Promise<void>;
}

/**
 * The paper engine: works orders against the simulated quotes, one matching pass per feed step, each order at most
 * once per step (so a quote's displayed size fills an order once). Passes run one at a time. The failure sandbox's
 * engine faults (a late fill, a partial fill, a venue's reject) act here (`trading/engine-faults`).
 */
export class PaperEngine implements OrderRouter {
  readonly #working = new Map<string, OrdersTable>();
  #listener: RouterListener = async () => {};
  #timer: NodeJS.Timeout | undefined;
  #lastStep = -1;
  #chain: Promise<void> = Promise.resolve();
  readonly #faults: EngineFaults;

  constructor(
    readonly marketData: MarketData,
    readonly clock: Clock,
    /** Matching interval in ms; null: only when `matchAll` is called (tests with a frozen clock). */
    readonly intervalMs: number | null,
    faults: FaultProbe = noFaults,
  ) {
    this.#faults = new EngineFaults(faults);
  }

  events(listener: RouterListener): void {
    this.#listener = listener;
  }

  start(): void {
    if (this.intervalMs === null || this.#timer !== undefined) return;
    this.#timer = setInterval(() => {
      this.matchAll().catch(() => {});
    }, this.intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#chain;
  }

  async submit(order: OrdersTable): Promise<void> {
    this.#working.set(order.id, { ...order });
    if (!this.#faults.submitted(order)) return;
    await this.#serial(() => this.#matchOne(order.id));
  }

  async cancel(orderId: string): Promise<void> {
    this.#working.delete(orderId);
    this.#faults.forget(orderId);
  }

  async modify(order: OrdersTable): Promise<void> {
    if (this.#working.has(order.id)) this.#working.set(order.id, { ...order });
  }

  release(orderId: string): void {
    this.#working.delete(orderId);
    this.#faults.forget(orderId);
  }

  /** One pass over every working order, at most once per feed step. */
  async matchAll(): Promise<void> {
    const step = this.marketData.feed.step(this.clock.now());
    if (step === this.#lastStep) return;
    this.#lastStep = step;
    await this.#serial(async () => {
      for (const id of [...this.#working.keys()]) await this.#matchOne(id);
    });
  }

  #serial(fn: () => Promise<void>): Promise<void> {
    const next = this.#chain.then(fn, fn);
    this.#chain = next.catch(() => {});
    return next;
  }

  async #matchOne(orderId: string): Promise<void> {
    const row = this.#working.get(orderId);
    if (row === undefined) return;
    const instrument = findInstrument(Number(row.instrument_id)) as Instrument;
    const now = this.clock.now();
    const verdict = this.#faults.verdict(row, instrument, now);
    if (verdict.action === 'hold') return;
    if (verdict.action === 'reject') {
      this.#working.delete(orderId);
      await this.#listener({ type: 'rejected', orderId, reason: verdict.reason });
      return;
    }
    const result = matchOrder(
      {
        side: row.side as Side,
        type: row.type as OrderType,
        quantity: Number(row.quantity),
        filledQuantity: Number(row.filled_quantity),
        limitPrice: row.limit_price,
        stopPrice: row.stop_price,
        tif: row.tif as TimeInForce,
        triggered: row.triggered === 1,
        expiresAt: row.expires_at === null ? null : Number(row.expires_at),
        ...(verdict.fillLimit === undefined ? {} : { fillLimit: verdict.fillLimit }),
      },
      instrument,
      this.marketData.live(instrument),
      now,
    );
    if (result.fill !== null) {
      const { quantity, price } = result.fill;
      await this.#listener({
        type: 'fill',
        orderId,
        quantity,
        price,
        commission: commission(instrument, quantity, price),
        end: result.end === 'expired' ? null : result.end,
        triggered: result.triggered,
      });
      row.filled_quantity = Number(row.filled_quantity) + quantity;
      if (result.triggered) row.triggered = 1;
      if (result.end !== null) this.#end(orderId);
      return;
    }
    if (result.triggered) {
      await this.#listener({ type: 'triggered', orderId });
      row.triggered = 1;
    }
    if (result.end === 'expired' || result.end === 'cancelled') {
      await this.#listener({
        type: 'ended',
        orderId,
        status: result.end,
        reason: result.end === 'expired' ? 'day_order_close' : 'ioc',
      });
      this.#end(orderId);
    }
  }

  #end(orderId: string): void {
    this.#working.delete(orderId);
    this.#faults.forget(orderId);
  }
}
