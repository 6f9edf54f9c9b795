/**
 * Orders as a bot sees them: what counts as an orphan (a working order this supervisor did not place in this run),
 * deterministic in both directions — the bot's own order still in flight while open orders are listed is never one,
 * a person's order placed from the web while the bot runs always is, once — and the helpers every trading SDK has:
 * quotes, open orders, the portfolio, cancel-all (all, or the bot's own), and a declarative answer policy for
 * confirmation questions.
 */
import {
  ALICE,
  callAs,
  INSTRUMENTS,
  type Instrument,
  type LoggedIn,
  loginAs,
  registerBot,
  type TestGateway,
} from '@gatehouse/gateway/testing';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type Fetch, SessionSupervisor, type StreamFactory, type SupervisorOptions } from './index.js';
import { newNodeDpopKey } from './node.js';
import { botOptions, listeningGateway, restingOrder, until } from './test-support.js';

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

/** A stream whose messages can be held back (events "still on their way") and whose socket can be dropped. */
function gatedStream() {
  let holding = false;
  const held: (() => void)[] = [];
  const sockets: WebSocket[] = [];
  const factory: StreamFactory = (url, headers) => {
    const ws = new WebSocket(url, { headers });
    sockets.push(ws);
    return {
      on(event: string, listener: (...args: unknown[]) => void) {
        if (event === 'message')
          ws.on('message', (data) => (holding ? held.push(() => listener(data)) : listener(data)));
        else ws.on(event, listener);
      },
      close: () => ws.close(),
    } as never;
  };
  return {
    factory,
    hold(on: boolean) {
      holding = on;
      if (!on) for (const deliver of held.splice(0)) deliver();
    },
    drop: () => sockets.at(-1)?.terminate(),
    opened: () => sockets.filter((s) => s.readyState === WebSocket.OPEN).length,
  };
}

async function setup() {
  const started = await listeningGateway();
  gw = started.g;
  const alice = await loginAs(started.g, ALICE);
  const bot = await registerBot(started.g, alice);
  // The person and the bot may both trade (each order below is the one who placed it).
  await started.g.ctx.store.db.updateTable('users').set({ brokerage_policy: 'shared' }).execute();
  const options = async (extra: Partial<SupervisorOptions> = {}): Promise<SupervisorOptions> => ({
    ...(await botOptions(bot, started.base, started.issuer)),
    dpopKey: newNodeDpopKey(),
    trading: { compete: false },
    keepAliveMs: null,
    backoff: { initialMs: 20, maxMs: 100 },
    ...extra,
  });
  return { ...started, alice, options };
}

async function personPlaces(g: TestGateway, alice: LoggedIn, clientOrderId: string) {
  await callAs(g, 'POST', '/v1/session/brokerage', alice, { compete: false });
  const placed = await callAs(
    g,
    'POST',
    '/v1/accounts/DU1000001/orders',
    alice,
    restingOrder(g, clientOrderId),
  );
  expect(placed.statusCode).toBe(201);
}

describe('orphans', () => {
  it('never reports the bot’s own order as an orphan while it is in flight, at start or after a reconnect', async () => {
    const { g, options } = await setup();
    const stream = gatedStream();
    // Open orders are listed only once a placement's answer has come back (or after 1.5 s): the listing sees the
    // bot's order while its events are still held back — the order of things that made 1 start in 10 report it.
    let placed: () => void = () => {};
    let placedOnce = new Promise<void>((resolve) => {
      placed = resolve;
    });
    let placement: Promise<void> | null = null;
    const gated: Fetch = async (input, init) => {
      if (init.method === 'GET' && input.includes('/orders?status=open'))
        await Promise.race([placedOnce, new Promise((r) => setTimeout(r, 1_500))]);
      const response = await fetch(input, init);
      if (init.method === 'POST' && input.endsWith('/DU1000001/orders')) {
        if (placement !== null) await placement; // the second placement's answer is held until the test lets it go
        placed();
      }
      return response;
    };
    const supervisor = new SessionSupervisor(await options({ stream: stream.factory, fetch: gated }));
    const orphans: string[] = [];
    supervisor.on('orphanedOrder', (e) => orphans.push(e.order.clientOrderId));
    stream.hold(true);
    await supervisor.start();
    expect((await supervisor.placeOrder('DU1000001', restingOrder(g, 'own-1'))).status).toBe('accepted');
    await until(() => stream.opened() === 1);
    await new Promise((r) => setTimeout(r, 300));
    stream.hold(false);
    await until(() => supervisor.orders.size === 1);

    // A reconnect while the bot's next order is on its way: its answer is held until the listing has run.
    let release: () => void = () => {};
    placement = new Promise<void>((resolve) => {
      release = resolve;
    });
    placedOnce = new Promise<void>((resolve) => {
      placed = resolve;
    });
    stream.hold(true);
    let reconciled = false;
    supervisor.on('streamConnected', () => {
      reconciled = true;
    });
    const second = supervisor.placeOrder('DU1000001', restingOrder(g, 'own-2'));
    stream.drop();
    await until(() => reconciled);
    await new Promise((r) => setTimeout(r, 300)); // the listing ran (capped wait), answer still held
    release();
    expect((await second).status).toBe('accepted');
    stream.hold(false);
    await until(() => supervisor.orders.size === 2);
    expect(orphans).toEqual([]);
    await supervisor.stop();
  }, 30_000);

  it('reports a person’s order placed while the bot runs, once; and at a restart, before ready, unless claimed', async () => {
    const { g, alice, options } = await setup();
    const stream = gatedStream();
    const supervisor = new SessionSupervisor(await options({ stream: stream.factory }));
    const orphans: string[] = [];
    supervisor.on('orphanedOrder', (e) => orphans.push(e.order.clientOrderId));
    await supervisor.start();
    await until(() => stream.opened() === 1);
    expect((await supervisor.placeOrder('DU1000001', restingOrder(g, 'bot-1'))).status).toBe('accepted');
    await personPlaces(g, alice, 'person-1');
    await until(() => orphans.length === 1);
    expect(orphans).toEqual(['person-1']);
    // A reconnect lists it again: not reported twice.
    let connects = 0;
    supervisor.on('streamConnected', () => {
      connects += 1;
    });
    stream.drop();
    await until(() => connects === 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(orphans).toEqual(['person-1']);
    await supervisor.stop();

    // The next run: the person's order and the previous run's are orphans, reported before ready...
    const seen: string[] = [];
    const next = new SessionSupervisor(await options());
    next.on('orphanedOrder', (e) => seen.push(e.order.clientOrderId));
    next.on('state', (e) => seen.push(e.to));
    await next.start();
    expect(seen.slice(0, 2)).toEqual(['authenticating', 'syncing']);
    expect(seen.slice(2, 4).sort()).toEqual(['bot-1', 'person-1']);
    expect(seen.slice(4)).toEqual(['ready']);
    await next.stop();
    // ...unless the program claims its own (here by its clientOrderId prefix).
    const claimed: string[] = [];
    const claiming = new SessionSupervisor(
      await options({ isOwnOrder: (order) => order.clientOrderId.startsWith('bot-') }),
    );
    claiming.on('orphanedOrder', (e) => claimed.push(e.order.clientOrderId));
    await claiming.start();
    expect(claimed).toEqual(['person-1']);
    await claiming.stop();
  }, 30_000);
});

describe('helpers', () => {
  it('quotes, lists open orders, reads the portfolio, and cancels all or only its own', async () => {
    const { g, alice, options } = await setup();
    const supervisor = new SessionSupervisor(await options());
    await supervisor.start();
    const [quote] = await supervisor.quote([265598], 'DU1000001');
    expect(quote).toMatchObject({ instrumentId: 265598, entitlement: { type: 'live' } });
    expect(quote?.bid).toBeGreaterThan(0);
    await supervisor.placeOrder('DU1000001', restingOrder(g, 'bot-a'));
    await supervisor.placeOrder('DU1000001', restingOrder(g, 'bot-b'));
    await personPlaces(g, alice, 'person-a');
    const open = await supervisor.openOrders('DU1000001');
    expect(open.map((o) => o.clientOrderId).sort()).toEqual(['bot-a', 'bot-b', 'person-a']);
    const portfolio = await supervisor.portfolio('DU1000001');
    expect(portfolio).toMatchObject({ accountId: 'DU1000001' });
    expect(Array.isArray(portfolio.positions)).toBe(true);

    const mine = await supervisor.cancelAll('DU1000001', { mine: true });
    expect(mine.cancelled.map((o) => o.clientOrderId).sort()).toEqual(['bot-a', 'bot-b']);
    expect(mine.failed).toEqual([]);
    expect((await supervisor.openOrders('DU1000001')).map((o) => o.clientOrderId)).toEqual(['person-a']);

    // A session that lost trading may still cancel: a cancel only takes risk off (issue 20).
    await g.ctx.store.db.updateTable('users').set({ brokerage_policy: 'single' }).execute();
    await callAs(g, 'POST', '/v1/session/brokerage', alice, { compete: true });
    const all = await supervisor.cancelAll('DU1000001');
    expect(all.cancelled.map((o) => o.clientOrderId)).toEqual(['person-a']);
    expect(all.failed).toEqual([]);
    expect(await supervisor.openOrders('DU1000001')).toEqual([]);
    await supervisor.stop();
  });

  it('answers confirmation questions by its policy, and hands back any it does not answer', async () => {
    const { g, options } = await setup();
    const ask = g.ctx.marketData.live(INSTRUMENTS.find((i) => i.id === 265598) as Instrument).ask;
    const farThrough = (clientOrderId: string) =>
      ({
        clientOrderId,
        instrumentId: 265598,
        side: 'BUY',
        type: 'LMT',
        quantity: 1,
        limitPrice: Number((ask * 1.1).toFixed(2)),
        tif: 'DAY',
      }) as const;
    const byId = new SessionSupervisor(await options({ answers: { price_far_through_market: true } }));
    await byId.start();
    expect(await byId.placeOrder('DU1000001', farThrough('yes-1'))).toMatchObject({
      status: 'accepted',
      order: { clientOrderId: 'yes-1' },
    });
    await byId.stop();
    const other = new SessionSupervisor(await options({ answers: { no_market_data: true } }));
    await other.start();
    const asked = await other.placeOrder('DU1000001', farThrough('ask-1'));
    expect(asked.status).toBe('confirmation_required');
    await other.stop();
    const questions: string[] = [];
    const byFunction = new SessionSupervisor(
      await options({
        answers: (q) => {
          questions.push(q.id);
          return q.id === 'price_far_through_market';
        },
      }),
    );
    await byFunction.start();
    expect((await byFunction.placeOrder('DU1000001', farThrough('yes-2'))).status).toBe('accepted');
    expect(questions).toEqual(['price_far_through_market']);
    await byFunction.stop();
    const placed = await g.ctx.store.db.selectFrom('orders').select('client_order_id').execute();
    expect(placed.map((r) => r.client_order_id).sort()).toEqual(['yes-1', 'yes-2']);
  });
});

describe('what-if', () => {
  it('answers what placing would, placing nothing: accepted with its effect, the questions, the refusal', async () => {
    const { g, options } = await setup();
    const ask = g.ctx.marketData.live(INSTRUMENTS.find((i) => i.id === 265598) as Instrument).ask;
    const supervisor = new SessionSupervisor(await options());
    await supervisor.start();
    const buy = { instrumentId: 265598, side: 'BUY', type: 'MKT', quantity: 10, tif: 'DAY' } as const;
    const accepted = await supervisor.whatIf('DU1000001', buy);
    expect(accepted).toMatchObject({
      outcome: 'accepted',
      effect: { price: ask, commission: 1, position: { before: 0, after: 10 } },
    });
    expect(accepted.effect.buyingPower.after).toBeLessThan(accepted.effect.buyingPower.before);
    const far = { ...buy, type: 'LMT', limitPrice: Number((ask * 1.1).toFixed(2)) } as const;
    expect(await supervisor.whatIf('DU1000001', far)).toMatchObject({
      outcome: 'confirmation_required',
      questions: [{ id: 'price_far_through_market' }],
    });
    expect(await supervisor.whatIf('DU1000001', { ...buy, quantity: 1_000_000 })).toMatchObject({
      outcome: 'refused',
      refusal: { code: 'INSUFFICIENT_BUYING_POWER', ruleId: 'REG_T' },
    });
    // An unknown instrument is the request's error, thrown as placing's would be.
    await expect(supervisor.whatIf('DU1000001', { ...buy, instrumentId: 999_999_999 })).rejects.toMatchObject(
      {
        code: 'INSTRUMENT_NOT_FOUND',
      },
    );
    expect(await g.ctx.store.db.selectFrom('orders').select('id').execute()).toEqual([]);
    await supervisor.stop();
  });
});

describe('a placement that meets an account moving between gateway nodes', () => {
  it('is sent again, same clientOrderId, after the wait asked for: one order, whether or not the first landed', async () => {
    const { g, options } = await setup();
    const moving = (retryAfterMs: number) =>
      new Response(
        JSON.stringify({
          error: { code: 'ACCOUNT_MOVING', message: 'moving', details: { retryAfterMs } },
        }),
        { status: 503, headers: { 'content-type': 'application/json', 'retry-after': '1' } },
      );
    const sent: string[] = [];
    let mode: 'refuse-first' | 'lose-first' | 'pass' = 'refuse-first';
    const flaky: Fetch = async (input, init) => {
      if (init.method === 'POST' && input.endsWith('/DU1000001/orders')) {
        sent.push(String(init.body));
        if (mode === 'refuse-first') {
          mode = 'pass';
          return moving(50);
        }
        if (mode === 'lose-first') {
          // The owner placed it, and its node died before the answer came back.
          await fetch(input, init);
          mode = 'pass';
          return moving(50);
        }
      }
      return fetch(input, init);
    };
    const supervisor = new SessionSupervisor(await options({ fetch: flaky }));
    await supervisor.start();
    const refused = await supervisor.placeOrder('DU1000001', restingOrder(g, 'moving-1'));
    expect(refused.status).toBe('accepted');
    expect(sent).toHaveLength(2);
    expect(new Set(sent.map((b) => JSON.parse(b).clientOrderId))).toEqual(new Set(['moving-1']));

    mode = 'lose-first';
    const lost = await supervisor.placeOrder('DU1000001', restingOrder(g, 'moving-2'));
    expect(lost.status).toBe('existing');
    await supervisor.stop();
    const rows = await g.ctx.store.db
      .selectFrom('orders')
      .select('client_order_id')
      .where('client_order_id', 'in', ['moving-1', 'moving-2'])
      .execute();
    expect(rows.map((r) => r.client_order_id).sort()).toEqual(['moving-1', 'moving-2']);
  });
});
