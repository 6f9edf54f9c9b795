import { afterEach, describe, expect, it } from 'vitest';
import { buildOne } from '../../app/cpapi.js';
import { findInstrument } from '../../instruments/index.js';
import { type CpapiTest, startCpapiTest } from '../../test-support/cpapi.js';
import { loginTrading, VIKTOR } from '../../test-support/gateway.js';
import {
  cancelOrderResponseSchema,
  errorBodySchema,
  liveOrdersResponseSchema,
  modifyOrderResponseSchema,
  orderAckSchema,
  orderQuestionSchema,
  orderStatusResponseSchema,
  placeOrdersResponseSchema,
  tradesResponseSchema,
  whatIfResponseSchema,
} from '../wire/index.js';

const AAPL = 265598;
let t: CpapiTest | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

function ask(test: CpapiTest): number {
  const instrument = findInstrument(AAPL);
  if (instrument === undefined) throw new Error('no AAPL');
  return test.gw.ctx.marketData.live(instrument).ask;
}

const ticket = (fields: Record<string, unknown>) => ({
  orders: [{ conid: AAPL, orderType: 'LMT', side: 'BUY', tif: 'DAY', quantity: 5, ...fields }],
});

async function place(test: CpapiTest, fields: Record<string, unknown>, account = 'U1000001') {
  return test.call('POST', `/iserver/account/${account}/orders`, ticket(fields));
}

describe('cpapi orders', () => {
  it('places, lists, shows, modifies and cancels an order with IBKR numbers and shapes', async () => {
    t = await startCpapiTest();
    const price = Math.floor(ask(t) * 0.9 * 100) / 100;
    const placed = await place(t, { price, cOID: 'bot-1' });
    expect(placed.statusCode).toBe(200);
    const [ack] = placeOrdersResponseSchema.parse(placed.json()) as {
      order_id: string;
      order_status: string;
    }[];
    expect(orderAckSchema.parse(ack)).toMatchObject({ order_status: 'Submitted', encrypt_message: '1' });
    const orderId = Number(ack?.order_id);
    expect(orderId).toBeGreaterThan(1_000_000_000);
    expect(orderId).toBeLessThan(2 ** 31);

    const live = liveOrdersResponseSchema.parse((await t.call('GET', '/iserver/account/orders')).json());
    const row = live.orders.find((o) => o.orderId === orderId);
    expect(row).toMatchObject({
      conid: AAPL,
      status: 'Submitted',
      totalSize: 5,
      order_ref: 'bot-1',
      price: String(price),
    });
    const status = orderStatusResponseSchema.parse(
      (await t.call('GET', `/iserver/account/order/status/${orderId}`)).json(),
    );
    expect(status).toMatchObject({
      order_id: orderId,
      order_status: 'Submitted',
      side: 'B',
      total_size: '5',
    });

    const modified = await t.call('POST', `/iserver/account/U1000001/order/${orderId}`, {
      conid: AAPL,
      orderType: 'LMT',
      side: 'BUY',
      tif: 'DAY',
      quantity: 7,
      price,
    });
    expect(modified.statusCode).toBe(200);
    expect(modifyOrderResponseSchema.parse(modified.json())).toEqual([
      { order_id: String(orderId), local_order_id: 'bot-1', order_status: 'Submitted' },
    ]);
    const viaV1 = await t.gw.ctx.trading.list(await t.listener.held.principal(), 'U1000001', {
      clientOrderId: 'bot-1',
    });
    expect(viaV1[0]?.quantity).toBe(7);

    const cancelled = await t.call('DELETE', `/iserver/account/U1000001/order/${orderId}`);
    expect(cancelOrderResponseSchema.parse(cancelled.json())).toMatchObject({
      msg: 'Request was submitted',
      order_id: String(orderId),
      conid: String(AAPL),
    });
    const after = liveOrdersResponseSchema.parse((await t.call('GET', '/iserver/account/orders')).json());
    expect(after.orders.find((o) => o.orderId === orderId)?.status).toBe('Cancelled');
    // The filter IBKR names: only the cancelled ones; force=true answers empty, as IBKR's does.
    const filtered = liveOrdersResponseSchema.parse(
      (await t.call('GET', '/iserver/account/orders?filters=submitted')).json(),
    );
    expect(filtered.orders.some((o) => o.orderId === orderId)).toBe(false);
    expect((await t.call('GET', '/iserver/account/orders?force=true')).json()).toEqual({
      orders: [],
      snapshot: true,
    });
  });

  it('asks IBKR’s o163 question with IBKR’s text for a limit through the market; the reply places it once', async () => {
    t = await startCpapiTest();
    const through = Math.round(ask(t) * 1.08 * 100) / 100;
    const asked = await place(t, { price: through, cOID: 'far-1' });
    expect(asked.statusCode).toBe(200);
    const [question] = (asked.json() as unknown[]).map((q) => orderQuestionSchema.parse(q));
    expect(question?.messageIds).toEqual(['o163']);
    expect(question?.message[0]).toContain('price exceeds \nthe Percentage constraint of 5%.');
    expect(question?.message[0]).toContain(`"BUY 5 AAPL NASDAQ @ ${through}"`);

    // Nothing is placed before the reply.
    expect(
      liveOrdersResponseSchema.parse((await t.call('GET', '/iserver/account/orders')).json()).orders,
    ).toEqual([]);
    const replied = await t.call('POST', `/iserver/reply/${question?.id}`, { confirmed: true });
    expect(replied.statusCode).toBe(200);
    const [ack] = replied.json() as { order_id: string }[];
    // A limit through the market is marketable: the paper engine fills it at once.
    expect(orderAckSchema.parse(ack).order_status).toBe('Filled');
    // A reply id answers once.
    const again = await t.call('POST', `/iserver/reply/${question?.id}`, { confirmed: true });
    expect(again.statusCode).toBe(400);
    expect(again.json()).toEqual({ error: `reply id not found: '${question?.id}'` });
  });

  it('voids an open reply when another order is placed, and answers suppressed questions yes at once', async () => {
    t = await startCpapiTest();
    const through = Math.round(ask(t) * 1.08 * 100) / 100;
    const [first] = (await place(t, { price: through, cOID: 'q-1' })).json() as { id: string }[];
    const low = Math.floor(ask(t) * 0.9 * 100) / 100;
    expect((await place(t, { price: low, cOID: 'q-2' })).statusCode).toBe(200);
    const late = await t.call('POST', `/iserver/reply/${first?.id}`, { confirmed: true });
    expect(late.statusCode).toBe(400);
    expect(errorBodySchema.parse(late.json()).error).toContain('reply id not found');

    expect((await t.call('POST', '/iserver/questions/suppress', { messageIds: ['o163'] })).json()).toEqual({
      status: 'submitted',
    });
    const direct = await place(t, { price: through, cOID: 'q-3' });
    expect(orderAckSchema.parse((direct.json() as unknown[])[0]).order_status).toBe('Filled');
    expect((await t.call('POST', '/iserver/questions/suppress', { messageIds: ['nope'] })).statusCode).toBe(
      400,
    );
    const reset = await t.call('POST', '/iserver/questions/suppress/reset');
    expect(reset.statusCode).toBe(200);
    expect(reset.json()).toEqual({ status: 'submitted' });
    const askedAgain = await place(t, { price: through, cOID: 'q-4' });
    expect(orderQuestionSchema.parse((askedAgain.json() as unknown[])[0]).messageIds).toEqual(['o163']);
  });

  it('without a login, answers 401 on every route that places, answers, suppresses, modifies or cancels, changing nothing', async () => {
    t = await startCpapiTest({ user: null });
    const price = Math.floor(ask(t) * 0.9 * 100) / 100;
    const calls: ['POST' | 'DELETE', string, unknown][] = [
      ['POST', '/iserver/account/U1000001/orders', ticket({ price, cOID: 'anon-1' })],
      ['POST', '/iserver/account/U1000001/orders/whatif', ticket({ price })],
      ['POST', '/iserver/reply/00000000-0000-4000-8000-000000000000', { confirmed: true }],
      ['POST', '/iserver/questions/suppress', { messageIds: ['o163'] }],
      ['POST', '/iserver/questions/suppress/reset', undefined],
      ['POST', '/iserver/account/U1000001/order/1000000001', ticket({ price })],
      ['DELETE', '/iserver/account/U1000001/order/-1', undefined],
    ];
    for (const [method, path, body] of calls)
      expect((await t.call(method, path, body)).statusCode, `${method} ${path}`).toBe(401);
    expect(await t.gw.ctx.store.db.selectFrom('orders').select('id').execute()).toEqual([]);
  });

  it('refuses as the gate does, naming the code and rule, and refuses a cOID seen before as IBKR does', async () => {
    t = await startCpapiTest();
    const low = Math.floor(ask(t) * 0.9 * 100) / 100;
    const huge = await place(t, { price: low, quantity: 100_000, cOID: 'big-1' });
    expect(huge.statusCode).toBe(422);
    expect(errorBodySchema.parse(huge.json()).error).toMatch(
      /\[Gatehouse INSUFFICIENT_BUYING_POWER, rule REG_T\]$/,
    );
    expect((await place(t, { price: low, cOID: 'dup-1' })).statusCode).toBe(200);
    const dup = await place(t, { price: low, cOID: 'dup-1' });
    expect(dup.statusCode).toBe(400);
    expect(errorBodySchema.parse(dup.json()).error).toMatch(
      /^Order couldn't be submitted: Local order ID=dup-1/,
    );
    const frozen = await place(t, { price: low, cOID: 'frz-1' }, 'U1000009');
    expect(errorBodySchema.parse(frozen.json()).error).toContain('[Gatehouse ACCOUNT_FROZEN');
    for (const [fields, text] of [
      [{ orderType: 'TRAIL' }, 'order type TRAIL'],
      [{ tif: 'OPG' }, 'tif OPG'],
      [{ quantity: undefined, cashQty: 100 }, 'quantity is required'],
      [{ conid: undefined }, 'conid or conidex'],
      [{ cOID: 'bad id with spaces' }, 'cOID'],
      [{ acctId: 'U2000002' }, 'accountId is not valid'],
      [{ conid: undefined, conidex: '0x40d7e' }, 'conid or conidex'],
      [{ conid: undefined, conidex: '265598.0' }, 'conid or conidex'],
    ] as const) {
      const refused = await place(t, { price: low, ...fields });
      expect(refused.statusCode).toBe(400);
      expect(errorBodySchema.parse(refused.json()).error).toContain(text);
    }
    const live = liveOrdersResponseSchema.parse((await t.call('GET', '/iserver/account/orders')).json());
    expect(live.orders.map((o) => o.order_ref)).toEqual(['dup-1']);
  });

  it('keeps other users’ accounts and orders out, and a viewer or a competing session cannot trade', async () => {
    t = await startCpapiTest();
    const low = Math.floor(ask(t) * 0.9 * 100) / 100;
    const others = await place(t, { price: low }, 'U2000002');
    expect(errorBodySchema.parse(others.json()).error).toContain('ACCOUNT_NOT_FOUND');

    const [ack] = (await place(t, { price: low, cOID: 'mine' })).json() as { order_id: string }[];
    // Viktor, a viewer on Alice's U1000001, through a listener of his own on the same gateway: he sees the order,
    // and can neither place nor cancel.
    const viewer = await buildOne(t.gw.ctx, { host: '127.0.0.1', port: 0, tls: 'off' }, VIKTOR);
    try {
      await viewer.held.loginHeadless();
      const as = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: unknown) =>
        viewer.app.inject({
          method,
          url: `/v1/api${url}`,
          ...(payload === undefined ? {} : { payload: payload as object }),
        });
      expect((await as('GET', `/iserver/account/order/status/${ack?.order_id}`)).statusCode).toBe(200);
      const refused = await as('POST', '/iserver/account/U1000001/orders', ticket({ price: low }));
      expect(errorBodySchema.parse(refused.json()).error).toContain('[Gatehouse ROLE_NOT_ALLOWED');
      const cancel = await as('DELETE', `/iserver/account/U1000001/order/${ack?.order_id}`);
      expect(errorBodySchema.parse(cancel.json()).error).toContain('[Gatehouse ROLE_NOT_ALLOWED');
    } finally {
      await viewer.close();
    }
    expect((await t.call('DELETE', `/iserver/account/U2000002/order/${ack?.order_id}`)).statusCode).toBe(400);
    expect((await t.call('GET', '/iserver/account/order/status/999999999999')).statusCode).toBe(400);
    expect((await t.call('GET', '/iserver/account/order/status/abc')).statusCode).toBe(400);

    // A web login takes trading over: the face's session competes, and its orders are refused as "no bridge".
    await loginTrading(t.gw, {
      username: 'alice',
      password: 'alice-demo-password',
      totpSecret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP',
    });
    const competing = await place(t, { price: low, cOID: 'c-1' });
    expect(competing.statusCode).toBe(400);
    expect(errorBodySchema.parse(competing.json()).error).toMatch(
      /^Bad Request: no bridge: .*\[Gatehouse SESSION_COMPETING\]/,
    );
    // A cancel only takes risk off: the competing face may still cancel (issue 20).
    const cancel = await t.call('DELETE', `/iserver/account/U1000001/order/${ack?.order_id}`);
    expect(cancel.statusCode).toBe(200);
    expect(cancelOrderResponseSchema.parse(cancel.json()).msg).toBe('Request was submitted');
  });

  it('shows a fill as a trade, and previews an order without placing it', async () => {
    t = await startCpapiTest();
    const placed = await t.call('POST', '/iserver/account/U1000001/orders', {
      orders: [{ conid: AAPL, orderType: 'MKT', side: 'BUY', tif: 'DAY', quantity: 3, cOID: 'mkt-1' }],
    });
    expect(placed.statusCode).toBe(200);
    await t.gw.ctx.trading.matchAll();
    const trades = tradesResponseSchema.parse((await t.call('GET', '/iserver/account/trades')).json());
    expect(trades).toHaveLength(1);
    expect(trades[0]).toMatchObject({
      symbol: 'AAPL',
      side: 'B',
      size: 3,
      conid: String(AAPL),
      account: 'U1000001',
    });

    const preview = await t.call(
      'POST',
      '/iserver/account/U1000001/orders/whatif',
      ticket({ quantity: 10, price: ask(t) }),
    );
    const body = whatIfResponseSchema.parse(preview.json());
    expect(body.position).toEqual({ current: '3', change: '10', after: '13' });
    expect(body.error).toBeNull();
    const tooBig = whatIfResponseSchema.parse(
      (
        await t.call(
          'POST',
          '/iserver/account/U1000001/orders/whatif',
          ticket({ quantity: 100_000, price: ask(t) }),
        )
      ).json(),
    );
    expect(tooBig.error).toContain('INSUFFICIENT_BUYING_POWER');
    // A rule without a message of its own (a missing permission: CSPX is a UK-listed ETF) reads in plain words.
    const CSPX = 75776072;
    const unpermitted = whatIfResponseSchema.parse(
      (
        await t.call('POST', '/iserver/account/U1000001/orders/whatif', {
          orders: [{ ...ticket({ quantity: 1, price: 1 }).orders[0], conid: CSPX }],
        })
      ).json(),
    );
    expect(unpermitted.error).toBe(
      'ETF · UK not permitted on this account. The account has no trading permission for ETFs in the UK. [Gatehouse PERMISSION_MISSING]',
    );
    const two = ticket({ quantity: 1, price: ask(t) });
    two.orders.push({ ...two.orders[0] } as (typeof two.orders)[number]);
    expect((await t.call('POST', '/iserver/account/U1000001/orders/whatif', two)).statusCode).toBe(400);
    expect(
      liveOrdersResponseSchema.parse((await t.call('GET', '/iserver/account/orders')).json()).orders,
    ).toHaveLength(1);
  });
});
