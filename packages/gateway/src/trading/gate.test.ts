/**
 * The pre-trade gate, table-driven: one row per check and per entity rule (including a rule outside its effective
 * dates), each starting from a snapshot that passes and changing one thing. Property test: the gate never throws.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AccountEntitlements, PRODUCT_RULES, type ProductRule } from '../entitlements/index.js';
import { findInstrument, INSTRUMENTS, type Instrument } from '../instruments/index.js';
import { entitlementFor } from '../marketdata/index.js';
import {
  passingSnapshot as base,
  testEntitlements as entitlements,
  GATE_TEST_NOW as NOW,
} from '../test-support/gate.js';
import {
  evaluateGate,
  GATE_CHECKS,
  type GateResult,
  type GateSnapshot,
  requiredOptionsLevel,
} from './gate.js';

const byId = (id: number) => findInstrument(id) as Instrument;
const bySymbol = (symbol: string) => INSTRUMENTS.find((i) => i.symbol === symbol) as Instrument;
const AAPL = bySymbol('AAPL');
const AAPL_CALL = INSTRUMENTS.find(
  (i) => i.option?.underlyingId === AAPL.id && i.option.right === 'C',
) as Instrument;
const AAPL_PUT = INSTRUMENTS.find(
  (i) => i.option?.underlyingId === AAPL.id && i.option.right === 'P',
) as Instrument;

const code = (r: GateResult) => (r.outcome === 'reject' ? r.code : r.outcome);
const order = (change: Partial<GateSnapshot['order']>, instrument = AAPL) => ({
  ...base().order,
  instrumentId: instrument.id,
  ...change,
});

interface Row {
  name: string;
  snapshot: GateSnapshot;
  expect: string;
  ruleId?: string;
}

const VWCE = bySymbol('VWCE');
const SPY = bySymbol('SPY');
const MBT = bySymbol('MBTZ6');
const BTC = bySymbol('BTC.USD');
const eu = (extra: Partial<AccountEntitlements['account']> = {}) =>
  entitlements({ entityCode: 'IBIE', baseCurrency: 'EUR', type: 'cash', ...extra });

const rows: Row[] = [
  { name: 'a passing order is accepted', snapshot: base(), expect: 'accept' },
  // 1. session
  {
    name: 'competing session',
    snapshot: base({ session: { ...base().session, competing: true } }),
    expect: 'SESSION_COMPETING',
  },
  {
    name: 'pending step-up',
    snapshot: base({ session: { ...base().session, stepUpRequired: true } }),
    expect: 'STEP_UP_REQUIRED',
  },
  {
    name: 'read-only session',
    snapshot: base({ session: { ...base().session, tier: 'read_only' } }),
    expect: 'BROKERAGE_REQUIRED',
  },
  {
    name: 'after the daily reset',
    snapshot: base({ session: { ...base().session, tier: 'read_only', reset: true } }),
    expect: 'SESSION_RESET',
  },
  {
    name: 'desktop session without its device key',
    snapshot: base({ session: { ...base().session, channel: 'desktop', deviceKeyRequired: true } }),
    expect: 'DEVICE_KEY_REQUIRED',
  },
  {
    name: 'below the assurance the channel needs for trading',
    snapshot: base({ session: { ...base().session, aal: 1 } }),
    expect: 'STEP_UP_REQUIRED',
  },
  // 2. the token's scope and the user's role: the account-access policy, before the gate (access/policy.test.ts)
  // 3. order type
  {
    name: 'order type not on this channel',
    snapshot: base({ allowedOrderTypes: ['MKT', 'LMT'], order: order({ type: 'STP_LMT', stopPrice: 99 }) }),
    expect: 'ORDER_TYPE_NOT_ALLOWED',
  },
  // 4. account flags
  {
    name: 'frozen account',
    snapshot: base({ entitlements: entitlements({ frozen: true }) }),
    expect: 'ACCOUNT_FROZEN',
  },
  {
    name: 'closing-only, opening buy',
    snapshot: base({ entitlements: entitlements({ closingOnly: true }) }),
    expect: 'ACCOUNT_CLOSING_ONLY',
  },
  {
    name: 'closing-only, selling a long',
    snapshot: base({
      entitlements: entitlements({ closingOnly: true }),
      position: 50,
      order: order({ side: 'SELL', limitPrice: 99.99 }),
    }),
    expect: 'accept',
  },
  // 5. entity rules
  {
    name: 'PRIIPs: EU retail buying a US ETF without KID',
    snapshot: base({ instrument: SPY, entitlements: eu(), order: order({}, SPY) }),
    expect: 'PRODUCT_NOT_ELIGIBLE',
    ruleId: 'PRIIPS_KID',
  },
  {
    name: 'PRIIPs: EU retail may close it',
    snapshot: base({
      instrument: SPY,
      entitlements: eu(),
      position: 10,
      order: order({ side: 'SELL', limitPrice: 99.99 }, SPY),
    }),
    expect: 'accept',
  },
  {
    name: 'PRIIPs: EU retail buying a UCITS ETF with KID',
    snapshot: base({ instrument: VWCE, entitlements: eu(), order: order({}, VWCE) }),
    expect: 'accept',
  },
  {
    name: 'PRIIPs: EU professional may buy the US ETF',
    snapshot: base({
      instrument: SPY,
      entitlements: eu({ clientCategory: 'professional' }),
      order: order({}, SPY),
    }),
    expect: 'accept',
  },
  {
    name: 'PRIIPs: a US client is not concerned',
    snapshot: base({ instrument: SPY, order: order({}, SPY) }),
    expect: 'accept',
  },
  {
    name: 'UK retail crypto derivative',
    snapshot: base({
      instrument: MBT,
      entitlements: entitlements({ entityCode: 'IBUK' }),
      order: order({ limitPrice: 100 }, MBT),
    }),
    expect: 'PRODUCT_NOT_ELIGIBLE',
    ruleId: 'UK_CRYPTO_DERIV_RETAIL',
  },
  {
    name: 'US client may trade the crypto future',
    snapshot: base({ instrument: MBT, order: order({}, MBT) }),
    expect: 'accept',
  },
  {
    name: 'spot crypto at an entity that does not offer it',
    snapshot: base({ instrument: BTC, entitlements: eu({ type: 'margin' }), order: order({}, BTC) }),
    expect: 'PRODUCT_NOT_ELIGIBLE',
    ruleId: 'CRYPTO_SPOT_AVAIL',
  },
  {
    name: 'portfolio margin below USD 100k, margin-increasing',
    snapshot: base({
      entitlements: entitlements({ type: 'portfolio_margin' }),
      netLiquidationUsd: 90_000,
      order: order({ side: 'SELL', limitPrice: 99.99 }),
    }),
    expect: 'MARGIN_NOT_ALLOWED',
    ruleId: 'PORTFOLIO_MARGIN',
  },
  {
    name: 'Reg T: a margin short below USD 2,000 of equity',
    snapshot: base({
      netLiquidationUsd: 1_500,
      order: order({ side: 'SELL', limitPrice: 99.99 }),
    }),
    expect: 'MARGIN_NOT_ALLOWED',
    ruleId: 'REG_T',
  },
  {
    name: 'a rule outside its effective dates does not apply',
    snapshot: base({
      instrument: SPY,
      entitlements: eu(),
      order: order({}, SPY),
      rules: PRODUCT_RULES.map(
        (r): ProductRule => (r.id === 'PRIIPS_KID' ? { ...r, effectiveTo: '2026-01-31' } : r),
      ),
    }),
    expect: 'accept',
  },
  {
    name: 'a rule not yet in force does not apply',
    snapshot: base({
      instrument: SPY,
      entitlements: eu(),
      order: order({}, SPY),
      rules: PRODUCT_RULES.map(
        (r): ProductRule => (r.id === 'PRIIPS_KID' ? { ...r, effectiveFrom: '2027-01-01' } : r),
      ),
    }),
    expect: 'accept',
  },
  // 6. permissions
  {
    name: 'no permission for the region',
    snapshot: base({ entitlements: entitlements({}, { permissions: new Set(['STK:EU']) }) }),
    expect: 'PERMISSION_MISSING',
  },
  // 7. options level
  {
    name: 'long call needs level 2 (has 1)',
    snapshot: base({
      instrument: AAPL_CALL,
      entitlements: entitlements({ optionsLevel: 1 }),
      order: order({ limitPrice: 100 }, AAPL_CALL),
    }),
    expect: 'OPTIONS_LEVEL_INSUFFICIENT',
  },
  {
    name: 'covered call at level 1',
    snapshot: base({
      instrument: AAPL_CALL,
      entitlements: entitlements({ optionsLevel: 1 }),
      underlyingPosition: 100,
      order: order({ side: 'SELL', quantity: 1, limitPrice: 99.99 }, AAPL_CALL),
    }),
    expect: 'accept',
  },
  {
    name: 'naked call needs level 4',
    snapshot: base({
      instrument: AAPL_CALL,
      entitlements: entitlements({ optionsLevel: 3 }),
      order: order({ side: 'SELL', quantity: 1, limitPrice: 99.99 }, AAPL_CALL),
    }),
    expect: 'OPTIONS_LEVEL_INSUFFICIENT',
  },
  {
    name: 'short put needs level 3',
    snapshot: base({
      instrument: AAPL_PUT,
      order: order({ side: 'SELL', quantity: 1, limitPrice: 99.99 }, AAPL_PUT),
    }),
    expect: 'OPTIONS_LEVEL_INSUFFICIENT',
  },
  {
    name: 'closing a long option needs no level',
    snapshot: base({
      instrument: AAPL_CALL,
      entitlements: entitlements({ optionsLevel: 0 }),
      position: 2,
      order: order({ side: 'SELL', quantity: 2, limitPrice: 99.99 }, AAPL_CALL),
    }),
    expect: 'accept',
  },
  // 8. margin type
  {
    name: 'cash account selling short',
    snapshot: base({
      entitlements: entitlements({ type: 'cash' }),
      order: order({ side: 'SELL', limitPrice: 99.99 }),
    }),
    expect: 'MARGIN_NOT_ALLOWED',
  },
  {
    name: 'cash account buying a future',
    snapshot: base({ instrument: MBT, entitlements: entitlements({ type: 'cash' }), order: order({}, MBT) }),
    expect: 'MARGIN_NOT_ALLOWED',
  },
  {
    name: 'cash account: cash-secured put',
    snapshot: base({
      instrument: AAPL_PUT,
      entitlements: entitlements({ type: 'cash', optionsLevel: 3 }),
      order: order({ side: 'SELL', quantity: 1, limitPrice: 99.99 }, AAPL_PUT),
    }),
    expect: 'accept',
  },
  // 9. disclosures
  {
    name: 'options disclosure missing',
    snapshot: base({
      instrument: AAPL_CALL,
      entitlements: entitlements({}, { disclosures: new Set() }),
      order: order({}, AAPL_CALL),
    }),
    expect: 'DISCLOSURE_REQUIRED',
  },
  // 10. buying power
  {
    name: 'over buying power',
    snapshot: base({ buyingPower: { available: 500, required: 1_000, currency: 'USD' } }),
    expect: 'INSUFFICIENT_BUYING_POWER',
    ruleId: 'REG_T',
  },
  {
    name: 'closing needs no buying power',
    snapshot: base({
      position: 10,
      buyingPower: { available: 0, required: 1_000, currency: 'USD' },
      order: order({ side: 'SELL', limitPrice: 99.99 }),
    }),
    expect: 'accept',
  },
  // 11. market data
  {
    name: 'delayed data asks for confirmation',
    snapshot: base({
      marketData: { type: 'delayed', delayMs: 900_000, bundle: 'US_EQUITY', professional: false },
    }),
    expect: 'confirm',
  },
  {
    name: 'no data asks for confirmation',
    snapshot: base({ marketData: { type: 'none', delayMs: 0, bundle: 'BONDS', professional: false } }),
    expect: 'confirm',
  },
  {
    name: 'answered market-data question',
    snapshot: base({
      marketData: { type: 'none', delayMs: 0, bundle: 'BONDS', professional: false },
      acknowledged: new Set(['no_market_data']),
    }),
    expect: 'accept',
  },
  // 12. price band
  {
    name: 'limit 10% through the market asks',
    snapshot: base({ order: order({ limitPrice: 110 }) }),
    expect: 'confirm',
  },
  {
    name: 'limit 25% through the market is rejected',
    snapshot: base({ order: order({ limitPrice: 125 }) }),
    expect: 'PRICE_OUT_OF_BAND',
  },
  {
    name: 'sell limit far below the bid asks',
    snapshot: base({ position: 10, order: order({ side: 'SELL', limitPrice: 90 }) }),
    expect: 'confirm',
  },
  {
    name: 'a limit away from the market is fine',
    snapshot: base({ order: order({ limitPrice: 80 }) }),
    expect: 'accept',
  },
];

describe('the pre-trade gate', () => {
  it.each(rows)('$name → $expect', (row) => {
    const result = evaluateGate(row.snapshot);
    expect(code(result)).toBe(row.expect);
    if (row.ruleId !== undefined) expect(result).toMatchObject({ ruleId: row.ruleId });
  });

  it('has a row for every check, in the documented order', () => {
    expect(GATE_CHECKS.map((c) => c.name)).toEqual([
      'session',
      'order_type',
      'account_flags',
      'product_rules',
      'permission',
      'options_level',
      'margin_type',
      'disclosures',
      'buying_power',
      'market_data',
      'price_band',
    ]);
  });

  it('lets the first failing check decide, and collects every question', () => {
    const both = base({
      order: order({ limitPrice: 110 }),
      marketData: { type: 'delayed', delayMs: 900_000, bundle: 'US_EQUITY', professional: false },
    });
    const result = evaluateGate(both);
    expect(result.outcome === 'confirm' && result.questions.map((q) => q.id)).toEqual([
      'delayed_market_data',
      'price_far_through_market',
    ]);
    const frozenAndCompeting = base({
      session: { ...base().session, competing: true },
      entitlements: entitlements({ frozen: true }),
    });
    expect(code(evaluateGate(frozenAndCompeting))).toBe('SESSION_COMPETING');
  });

  it('computes the options level of each single-leg strategy', () => {
    const s = (side: 'BUY' | 'SELL', instrument: Instrument, position = 0, underlyingPosition = 0) =>
      requiredOptionsLevel({
        instrument,
        order: order({ side, quantity: 1 }, instrument),
        position,
        underlyingPosition,
      });
    expect([
      s('BUY', AAPL_CALL),
      s('SELL', AAPL_CALL, 0, 100),
      s('SELL', AAPL_PUT),
      s('SELL', AAPL_CALL),
      s('SELL', AAPL_CALL, 1),
      s('BUY', AAPL),
    ]).toEqual([2, 1, 3, 4, 0, 0]);
  });

  it('never throws, whatever the order and account look like', () => {
    const instrumentArb = fc.constantFrom(...INSTRUMENTS);
    fc.assert(
      fc.property(
        instrumentArb,
        fc.record({
          side: fc.constantFrom('BUY' as const, 'SELL' as const),
          type: fc.constantFrom('MKT' as const, 'LMT' as const, 'STP' as const, 'STP_LMT' as const),
          quantity: fc.double({ min: -1e9, max: 1e9, noNaN: false }),
          limitPrice: fc.option(fc.double(), { nil: undefined }),
          position: fc.double({ min: -1e6, max: 1e6 }),
          optionsLevel: fc.integer({ min: 0, max: 4 }),
          type2: fc.constantFrom('cash' as const, 'margin' as const, 'portfolio_margin' as const),
          entity: fc.constantFrom('IBLLC', 'IBIE', 'IBUK', 'IBHK', 'IBCA'),
          category: fc.constantFrom('retail' as const, 'professional' as const),
          bid: fc.double({ min: 0, max: 1e6 }),
        }),
        (instrument, o) => {
          const ent = entitlements({
            optionsLevel: o.optionsLevel,
            type: o.type2,
            entityCode: o.entity,
            clientCategory: o.category,
          });
          const result = evaluateGate(
            base({
              instrument,
              entitlements: ent,
              position: o.position,
              order: {
                clientOrderId: 'x',
                instrumentId: instrument.id,
                side: o.side,
                type: o.type,
                quantity: o.quantity,
                limitPrice: o.limitPrice,
                tif: 'DAY',
              },
              quote: {
                instrumentId: instrument.id,
                bid: o.bid,
                ask: o.bid,
                last: o.bid,
                bidSize: 1,
                askSize: 1,
                at: NOW,
              },
              marketData: entitlementFor(instrument, ent.subscriptions),
            }),
          );
          expect(['accept', 'confirm', 'reject']).toContain(result.outcome);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('knows every instrument of the catalogue', () => {
    expect(byId(AAPL.id)).toBe(AAPL);
    expect(INSTRUMENTS.length).toBeGreaterThanOrEqual(40);
  });
});
