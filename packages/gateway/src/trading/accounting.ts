/**
 * @module trading/accounting
 * The paper account's arithmetic, as pure functions over a ledger (cash per currency, positions with average
 * cost): applying a fill, the commission schedule, FX conversion at the simulated rates, net liquidation, and
 * buying power — cash for cash accounts, Reg T initial margin (50 %) for margin accounts, 15 % for portfolio
 * margin (research/broker-sessions.md §4.2), futures initial margin, option premium paid in full.
 */

import type { Instrument } from '../instruments/index.js';
import type { Side } from './gate.js';

export interface Position {
  quantity: number;
  avgCost: number;
}

export interface Ledger {
  cash: Map<string, number>;
  positions: Map<number, Position>;
}

export const emptyLedger = (): Ledger => ({ cash: new Map(), positions: new Map() });

/** Amounts are kept to 1e-8 so that repeated arithmetic does not accumulate noise. */
export const money = (n: number) => Math.round(n * 1e8) / 1e8;

/** Units of `currency` per 1 USD, from the simulated FX quotes (mid). */
export type UsdRates = ReadonlyMap<string, number>;

export function convert(amount: number, from: string, to: string, rates: UsdRates): number {
  if (from === to) return amount;
  const fromPerUsd = from === 'USD' ? 1 : rates.get(from);
  const toPerUsd = to === 'USD' ? 1 : rates.get(to);
  if (fromPerUsd === undefined || toPerUsd === undefined) throw new Error(`no FX rate for ${from}/${to}`);
  return (amount / fromPerUsd) * toPerUsd;
}

/**
 * The commission schedule (a simple fixed schedule in the instrument's currency): shares and ETFs USD 0.005 a
 * share, minimum 1, at most 1 % of the trade; options 0.65 a contract, minimum 1; futures 0.85 a contract; FX 0.2
 * basis points of the notional, minimum 2; crypto 0.18 %, minimum 1.75; bonds 0.02 % of face, minimum 5.
 */
export function commission(instrument: Instrument, quantity: number, price: number): number {
  const notional = quantity * price * instrument.multiplier;
  switch (instrument.assetClass) {
    case 'STK':
    case 'ETF':
      return money(Math.min(Math.max(1, 0.005 * quantity), Math.max(0.01 * notional, 0.01)));
    case 'OPT':
      return money(Math.max(1, 0.65 * quantity));
    case 'FUT':
      return money(0.85 * quantity);
    case 'FX':
      return money(Math.max(2, 0.00002 * quantity * price));
    case 'CRYPTO':
      return money(Math.max(1.75, 0.0018 * notional));
    case 'BOND':
      return money(Math.max(5, 0.0002 * notional));
  }
}

const add = (map: Map<string, number>, key: string, delta: number) => {
  map.set(key, money((map.get(key) ?? 0) + delta));
};

/**
 * Applies one fill to the ledger in place and returns the realized P&L (in the instrument's currency). Cash
 * products move the notional; futures move only realized P&L; an FX pair moves both currencies and keeps no
 * position. Commission is always paid in the instrument's currency.
 */
export function applyFill(
  ledger: Ledger,
  instrument: Instrument,
  side: Side,
  quantity: number,
  price: number,
  fee: number,
): number {
  const ccy = instrument.currency;
  const sign = side === 'BUY' ? 1 : -1;
  add(ledger.cash, ccy, -fee);
  if (instrument.fx !== undefined) {
    add(ledger.cash, instrument.fx.base, sign * quantity);
    add(ledger.cash, ccy, -sign * quantity * price);
    return 0;
  }
  const m = instrument.multiplier;
  const before = ledger.positions.get(instrument.id) ?? { quantity: 0, avgCost: 0 };
  const delta = sign * quantity;
  let realized = 0;
  let after: Position;
  if (before.quantity === 0 || Math.sign(before.quantity) === sign) {
    const total = before.quantity + delta;
    after = {
      quantity: money(total),
      avgCost: (Math.abs(before.quantity) * before.avgCost + quantity * price) / Math.abs(total),
    };
  } else {
    const closed = Math.min(quantity, Math.abs(before.quantity));
    realized = (price - before.avgCost) * closed * m * Math.sign(before.quantity);
    const remaining = money(before.quantity + delta);
    after =
      remaining === 0
        ? { quantity: 0, avgCost: 0 }
        : Math.sign(remaining) === Math.sign(before.quantity)
          ? { quantity: remaining, avgCost: before.avgCost }
          : { quantity: remaining, avgCost: price };
  }
  if (instrument.assetClass === 'FUT') add(ledger.cash, ccy, realized);
  else add(ledger.cash, ccy, -delta * price * m);
  if (after.quantity === 0) ledger.positions.delete(instrument.id);
  else ledger.positions.set(instrument.id, after);
  return money(realized);
}

export interface Valuation {
  /** Net liquidation value in the base currency. */
  netLiquidation: number;
  /** Initial margin the positions need, in the base currency. */
  initialMargin: number;
  /** Cash across currencies, in the base currency. */
  cash: number;
}

export type MarkOf = (instrument: Instrument) => number;

/** Stock margin rate by account type: cash accounts pay in full, Reg T 50 %, portfolio margin 15 %. */
export function stockMarginRate(accountType: 'cash' | 'margin' | 'portfolio_margin'): number {
  return accountType === 'cash' ? 1 : accountType === 'margin' ? 0.5 : 0.15;
}

/** Initial margin of holding `quantity` (signed) of an instrument at `mark`, in its own currency. */
export function positionMargin(
  instrument: Instrument,
  quantity: number,
  mark: number,
  accountType: 'cash' | 'margin' | 'portfolio_margin',
  underlyingMark: number,
): number {
  const value = Math.abs(quantity) * mark * instrument.multiplier;
  switch (instrument.assetClass) {
    case 'FUT':
      return value * (instrument.future?.initialMarginRate ?? 0.1);
    case 'OPT':
      // Long premium is paid in full (no margin on it); a short option holds 20 % of the underlying plus premium.
      return quantity >= 0 ? 0 : value + 0.2 * Math.abs(quantity) * instrument.multiplier * underlyingMark;
    case 'FX':
      return 0;
    default:
      return quantity >= 0 && accountType === 'cash'
        ? 0
        : value * stockMarginRate(accountType === 'cash' ? 'margin' : accountType);
  }
}

export function valuate(
  ledger: Ledger,
  base: string,
  accountType: 'cash' | 'margin' | 'portfolio_margin',
  rates: UsdRates,
  instruments: (id: number) => Instrument | undefined,
  markOf: MarkOf,
): Valuation {
  let cash = 0;
  for (const [ccy, amount] of ledger.cash) cash += convert(amount, ccy, base, rates);
  let netLiquidation = cash;
  let initialMargin = 0;
  for (const [id, p] of ledger.positions) {
    const instrument = instruments(id);
    if (instrument === undefined) continue;
    const mark = markOf(instrument);
    const inBase = (n: number) => convert(n, instrument.currency, base, rates);
    netLiquidation += inBase(
      instrument.assetClass === 'FUT'
        ? (mark - p.avgCost) * p.quantity * instrument.multiplier
        : p.quantity * mark * instrument.multiplier,
    );
    const underlying =
      instrument.option === undefined ? undefined : instruments(instrument.option.underlyingId);
    initialMargin += inBase(
      positionMargin(
        instrument,
        p.quantity,
        mark,
        accountType,
        underlying === undefined ? 0 : markOf(underlying),
      ),
    );
  }
  return { netLiquidation: money(netLiquidation), initialMargin: money(initialMargin), cash: money(cash) };
}

/**
 * What an order needs of buying power, in the base currency: for a cash account the full cost (a cash-secured put
 * the strike), for margin accounts the order's initial margin; commission included.
 */
export function orderRequirement(
  instrument: Instrument,
  side: Side,
  quantity: number,
  price: number,
  accountType: 'cash' | 'margin' | 'portfolio_margin',
  underlyingMark: number,
  toBase: (amount: number, currency: string) => number,
): number {
  const fee = commission(instrument, quantity, price);
  if (instrument.fx !== undefined) {
    // Buying the base currency pays the quote currency; selling it pays the base currency.
    return side === 'BUY'
      ? toBase(quantity * price + fee, instrument.currency)
      : toBase(quantity, instrument.fx.base) + toBase(fee, instrument.currency);
  }
  const notional = quantity * price * instrument.multiplier;
  let need: number;
  if (instrument.option !== undefined && side === 'SELL') {
    need =
      accountType === 'cash'
        ? quantity * instrument.option.strike * instrument.multiplier // cash-secured put
        : positionMargin(instrument, -quantity, price, accountType, underlyingMark);
  } else if (side === 'BUY' && accountType === 'cash') {
    need =
      instrument.assetClass === 'FUT' ? notional * (instrument.future?.initialMarginRate ?? 0.1) : notional;
  } else {
    need = positionMargin(
      instrument,
      side === 'BUY' ? quantity : -quantity,
      price,
      accountType,
      underlyingMark,
    );
    if (instrument.assetClass === 'OPT' && side === 'BUY') need = notional;
  }
  return toBase(need + fee, instrument.currency);
}
