/**
 * Order entry over HTTP, end to end: the gate's answers (accept, confirm, reject with rule id), idempotent
 * clientOrderId, confirmations (once, 60 s, owner only), the paper engine's fills, cancel / modify / expiry, the
 * event log with gap-free sequence numbers, entitlement-aware quotes, and bad input that changes nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  startTestGateway,
  type TestGateway,
  type TestGatewayOptions,
} from '../test-support/gateway.js';
import type { OrderRouter, RouterListener } from './router.js';

let gw: TestGateway;
let database: TestDatabase | undefined;
afterEach(async () => {
  await gw?.close();
  await database?.drop();
  database = undefined;
});

/** A gateway on a fresh database from `makeDatabase`, dropped after the test. */
async function gatewayOn(makeDatabase: TestDatabaseFactory, options: TestGatewayOptions = {}) {
  database = await makeDatabase();
  return startTestGateway({ ...options, database });
}

const bySymbol = (symbol: string) => INSTRUMENTS.find((i) => i.symbol === symbol) as Instrument;
const AAPL = bySymbol('AAPL');
const SPY = bySymbol('SPY');
const VWCE = bySymbol('VWCE');
const TENCENT = bySymbol('700');
let n = 0;
const cid = () => {
  n += 1;
  return `c-${n}`;
};

async function trader(user = ALICE): Promise<LoggedIn> {
  const as = await loginAs(gw, user);
  const acquired = await callAs(gw, 'POST', '/v1/session/brokerage', as, { compete: true });
  expect(acquired.statusCode).toBe(200);
  return as;
}

const place = (as: LoggedIn, account: string, order: Record<string, unknown>) =>
  callAs(gw, 'POST', `/v1/accounts/${account}/orders`, as, {
    clientOrderId: cid(),
    instrumentId: AAPL.id,
    side: 'BUY',
    type: 'MKT',
    quantity: 10,
    tif: 'DAY',
    ...order,
  });

async function counts() {
  const db = gw.ctx.store.db;
  const [orders, events] = await Promise.all([
    db.selectFrom('orders').select('id').execute(),
    db.selectFrom('account_events').select('seq').execute(),
  ]);
  return { orders: orders.length, events: events.length };
}

const quoteOf = (instrument: Instrument) => gw.ctx.marketData.live(instrument);

describe.each(testDatabases())('order entry on %s', (_name, makeDatabase) => {
  it('accepts a market order, fills it at the touch, and records it all as events', async () => {
    gw = await gatewayOn(makeDatabase);
    const alice = await trader();
    const ask = quoteOf(AAPL).ask;
    const placed = await place(alice, 'U1000001', {});
    expect(placed.statusCode).toBe(201);
    expect(json(placed)).toMatchObject({ status: 'filled', filledQuantity: 10, avgFillPrice: ask });
    const portfolio = json(await callAs(gw, 'GET', '/v1/accounts/U1000001/portfolio', alice)) as {
      cash: Record<string, number>;
      positions: { instrumentId: number; quantity: number; avgCost: number }[];
    };
    expect(portfolio.positions).toEqual([
      expect.objectContaining({ instrumentId: AAPL.id, quantity: 10, avgCost: ask }),
    ]);
    expect(portfolio.cash.USD).toBeCloseTo(250_000 - 10 * ask - 1, 6);
    const events = json(await callAs(gw, 'GET', '/v1/accounts/U1000001/events?after=0', alice)) as {
      events: { seq: number; type: string }[];
    };
    expect(events.events.map((e) => [e.seq, e.type])).toEqual([
      [1, 'accepted'],
      [2, 'filled'],
    ]);
    const after = json(await callAs(gw, 'GET', '/v1/accounts/U1000001/events?after=1', alice)) as {
      events: { seq: number }[];
    };
    expect(after.events.map((e) => e.seq)).toEqual([2]);
  });

  it('returns the existing order for a resubmitted clientOrderId, never a second one', async () => {
    gw = await gatewayOn(makeDatabase);
    const alice = await trader();
    const order = { clientOrderId: 'same-id', type: 'LMT', limitPrice: 100 };
    const first = await place(alice, 'U1000001', order);
    expect(first.statusCode).toBe(201);
    const again = await place(alice, 'U1000001', order);
    expect(again.statusCode).toBe(200);
    expect(json(again).id).toBe(json(first).id);
    const racing = await Promise.all(
      [1, 2, 3].map(() => place(alice, 'U1000001', { ...order, clientOrderId: 'race' })),
    );
    expect(new Set(racing.map((r) => json(r).id)).size).toBe(1);
    expect((await counts()).orders).toBe(2);
    // Past the 24 h window the id has left this node's index; the database's unique key still answers.
    gw.clock.advance(25 * 3_600_000);
    const later = await place(await trader(), 'U1000001', order);
    expect(later.statusCode).toBe(200);
    expect(json(later).id).toBe(json(first).id);
    expect((await counts()).orders).toBe(2);
  });

  it('refuses to trade without the brokerage capability, or after losing it', async () => {
    gw = await gatewayOn(makeDatabase);
    const reader = await loginAs(gw, ALICE);
    expect(errorCode(await place(reader, 'U1000001', {}))).toBe('BROKERAGE_REQUIRED');
    const bot = await trader();
    await trader(); // the phone takes over
    expect(errorCode(await place(bot, 'U1000001', {}))).toBe('SESSION_COMPETING');
    expect((await counts()).orders).toBe(0);
  });

  it('rejects by entity rule with the rule id, and records the rejection', async () => {
    gw = await gatewayOn(makeDatabase);
    const bruno = await trader(BRUNO);
    const rejected = await place(bruno, 'U2000002', { instrumentId: SPY.id, type: 'LMT', limitPrice: 500 });
    expect(rejected.statusCode).toBe(422);
    expect(json(rejected).error).toMatchObject({ code: 'PRODUCT_NOT_ELIGIBLE', ruleId: 'PRIIPS_KID' });
    const events = json(await callAs(gw, 'GET', '/v1/accounts/U2000002/events', bruno)) as {
      events: { type: string; data: { code: string } }[];
    };
    expect(events.events).toEqual([
      expect.objectContaining({
        type: 'rejected',
        data: expect.objectContaining({ code: 'PRODUCT_NOT_ELIGIBLE' }),
      }),
    ]);
    const frozen = await place(await trader(), 'U1000009', {});
    expect(errorCode(frozen)).toBe('ACCOUNT_FROZEN');
  });

  it('asks for confirmation on delayed data; the answer places the order once, within 60 s, for its owner only', async () => {
    gw = await gatewayOn(makeDatabase);
    const bruno = await trader(BRUNO);
    const order = { instrumentId: VWCE.id, type: 'MKT', quantity: 5 };
    const asked = await place(bruno, 'U2000002', order);
    expect(asked.statusCode).toBe(409);
    const { confirmationId, questions } = json(asked) as {
      confirmationId: string;
      questions: { id: string }[];
    };
    expect(questions.map((q) => q.id)).toEqual(['delayed_market_data']);
    expect((await counts()).orders).toBe(0);

    const alice = await trader();
    const foreign = await callAs(
      gw,
      'POST',
      `/v1/accounts/U1000001/orders/confirmations/${confirmationId}`,
      alice,
      { confirmed: true },
    );
    expect(errorCode(foreign)).toBe('CONFIRMATION_INVALID');
    const confirm = () =>
      callAs(gw, 'POST', `/v1/accounts/U2000002/orders/confirmations/${confirmationId}`, bruno, {
        confirmed: true,
      });
    const done = await confirm();
    expect(done.statusCode).toBe(201);
    expect(json(done)).toMatchObject({ status: 'filled', quantity: 5 });
    expect(errorCode(await confirm())).toBe('CONFIRMATION_INVALID');
    const audit = await gw.ctx.store.db.selectFrom('audit_log').select('type').execute();
    expect(audit.map((a) => a.type)).toContain('order.confirmed_without_market_data');

    const late = json(await place(bruno, 'U2000002', order)) as { confirmationId: string };
    gw.clock.advance(60_000);
    const expired = await callAs(
      gw,
      'POST',
      `/v1/accounts/U2000002/orders/confirmations/${late.confirmationId}`,
      bruno,
      { confirmed: true },
    );
    expect(errorCode(expired)).toBe('CONFIRMATION_INVALID');
    expect(
      errorCode(
        await callAs(gw, 'POST', '/v1/accounts/U2000002/orders/confirmations/cnf_nope', bruno, {
          confirmed: true,
        }),
      ),
    ).toBe('CONFIRMATION_INVALID');
    expect((await counts()).orders).toBe(1);
  });

  it('works a limit order until the market crosses it; cancels, modifies and expires DAY orders at the close', async () => {
    gw = await gatewayOn(makeDatabase);
    const alice = await trader();
    const bid = quoteOf(AAPL).bid;
    const resting = json(
      await place(alice, 'U1000001', {
        type: 'LMT',
        limitPrice: Number((bid * 0.97).toFixed(2)),
        tif: 'GTC',
      }),
    ) as { id: string; status: string };
    expect(resting.status).toBe('working');
    const open = json(await callAs(gw, 'GET', '/v1/accounts/U1000001/orders?status=open', alice)) as {
      orders: { id: string }[];
    };
    expect(open.orders.map((o) => o.id)).toEqual([resting.id]);
    // Move the limit through the market: the next matching pass fills it.
    const modified = await callAs(gw, 'PATCH', `/v1/accounts/U1000001/orders/${resting.id}`, alice, {
      limitPrice: Number((quoteOf(AAPL).ask + 0.5).toFixed(2)),
    });
    expect(json(modified)).toMatchObject({ status: 'working' });
    gw.clock.advance(250);
    await gw.ctx.trading.matchAll();
    expect(json(await callAs(gw, 'GET', `/v1/accounts/U1000001/orders/${resting.id}`, alice))).toMatchObject({
      status: 'filled',
    });
    expect(errorCode(await callAs(gw, 'DELETE', `/v1/accounts/U1000001/orders/${resting.id}`, alice))).toBe(
      'ORDER_NOT_OPEN',
    );

    const cancelMe = json(await place(alice, 'U1000001', { type: 'LMT', limitPrice: 1, tif: 'GTC' })) as {
      id: string;
    };
    expect(
      json(await callAs(gw, 'DELETE', `/v1/accounts/U1000001/orders/${cancelMe.id}`, alice)),
    ).toMatchObject({ status: 'cancelled' });

    const day = json(await place(alice, 'U1000001', { type: 'LMT', limitPrice: 1 })) as {
      id: string;
      expiresAt: string;
    };
    // 2026-01-05 14:30Z is 09:30 in New York: the DAY order expires at 16:00 New York time.
    expect(day.expiresAt).toBe('2026-01-05T21:00:00.000Z');
    gw.clock.set(Date.parse(day.expiresAt));
    await gw.ctx.trading.matchAll();
    const evening = await loginAs(gw, ALICE); // the morning's session idled out long ago
    expect(json(await callAs(gw, 'GET', `/v1/accounts/U1000001/orders/${day.id}`, evening))).toMatchObject({
      status: 'expired',
    });
    const types = (
      json(await callAs(gw, 'GET', '/v1/accounts/U1000001/events', evening)) as {
        events: { seq: number; type: string }[];
      }
    ).events;
    expect(types.map((e) => e.seq)).toEqual(types.map((_, i) => i + 1));
    expect(types.map((e) => e.type)).toEqual([
      'accepted',
      'modified',
      'filled',
      'accepted',
      'cancelled',
      'accepted',
      'expired',
    ]);
  });

  it('answers bad input with a precise code and changes nothing', async () => {
    gw = await gatewayOn(makeDatabase);
    const alice = await trader();
    const hana = json(await callAs(gw, 'GET', '/v1/session', alice)) as { accounts: { id: string }[] };
    expect(hana.accounts.map((a) => a.id)).not.toContain('U2000002');
    const cases: [Record<string, unknown>, string, string?][] = [
      [{ instrumentId: 999_999 }, 'INSTRUMENT_NOT_FOUND'],
      [{}, 'ACCOUNT_NOT_FOUND', 'U2000002'],
      [{}, 'ACCOUNT_NOT_FOUND', 'U9999999'],
      [{ quantity: 0 }, 'QUANTITY_INVALID'],
      [{ quantity: -5 }, 'QUANTITY_INVALID'],
      [{ instrumentId: TENCENT.id, quantity: 50 }, 'QUANTITY_INVALID'],
      [{ type: 'LMT', limitPrice: 100.001 }, 'PRICE_OFF_TICK'],
      [{ type: 'LMT' }, 'LIMIT_PRICE_REQUIRED'],
      [{ type: 'STP' }, 'STOP_PRICE_REQUIRED'],
      [{ type: 'STP_LMT', limitPrice: 100 }, 'STOP_PRICE_REQUIRED'],
      [{ side: 'HOLD' }, 'INVALID_REQUEST'],
      [{ clientOrderId: '' }, 'INVALID_REQUEST'],
      [{ extra: true }, 'INVALID_REQUEST'],
    ];
    for (const [order, code, account] of cases) {
      expect(errorCode(await place(alice, account ?? 'U1000001', order)), JSON.stringify(order)).toBe(code);
    }
    expect(await counts()).toEqual({ orders: 0, events: 0 });
  });

  it('shows each account the quotes it is entitled to, and says which', async () => {
    gw = await gatewayOn(makeDatabase);
    const alice = await loginAs(gw, ALICE);
    const bruno = await loginAs(gw, BRUNO);
    const bond = bySymbol('T 4 1/4 11/15/34');
    const url = `/v1/marketdata/snapshot?instruments=${AAPL.id},${bond.id},${bySymbol('EUR.USD').id}`;
    const a = json(await callAs(gw, 'GET', url, alice)) as {
      quotes: { bid: number | null; at: string | null; entitlement: { type: string; delayMs: number } }[];
    };
    expect(a.quotes.map((q) => q.entitlement.type)).toEqual(['live', 'none', 'live']);
    expect(a.quotes[1]?.bid).toBeNull();
    const b = json(await callAs(gw, 'GET', `${url}&accountId=U2000002`, bruno)) as typeof a;
    expect(b.quotes[0]?.entitlement).toMatchObject({ type: 'delayed', delayMs: 900_000 });
    expect(b.quotes[0]?.at).toBe(new Date(gw.clock.now() - 900_000).toISOString());
    expect(b.quotes[0]?.bid).toBe(gw.ctx.marketData.feed.quoteAt(AAPL, gw.clock.now() - 900_000).bid);
    const search = json(await callAs(gw, 'GET', '/v1/instruments?symbol=AAP&assetClass=STK', alice)) as {
      instruments: { symbol: string }[];
    };
    expect(search.instruments.map((i) => i.symbol)).toEqual(['AAPL']);
    expect(errorCode(await callAs(gw, 'GET', `${url}&accountId=U2000002`, alice))).toBe('ACCOUNT_NOT_FOUND');
  });

  it('keeps orders, executions, positions, cash and events across a restart, and works the open orders on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-restart-'));
    // The gateway restarts on the same database: on SQLite a file, on PostgreSQL the test's own database.
    database = await makeDatabase();
    const config = { database: { url: database.dialect === 'sqlite' ? join(dir, 'g.db') : database.url } };
    try {
      gw = await startTestGateway({ config, database });
      const alice = await trader();
      const filled = json(
        await place(alice, 'U1000001', { quantity: 20, clientOrderId: 'before-restart' }),
      ) as {
        id: string;
      };
      const resting = json(await place(alice, 'U1000001', { type: 'LMT', limitPrice: 1, tif: 'GTC' })) as {
        id: string;
      };
      const before = json(await callAs(gw, 'GET', '/v1/accounts/U1000001/portfolio', alice));
      const clock = gw.clock;
      await gw.close();

      gw = await startTestGateway({ config, clock, database });
      const again = await trader();
      // Cash and positions are as they were (valuations move with the market).
      const after = json(await callAs(gw, 'GET', '/v1/accounts/U1000001/portfolio', again));
      const held = (p: Record<string, unknown>) =>
        (p.positions as Record<string, unknown>[]).map(({ instrumentId, symbol, quantity, avgCost }) => ({
          instrumentId,
          symbol,
          quantity,
          avgCost,
        }));
      expect({ cash: after.cash, positions: held(after) }).toEqual({
        cash: before.cash,
        positions: held(before),
      });
      expect(json(await callAs(gw, 'GET', `/v1/accounts/U1000001/orders/${filled.id}`, again))).toMatchObject(
        { status: 'filled', filledQuantity: 20 },
      );
      const executions = await gw.ctx.store.db.selectFrom('executions').select('order_id').execute();
      expect(executions.map((e) => e.order_id)).toEqual([filled.id]);
      // The clientOrderIds of the window come back with the node: a resubmission is the same order.
      const resubmitted = await place(again, 'U1000001', { quantity: 20, clientOrderId: 'before-restart' });
      expect(resubmitted.statusCode).toBe(200);
      expect(json(resubmitted).id).toBe(filled.id);
      // The resting order is still worked: modified through the market, it fills on the next pass.
      const limitPrice = Number((quoteOf(AAPL).ask + 0.5).toFixed(2));
      await callAs(gw, 'PATCH', `/v1/accounts/U1000001/orders/${resting.id}`, again, { limitPrice });
      gw.clock.advance(250);
      await gw.ctx.trading.matchAll();
      expect(
        json(await callAs(gw, 'GET', `/v1/accounts/U1000001/orders/${resting.id}`, again)),
      ).toMatchObject({ status: 'filled' });
      const seqs = (
        json(await callAs(gw, 'GET', '/v1/accounts/U1000001/events', again)) as { events: { seq: number }[] }
      ).events.map((e) => e.seq);
      expect(seqs).toEqual([1, 2, 3, 4, 5]);
    } finally {
      await gw.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('halts trading on this node when the journal finds its view of an account wrong, and says so', async () => {
    gw = await gatewayOn(makeDatabase);
    const alice = await trader();
    const resting = json(await place(alice, 'U1000001', { type: 'LMT', limitPrice: 1, tif: 'GTC' })) as {
      id: string;
    };
    // Another writer ends the order behind this node's back (what a second node on the account would do).
    await gw.ctx.store.db
      .updateTable('orders')
      .set({ status: 'cancelled' })
      .where('id', '=', resting.id)
      .execute();
    const modified = await callAs(gw, 'PATCH', `/v1/accounts/U1000001/orders/${resting.id}`, alice, {
      limitPrice: 2,
    });
    expect(modified.statusCode).toBe(503);
    expect(errorCode(modified)).toBe('TRADING_HALTED');
    expect(gw.ctx.trading.halted?.message).toContain(resting.id);
    const before = await counts();
    const refused = await place(alice, 'U1000001', {});
    expect(errorCode(refused)).toBe('TRADING_HALTED');
    expect(await counts()).toEqual(before);
    const ready = await gw.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    expect(errorCode(ready)).toBe('TRADING_HALTED');
    // Reading goes on: the database is the record.
    const order = json(await callAs(gw, 'GET', `/v1/accounts/U1000001/orders/${resting.id}`, alice));
    expect(order).toMatchObject({ status: 'cancelled', limitPrice: 1 });
  });

  it("puts a broker's own engine behind OrderRouter: its fills are committed like the paper engine's", async () => {
    const submitted: string[] = [];
    let report: RouterListener = async () => {};
    const broker: OrderRouter = {
      events: (listener) => {
        report = listener;
      },
      start: () => {},
      stop: async () => {},
      cancel: async () => {},
      modify: async () => {},
      release: () => {},
      submit: async (order) => {
        submitted.push(order.id);
        await report({
          type: 'fill',
          orderId: order.id,
          quantity: Number(order.quantity),
          price: 123.45,
          commission: 0.5,
          end: 'filled',
          triggered: false,
        });
      },
    };
    gw = await gatewayOn(makeDatabase, { orderRouter: broker });
    const alice = await trader();
    const placed = json(await place(alice, 'U1000001', { quantity: 4 })) as {
      id: string;
      status: string;
      avgFillPrice: number;
    };
    expect(placed).toMatchObject({ status: 'filled', avgFillPrice: 123.45 });
    expect(submitted).toEqual([placed.id]);
    const execution = await gw.ctx.store.db.selectFrom('executions').selectAll().executeTakeFirstOrThrow();
    expect(execution).toMatchObject({ order_id: placed.id, price: 123.45, commission: 0.5, quantity: 4 });
    const portfolio = json(await callAs(gw, 'GET', '/v1/accounts/U1000001/portfolio', alice)) as {
      cash: { USD: number };
    };
    expect(portfolio.cash.USD).toBeCloseTo(250_000 - 4 * 123.45 - 0.5, 6);
  });
});
