/**
 * Order shapes compared exactly (issue 14, finding 8). On the code before the fix, `isMultipleOf` allowed 1e-6 of
 * the quotient: `quantity: 1.0000005` on a one-share lot and `limitPrice: 1e-300` on a cent tick were accepted,
 * and there was no bound on either. Ticks and lots are now compared on the decimal the client sent, and quantity and
 * price are bounded per instrument.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { INSTRUMENTS, type Instrument } from '../instruments/index.js';
import { type TestDatabase, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  callAs,
  errorCode,
  loginAs,
  startTestGateway,
  type TestGateway,
} from '../test-support/gateway.js';
import { decimalOf, isMultipleOf, orderBounds, validateOrder } from './order-shape.js';

const bySymbol = (symbol: string) => INSTRUMENTS.find((i) => i.symbol === symbol) as Instrument;
const AAPL = bySymbol('AAPL');
const BTC = bySymbol('BTC.USD');

describe('exact decimals', () => {
  it('reads a number as the decimal it prints as', () => {
    expect(decimalOf(1.0000005)).toEqual({ units: 10000005n, scale: 7 });
    expect(decimalOf(1e-300)).toEqual({ units: 1n, scale: 300 });
    expect(decimalOf(1.5e21)).toEqual({ units: 1500000000000000000000n, scale: 0 });
    expect(decimalOf(0.00005)).toEqual({ units: 5n, scale: 5 });
    expect(decimalOf(-2.5)).toEqual({ units: -25n, scale: 1 });
  });

  it('refuses what the tolerance let through, and float noise', () => {
    expect(isMultipleOf(1.0000005, 1)).toBe(false);
    expect(isMultipleOf(1e-300, 0.01)).toBe(false);
    expect(isMultipleOf(0.1 + 0.2, 0.01)).toBe(false); // 0.30000000000000004
    expect(isMultipleOf(0.3, 0.01)).toBe(true);
    expect(isMultipleOf(229.95, 0.05)).toBe(true);
    expect(isMultipleOf(1.08005, 0.00005)).toBe(true);
    expect(isMultipleOf(1.08003, 0.00005)).toBe(false);
    expect(isMultipleOf(0.0003, 0.0001)).toBe(true);
    expect(isMultipleOf(0.00015, 0.0001)).toBe(false);
  });

  it('accepts every whole multiple of each catalogue step written as a decimal, and nothing a digit off', () => {
    const steps = [...new Set(INSTRUMENTS.flatMap((i) => [i.tickSize, i.lotSize]))];
    fc.assert(
      fc.property(fc.constantFrom(...steps), fc.integer({ min: 1, max: 10_000_000 }), (step, k) => {
        const { units, scale } = decimalOf(step);
        const exact = units * BigInt(k);
        const text =
          scale === 0
            ? exact.toString()
            : `${exact / 10n ** BigInt(scale)}.${(exact % 10n ** BigInt(scale)).toString().padStart(scale, '0')}`;
        expect(isMultipleOf(Number(text), step)).toBe(true);
        // One unit further in the next decimal place is never a multiple.
        expect(isMultipleOf(Number(`${text}${scale === 0 ? '.' : ''}1`), step)).toBe(false);
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('order bounds', () => {
  it('bounds quantity by asset class and price by the reference price', () => {
    expect(orderBounds(AAPL)).toEqual({ maxQuantity: 10_000_000, maxPrice: AAPL.basePrice * 100 });
    const call = INSTRUMENTS.find((i) => i.option?.underlyingId === AAPL.id) as Instrument;
    expect(orderBounds(call).maxPrice).toBeGreaterThanOrEqual(AAPL.basePrice * 100);
    const order = {
      clientOrderId: 'x',
      instrumentId: AAPL.id,
      side: 'BUY',
      type: 'LMT',
      tif: 'DAY',
    } as const;
    expect(() => validateOrder({ ...order, quantity: 10_000_001, limitPrice: 100 }, AAPL)).toThrow(
      expect.objectContaining({ code: 'QUANTITY_INVALID' }),
    );
    expect(() =>
      validateOrder({ ...order, quantity: 1, limitPrice: AAPL.basePrice * 100 + 0.01 }, AAPL),
    ).toThrow(expect.objectContaining({ code: 'PRICE_INVALID' }));
    expect(() =>
      validateOrder({ ...order, quantity: 1, limitPrice: AAPL.basePrice * 100 }, AAPL),
    ).not.toThrow();
    expect(() =>
      validateOrder({ ...order, instrumentId: BTC.id, type: 'MKT', quantity: 0.0001 }, BTC),
    ).not.toThrow();
  });
});

describe.each(testDatabases())(
  'order entry refuses malformed numbers, changing nothing (finding 8) on %s',
  (_name, makeDatabase) => {
    let gw: TestGateway;
    let database: TestDatabase;
    afterEach(async () => {
      await gw?.close();
      await database?.drop();
    });

    it('answers QUANTITY_INVALID, PRICE_OFF_TICK and PRICE_INVALID over HTTP, on placement and on change', async () => {
      database = await makeDatabase();
      gw = await startTestGateway({ database });
      const alice = await loginAs(gw, ALICE);
      await callAs(gw, 'POST', '/v1/session/brokerage', alice, { compete: true });
      let n = 0;
      const place = (order: Record<string, unknown>) => {
        n += 1;
        return callAs(gw, 'POST', '/v1/accounts/U1000001/orders', alice, {
          clientOrderId: `shape-${n}`,
          instrumentId: AAPL.id,
          side: 'BUY',
          type: 'LMT',
          quantity: 1,
          limitPrice: 100,
          tif: 'GTC',
          ...order,
        });
      };
      const events = async () =>
        (await gw.ctx.store.db.selectFrom('account_events').select('seq').execute()).length;
      const before = await events();
      expect(errorCode(await place({ quantity: 1.0000005 }))).toBe('QUANTITY_INVALID');
      expect(errorCode(await place({ limitPrice: 1e-300 }))).toBe('PRICE_OFF_TICK');
      expect(errorCode(await place({ limitPrice: 100.005 }))).toBe('PRICE_OFF_TICK');
      expect(errorCode(await place({ quantity: 1e12 }))).toBe('QUANTITY_INVALID');
      expect(errorCode(await place({ limitPrice: 1e9 }))).toBe('PRICE_INVALID');
      expect(errorCode(await place({ type: 'STP', limitPrice: undefined, stopPrice: 1e9 }))).toBe(
        'PRICE_INVALID',
      );
      expect(await events()).toBe(before);
      expect(await gw.ctx.store.db.selectFrom('orders').select('id').execute()).toEqual([]);

      const resting = await place({
        limitPrice: Number((gw.ctx.marketData.live(AAPL).bid * 0.97).toFixed(2)),
      });
      expect(resting.statusCode).toBe(201);
      const id = (resting.json() as { id: string }).id;
      const change = (body: Record<string, unknown>) =>
        callAs(gw, 'PATCH', `/v1/accounts/U1000001/orders/${id}`, alice, body);
      expect(errorCode(await change({ quantity: 1.0000005 }))).toBe('QUANTITY_INVALID');
      expect(errorCode(await change({ limitPrice: 1e-300 }))).toBe('PRICE_OFF_TICK');
      expect(errorCode(await change({ limitPrice: 1e9 }))).toBe('PRICE_INVALID');
    });
  },
);
