/**
 * Changing and cancelling an order pass every check that placing it passes (issue 14, finding 1). On the code
 * before the fix, `PATCH`/`DELETE …/orders/{orderId}` checked only that the order was the account's: a second,
 * read-only session of the same user raised a resting buy from 1 to 5,000 shares, it filled, and the account's
 * cash went from USD 250,000 to about −1.29 million, where the same order placed fresh is refused
 * `INSUFFICIENT_BUYING_POWER`; a viewer, a competing session and a session that must step up could change and
 * cancel the same way. Each test here failed then.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { totpCode } from '../factors/index.js';
import { INSTRUMENTS, type Instrument } from '../instruments/index.js';
import { type TestDatabase, type TestDatabaseFactory, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  callAs,
  errorCode,
  json,
  type LoggedIn,
  loginAs,
  loginTrading,
  renewed,
  startTestGateway,
  type TestGateway,
  type TestGatewayOptions,
  VIKTOR,
} from '../test-support/gateway.js';

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

const AAPL = INSTRUMENTS.find((i) => i.symbol === 'AAPL') as Instrument;
const TEST_ADMIN_TOKEN = 'operator-token-for-the-admin-api-tests-0123';
let n = 0;

const trader = () => loginTrading(gw, ALICE);

/** A resting buy of 1 AAPL, 3 % under the bid. */
async function restingBuy(as: LoggedIn, extra: Record<string, unknown> = {}) {
  n += 1;
  const bid = gw.ctx.marketData.live(AAPL).bid;
  const placed = await callAs(gw, 'POST', '/v1/accounts/U1000001/orders', as, {
    clientOrderId: `mc-${n}`,
    instrumentId: AAPL.id,
    side: 'BUY',
    type: 'LMT',
    quantity: 1,
    limitPrice: Number((bid * 0.97).toFixed(2)),
    tif: 'GTC',
    ...extra,
  });
  expect(placed.statusCode).toBe(201);
  return json(placed) as { id: string; quantity: number; limitPrice: number };
}

const modify = (as: LoggedIn, orderId: string, change: Record<string, unknown>, headers = {}) =>
  callAs(gw, 'PATCH', `/v1/accounts/U1000001/orders/${orderId}`, as, change, headers);
const cancel = (as: LoggedIn, orderId: string, headers = {}) =>
  callAs(gw, 'DELETE', `/v1/accounts/U1000001/orders/${orderId}`, as, undefined, headers);

/** The order, the account's events and cash, to show that a refusal changed nothing. */
async function state(orderId: string) {
  const db = gw.ctx.store.db;
  const order = await db.selectFrom('orders').selectAll().where('id', '=', orderId).executeTakeFirstOrThrow();
  const events = await db.selectFrom('account_events').select('seq').execute();
  const cash = await db
    .selectFrom('cash_balances')
    .selectAll()
    .where('account_id', '=', 'U1000001')
    .execute();
  return { order, events: events.length, cash };
}

describe.each(testDatabases())('modify and cancel (issue 14, finding 1) on %s', (_name, makeDatabase) => {
  it('refuses a second, read-only session of the same user: the reproduction', async () => {
    gw = await gatewayOn(makeDatabase);
    const holder = await trader();
    const order = await restingBuy(holder);
    const readOnly = await loginAs(gw, ALICE);
    const before = await state(order.id);
    // Raised to 5,000 shares at the same limit: before the fix this answered 200, filled, and drove cash negative.
    const raised = await modify(readOnly, order.id, { quantity: 5_000 });
    expect(raised.statusCode).toBe(403);
    expect(errorCode(raised)).toBe('BROKERAGE_REQUIRED');
    // (It may cancel: issue 20 — a cancel only takes risk off. See 'lets a read-only session … cancel'.)
    await gw.ctx.trading.matchAll();
    expect(await state(order.id)).toEqual(before);
  });

  it('runs the whole gate on the changed order: buying power, price band, frozen account', async () => {
    gw = await gatewayOn(makeDatabase);
    const alice = await trader();
    const order = await restingBuy(alice);
    const before = await state(order.id);
    // The same order placed fresh is refused; so is raising a resting one to it.
    const fresh = await callAs(gw, 'POST', '/v1/accounts/U1000001/orders', alice, {
      clientOrderId: 'fresh-5000',
      instrumentId: AAPL.id,
      side: 'BUY',
      type: 'LMT',
      quantity: 5_000,
      limitPrice: order.limitPrice,
      tif: 'GTC',
    });
    expect(errorCode(fresh)).toBe('INSUFFICIENT_BUYING_POWER');
    const raised = await modify(alice, order.id, { quantity: 5_000 });
    expect(raised.statusCode).toBe(422);
    expect(json(raised)).toMatchObject({
      error: { code: 'INSUFFICIENT_BUYING_POWER', ruleId: 'REG_T', details: { currency: 'USD' } },
    });
    // A limit 30 % through the market is beyond the rejection band.
    const ask = gw.ctx.marketData.live(AAPL).ask;
    expect(errorCode(await modify(alice, order.id, { limitPrice: Number((ask * 1.3).toFixed(2)) }))).toBe(
      'PRICE_OUT_OF_BAND',
    );
    expect(await state(order.id)).toMatchObject({ order: before.order, cash: before.cash });
    // ASVS 5.0 8.2.3: a change touches only quantity and prices; side, type, instrument or account cannot be set.
    for (const field of [{ side: 'SELL' }, { type: 'MKT' }, { instrumentId: 1 }, { accountId: 'U2000002' }]) {
      expect(errorCode(await modify(alice, order.id, { quantity: 2, ...field }))).toBe('INVALID_REQUEST');
    }
    expect((await state(order.id)).order).toEqual(before.order);

    // The account is frozen by an operator: no change goes through; a cancel (which only reduces) still does.
    await gw.ctx.store.db.updateTable('accounts').set({ frozen: 1 }).where('id', '=', 'U1000001').execute();
    await gw.ctx.bus.publish('account.changed', { accountId: 'U1000001' });
    expect(errorCode(await modify(alice, order.id, { quantity: 2 }))).toBe('ACCOUNT_FROZEN');
    const cancelled = await cancel(alice, order.id);
    expect(cancelled.statusCode).toBe(200);
    expect(json(cancelled)).toMatchObject({ status: 'cancelled' });
  });

  it('asks the same questions as order entry, and the answer makes the change once', async () => {
    gw = await gatewayOn(makeDatabase);
    const alice = await trader();
    const order = await restingBuy(alice);
    // A limit 10 % through the market: inside the rejection band, so a question, as for a new order.
    const ask = gw.ctx.marketData.live(AAPL).ask;
    const through = Number((ask * 1.1).toFixed(2));
    const asked = await modify(alice, order.id, { limitPrice: through });
    expect(asked.statusCode).toBe(409);
    const { confirmationId, questions } = json(asked) as {
      confirmationId: string;
      questions: { id: string }[];
    };
    expect(questions.map((q) => q.id)).toEqual(['price_far_through_market']);
    expect((await state(order.id)).order.limit_price).toBe(order.limitPrice);
    const answered = await callAs(
      gw,
      'POST',
      `/v1/accounts/U1000001/orders/confirmations/${confirmationId}`,
      alice,
      { confirmed: true },
    );
    expect(answered.statusCode).toBe(200);
    expect(json(answered)).toMatchObject({ id: order.id, limitPrice: through });
    const again = await callAs(
      gw,
      'POST',
      `/v1/accounts/U1000001/orders/confirmations/${confirmationId}`,
      alice,
      { confirmed: true },
    );
    expect(errorCode(again)).toBe('CONFIRMATION_INVALID');
    const events = (
      await gw.ctx.store.db.selectFrom('account_events').select('type').orderBy('seq').execute()
    ).map((e) => e.type);
    expect(events.slice(-2)).toEqual(['modified', 'confirmed']);
  });

  it('leaves a confirmation unspent when a session that may not trade answers it (security review L3)', async () => {
    gw = await gatewayOn(makeDatabase);
    const alice = await trader();
    const order = await restingBuy(alice);
    const asked = await modify(alice, order.id, {
      limitPrice: Number((gw.ctx.marketData.live(AAPL).ask * 1.1).toFixed(2)),
    });
    const { confirmationId } = json(asked) as { confirmationId: string };
    const url = `/v1/accounts/U1000001/orders/confirmations/${confirmationId}`;
    // Before, the read-only session's answer spent the confirmation and then failed, leaving Alice none.
    const readOnly = await loginAs(gw, ALICE);
    expect(errorCode(await callAs(gw, 'POST', url, readOnly, { confirmed: true }))).toBe(
      'BROKERAGE_REQUIRED',
    );
    expect((await callAs(gw, 'POST', url, alice, { confirmed: true })).statusCode).toBe(200);
  });

  it('refuses a viewer on the account (an adviser looking on) with ROLE_NOT_ALLOWED', async () => {
    gw = await gatewayOn(makeDatabase);
    const order = await restingBuy(await trader());
    const viktor = await loginAs(gw, VIKTOR);
    // Viktor looks on: he sees the order…
    const seen = await callAs(gw, 'GET', `/v1/accounts/U1000001/orders/${order.id}`, viktor);
    expect(seen.statusCode).toBe(200);
    // …and may not trade, whatever tier his session has.
    await callAs(gw, 'POST', '/v1/session/brokerage', viktor, { compete: true });
    const before = await state(order.id);
    const changed = await modify(viktor, order.id, { quantity: 2 });
    expect(changed.statusCode).toBe(403);
    expect(json(changed)).toMatchObject({ error: { code: 'ROLE_NOT_ALLOWED', details: { role: 'viewer' } } });
    expect(errorCode(await cancel(viktor, order.id))).toBe('ROLE_NOT_ALLOWED');
    expect(await state(order.id)).toEqual(before);
  });

  it('refuses a competing session a change (SESSION_COMPETING), and lets it cancel: a cancel only takes risk off', async () => {
    gw = await gatewayOn(makeDatabase);
    const first = await trader();
    const order = await restingBuy(first);
    await trader(); // takes trading over: the first session is competing
    const before = await state(order.id);
    expect(errorCode(await modify(first, order.id, { quantity: 2 }))).toBe('SESSION_COMPETING');
    expect(await state(order.id)).toEqual(before);
    const cancelled = await cancel(first, order.id);
    expect(cancelled.statusCode).toBe(200);
    expect(json(cancelled)).toMatchObject({ id: order.id, status: 'cancelled' });
  });

  it('lets a read-only session that never asked for trading cancel, and refuses it a new order', async () => {
    gw = await gatewayOn(makeDatabase);
    const order = await restingBuy(await trader());
    const readOnly = await loginAs(gw, ALICE);
    expect(errorCode(await modify(readOnly, order.id, { quantity: 2 }))).toBe('BROKERAGE_REQUIRED');
    expect((await cancel(readOnly, order.id)).statusCode).toBe(200);
    expect((await state(order.id)).order.status).toBe('cancelled');
  });

  it('refuses a session that must step up; after the step-up it may', async () => {
    gw = await gatewayOn(makeDatabase);
    let alice = await trader();
    const order = await restingBuy(alice);
    const elsewhere = (method: 'PATCH' | 'DELETE' | 'POST', url: string, payload?: unknown) =>
      gw.app.inject({
        method,
        url,
        remoteAddress: '203.0.113.5',
        headers: { cookie: alice.cookie, 'x-csrf-token': alice.csrf },
        ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
      });
    const changed = await elsewhere('PATCH', `/v1/accounts/U1000001/orders/${order.id}`, { quantity: 2 });
    expect(changed.statusCode).toBe(403);
    expect(json(changed)).toMatchObject({
      error: { code: 'STEP_UP_REQUIRED', details: { reason: 'network_changed' } },
    });
    expect(errorCode(await elsewhere('DELETE', `/v1/accounts/U1000001/orders/${order.id}`))).toBe(
      'STEP_UP_REQUIRED',
    );
    expect((await state(order.id)).order.quantity).toBe(1);
    gw.clock.advance(30_000);
    const stepped = await elsewhere('POST', '/v1/session/step-up', {
      type: 'totp',
      code: totpCode(ALICE.totpSecret, gw.clock.now()),
    });
    expect(stepped.statusCode).toBe(200);
    alice = renewed(alice, stepped);
    expect(
      (await elsewhere('PATCH', `/v1/accounts/U1000001/orders/${order.id}`, { quantity: 2 })).statusCode,
    ).toBe(200);
    expect((await elsewhere('DELETE', `/v1/accounts/U1000001/orders/${order.id}`)).statusCode).toBe(200);
  });

  it('lets an operator cancel without a session, audited (dead-man and session-loss: safety tests)', async () => {
    gw = await gatewayOn(makeDatabase, { config: { secrets: { adminApiToken: TEST_ADMIN_TOKEN } } });
    const alice = await trader();
    const first = await restingBuy(alice);
    await trader(); // the first session is competing now; an operator may cancel without any session, audited

    const byOperator = await gw.app.inject({
      method: 'DELETE',
      url: `/v1/admin/accounts/U1000001/orders/${first.id}`,
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
    });
    expect(byOperator.statusCode).toBe(200);
    expect(json(byOperator)).toMatchObject({ id: first.id, status: 'cancelled' });
    const event = await gw.ctx.store.db
      .selectFrom('account_events')
      .select('data')
      .where('type', '=', 'cancelled')
      .executeTakeFirstOrThrow();
    expect(JSON.parse(event.data)).toMatchObject({ by: 'operator' });
    const audit = await gw.ctx.store.db
      .selectFrom('audit_log')
      .select('data')
      .where('type', '=', 'order.cancelled_by_operator')
      .executeTakeFirstOrThrow();
    expect(JSON.parse(audit.data)).toMatchObject({ accountId: 'U1000001', orderId: first.id });
    // Another account's order id, an unknown one, an ended one, no token: refused, nothing changes.
    const admin = (url: string, token = TEST_ADMIN_TOKEN) =>
      gw.app.inject({ method: 'DELETE', url, headers: { authorization: `Bearer ${token}` } });
    expect(errorCode(await admin(`/v1/admin/accounts/U2000002/orders/${first.id}`))).toBe('ORDER_NOT_FOUND');
    expect(errorCode(await admin('/v1/admin/accounts/U1000001/orders/ord_unknown'))).toBe('ORDER_NOT_FOUND');
    expect(errorCode(await admin(`/v1/admin/accounts/U1000001/orders/${first.id}`))).toBe('ORDER_NOT_OPEN');
    expect(errorCode(await admin(`/v1/admin/accounts/U1000001/orders/${first.id}`, 'x'.repeat(40)))).toBe(
      'UNAUTHENTICATED',
    );
  });
});
