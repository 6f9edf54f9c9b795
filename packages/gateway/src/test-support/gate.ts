/**
 * A gate snapshot that passes every check — a brokerage session buying 10 AAPL at 100 with live data and ample
 * buying power on a US margin account — for tests and the gate benchmark to vary one thing at a time.
 */
import { type AccountEntitlements, PRODUCT_RULES } from '../entitlements/index.js';
import { INSTRUMENTS, type Instrument } from '../instruments/index.js';
import { entitlementFor } from '../marketdata/index.js';
import type { GateSnapshot } from '../trading/gate.js';

export const GATE_TEST_NOW = Date.UTC(2026, 5, 15, 15, 0);
const AAPL = INSTRUMENTS.find((i) => i.symbol === 'AAPL') as Instrument;

export function testEntitlements(
  change: Partial<AccountEntitlements['account']> = {},
  extra: Partial<AccountEntitlements> = {},
) {
  const value: AccountEntitlements = {
    account: {
      id: 'U1000001',
      title: 'test',
      paper: false,
      type: 'margin',
      baseCurrency: 'USD',
      clientCategory: 'retail',
      frozen: false,
      closingOnly: false,
      entityCode: 'IBLLC',
      optionsLevel: 2,
      ...change,
    },
    permissions: new Set([
      'STK:US',
      'ETF:US',
      'OPT:US',
      'FUT:US',
      'FX:GLOBAL',
      'CRYPTO:US',
      'ETF:EU',
      'ETF:UK',
    ]),
    disclosures: new Set(['options_risk', 'futures_risk', 'crypto_risk']),
    subscriptions: new Map([
      ['US_EQUITY', { professional: false }],
      ['US_OPTIONS', { professional: false }],
      ['CME', { professional: false }],
      ['EU_EQUITY', { professional: false }],
      ['UK_EQUITY', { professional: false }],
    ]),
    ...extra,
  };
  return value;
}

/** A snapshot that passes every check: a brokerage session buying 10 AAPL with live data and ample buying power. */
export function passingSnapshot(overrides: Partial<GateSnapshot> = {}): GateSnapshot {
  const instrument = overrides.instrument ?? AAPL;
  const ent = overrides.entitlements ?? testEntitlements();
  return {
    now: GATE_TEST_NOW,
    session: {
      tier: 'brokerage',
      competing: false,
      reset: false,
      stepUpRequired: false,
      aal: 2,
      aalForTrading: 2,
      deviceKeyRequired: false,
      channel: 'web',
    },
    allowedOrderTypes: ['MKT', 'LMT', 'STP', 'STP_LMT'],
    entitlements: ent,
    instrument,
    order: {
      clientOrderId: 'c1',
      instrumentId: instrument.id,
      side: 'BUY',
      type: 'LMT',
      quantity: 10,
      limitPrice: 100,
      tif: 'DAY',
    },
    position: 0,
    underlyingPosition: 0,
    quote: {
      instrumentId: instrument.id,
      bid: 99.99,
      ask: 100,
      last: 100,
      bidSize: 100,
      askSize: 100,
      at: GATE_TEST_NOW,
    },
    marketData: entitlementFor(instrument, ent.subscriptions),
    buyingPower: { available: 100_000, required: 1_000, currency: 'USD' },
    netLiquidationUsd: 200_000,
    priceBand: { confirm: 0.05, reject: 0.2 },
    acknowledged: new Set(),
    rules: PRODUCT_RULES,
    ...overrides,
  };
}
