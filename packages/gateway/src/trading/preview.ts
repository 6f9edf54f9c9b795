/**
 * @module trading/preview
 * What an order would do, without placing it (the CPAPI face's what-if): the gate's verdict against this node's
 * view of the account now — the same snapshot and rules as order entry, nothing reserved, nothing written — and the
 * figures behind it: the buying power it needs and what is available, the account's net liquidation and initial
 * margin before, its position in the instrument, the price it was valued at.
 */
import { accountAccess } from '../access/index.js';
import { GatehouseError } from '../core/index.js';
import { findInstrument } from '../instruments/index.js';
import type { Principal } from '../sessions/index.js';
import { commission, valuate } from './accounting.js';
import type { Desk } from './desk.js';
import { evaluateGate, type GateResult, type OrderRequest } from './gate.js';
import { validateOrder } from './order-shape.js';
import { deskSnapshot, gateInputs } from './place.js';

export interface OrderPreview {
  verdict: GateResult;
  /** The account's base currency: every figure below but `price` and `commission` is in it. */
  baseCurrency: string;
  /** The instrument's currency (`price`, `commission`). */
  currency: string;
  /** The price the order is valued at: its limit or stop price, else the market's. */
  price: number;
  commission: number;
  required: number;
  available: number;
  netLiquidation: number;
  initialMargin: number;
  /** The account's position in the instrument now (negative: short). */
  position: number;
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
  const v = valuate(ledger, account.baseCurrency, type, desk.rates(), findInstrument, desk.mark);
  const price = order.limitPrice ?? order.stopPrice ?? snapshot.quote.last ?? 0;
  return {
    verdict,
    baseCurrency: account.baseCurrency,
    currency: instrument.currency,
    price,
    commission: commission(instrument, Math.abs(order.quantity), price),
    required: snapshot.buyingPower.required,
    available: snapshot.buyingPower.available,
    netLiquidation: v.netLiquidation,
    initialMargin: v.initialMargin,
    position: ledger.positions.get(instrument.id)?.quantity ?? 0,
  };
}
