/**
 * The trading records on both engines: orders, fills, positions, cash and the event sequence behave the same on
 * SQLite and PostgreSQL, including concurrent orders of one account (the sequence never repeats a number) and a
 * clientOrderId submitted concurrently (one order).
 */
import { describe, expect, it } from 'vitest';
import { testDatabases } from '../test-support/databases.js';
import { ALICE, callAs, json, loginAs, startTestGateway } from '../test-support/gateway.js';

describe.each(testDatabases())('trading records on %s', (_name, factory) => {
  it('keeps gap-free event sequences and one order per clientOrderId under concurrency', async () => {
    const database = await factory();
    const gw = await startTestGateway({ database });
    try {
      const alice = await loginAs(gw, ALICE);
      await callAs(gw, 'POST', '/v1/session/brokerage', alice, { compete: true });
      const order = (clientOrderId: string, side: 'BUY' | 'SELL') =>
        callAs(gw, 'POST', '/v1/accounts/DU1000001/orders', alice, {
          clientOrderId,
          instrumentId: 265598,
          side,
          type: 'MKT',
          quantity: 3,
          tif: 'DAY',
        });
      const results = await Promise.all([
        ...Array.from({ length: 12 }, (_, i) => order(`o-${i}`, i % 3 === 0 ? 'SELL' : 'BUY')),
        ...Array.from({ length: 4 }, () => order('same', 'BUY')),
      ]);
      expect(results.every((r) => r.statusCode === 201 || r.statusCode === 200)).toBe(true);
      const sameIds = new Set(results.slice(12).map((r) => json(r).id));
      expect(sameIds.size).toBe(1);
      const events = json(await callAs(gw, 'GET', '/v1/accounts/DU1000001/events', alice)) as {
        events: { seq: number; type: string }[];
      };
      expect(events.events.map((e) => e.seq)).toEqual(events.events.map((_, i) => i + 1));
      expect(events.events.filter((e) => e.type === 'accepted')).toHaveLength(13);
      expect(events.events.filter((e) => e.type === 'filled')).toHaveLength(13);
      const portfolio = json(await callAs(gw, 'GET', '/v1/accounts/DU1000001/portfolio', alice)) as {
        positions: { quantity: number }[];
        cash: { USD: number };
      };
      // 9 buys and 4 sells of 3 shares (the 'same' order counts once, as a buy).
      expect(portfolio.positions).toEqual([expect.objectContaining({ quantity: (9 - 4) * 3 })]);
      expect(typeof portfolio.cash.USD).toBe('number');
    } finally {
      await gw.close();
      await database.drop();
    }
  });
});
