/**
 * @module trading/snapshot
 * The pre-trade gate's snapshot of one order, built without I/O from what was read before: the account's
 * entitlements and the session's trading state, the account's ledger and its working orders, and the market at this
 * instant. Synchronous, so that the verdict and the reservation that follows it cannot interleave with another
 * order's.
 */
import { type AccountEntitlements, PRODUCT_RULES } from '../entitlements/index.js';
import type { UserAccount } from '../identity/index.js';
import { findInstrument, type Instrument } from '../instruments/index.js';
import { entitlementFor, type Quote } from '../marketdata/index.js';
import type { ChannelPolicies, Principal, TradingState } from '../sessions/index.js';
import type { OrdersTable } from '../store/index.js';
import { convert, type Ledger, orderRequirement, type UsdRates, valuate } from './accounting.js';
import type { GateSnapshot, OrderRequest } from './gate.js';
import { positionAfterWorking, workingExposure } from './working.js';

/** What the gate needs that takes I/O, read before the gate's synchronous step. */
export interface GateInputs {
  /** The account's entitlements, with its type as it is now (an operator may have changed it since sign-in). */
  entitlements: AccountEntitlements;
  /** The session's trading state, read authoritatively. */
  state: TradingState;
}

/** Everything a snapshot is built from. */
export interface SnapshotInput {
  principal: Principal;
  account: UserAccount;
  inputs: GateInputs;
  /** The account's cash and positions as this node holds them now. */
  ledger: Ledger;
  /** The account's working and reserved orders, an order being changed excluded. */
  working: readonly OrdersTable[];
  instrument: Instrument;
  order: OrderRequest;
  acknowledged: readonly string[];
  /** The market at this instant: the time (ms), the USD rates, and the true quote of any instrument. */
  market: { now: number; rates: UsdRates; quote: (instrument: Instrument) => Quote };
  policies: ChannelPolicies;
  priceBand: GateSnapshot['priceBand'];
}

/**
 * Buying power left in the account's base currency: a cash account's cash, a margin account's net liquidation less
 * its initial margin; never below zero.
 */
export function availableBuyingPower(
  type: UserAccount['type'],
  v: { netLiquidation: number; initialMargin: number; cash: number },
): number {
  return type === 'cash' ? Math.max(0, v.cash) : Math.max(0, v.netLiquidation - v.initialMargin);
}

/** The gate's snapshot of an order (see the module's header). */
export function gateSnapshot(input: SnapshotInput): GateSnapshot {
  const { principal, account, ledger, instrument, order } = input;
  const { entitlements, state } = input.inputs;
  const { rates, quote: live } = input.market;
  const { type } = entitlements.account;
  const mark = (i: Instrument) => {
    const q = live(i);
    return (q.bid + q.ask) / 2;
  };
  const quote = live(instrument);
  const underlying =
    instrument.option === undefined ? undefined : findInstrument(instrument.option.underlyingId);
  const price =
    order.limitPrice !== undefined && (order.type === 'LMT' || order.type === 'STP_LMT')
      ? order.limitPrice
      : order.side === 'BUY'
        ? quote.ask
        : quote.bid;
  const v = valuate(ledger, account.baseCurrency, type, rates, findInstrument, mark);
  const toBase = (amount: number, currency: string) => convert(amount, currency, account.baseCurrency, rates);
  const policy = input.policies[principal.session.channel as keyof ChannelPolicies];
  const held = (id: number) => ledger.positions.get(id)?.quantity ?? 0;
  const working = workingExposure({
    orders: input.working,
    position: held,
    instrument: findInstrument,
    price: (row, i) => {
      if (row.limit_price !== null) return Number(row.limit_price);
      const q = live(i);
      return row.side === 'BUY' ? q.ask : q.bid;
    },
    underlyingMark: (i) => {
      const u = i.option === undefined ? undefined : findInstrument(i.option.underlyingId);
      return u === undefined ? 0 : mark(u);
    },
    accountType: type,
    toBase,
  });
  return {
    now: input.market.now,
    session: { ...state, channel: principal.session.channel },
    allowedOrderTypes: policy?.orderTypes ?? [],
    entitlements,
    instrument,
    order,
    position: positionAfterWorking(
      held(instrument.id),
      order.side,
      working.pending(instrument.id, order.side),
    ),
    // Shares already offered for sale cannot cover a call.
    underlyingPosition:
      underlying === undefined ? 0 : held(underlying.id) - working.pending(underlying.id, 'SELL'),
    quote,
    marketData: entitlementFor(instrument, entitlements.subscriptions),
    buyingPower: {
      available: Math.max(0, availableBuyingPower(type, v) - working.reserved),
      required: orderRequirement(
        instrument,
        order.side,
        order.quantity,
        price,
        type,
        underlying === undefined ? 0 : mark(underlying),
        toBase,
      ),
      currency: account.baseCurrency,
    },
    netLiquidationUsd: convert(v.netLiquidation, account.baseCurrency, 'USD', rates),
    priceBand: input.priceBand,
    acknowledged: new Set(input.acknowledged),
    rules: PRODUCT_RULES,
  };
}
