/**
 * The paper engine's arithmetic and matching: fills, partial fills by displayed size, stops, DAY expiry, IOC,
 * positions with average cost, cash per currency, FX, margin; and a property test that cash + positions at cost
 * change by exactly realized P&L minus commissions, whatever the sequence of fills.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findInstrument, INSTRUMENTS, type Instrument } from '../instruments/index.js';
import { brownian, SimulatedFeed } from '../marketdata/index.js';
import {
  applyFill,
  commission,
  convert,
  emptyLedger,
  type Ledger,
  money,
  orderRequirement,
  valuate,
} from './accounting.js';
import { matchOrder, type WorkingOrder } from './matching.js';

const bySymbol = (symbol: string) => INSTRUMENTS.find((i) => i.symbol === symbol) as Instrument;
const AAPL = bySymbol('AAPL');
const ES = bySymbol('ESZ6');
const EURUSD = bySymbol('EUR.USD');
const AAPL_CALL = INSTRUMENTS.find((i) => i.option?.underlyingId === AAPL.id) as Instrument;
const NOW = Date.UTC(2026, 5, 15, 15, 0);
const quote = (bid: number, ask: number, sizes = 500) => ({
  instrumentId: AAPL.id,
  bid,
  ask,
  last: bid,
  bidSize: sizes,
  askSize: sizes,
  at: NOW,
});
const order = (o: Partial<WorkingOrder>): WorkingOrder => ({
  side: 'BUY',
  type: 'MKT',
  quantity: 100,
  filledQuantity: 0,
  limitPrice: null,
  stopPrice: null,
  tif: 'DAY',
  triggered: false,
  expiresAt: null,
  ...o,
});

describe('matching', () => {
  it('fills a market order at the touch', () => {
    expect(matchOrder(order({}), AAPL, quote(99.9, 100), NOW)).toEqual({
      fill: { quantity: 100, price: 100 },
      triggered: false,
      end: 'filled',
    });
    expect(matchOrder(order({ side: 'SELL' }), AAPL, quote(99.9, 100), NOW).fill).toEqual({
      quantity: 100,
      price: 99.9,
    });
  });

  it('fills only the displayed size, leaving the rest working (partial fill)', () => {
    const first = matchOrder(order({ quantity: 1_200 }), AAPL, quote(99.9, 100, 500), NOW);
    expect(first).toEqual({ fill: { quantity: 500, price: 100 }, triggered: false, end: null });
    const last = matchOrder(
      order({ quantity: 1_200, filledQuantity: 1_000 }),
      AAPL,
      quote(99.9, 100, 500),
      NOW,
    );
    expect(last).toEqual({ fill: { quantity: 200, price: 100 }, triggered: false, end: 'filled' });
  });

  it('fills a limit only when the touch crosses it, at the touch', () => {
    expect(matchOrder(order({ type: 'LMT', limitPrice: 99.5 }), AAPL, quote(99.9, 100), NOW).fill).toBeNull();
    expect(matchOrder(order({ type: 'LMT', limitPrice: 100.5 }), AAPL, quote(99.9, 100), NOW).fill).toEqual({
      quantity: 100,
      price: 100,
    });
    expect(
      matchOrder(order({ side: 'SELL', type: 'LMT', limitPrice: 100 }), AAPL, quote(99.9, 100), NOW).fill,
    ).toBeNull();
  });

  it('triggers a stop when the market reaches it, then fills as market or limit', () => {
    const stop = order({ type: 'STP', stopPrice: 101 });
    expect(matchOrder(stop, AAPL, quote(99.9, 100), NOW)).toEqual({
      fill: null,
      triggered: false,
      end: null,
    });
    expect(matchOrder(stop, AAPL, quote(100.9, 101), NOW)).toEqual({
      fill: { quantity: 100, price: 101 },
      triggered: true,
      end: 'filled',
    });
    const sellStop = order({ side: 'SELL', type: 'STP_LMT', stopPrice: 95, limitPrice: 94.5 });
    const hit = matchOrder(sellStop, AAPL, quote(94, 94.1), NOW);
    expect(hit).toEqual({ fill: null, triggered: true, end: null }); // triggered, but the bid is below the limit
    expect(matchOrder({ ...sellStop, triggered: true }, AAPL, quote(94.6, 94.7), NOW).fill).toEqual({
      quantity: 100,
      price: 94.6,
    });
  });

  it('cancels the remainder of an IOC order, and expires a DAY order at the close', () => {
    expect(matchOrder(order({ quantity: 800, tif: 'IOC' }), AAPL, quote(99.9, 100, 500), NOW)).toEqual({
      fill: { quantity: 500, price: 100 },
      triggered: false,
      end: 'cancelled',
    });
    expect(
      matchOrder(order({ type: 'LMT', limitPrice: 1, tif: 'IOC' }), AAPL, quote(99.9, 100), NOW).end,
    ).toBe('cancelled');
    const day = order({ type: 'LMT', limitPrice: 1, expiresAt: NOW });
    expect(matchOrder(day, AAPL, quote(99.9, 100), NOW - 1).end).toBeNull();
    expect(matchOrder(day, AAPL, quote(99.9, 100), NOW).end).toBe('expired');
    expect(
      matchOrder({ ...day, tif: 'GTC', expiresAt: null }, AAPL, quote(99.9, 100), NOW + 1e9).end,
    ).toBeNull();
  });
});

describe('accounting', () => {
  it('keeps positions with average cost, and realizes P&L on closing', () => {
    const ledger = emptyLedger();
    ledger.cash.set('USD', 100_000);
    applyFill(ledger, AAPL, 'BUY', 100, 100, 1);
    applyFill(ledger, AAPL, 'BUY', 100, 110, 1);
    expect(ledger.positions.get(AAPL.id)).toEqual({ quantity: 200, avgCost: 105 });
    expect(ledger.cash.get('USD')).toBe(100_000 - 21_000 - 2);
    const realized = applyFill(ledger, AAPL, 'SELL', 150, 120, 1);
    expect(realized).toBe(15 * 150);
    expect(ledger.positions.get(AAPL.id)).toEqual({ quantity: 50, avgCost: 105 });
    // Selling through zero opens a short at the fill price.
    applyFill(ledger, AAPL, 'SELL', 80, 90, 1);
    expect(ledger.positions.get(AAPL.id)).toEqual({ quantity: -30, avgCost: 90 });
    applyFill(ledger, AAPL, 'BUY', 30, 95, 1);
    expect(ledger.positions.has(AAPL.id)).toBe(false);
    expect(ledger.cash.get('USD')).toBe(money(100_000 - 21_000 + 18_000 + 7_200 - 2_850 - 5));
  });

  it('charges option premium with the multiplier, and moves only P&L for futures', () => {
    const ledger = emptyLedger();
    applyFill(ledger, AAPL_CALL, 'BUY', 2, 3.5, commission(AAPL_CALL, 2, 3.5));
    expect(ledger.cash.get('USD')).toBe(-700 - 1.3);
    const futures = emptyLedger();
    applyFill(futures, ES, 'BUY', 1, 5900, 0.85);
    expect(futures.cash.get('USD')).toBe(-0.85);
    expect(applyFill(futures, ES, 'SELL', 1, 5910, 0.85)).toBe(500);
    expect(futures.cash.get('USD')).toBe(money(500 - 1.7));
  });

  it('converts currencies with an FX trade and keeps no FX position', () => {
    const ledger = emptyLedger();
    ledger.cash.set('USD', 20_000);
    applyFill(ledger, EURUSD, 'BUY', 10_000, 1.1, 2);
    expect(Object.fromEntries(ledger.cash)).toEqual({ USD: 20_000 - 11_000 - 2, EUR: 10_000 });
    expect(ledger.positions.size).toBe(0);
    const rates = new Map([['EUR', 1 / 1.1]]);
    expect(convert(110, 'USD', 'EUR', rates)).toBeCloseTo(100, 10);
  });

  it('values the account and its buying power under cash, Reg T and portfolio margin', () => {
    const ledger = emptyLedger();
    ledger.cash.set('USD', 50_000);
    applyFill(ledger, AAPL, 'BUY', 100, 100, 0);
    const mark = () => 100;
    const find = (id: number) => findInstrument(id);
    const rates = new Map<string, number>();
    const cash = valuate(ledger, 'USD', 'cash', rates, find, mark);
    expect(cash).toEqual({ netLiquidation: 50_000, initialMargin: 0, cash: 40_000 });
    const regT = valuate(ledger, 'USD', 'margin', rates, find, mark);
    expect(regT.initialMargin).toBe(5_000); // 50 % of 10,000
    const pm = valuate(ledger, 'USD', 'portfolio_margin', rates, find, mark);
    expect(pm.initialMargin).toBe(1_500);
    const toBase = (n: number) => n;
    // Buying 100 more: a cash account pays 10,000 + commission; Reg T needs half.
    expect(orderRequirement(AAPL, 'BUY', 100, 100, 'cash', 0, toBase)).toBe(10_001);
    expect(orderRequirement(AAPL, 'BUY', 100, 100, 'margin', 0, toBase)).toBe(5_001);
    expect(orderRequirement(ES, 'BUY', 1, 5_900, 'margin', 0, toBase)).toBeCloseTo(
      0.06 * 5_900 * 50 + 0.85,
      6,
    );
  });

  it('creates or loses no money beyond commissions, whatever the sequence of fills (property)', () => {
    const tradable = INSTRUMENTS.filter((i) => i.fx === undefined);
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            instrument: fc.constantFrom(...tradable),
            side: fc.constantFrom('BUY' as const, 'SELL' as const),
            lots: fc.integer({ min: 1, max: 50 }),
            price: fc.integer({ min: 1, max: 100_000 }),
          }),
          { minLength: 1, maxLength: 60 },
        ),
        (fills) => {
          const ledger: Ledger = emptyLedger();
          let realized = new Map<string, number>();
          let fees = new Map<string, number>();
          for (const f of fills) {
            const quantity = money(f.lots * f.instrument.lotSize);
            const price = money(f.price * f.instrument.tickSize);
            const fee = commission(f.instrument, quantity, price);
            const r = applyFill(ledger, f.instrument, f.side, quantity, price, fee);
            const ccy = f.instrument.currency;
            realized = new Map(realized).set(ccy, (realized.get(ccy) ?? 0) + r);
            fees = new Map(fees).set(ccy, (fees.get(ccy) ?? 0) + fee);
          }
          // Per currency: cash + positions at cost (futures carry none) = realized P&L − commissions.
          const atCost = new Map<string, number>();
          for (const [id, p] of ledger.positions) {
            const i = findInstrument(id) as Instrument;
            if (i.assetClass === 'FUT') continue;
            atCost.set(i.currency, (atCost.get(i.currency) ?? 0) + p.quantity * p.avgCost * i.multiplier);
          }
          for (const ccy of new Set([...ledger.cash.keys(), ...atCost.keys()])) {
            const held = (ledger.cash.get(ccy) ?? 0) + (atCost.get(ccy) ?? 0);
            const expected = (realized.get(ccy) ?? 0) - (fees.get(ccy) ?? 0);
            expect(Math.abs(held - expected)).toBeLessThan(1e-4 * Math.max(1, Math.abs(expected)));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('random orders through matching and accounting (property)', () => {
  it('fills within each order, never beyond the displayed size, and keeps cash and positions consistent', () => {
    const tradable = INSTRUMENTS.filter((i) => i.fx === undefined && i.assetClass !== 'FUT');
    const feed = new SimulatedFeed({ seed: 11, epoch: Date.UTC(2026, 0, 1), tickMs: 250 });
    let fills = 0;
    let partials = 0;
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            instrument: fc.constantFrom(...tradable),
            side: fc.constantFrom('BUY' as const, 'SELL' as const),
            type: fc.constantFrom('MKT' as const, 'LMT' as const, 'STP' as const, 'STP_LMT' as const),
            tif: fc.constantFrom('DAY' as const, 'GTC' as const, 'IOC' as const),
            lots: fc.integer({ min: 1, max: 3_000 }),
            offsetTicks: fc.integer({ min: -20, max: 20 }),
          }),
          { minLength: 1, maxLength: 25 },
        ),
        fc.integer({ min: 0, max: 1_000_000 }),
        (orders, start) => {
          const ledger = emptyLedger();
          const flows = new Map<string, number>();
          for (const o of orders) {
            const quantity = money(o.lots * o.instrument.lotSize);
            let t = NOW + start * 250;
            const first = feed.quoteAt(o.instrument, t);
            const price = Math.max(o.instrument.tickSize, first.bid + o.offsetTicks * o.instrument.tickSize);
            const working: WorkingOrder = {
              side: o.side,
              type: o.type,
              quantity,
              filledQuantity: 0,
              limitPrice: o.type === 'LMT' || o.type === 'STP_LMT' ? price : null,
              stopPrice: o.type === 'STP' || o.type === 'STP_LMT' ? price : null,
              tif: o.tif,
              triggered: false,
              expiresAt: o.tif === 'DAY' ? t + 20 * 250 : null,
            };
            // Up to 30 quotes for the order to work against.
            for (let step = 0; step < 30; step += 1, t += 250) {
              const quote = feed.quoteAt(o.instrument, t);
              const result = matchOrder(working, o.instrument, quote, t);
              if (result.triggered) working.triggered = true;
              if (result.fill !== null) {
                const shown = o.side === 'BUY' ? quote.askSize : quote.bidSize;
                expect(result.fill.quantity).toBeLessThanOrEqual(shown);
                expect(result.fill.price).toBe(o.side === 'BUY' ? quote.ask : quote.bid);
                if (working.limitPrice !== null) {
                  if (o.side === 'BUY') expect(result.fill.price).toBeLessThanOrEqual(working.limitPrice);
                  else expect(result.fill.price).toBeGreaterThanOrEqual(working.limitPrice);
                }
                const fee = commission(o.instrument, result.fill.quantity, result.fill.price);
                const realized = applyFill(
                  ledger,
                  o.instrument,
                  o.side,
                  result.fill.quantity,
                  result.fill.price,
                  fee,
                );
                const ccy = o.instrument.currency;
                flows.set(ccy, (flows.get(ccy) ?? 0) + realized - fee);
                working.filledQuantity = money(working.filledQuantity + result.fill.quantity);
                fills += 1;
                if (working.filledQuantity < quantity) partials += 1;
              }
              expect(working.filledQuantity).toBeLessThanOrEqual(quantity);
              if (result.end !== null) break;
            }
          }
          for (const [ccy, expected] of flows) {
            let atCost = 0;
            for (const [id, p] of ledger.positions) {
              const i = findInstrument(id) as Instrument;
              if (i.currency === ccy) atCost += p.quantity * p.avgCost * i.multiplier;
            }
            const held = (ledger.cash.get(ccy) ?? 0) + atCost;
            expect(Math.abs(held - expected)).toBeLessThan(1e-4 * Math.max(1, Math.abs(expected)));
          }
        },
      ),
      { numRuns: 150 },
    );
    // The runs must exercise the engine: many fills, some of them partial.
    expect(fills).toBeGreaterThan(200);
    expect(partials).toBeGreaterThan(10);
  });
});

describe('the simulated feed', () => {
  const feed = (seed: number) => new SimulatedFeed({ seed, epoch: Date.UTC(2026, 0, 1), tickMs: 250 });

  it('is reproducible: the same seed gives the same quotes, another seed others', () => {
    const a = feed(7).quoteAt(AAPL, NOW);
    expect(feed(7).quoteAt(AAPL, NOW)).toEqual(a);
    expect(feed(8).quoteAt(AAPL, NOW)).not.toEqual(a);
    expect(feed(7).quoteAt(AAPL, NOW + 250)).not.toEqual(a);
  });

  it('keeps bid below ask on the tick grid for every instrument, and prices options from the underlying', () => {
    for (const instrument of INSTRUMENTS) {
      const q = feed(1).quoteAt(instrument, NOW);
      expect(q.bid, instrument.symbol).toBeLessThan(q.ask);
      expect(Math.abs(q.bid / instrument.tickSize - Math.round(q.bid / instrument.tickSize))).toBeLessThan(
        1e-6,
      );
      expect(q.bidSize).toBeGreaterThan(0);
    }
    const call = feed(1).quoteAt(AAPL_CALL, NOW);
    const spot = feed(1).quoteAt(AAPL, NOW);
    const strike = AAPL_CALL.option?.strike ?? 0;
    expect(call.bid).toBeGreaterThanOrEqual(Math.max(0, spot.bid - strike) - 1);
  });

  it('walks like a random walk: step variance 1, variance k at step k', () => {
    let stepVar = 0;
    let varK = 0;
    const n = 4_000;
    for (let j = 0; j < n; j += 1) {
      stepVar += (brownian(3, j, 1_001) - brownian(3, j, 1_000)) ** 2;
      varK += brownian(3, j, 400) ** 2;
    }
    expect(stepVar / n).toBeGreaterThan(0.9);
    expect(stepVar / n).toBeLessThan(1.1);
    expect(varK / n / 400).toBeGreaterThan(0.9);
    expect(varK / n / 400).toBeLessThan(1.1);
  });
});
