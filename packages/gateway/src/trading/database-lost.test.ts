/**
 * A fill whose commit is unknown on PostgreSQL: the server commits the fill's batch, and the reply is lost (the
 * connection drops between the two). Trading halts on this node with `TRADING_HALTED` and `Retry-After` (`/readyz`
 * too), then resumes by itself once the database answers, with its view rebuilt from the database: the fill counts
 * once — the order is filled, the position and the cash hold it — and is never applied or matched again.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { findInstrument } from '../instruments/index.js';
import { isDatabaseUnavailable } from '../store/index.js';
import { type TestDatabase, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  callAs,
  errorCode,
  json,
  loginTrading,
  startTestGateway,
  type TestGateway,
} from '../test-support/gateway.js';

const postgres = testDatabases().find(([name]) => name === 'postgres')?.[1];

describe.skipIf(postgres === undefined)('a fill whose COMMIT reply is lost (PostgreSQL)', () => {
  let gw: TestGateway | undefined;
  let database: TestDatabase | undefined;
  afterEach(async () => {
    await gw?.close();
    await database?.drop();
    gw = undefined;
  });

  it('halts trading with Retry-After, then resumes by itself from what the database holds: the fill counts once', async () => {
    if (postgres === undefined) throw new Error('no PostgreSQL');
    // After the server ran the COMMIT of the batch that wrote an execution, the reply is "lost".
    let armed = false;
    let wroteExecution = false;
    let lost = 0;
    const fresh = await postgres();
    database = {
      ...fresh,
      options: {
        ...fresh.options,
        onQuery: (text) => {
          if (!armed) return;
          if (text.startsWith('INSERT INTO executions')) wroteExecution = true;
          if (text === 'COMMIT' && wroteExecution) {
            armed = false;
            lost += 1;
            throw new Error('Connection terminated unexpectedly');
          }
        },
      },
    };
    gw = await startTestGateway({ database });
    const g = gw;
    const alice = await loginTrading(g, ALICE);
    const aapl = findInstrument(265598);
    if (aapl === undefined) throw new Error('no AAPL');
    const placed = await callAs(g, 'POST', '/v1/accounts/U1000001/orders', alice, {
      clientOrderId: 'resting',
      instrumentId: aapl.id,
      side: 'BUY',
      type: 'LMT',
      limitPrice: 1,
      quantity: 10,
      tif: 'GTC',
    });
    expect(placed.statusCode).toBe(201);
    const order = json(placed) as { id: string };
    // Through the market: the next matching pass fills it.
    const limitPrice = Number((g.ctx.marketData.live(aapl).ask + 0.5).toFixed(2));
    expect(
      (await callAs(g, 'PATCH', `/v1/accounts/U1000001/orders/${order.id}`, alice, { limitPrice }))
        .statusCode,
    ).toBe(200);

    armed = true;
    g.clock.advance(250);
    await g.ctx.trading.matchAll().catch(() => {});
    expect(lost).toBe(1);
    expect(g.ctx.trading.halted).not.toBeNull();
    // The database could not be reached: the halt ends by itself (a view found wrong would need a restart).
    expect(isDatabaseUnavailable(g.ctx.trading.halted)).toBe(true);
    const refused = await callAs(g, 'POST', '/v1/accounts/U1000001/orders', alice, {
      clientOrderId: 'while-halted',
      instrumentId: aapl.id,
      side: 'BUY',
      type: 'LMT',
      limitPrice: 1,
      quantity: 1,
      tif: 'GTC',
    });
    // Either still halted, or already resumed (the database answers at once here): never a 500.
    if (refused.statusCode === 503) {
      expect(errorCode(refused)).toBe('TRADING_HALTED');
      expect(refused.headers['retry-after']).toBe('1');
    } else expect(refused.statusCode).toBe(201);

    // It resumes by itself: the database answers again (here, at once).
    const end = Date.now() + 5_000;
    while (g.ctx.trading.halted !== null && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    expect(g.ctx.trading.halted).toBeNull();
    expect((await g.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);

    // The database says the fill committed, and the rebuilt view agrees: filled, once.
    const view = json(await callAs(g, 'GET', `/v1/accounts/U1000001/orders/${order.id}`, alice));
    expect(view).toMatchObject({ status: 'filled', filledQuantity: 10 });
    g.clock.advance(250);
    await g.ctx.trading.matchAll();
    const executions = await g.ctx.store.db
      .selectFrom('executions')
      .select(['quantity'])
      .where('order_id', '=', order.id)
      .execute();
    expect(executions).toEqual([{ quantity: 10 }]);
    const portfolio = json(await callAs(g, 'GET', '/v1/accounts/U1000001/portfolio', alice)) as {
      positions: { instrumentId: number; quantity: number }[];
    };
    expect(portfolio.positions).toEqual([expect.objectContaining({ instrumentId: aapl.id, quantity: 10 })]);
    // Trading goes on.
    const next = await callAs(g, 'POST', '/v1/accounts/U1000001/orders', alice, {
      clientOrderId: 'after',
      instrumentId: aapl.id,
      side: 'SELL',
      type: 'MKT',
      quantity: 10,
      tif: 'DAY',
    });
    expect(next.statusCode).toBe(201);
    expect(json(next)).toMatchObject({ status: 'filled' });
  });
});
