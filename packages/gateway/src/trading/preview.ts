/**
 * @module trading/preview
 * What an order would do, without placing it (`POST …/orders/what-if`, the CPAPI face's what-if): the gate's
 * verdict against this node's view of the account now — the same snapshot and rules as order entry, nothing
 * reserved, nothing written, no sandbox fault counted as hit — and the figures behind it: the buying power it needs
 * and what is available, the account's net liquidation and initial margin, its position in the instrument, the price
 * it was valued at; each now and as the account would be once the whole order filled at that price (the fill
 * applied to a copy of the ledger, valued as the portfolio is).
 */
import type { WhatIf } from '@gatehouse/protocol';
import { accountAccess } from '../access/index.js';
import { GatehouseError, toEnvelope } from '../core/index.js';
import { findInstrument } from '../instruments/index.js';
import type { Principal } from '../sessions/index.js';
import { applyFill, commission, type Ledger, type MarkOf, valuate } from './accounting.js';
import type { Desk } from './desk.js';
import { evaluateGate, type GateResult, type OrderRequest } from './gate.js';
import { matchOrder } from './matching.js';
import { validateOrder } from './order-shape.js';
import { deskSnapshot, gateInputs, refusal } from './place.js';
import { availableBuyingPower } from './snapshot.js';

export interface OrderPreview {
  verdict: GateResult;
  /** The account's base currency: every figure below but `price` and `commission` is in it. */
  baseCurrency: string;
  /** The instrument's currency (`price`, `commission`). */
  currency: string;
  /** The price the gate values the order at (its limit, else the touch: the ask to buy, the bid to sell). */
  price: number;
  commission: number;
  required: number;
  available: number;
  netLiquidation: number;
  initialMargin: number;
  /** The account's position in the instrument now (negative: short). */
  position: number;
  /**
   * Where the whole order would fill: `now` when the current quote fills it (as the paper engine does, at the touch),
   * else — a limit the market has not reached, a stop not triggered — at its own limit or stop price once the
   * market gets there (an IOC order the quote does not fill is cancelled: nothing fills, the figures stay).
   */
  fill: { now: boolean; price: number; commission: number };
  /**
   * The same figures once the whole order filled there (`available` as buying power left); for an order that would
   * rest, the instrument is valued at that price too (the market is there when it fills): no paper gain or loss.
   */
  after: { available: number; netLiquidation: number; initialMargin: number; position: number };
}

export async function previewOrder(
  desk: Desk,
  principal: Principal,
  accountId: string,
  order: OrderRequest,
): Promise<OrderPreview> {
  desk.running();
  const account = accountAccess(principal, accountId, 'trade');
  const instrument = findInstrument(order.instrumentId);
  if (instrument === undefined) throw new GatehouseError('INSTRUMENT_NOT_FOUND');
  validateOrder(order, instrument);
  // A preview looks: a fault that holds shapes the verdict without counting as a hit.
  const inputs = await gateInputs(desk, principal, account, instrument, false);
  const snapshot = deskSnapshot(desk, principal, account, inputs, instrument, order);
  const { ledger } = snapshot;
  const verdict = evaluateGate(snapshot);
  const type = inputs.entitlements.account.type;
  const value = (l: Ledger, mark: MarkOf = desk.mark) =>
    valuate(l, account.baseCurrency, type, desk.rates(), findInstrument, mark);
  const v = value(ledger);
  // As the gate values it (`trading/snapshot`), and as the paper engine fills a marketable order: at the touch.
  const { quote } = snapshot;
  const limited = order.type === 'LMT' || order.type === 'STP_LMT';
  const price =
    limited && order.limitPrice !== undefined
      ? order.limitPrice
      : order.side === 'BUY'
        ? quote.ask
        : quote.bid;
  const quantity = Math.abs(order.quantity);
  const fee = commission(instrument, quantity, price);
  // Would the current quote fill it, as the paper engine matches (`trading/matching`)? The whole order, whatever the
  // quote's size: the figures are for the order filled.
  const match = matchOrder(
    {
      side: order.side,
      type: order.type,
      quantity,
      filledQuantity: 0,
      limitPrice: order.limitPrice ?? null,
      stopPrice: order.stopPrice ?? null,
      tif: order.tif,
      triggered: false,
      expiresAt: null,
    },
    instrument,
    { ...quote, askSize: Number.MAX_SAFE_INTEGER, bidSize: Number.MAX_SAFE_INTEGER },
    desk.deps.clock.now(),
  );
  const now = match.fill !== null;
  const fillPrice = match.fill?.price ?? order.limitPrice ?? order.stopPrice ?? price;
  const fillFee = commission(instrument, quantity, fillPrice);
  // The fill on a copy: `applyFill` replaces the entries it changes, so copying the maps leaves the desk's intact.
  const filled: Ledger = { cash: new Map(ledger.cash), positions: new Map(ledger.positions) };
  // An IOC order the quote does not fill is cancelled, not left to rest: nothing fills.
  const cancelled = !now && match.end === 'cancelled';
  if (!cancelled) applyFill(filled, instrument, order.side, quantity, fillPrice, fillFee);
  const w = value(filled, now ? desk.mark : (i) => (i.id === instrument.id ? fillPrice : desk.mark(i)));
  const available = snapshot.buyingPower.available;
  const position = (l: Ledger) => l.positions.get(instrument.id)?.quantity ?? 0;
  return {
    verdict,
    baseCurrency: account.baseCurrency,
    currency: instrument.currency,
    price,
    commission: fee,
    required: snapshot.buyingPower.required,
    available,
    netLiquidation: v.netLiquidation,
    initialMargin: v.initialMargin,
    position: position(ledger),
    fill: { now, price: fillPrice, commission: fillFee },
    after: {
      // What the working orders reserve stays reserved: only the fill's own change moves buying power.
      available: Math.max(0, available + availableBuyingPower(type, w) - availableBuyingPower(type, v)),
      netLiquidation: w.netLiquidation,
      initialMargin: w.initialMargin,
      position: position(filled),
    },
  };
}

const cents = (n: number) => Math.round(n * 100) / 100;

/** The answer of `POST …/orders/what-if`: the verdict in placing's own terms (its questions, its coded refusal). */
export function presentWhatIf(p: OrderPreview): WhatIf {
  const { verdict } = p;
  return {
    outcome:
      verdict.outcome === 'accept'
        ? 'accepted'
        : verdict.outcome === 'confirm'
          ? 'confirmation_required'
          : 'refused',
    ...(verdict.outcome === 'confirm' ? { questions: verdict.questions } : {}),
    ...(verdict.outcome === 'reject' ? { refusal: toEnvelope(refusal(verdict)).error } : {}),
    effect: {
      currency: p.currency,
      baseCurrency: p.baseCurrency,
      price: p.fill.price,
      fillsNow: p.fill.now,
      commission: cents(p.fill.commission),
      buyingPower: {
        before: cents(p.available),
        after: cents(p.after.available),
        required: cents(p.required),
      },
      initialMargin: { before: cents(p.initialMargin), after: cents(p.after.initialMargin) },
      netLiquidation: { before: cents(p.netLiquidation), after: cents(p.after.netLiquidation) },
      position: { before: p.position, after: p.after.position },
    },
  };
}
