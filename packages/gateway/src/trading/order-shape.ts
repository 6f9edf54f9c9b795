/**
 * @module trading/order-shape
 * An order's numbers against its instrument, exactly: a quantity is a whole number of lots, a price a whole number
 * of ticks, both within the instrument's bounds. Compared on decimals, not on binary floating point: a number is
 * taken as the shortest decimal that reads back as it (what a client's JSON said), scaled to an integer, so
 * `1.0000005` is not one lot and `1e-300` is not a multiple of a cent, however small the difference.
 *
 * The bounds are sanity limits on the numbers themselves (an order beyond them is malformed); how far a price may
 * be through the market is the pre-trade gate's price band, and what the account can afford its buying power.
 */
import { GatehouseError } from '../core/index.js';
import { type AssetClass, findInstrument, type Instrument } from '../instruments/index.js';
import type { OrderRequest } from './gate.js';

/** `value` as an exact decimal: `units / 10^scale`, from its shortest round-trip representation. */
export function decimalOf(value: number): { units: bigint; scale: number } {
  if (!Number.isFinite(value)) throw new RangeError(`not a finite number: ${value}`);
  const [mantissa = '', exponentText] = String(value).toLowerCase().split('e');
  const exponent = exponentText === undefined ? 0 : Number(exponentText);
  const [whole = '', fraction = ''] = mantissa.split('.');
  const units = BigInt(`${whole}${fraction}`);
  const scale = fraction.length - exponent;
  return scale >= 0 ? { units, scale } : { units: units * 10n ** BigInt(-scale), scale: 0 };
}

/** Whether `value` is exactly a whole multiple of `step` (`step` > 0). */
export function isMultipleOf(value: number, step: number): boolean {
  const v = decimalOf(value);
  const s = decimalOf(step);
  const scale = Math.max(v.scale, s.scale);
  const a = v.units * 10n ** BigInt(scale - v.scale);
  const b = s.units * 10n ** BigInt(scale - s.scale);
  return b !== 0n && a % b === 0n;
}

/** The largest order quantity per asset class (shares, contracts, units of the base currency or coin). */
const MAX_QUANTITY: Readonly<Record<AssetClass, number>> = {
  STK: 10_000_000,
  ETF: 10_000_000,
  OPT: 100_000,
  FUT: 100_000,
  FX: 1_000_000_000,
  CRYPTO: 100_000,
  BOND: 10_000_000,
};

/** A price more than this many times the instrument's reference price is malformed. */
const MAX_PRICE_FACTOR = 100;

/**
 * The bounds of an order's numbers for an instrument: at most `maxQuantity`, prices at most `maxPrice` (a hundred
 * times its reference price: its catalogue price, or for an option its underlying's, which a call cannot exceed and
 * a put's strike bounds too).
 */
export function orderBounds(instrument: Instrument): { maxQuantity: number; maxPrice: number } {
  const underlying =
    instrument.option === undefined ? undefined : findInstrument(instrument.option.underlyingId);
  const reference = Math.max(
    instrument.basePrice,
    underlying?.basePrice ?? 0,
    instrument.option?.strike ?? 0,
    instrument.tickSize,
  );
  return { maxQuantity: MAX_QUANTITY[instrument.assetClass], maxPrice: reference * MAX_PRICE_FACTOR };
}

/** Checks an order's shape against its instrument: lots, ticks, bounds, the prices its type needs. */
export function validateOrder(order: OrderRequest, instrument: Instrument): void {
  const { maxQuantity, maxPrice } = orderBounds(instrument);
  if (
    !(order.quantity > 0) ||
    order.quantity > maxQuantity ||
    !isMultipleOf(order.quantity, instrument.lotSize)
  )
    throw new GatehouseError('QUANTITY_INVALID', undefined, { lotSize: instrument.lotSize, maxQuantity });
  const needsLimit = order.type === 'LMT' || order.type === 'STP_LMT';
  const needsStop = order.type === 'STP' || order.type === 'STP_LMT';
  if (needsLimit && !(typeof order.limitPrice === 'number' && order.limitPrice > 0))
    throw new GatehouseError('LIMIT_PRICE_REQUIRED');
  if (needsStop && !(typeof order.stopPrice === 'number' && order.stopPrice > 0))
    throw new GatehouseError('STOP_PRICE_REQUIRED');
  for (const [field, price] of [
    ['limitPrice', needsLimit ? order.limitPrice : undefined],
    ['stopPrice', needsStop ? order.stopPrice : undefined],
  ] as const) {
    if (price === undefined) continue;
    if (!isMultipleOf(price, instrument.tickSize))
      throw new GatehouseError('PRICE_OFF_TICK', undefined, { field, tickSize: instrument.tickSize });
    if (price > maxPrice) throw new GatehouseError('PRICE_INVALID', undefined, { field, maxPrice });
  }
}
