/**
 * @module trading/working
 * What an account's working orders already claim, so that the pre-trade gate judges a new or changed order against
 * what is left rather than against cash and positions alone. Without it, orders that each fit would together spend
 * the buying power several times over, and two sells of a whole holding would open a short in a cash account.
 *
 * - Buying power: the opening part of each working order (what it would add to exposure if it filled) reserves
 *   what such an order needs (`orderRequirement`), at its limit price or the touch. On each instrument and side, the
 *   orders close the position first, in the order they were placed, and only what is beyond it opens.
 * - Position: an order is judged opening or closing (short sale, closing-only, options level, disclosures) against
 *   the position as the working orders on its side would leave it: a sell against the holding less the shares
 *   already offered, a buy against the short less the shares already bid for.
 */
import type { Side } from '@gatehouse/protocol';
import type { Instrument } from '../instruments/index.js';
import type { OrdersTable } from '../store/index.js';
import { orderRequirement } from './accounting.js';

export interface WorkingInput {
  /** The account's working orders (a changed order itself excluded), oldest first. */
  orders: readonly OrdersTable[];
  /** Filled position per instrument id. */
  position: (instrumentId: number) => number;
  instrument: (instrumentId: number) => Instrument | undefined;
  /** The price a working order would fill at, for what it needs: its limit, else the touch on its side. */
  price: (row: OrdersTable, instrument: Instrument) => number;
  underlyingMark: (instrument: Instrument) => number;
  accountType: 'cash' | 'margin' | 'portfolio_margin';
  toBase: (amount: number, currency: string) => number;
}

export interface WorkingExposure {
  /** Buying power the working orders' opening parts need, in the account's base currency. */
  reserved: number;
  /** The quantity still to fill of the working orders on one instrument and side. */
  pending: (instrumentId: number, side: Side) => number;
}

const key = (instrumentId: number, side: string) => `${instrumentId}:${side}`;

export function workingExposure(input: WorkingInput): WorkingExposure {
  const pending = new Map<string, number>();
  let reserved = 0;
  for (const row of [...input.orders].sort((a, b) => Number(a.created_at) - Number(b.created_at))) {
    const instrument = input.instrument(Number(row.instrument_id));
    if (instrument === undefined) continue;
    const side = row.side as Side;
    const remaining = Number(row.quantity) - Number(row.filled_quantity);
    if (!(remaining > 0)) continue;
    const k = key(instrument.id, side);
    const before = pending.get(k) ?? 0;
    pending.set(k, before + remaining);
    // What the position (less what earlier orders on this side already take) lets this order close.
    const position = input.position(instrument.id);
    const closable = Math.max(0, (side === 'SELL' ? position : -position) - before);
    const opening = remaining - Math.min(remaining, closable);
    if (opening <= 0) continue;
    reserved += orderRequirement(
      instrument,
      side,
      opening,
      input.price(row, instrument),
      input.accountType,
      input.underlyingMark(instrument),
      input.toBase,
    );
  }
  return { reserved, pending: (instrumentId, side) => pending.get(key(instrumentId, side)) ?? 0 };
}

/**
 * The position an order on `side` is judged against: the filled position as the working orders on that side would
 * leave it (a sell: less the quantity already offered; a buy: plus the quantity already bid for).
 */
export function positionAfterWorking(position: number, side: Side, pendingOnSide: number): number {
  return side === 'SELL' ? position - pendingOnSide : position + pendingOnSide;
}
