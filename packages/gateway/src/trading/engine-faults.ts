/**
 * @module trading/engine-faults
 * The failure sandbox's faults in the paper engine, where a venue's would strike: a fill that comes late
 * (`order.fill_delayed`: nothing fills until `delayMs` after acceptance), a fill that stops part-way
 * (`order.partial_fill`: only `fraction` of the quantity fills, the rest stays working; research/ibkr-cpapi.md §6,
 * `sizeAndFills:"100/622"`), and a venue's reject of an order already accepted (`order.rejected`; TWS error 201,
 * research/broker-sessions.md §1.2), which reaches the account as a `rejected` event on the next matching pass.
 *
 * Each order meets each fault once: the first time it would act on the order, the probe counts a hit and draws the
 * fault's schedule, and the answer holds for that order. A delay or a partial fill lasts while its fault holds (its
 * duration ends or it is cleared, and the order fills on the next pass); a reject, once drawn, is the venue's word.
 * The subject is the order's account, user, session and instrument (an order does not record its API client).
 */
import type { FaultKind, FaultProbe, FaultSubject } from '../core/index.js';
import { findInstrument, type Instrument } from '../instruments/index.js';
import type { OrdersTable } from '../store/index.js';

/** What the engine does with an order on this pass. */
export type EngineVerdict =
  | { action: 'match'; fillLimit?: number }
  | { action: 'hold' }
  | { action: 'reject'; reason: string };

const MATCH: EngineVerdict = { action: 'match' };

export class EngineFaults {
  /** Per order and kind, whether the fault acts on it (drawn once). */
  readonly #drawn = new Map<string, boolean>();
  /** Orders the venue rejected at submission, with the reason, until the next pass reports it. */
  readonly #rejected = new Map<string, string>();

  constructor(readonly faults: FaultProbe) {}

  /**
   * An order reaches the venue (its acceptance, or a restart handing it over again): false when the venue rejects
   * it, which the next pass reports (a venue's reject arrives after the acceptance).
   */
  submitted(row: OrdersTable): boolean {
    if (!this.faults.armed) return true;
    const instrument = findInstrument(Number(row.instrument_id));
    if (instrument === undefined) return true;
    const rejected = this.faults.take('order.rejected', subjectOf(row, instrument));
    if (rejected === undefined) return true;
    this.#rejected.set(row.id, String(rejected.params.reason));
    return false;
  }

  /** What to do with a working order on this pass. */
  verdict(row: OrdersTable, instrument: Instrument, now: number): EngineVerdict {
    if (this.#rejected.size === 0 && !this.faults.armed) return MATCH;
    const reason = this.#rejected.get(row.id);
    if (reason !== undefined) {
      this.forget(row.id);
      return { action: 'reject', reason };
    }
    if (!this.faults.armed) return MATCH;
    const subject = subjectOf(row, instrument);
    const delay = this.faults.holds('order.fill_delayed', subject);
    if (
      delay !== undefined &&
      now < Number(row.created_at) + Number(delay.params.delayMs) &&
      this.#acts(row.id, 'order.fill_delayed', subject)
    )
      return { action: 'hold' };
    const partial = this.faults.holds('order.partial_fill', subject);
    if (partial !== undefined && this.#acts(row.id, 'order.partial_fill', subject))
      return { action: 'match', fillLimit: Number(row.quantity) * Number(partial.params.fraction) };
    return MATCH;
  }

  /** The order left the engine (filled, cancelled, expired, rejected). */
  forget(orderId: string): void {
    if (this.#drawn.size === 0 && this.#rejected.size === 0) return;
    this.#rejected.delete(orderId);
    this.#drawn.delete(`${orderId}|order.fill_delayed`);
    this.#drawn.delete(`${orderId}|order.partial_fill`);
  }

  #acts(orderId: string, kind: FaultKind, subject: FaultSubject): boolean {
    const key = `${orderId}|${kind}`;
    let acts = this.#drawn.get(key);
    if (acts === undefined) {
      acts = this.faults.take(kind, subject) !== undefined;
      this.#drawn.set(key, acts);
    }
    return acts;
  }
}

function subjectOf(row: OrdersTable, instrument: Instrument): FaultSubject {
  return {
    accountId: row.account_id,
    userId: row.user_id,
    sessionId: row.session_id,
    instrument: instrument.symbol,
  };
}
