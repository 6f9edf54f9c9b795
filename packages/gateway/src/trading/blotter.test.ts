/**
 * What a blotter reads (issue 20, item 7): every order names its symbol; fills and rejections carry symbol and side
 * in their events; the order list without a status is the account's history (working, filled, cancelled); each
 * position carries its last price, market value and unrealised P&L as the account may see them. Another user's
 * account and orders stay unknown; a viewer reads but does not change.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { INSTRUMENTS, type Instrument } from '../instruments/index.js';
import { type TestDatabase, type TestDatabaseFactory, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  BRUNO,
  callAs,
  errorCode,
  json,
  type LoggedIn,
  loginAs,
  loginTrading,
  startTestGateway,
  type TestGateway,
  VIKTOR,
} from '../test-support/gateway.js';

let gw: TestGateway;
let database: TestDatabase | undefined;
afterEach(async () => {
  await gw?.close();
  await database?.drop();
  database = undefined;
});

async function gatewayOn(makeDatabase: TestDatabaseFactory) {
  database = await makeDatabase();
  return startTestGateway({ database });
}

const bySymbol = (symbol: string) => INSTRUMENTS.find((i) => i.symbol === symbol) as Instrument;
const AAPL = bySymbol('AAPL');
const SPY = bySymbol('SPY');
let n = 0;

const place = (as: LoggedIn, account: string, order: Record<string, unknown>) => {
  n += 1;
  return callAs(gw, 'POST', `/v1/accounts/${account}/orders`, as, {
    clientOrderId: `blotter-${n}`,
    instrumentId: AAPL.id,
    side: 'BUY',
    type: 'MKT',
    quantity: 10,
    tif: 'DAY',
    ...order,
  });
};

interface Order {
  id: string;
  symbol: string | null;
  side: string;
  status: string;
  quantity: number;
  limitPrice: number | null;
}

describe.each(testDatabases())('the blotter’s read model on %s', (_name, makeDatabase) => {
  it('names the symbol on every order and lists the history: filled, cancelled and working', async () => {
    gw = await gatewayOn(makeDatabase);
    const alice = await loginTrading(gw, ALICE);
    const filled = json(await place(alice, 'U1000001', {})) as unknown as Order;
    expect(filled).toMatchObject({ symbol: 'AAPL', side: 'BUY', status: 'filled' });
    const limit = Number((gw.ctx.marketData.live(AAPL).bid * 0.97).toFixed(2));
    const resting = json(
      await place(alice, 'U1000001', { type: 'LMT', limitPrice: limit }),
    ) as unknown as Order;
    const cancelled = json(
      await place(alice, 'U1000001', { type: 'LMT', limitPrice: limit, quantity: 3 }),
    ) as unknown as Order;
    const cancel = await callAs(gw, 'DELETE', `/v1/accounts/U1000001/orders/${cancelled.id}`, alice);
    expect(json(cancel)).toMatchObject({ symbol: 'AAPL', side: 'BUY', quantity: 3, status: 'cancelled' });

    const all = json(await callAs(gw, 'GET', '/v1/accounts/U1000001/orders', alice)) as { orders: Order[] };
    expect(new Map(all.orders.map((o) => [o.id, [o.symbol, o.status]]))).toEqual(
      new Map([
        [filled.id, ['AAPL', 'filled']],
        [resting.id, ['AAPL', 'working']],
        [cancelled.id, ['AAPL', 'cancelled']],
      ]),
    );
    const only = json(await callAs(gw, 'GET', '/v1/accounts/U1000001/orders?status=cancelled', alice)) as {
      orders: Order[];
    };
    expect(only.orders.map((o) => o.id)).toEqual([cancelled.id]);
    const one = json(await callAs(gw, 'GET', `/v1/accounts/U1000001/orders/${resting.id}`, alice));
    expect(one).toMatchObject({ symbol: 'AAPL', limitPrice: limit });
  });

  it('puts symbol and side in fill and rejection events, and the refusal’s words in a rejection', async () => {
    gw = await gatewayOn(makeDatabase);
    const alice = await loginTrading(gw, ALICE);
    await place(alice, 'U1000001', { side: 'BUY', quantity: 4 });
    const bruno = await loginTrading(gw, BRUNO);
    const refused = await place(bruno, 'U2000002', {
      instrumentId: SPY.id,
      type: 'LMT',
      limitPrice: 500,
      quantity: 2,
    });
    expect(errorCode(refused)).toBe('PRODUCT_NOT_ELIGIBLE');

    const events = (account: string, as: LoggedIn) =>
      callAs(gw, 'GET', `/v1/accounts/${account}/events`, as).then(
        (r) => (json(r) as { events: { type: string; data: Record<string, unknown> }[] }).events,
      );
    const fill = (await events('U1000001', alice)).find((e) => e.type === 'filled');
    expect(fill?.data).toMatchObject({ symbol: 'AAPL', side: 'BUY', quantity: 4 });
    const rejection = (await events('U2000002', bruno)).find((e) => e.type === 'rejected');
    expect(rejection?.data).toMatchObject({
      symbol: 'SPY',
      side: 'BUY',
      quantity: 2,
      type: 'LMT',
      limitPrice: 500,
      code: 'PRODUCT_NOT_ELIGIBLE',
      reason: (json(refused).error as { message: string }).message,
    });
  });

  it('values each position at the last price: market value and unrealised P&L in its currency', async () => {
    gw = await gatewayOn(makeDatabase);
    const alice = await loginTrading(gw, ALICE);
    const bought = json(await place(alice, 'U1000001', { quantity: 10 })) as { avgFillPrice: number };
    gw.clock.advance(60_000);
    const last = gw.ctx.marketData.live(AAPL).last;
    const portfolio = json(await callAs(gw, 'GET', '/v1/accounts/U1000001/portfolio', alice)) as {
      positions: Record<string, unknown>[];
    };
    expect(portfolio.positions).toEqual([
      {
        instrumentId: AAPL.id,
        symbol: 'AAPL',
        quantity: 10,
        avgCost: bought.avgFillPrice,
        currency: 'USD',
        lastPrice: last,
        marketValue: expect.closeTo(10 * last, 2),
        unrealizedPnl: expect.closeTo((last - bought.avgFillPrice) * 10, 2),
      },
    ]);
    // A viewer sees the position valued the same way (at the price of the moment).
    const viktor = await loginAs(gw, VIKTOR);
    const seen = json(await callAs(gw, 'GET', '/v1/accounts/U1000001/portfolio', viktor)) as typeof portfolio;
    expect(seen.positions).toEqual([
      expect.objectContaining({ symbol: 'AAPL', lastPrice: gw.ctx.marketData.live(AAPL).last }),
    ]);
  });

  it('keeps another user’s account and orders unknown, and lets a viewer read but not change', async () => {
    gw = await gatewayOn(makeDatabase);
    const alice = await loginTrading(gw, ALICE);
    const limit = Number((gw.ctx.marketData.live(AAPL).bid * 0.97).toFixed(2));
    const order = json(
      await place(alice, 'U1000001', { type: 'LMT', limitPrice: limit }),
    ) as unknown as Order;
    const bruno = await loginTrading(gw, BRUNO);
    for (const path of ['orders', `orders/${order.id}`, 'portfolio', 'events']) {
      const seen = await callAs(gw, 'GET', `/v1/accounts/U1000001/${path}`, bruno);
      expect(seen.statusCode, path).toBe(404);
      expect(errorCode(seen), path).toBe('ACCOUNT_NOT_FOUND');
    }
    // Through his own account's path the order is not his either.
    const patchOwn = await callAs(gw, 'PATCH', `/v1/accounts/U2000002/orders/${order.id}`, bruno, {
      limitPrice: limit + 1,
    });
    expect(errorCode(patchOwn)).toBe('ORDER_NOT_FOUND');
    const patch = await callAs(gw, 'PATCH', `/v1/accounts/U1000001/orders/${order.id}`, bruno, {
      limitPrice: limit + 1,
    });
    expect(errorCode(patch)).toBe('ACCOUNT_NOT_FOUND');

    const viktor = await loginAs(gw, VIKTOR);
    const listed = json(await callAs(gw, 'GET', '/v1/accounts/U1000001/orders', viktor)) as {
      orders: Order[];
    };
    expect(listed.orders.map((o) => o.symbol)).toEqual(['AAPL']);
    const changed = await callAs(gw, 'PATCH', `/v1/accounts/U1000001/orders/${order.id}`, viktor, {
      limitPrice: limit + 1,
    });
    expect(errorCode(changed)).toBe('ROLE_NOT_ALLOWED');
    const after = json(await callAs(gw, 'GET', `/v1/accounts/U1000001/orders/${order.id}`, alice));
    expect(after).toMatchObject({ limitPrice: limit, status: 'working' });
  });
});
