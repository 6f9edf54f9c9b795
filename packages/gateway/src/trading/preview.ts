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
import { gateInputs } from './place.js';
import { gateSnapshot } from './snapshot.js';

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
  const { clock, marketData, policies, options } = desk.deps;
  const ledger = desk.ledgers.get(account.id);
  if (ledger === undefined) throw new GatehouseError('ACCOUNT_NOT_FOUND');
  const snapshot = gateSnapshot({
    principal,
    account,
    inputs,
    ledger,
    working: desk.workingOrders(account.id),
    instrument,
    order,
    acknowledged: [],
    market: { now: clock.now(), rates: desk.rates(), quote: (i) => marketData.live(i) },
    policies,
    priceBand: options.priceBand,
  });
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
