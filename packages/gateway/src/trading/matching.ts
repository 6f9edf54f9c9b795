/**
 * @module trading/matching
 * How the paper engine fills a working order against one L1 quote, as a pure function: market orders fill at the
 * touch (the ask for a buy, the bid for a sell), limits when the touch crosses them, stops trigger when the market
 * reaches the stop price and then behave as market (STP) or limit (STP_LMT) orders. Each quote fills at most its
 * displayed size, so a large order fills in parts over several quotes; an IOC order's remainder is cancelled after
 * its first chance; a DAY order expires at its exchange's close.
 */

import type { Instrument } from '../instruments/index.js';
import type { Quote } from '../marketdata/index.js';
import { money } from './accounting.js';
import type { OrderType, Side, TimeInForce } from './gate.js';

export interface WorkingOrder {
  side: Side;
  type: OrderType;
  quantity: number;
  filledQuantity: number;
  limitPrice: number | null;
  stopPrice: number | null;
  tif: TimeInForce;
  triggered: boolean;
  expiresAt: number | null;
  /** The most of the quantity that may fill for now (the sandbox's `order.partial_fill`); the rest stays working. */
  fillLimit?: number;
}

export interface MatchResult {
  /** Quantity and price filled against this quote (none when quantity is 0). */
  fill: { quantity: number; price: number } | null;
  /** The stop price was reached on this quote. */
  triggered: boolean;
  /** The order ends here: fully filled, IOC remainder cancelled, or DAY order expired. */
  end: 'filled' | 'cancelled' | 'expired' | null;
}

/** Whole lots only: the largest multiple of the lot size not above `quantity`. */
function wholeLots(quantity: number, lot: number): number {
  return money(Math.floor(quantity / lot + 1e-9) * lot);
}

export function matchOrder(
  order: WorkingOrder,
  instrument: Instrument,
  quote: Quote,
  now: number,
): MatchResult {
  if (order.expiresAt !== null && now >= order.expiresAt && order.tif === 'DAY') {
    return { fill: null, triggered: false, end: 'expired' };
  }
  const buy = order.side === 'BUY';
  const touch = buy ? quote.ask : quote.bid;
  let triggered = order.triggered;
  if ((order.type === 'STP' || order.type === 'STP_LMT') && !triggered) {
    const stop = order.stopPrice ?? Number.NaN;
    triggered = buy ? quote.ask >= stop || quote.last >= stop : quote.bid <= stop || quote.last <= stop;
    if (!triggered) return { fill: null, triggered: false, end: order.tif === 'IOC' ? 'cancelled' : null };
  }
  const limited = order.type === 'LMT' || order.type === 'STP_LMT';
  const crosses =
    !limited ||
    (buy ? touch <= (order.limitPrice ?? 0) : touch >= (order.limitPrice ?? Number.POSITIVE_INFINITY));
  const remaining = money(order.quantity - order.filledQuantity);
  const fillable =
    order.fillLimit === undefined
      ? remaining
      : Math.max(
          0,
          money(
            Math.min(order.quantity, wholeLots(order.fillLimit, instrument.lotSize)) - order.filledQuantity,
          ),
        );
  const available = wholeLots(buy ? quote.askSize : quote.bidSize, instrument.lotSize);
  const quantity = crosses ? Math.min(fillable, available) : 0;
  const fill = quantity > 0 ? { quantity, price: touch } : null;
  const left = money(remaining - quantity);
  const end = left <= 0 ? 'filled' : order.tif === 'IOC' ? 'cancelled' : null;
  return { fill, triggered: triggered !== order.triggered, end };
}
