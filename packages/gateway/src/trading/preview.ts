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
import { applyFill, commission, type Ledger, valuate } from './accounting.js';
import type { Desk } from './desk.js';
import { evaluateGate, type GateResult, type OrderRequest } from './gate.js';
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
  /** The same figures once the whole order filled at `price` (`available` as buying power left). */
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
  const value = (l: Ledger) =>
    valuate(l, account.baseCurrency, type, desk.rates(), findInstrument, desk.mark);
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
  // The fill on a copy: `applyFill` replaces the entries it changes, so copying the maps leaves the desk's intact.
  const filled: Ledger = { cash: new Map(ledger.cash), positions: new Map(ledger.positions) };
  applyFill(filled, instrument, order.side, quantity, price, fee);
  const w = value(filled);
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
      price: p.price,
      commission: cents(p.commission),
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
