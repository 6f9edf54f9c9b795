/**
 * The sandbox's order faults act where the real failure strikes: a confirmation asked already expired (the reply-id
 * race), an order committed and then its connection cut before the answer (found again by its clientOrderId, never
 * placed twice), and the paper engine filling late, filling part of an order, or rejecting one it had accepted —
 * each seen as the account's events, the log the account stream carries and resumes from. The same fault on
 * another account leaves Alice's alone.
 */
import { request as httpRequest } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { INSTRUMENTS, type Instrument } from '../instruments/index.js';
import {
  ALICE,
  callAs,
  errorCode,
  json,
  type LoggedIn,
  loginTrading,
  startTestGateway,
  type TestGateway,
} from '../test-support/gateway.js';
import type { Sandbox } from './index.js';

let gw: TestGateway;
afterEach(async () => {
  await gw?.close();
});

const AAPL = INSTRUMENTS.find((i) => i.symbol === 'AAPL') as Instrument;
const OPERATOR = { type: 'operator' } as const;
let n = 0;

async function start(): Promise<{ sandbox: Sandbox; alice: LoggedIn }> {
  gw = await startTestGateway({ config: { sandbox: { enabled: true } } });
  if (gw.ctx.sandbox === null) throw new Error('sandbox off');
  return { sandbox: gw.ctx.sandbox, alice: await loginTrading(gw, ALICE) };
}

const order = (extra: Record<string, unknown> = {}) => {
  n += 1;
  return {
    clientOrderId: `ord-${n}`,
    instrumentId: AAPL.id,
    side: 'BUY',
    type: 'MKT',
    quantity: 10,
    tif: 'DAY',
    ...extra,
  };
};

const place = (as: LoggedIn, body: Record<string, unknown>, account = 'U1000001') =>
  callAs(gw, 'POST', `/v1/accounts/${account}/orders`, as, body);

interface OrderBody {
  id: string;
  status: string;
  filledQuantity: number;
}

/** The account's events after `after`: what its stream carries live and resumes from. */
async function events(as: LoggedIn, account = 'U1000001', after = 0) {
  const page = json(await callAs(gw, 'GET', `/v1/accounts/${account}/events?after=${after}`, as)) as {
    events: { type: string; orderId: string | null; data: Record<string, unknown>; at: string }[];
  };
  return page.events;
}

/** The next matching pass, `ms` later. */
async function later(ms: number) {
  gw.clock.advance(ms);
  await gw.ctx.sandbox?.tick();
  await gw.ctx.trading.matchAll();
}

const fault = (kind: string, params: Record<string, unknown> = {}, account = 'U1000001') => ({
  kind,
  target: { type: 'account', id: account },
  params,
});

describe('order faults', () => {
  it('order.confirmation_expires: the question is asked already expired; answering meets CONFIRMATION_INVALID', async () => {
    const { sandbox, alice } = await start();
    // A limit 10 % through the market: the gate asks first (the price band's confirmation).
    const through = () =>
      order({ type: 'LMT', limitPrice: Number((gw.ctx.marketData.live(AAPL).ask * 1.1).toFixed(2)) });
    const answer = (id: string) =>
      callAs(gw, 'POST', `/v1/accounts/U1000001/orders/confirmations/${id}`, alice, { confirmed: true });
    const injected = await sandbox.inject(fault('order.confirmation_expires'), OPERATOR);
    const asked = await place(alice, through());
    expect(asked.statusCode).toBe(409);
    const { confirmationId } = json(asked) as { confirmationId: string };
    // Answered at once, at the same instant: the real expired-confirmation refusal, and nothing placed.
    expect(errorCode(await answer(confirmationId))).toBe('CONFIRMATION_INVALID');
    expect(await events(alice)).toEqual([]);
    // The same fault on another account leaves Alice's questions alone.
    await sandbox.clear(injected.id, OPERATOR);
    await sandbox.inject(fault('order.confirmation_expires', {}, 'DU1000001'), OPERATOR);
    const again = json(await place(alice, through())) as { confirmationId: string };
    const placed = await answer(again.confirmationId);
    expect(placed.statusCode).toBe(201);
    expect((await events(alice)).map((e) => e.type)).toEqual(['accepted', 'filled', 'confirmed']);
  });

  it('order.response_lost: the order commits, the connection drops, and the same clientOrderId finds it', async () => {
    const { sandbox, alice } = await start();
    await sandbox.inject(fault('order.response_lost'), OPERATOR);
    const announced: string[] = [];
    gw.ctx.bus.subscribe('account.event', (m) => {
      announced.push(m.type);
    });
    const address = await gw.app.listen({ host: '127.0.0.1', port: 0 });
    const body = order();
    const cut = await new Promise<{ error?: NodeJS.ErrnoException; status?: number }>((resolve) => {
      const payload = JSON.stringify(body);
      const req = httpRequest(`${address}/v1/accounts/U1000001/orders`, {
        method: 'POST',
        headers: {
          cookie: alice.cookie,
          'x-csrf-token': alice.csrf,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
        },
      });
      req.on('response', (res) => resolve({ status: res.statusCode ?? 0 }));
      req.on('error', (error: NodeJS.ErrnoException) => resolve({ error }));
      req.end(payload);
    });
    // The client saw the connection drop, never an answer.
    expect(cut.status).toBeUndefined();
    expect(cut.error?.code).toBe('ECONNRESET');
    // Yet the order was committed: accepted, journalled, announced.
    const found = json(
      await callAs(gw, 'GET', `/v1/accounts/U1000001/orders?clientOrderId=${body.clientOrderId}`, alice),
    ) as { orders: OrderBody[] };
    expect(found.orders).toHaveLength(1);
    expect((await events(alice)).map((e) => e.type)).toEqual(['accepted', 'filled']);
    expect(announced).toContain('accepted');
    // Placing it again (the fault still holds) answers with that order, not a second one.
    const retry = await place(alice, body);
    expect(retry.statusCode).toBe(200);
    expect((json(retry) as unknown as OrderBody).id).toBe(found.orders[0]?.id);
    const all = json(await callAs(gw, 'GET', '/v1/accounts/U1000001/orders', alice)) as { orders: unknown[] };
    expect(all.orders).toHaveLength(1);
    // On another account the same fault leaves Alice's answers alone.
    await sandbox.clear(undefined, OPERATOR);
    await sandbox.inject(fault('order.response_lost', {}, 'DU1000001'), OPERATOR);
    expect((await place(alice, order())).statusCode).toBe(201);
  });

  it('order.fill_delayed: nothing fills until delayMs after acceptance', async () => {
    const { sandbox, alice } = await start();
    await sandbox.inject(fault('order.fill_delayed', { delayMs: 5_000 }), OPERATOR);
    const placed = json(await place(alice, order())) as unknown as OrderBody;
    expect(placed).toMatchObject({ status: 'working', filledQuantity: 0 });
    await later(1_000);
    await later(3_000);
    expect((await events(alice)).map((e) => e.type)).toEqual(['accepted']);
    await later(1_000);
    const log = await events(alice);
    expect(log.map((e) => e.type)).toEqual(['accepted', 'filled']);
    const [accepted, filled] = log.map((e) => Date.parse(e.at));
    expect((filled ?? 0) - (accepted ?? 0)).toBe(5_000);
    // Another account's delay leaves Alice's orders filling at once.
    await sandbox.clear(undefined, OPERATOR);
    await sandbox.inject(fault('order.fill_delayed', { delayMs: 5_000 }, 'DU1000001'), OPERATOR);
    expect(json(await place(alice, order()))).toMatchObject({ status: 'filled' });
  });

  it('order.partial_fill: only the fraction fills; the rest works while the fault holds, then fills', async () => {
    const { sandbox, alice } = await start();
    const injected = await sandbox.inject(fault('order.partial_fill', { fraction: 0.5 }), OPERATOR);
    const placed = json(await place(alice, order())) as unknown as OrderBody;
    expect(placed).toMatchObject({ status: 'working', filledQuantity: 5 });
    await later(1_000);
    await later(1_000);
    const log = await events(alice);
    expect(log.map((e) => e.type)).toEqual(['accepted', 'partially_filled']);
    expect(log[1]?.data).toMatchObject({ quantity: 5, filledQuantity: 5 });
    await sandbox.clear(injected.id, OPERATOR);
    await later(1_000);
    const done = await events(alice, 'U1000001', 2);
    expect(done.map((e) => [e.type, e.data.quantity, e.data.filledQuantity])).toEqual([['filled', 5, 10]]);
    // Another account's partial fills leave Alice's orders whole.
    await sandbox.inject(fault('order.partial_fill', { fraction: 0.5 }, 'DU1000001'), OPERATOR);
    expect(json(await place(alice, order()))).toMatchObject({ status: 'filled', filledQuantity: 10 });
  });

  it('order.rejected: the venue rejects an accepted order; a rejected event with the reason ends it', async () => {
    const { sandbox, alice } = await start();
    const announced: { type: string; data: unknown }[] = [];
    gw.ctx.bus.subscribe('account.event', (m) => {
      announced.push({ type: m.type, data: m.data });
    });
    const reason = 'Order rejected: price outside the venue’s limits';
    await sandbox.inject(fault('order.rejected', { reason }), OPERATOR);
    const body = order();
    const placed = await place(alice, body);
    expect(placed.statusCode).toBe(201);
    expect(json(placed)).toMatchObject({ status: 'working', filledQuantity: 0 });
    await later(250);
    const log = await events(alice);
    expect(log.map((e) => e.type)).toEqual(['accepted', 'rejected']);
    const rejected = { by: 'engine', reason, clientOrderId: body.clientOrderId };
    expect(log[1]).toMatchObject({ orderId: (json(placed) as unknown as OrderBody).id, data: rejected });
    expect(announced).toContainEqual({ type: 'rejected', data: rejected });
    const id = (json(placed) as unknown as OrderBody).id;
    expect(json(await callAs(gw, 'GET', `/v1/accounts/U1000001/orders/${id}`, alice))).toMatchObject({
      status: 'cancelled',
      filledQuantity: 0,
    });
    const portfolio = json(await callAs(gw, 'GET', '/v1/accounts/U1000001/portfolio', alice)) as {
      positions: unknown[];
    };
    expect(portfolio.positions).toEqual([]);
    // Another account's rejects leave Alice's orders to fill.
    await sandbox.clear(undefined, OPERATOR);
    await sandbox.inject(fault('order.rejected', { reason }, 'DU1000001'), OPERATOR);
    expect(json(await place(alice, order()))).toMatchObject({ status: 'filled' });
  });
});
