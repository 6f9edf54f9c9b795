/**
 * `/v1/api/ws` over a real socket, with the `ws` client as ibind's and ibkr-client's stand-in: the `api` cookie in
 * both forms, IBKR's connect burst, `tic`, `smd` quotes as the entitled view shows them, `sor`/`str`/`spl` for an
 * order placed and filled through `/v1`, `sts` and `blt` on a takeover, and the socket's end on logout and idle
 * expiry. Every frame is held to its schema in `cpapi/wire/ws.ts`.
 */
import websocket from '@fastify/websocket';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { z } from 'zod';
import { INSTRUMENTS, type Instrument } from '../instruments/index.js';
import { type CpapiTest, startCpapiTest } from '../test-support/cpapi.js';
import { ALICE, callAs, loginTrading } from '../test-support/gateway.js';
import { DEFAULT_IDENTITY } from './face.js';
import { OrderNumbers } from './order-numbers.js';
import { apiCookieSession, streamRoutes } from './stream.js';
import {
  actFrameSchema,
  bltFrameSchema,
  formatClientMessage,
  heartbeatFrameSchema,
  smdFrameSchema,
  sorFrameSchema,
  splFrameSchema,
  strFrameSchema,
  stsFrameSchema,
  systemGreetingFrameSchema,
  ticFrameSchema,
} from './wire/index.js';

type Frame = Record<string, unknown>;

const AAPL = INSTRUMENTS.find((i) => i.symbol === 'AAPL') as Instrument;
const IP = '127.0.0.1';
const errorFrameSchema = z.strictObject({ error: z.string() });

/** The schema a frame must meet, by its topic. */
function schemaOf(frame: Frame): z.ZodType {
  const topic = typeof frame.topic === 'string' ? frame.topic : undefined;
  if (topic === undefined) return errorFrameSchema;
  if (topic === 'system') return 'hb' in frame ? heartbeatFrameSchema : systemGreetingFrameSchema;
  if (topic.startsWith('smd+')) return smdFrameSchema;
  const schemas: Record<string, z.ZodType> = {
    sts: stsFrameSchema,
    act: actFrameSchema,
    tic: ticFrameSchema,
    sor: sorFrameSchema,
    spl: splFrameSchema,
    str: strFrameSchema,
    blt: bltFrameSchema,
  };
  return schemas[topic] ?? z.never();
}

interface Client {
  socket: WebSocket;
  /** Frames in arrival order (JSON ones parsed; `ech` answers as their text). */
  frames: (Frame | string)[];
  closed: Promise<{ code: number; reason: string }>;
  send(text: string): void;
  /** The first frame from index `from` that `match` accepts, waited for at most `limitMs`. */
  next(match: (f: Frame) => boolean, from?: number, limitMs?: number): Promise<Frame>;
}

let t: CpapiTest | undefined;
let base = '';
const sockets: WebSocket[] = [];
const invalid: string[] = [];
const extraApps: { close(): Promise<unknown> }[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.terminate();
  for (const app of extraApps.splice(0)) await app.close();
  await t?.close();
  t = undefined;
  expect(invalid.splice(0)).toEqual([]);
});

async function start(): Promise<CpapiTest> {
  t = await startCpapiTest();
  base = (await t.listener.app.listen({ host: IP, port: 0 })).replace('http', 'ws');
  return t;
}

async function wsSession(c: CpapiTest): Promise<string> {
  const tickle = await c.call('POST', '/tickle');
  expect(tickle.statusCode).toBe(200);
  return (tickle.json() as { session: string }).session;
}

const jsonCookie = (session: string) => `api={"session": "${session}"}`;

/** Opens a socket with this `Cookie` header (none: null); rejects with the HTTP status of a refused upgrade. */
function connect(cookie: string | null, url = `${base}/v1/api/ws`): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers: cookie === null ? {} : { cookie } });
    sockets.push(socket);
    const frames: (Frame | string)[] = [];
    const closed = new Promise<{ code: number; reason: string }>((r) =>
      socket.once('close', (code, reason) => r({ code, reason: reason.toString() })),
    );
    socket.on('message', (raw: Buffer) => {
      const text = raw.toString();
      if (!text.startsWith('{')) {
        frames.push(text);
        return;
      }
      const frame = JSON.parse(text) as Frame;
      const checked = schemaOf(frame).safeParse(frame);
      if (!checked.success) invalid.push(`${text}: ${checked.error.message}`);
      frames.push(frame);
    });
    socket.once('unexpected-response', (_request, response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      response.on('end', () => reject(Object.assign(new Error(`HTTP ${response.statusCode}`), { body })));
    });
    socket.once('error', reject);
    socket.once('open', () =>
      resolve({
        socket,
        frames,
        closed,
        send: (text) => socket.send(text),
        async next(match, from = 0, limitMs = 5_000) {
          const end = Date.now() + limitMs;
          for (;;) {
            const found = frames.slice(from).find((f): f is Frame => typeof f !== 'string' && match(f));
            if (found !== undefined) return found;
            if (Date.now() > end)
              throw new Error(`no such frame in ${JSON.stringify(frames).slice(0, 2_000)}`);
            await new Promise((r) => setTimeout(r, 10));
          }
        },
      }),
    );
  });
}

const topic = (name: string) => (f: Frame) => f.topic === name;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Bounded: a socket that does not close in time fails the test instead of hanging it. */
function closedWithin(client: Client, ms = 5_000) {
  return Promise.race([
    client.closed,
    sleep(ms).then(() => {
      throw new Error('the socket did not close');
    }),
  ]);
}

describe('cpapi WebSocket /v1/api/ws', () => {
  it('reads the api cookie as ibind sends it (JSON, URL-encoded or not) and as a bare id', () => {
    expect(apiCookieSession('api={"session": "abc"}')).toBe('abc');
    expect(apiCookieSession(`x=1; api=${encodeURIComponent('{"session":"abc"}')}; y=2`)).toBe('abc');
    expect(apiCookieSession('api=abc')).toBe('abc');
    expect(apiCookieSession('api={"session": 5}')).toBeNull();
    expect(apiCookieSession('api={broken')).toBeNull();
    expect(apiCookieSession('apix=abc')).toBeNull();
    expect(apiCookieSession(undefined)).toBeNull();
  });

  it('opens with the cookie in either form and sends system, act and sts first', async () => {
    const c = await start();
    const session = await wsSession(c);
    const forms = [
      jsonCookie(session),
      `api=${encodeURIComponent(`{"session":"${session}"}`)}`,
      `api=${session}`,
    ];
    for (const cookie of forms) {
      const client = await connect(cookie);
      await client.next(topic('sts'));
      const [greeting, act, sts] = client.frames as Frame[];
      expect(systemGreetingFrameSchema.parse(greeting)).toMatchObject({
        success: 'alice',
        isFT: false,
        isPaper: true,
      });
      const accounts = actFrameSchema.parse(act).args;
      expect(accounts.accounts).toEqual(expect.arrayContaining(['U1000001', 'DU1000001']));
      expect(accounts.selectedAccount).toBe(accounts.accounts?.[0]);
      expect(stsFrameSchema.parse(sts).args).toMatchObject({
        authenticated: true,
        connected: true,
        competing: false,
        username: 'alice',
      });
      client.socket.close();
      await closedWithin(client);
    }
    // The `/v1/portal` alias serves the same socket.
    const portal = await connect(`api=${session}`, `${base}/v1/portal/ws`);
    await portal.next(topic('sts'));
  });

  it('refuses a wrong or missing cookie, and any cookie once logged out, with 401 before the upgrade', async () => {
    const c = await start();
    const session = await wsSession(c);
    for (const cookie of [
      null,
      'api=wrong',
      jsonCookie('wrong'),
      `other=${session}`,
      'api={"session": ""}',
    ]) {
      await expect(connect(cookie)).rejects.toMatchObject({
        message: 'HTTP 401',
        body: '{"error":"not authenticated","statusCode":401}',
      });
    }
    expect((await c.call('POST', '/logout')).statusCode).toBe(200);
    await expect(connect(jsonCookie(session))).rejects.toThrow('HTTP 401');
  });

  it('answers tic with the session id and a lastAccessed that moves with the session', async () => {
    const c = await start();
    const session = await wsSession(c);
    const client = await connect(jsonCookie(session));
    client.send(formatClientMessage({ kind: 'tic' }));
    const first = ticFrameSchema.parse(await client.next(topic('tic')));
    expect(first).toMatchObject({ alive: true, id: session, lastAccessed: c.gw.clock.now() });
    c.gw.clock.advance(60_000);
    const from = client.frames.length;
    client.send('tic');
    const second = ticFrameSchema.parse(await client.next(topic('tic'), from));
    expect(second.lastAccessed - first.lastAccessed).toBe(60_000);
  });

  it('streams smd fields equal to the entitled view, only when they change, until umd', async () => {
    const c = await start();
    const client = await connect(jsonCookie(await wsSession(c)));
    const expected = async () => {
      const principal = await c.listener.held.principal();
      const { subscriptions } = await c.gw.ctx.trading.marketDataView(principal);
      return c.gw.ctx.marketData.view(AAPL, subscriptions);
    };
    client.send(
      formatClientMessage({ kind: 'smd', conid: AAPL.id, fields: ['31', '84', '86', '6509', '55'] }),
    );
    const first = smdFrameSchema.parse(await client.next(topic(`smd+${AAPL.id}`)));
    const quote = await expected();
    expect(first).toMatchObject({
      conid: AAPL.id,
      conidEx: String(AAPL.id),
      _updated: c.gw.clock.now(),
      '31': String(quote.last),
      '84': String(quote.bid),
      '86': String(quote.ask),
      '55': 'AAPL',
      '6509': quote.entitlement.type === 'live' ? 'Rp' : 'Dp',
    });
    // The clock is frozen: the feed does not step, and nothing more is sent.
    await sleep(600);
    expect(client.frames.filter((f) => typeof f !== 'string' && f.topic === `smd+${AAPL.id}`)).toHaveLength(
      1,
    );

    // A minute on, prices moved: the next frame carries the changed fields, each as the view shows it now.
    c.gw.clock.advance(60_000);
    const from = client.frames.length;
    const update = smdFrameSchema.parse(await client.next(topic(`smd+${AAPL.id}`), from));
    const now = await expected();
    const values: Record<string, string | null> = {
      '31': String(now.last),
      '84': String(now.bid),
      '86': String(now.ask),
    };
    const changed = Object.keys(values).filter((code) => code in update);
    expect(changed.length).toBeGreaterThan(0);
    for (const code of changed) expect(update[code]).toBe(values[code]);
    expect(update).not.toHaveProperty('55');

    client.send(formatClientMessage({ kind: 'umd', conid: AAPL.id }));
    client.send('tic');
    await client.next(topic('tic'), from);
    const stopped = client.frames.length;
    c.gw.clock.advance(60_000);
    await sleep(600);
    expect(client.frames.slice(stopped).filter((f) => typeof f !== 'string' && f.topic !== 'system')).toEqual(
      [],
    );
  });

  it('ends an smd stream 10 minutes after it was asked for, as IBKR does', async () => {
    const c = await start();
    const client = await connect(jsonCookie(await wsSession(c)));
    client.send(`smd+${AAPL.id}+{"fields": ["31", "84"]}`);
    await client.next(topic(`smd+${AAPL.id}`));
    for (const step of [5 * 60_000, 5 * 60_000]) {
      c.gw.clock.advance(step);
      // Activity, so the held session does not idle out meanwhile.
      const from = client.frames.length;
      client.send('tic');
      await client.next(topic('tic'), from);
    }
    await sleep(600);
    const ended = client.frames.length;
    c.gw.clock.advance(60_000);
    await sleep(600);
    expect(client.frames.slice(ended).filter((f) => typeof f !== 'string' && f.topic !== 'system')).toEqual(
      [],
    );
  });

  it('sends the working orders on sor, then every change, the fill as str and P&L as spl', async () => {
    const c = await start();
    // A web login of Alice takes brokerage to place an order; the listener takes it back.
    const web = await loginTrading(c.gw, ALICE);
    const bid = c.gw.ctx.marketData.live(AAPL).bid;
    const placed = await callAs(c.gw, 'POST', '/v1/accounts/U1000001/orders', web, {
      clientOrderId: 'ws-sor-1',
      instrumentId: AAPL.id,
      side: 'BUY',
      type: 'LMT',
      limitPrice: Number((bid * 0.97).toFixed(2)),
      quantity: 10,
      tif: 'GTC',
    });
    expect(placed.statusCode).toBe(201);
    const order = placed.json() as { id: string; status: string };
    expect(order.status).toBe('working');
    const init = await c.call('POST', '/iserver/auth/ssodh/init', { publish: true, compete: true });
    expect(init.json()).toMatchObject({ authenticated: true });

    const client = await connect(jsonCookie(await wsSession(c)));
    client.send('sor+{}');
    const working = sorFrameSchema.parse(await client.next(topic('sor')));
    const item = working.args.find((o) => o.order_ref === 'ws-sor-1');
    expect(item).toMatchObject({
      acct: 'U1000001',
      conid: AAPL.id,
      status: 'Submitted',
      side: 'BUY',
      orderType: 'Limit',
      totalSize: 10,
      filledQuantity: 0,
      remainingQuantity: 10,
      price: String(Number((bid * 0.97).toFixed(2))),
    });
    const orderId = item?.orderId as number;
    expect(orderId).toBeGreaterThan(1_000_000_000);
    client.send('str+{"realtimeUpdatesOnly": true}');
    client.send('spl+{}');
    const pnl = splFrameSchema.parse(await client.next(topic('spl')));
    expect(pnl.args['U1000001.Core']).toMatchObject({ rowType: 1 });

    // The listener's session moves the limit through the market; the next matching pass fills the order.
    const principal = await c.listener.held.principal();
    const limitPrice = Number((c.gw.ctx.marketData.live(AAPL).ask + 0.5).toFixed(2));
    const modified = await c.gw.ctx.trading.modifyOrder(principal, 'U1000001', order.id, { limitPrice });
    expect(modified).toMatchObject({ status: 'modified', order: { status: 'working' } });
    const moved = sorFrameSchema.parse(
      await client.next((f) => f.topic === 'sor' && JSON.stringify(f).includes(`"price":"${limitPrice}"`)),
    );
    expect(moved.args[0]).toMatchObject({ orderId, status: 'Submitted' });

    const from = client.frames.length;
    c.gw.clock.advance(250);
    await c.gw.ctx.trading.matchAll();
    const filled = sorFrameSchema.parse(
      await client.next((f) => f.topic === 'sor' && JSON.stringify(f).includes('"Filled"'), from),
    );
    const fill = (await callAs(c.gw, 'GET', `/v1/accounts/U1000001/orders/${order.id}`, web)).json() as {
      avgFillPrice: number;
    };
    expect(filled.args[0]).toMatchObject({
      orderId,
      status: 'Filled',
      filledQuantity: 10,
      remainingQuantity: 0,
      avgPrice: String(fill.avgFillPrice),
    });
    const trade = strFrameSchema.parse(await client.next(topic('str'), from));
    expect(trade.args[0]).toMatchObject({
      account: 'U1000001',
      conid: String(AAPL.id),
      side: 'B',
      size: 10,
      price: String(fill.avgFillPrice),
      order_ref: 'ws-sor-1',
    });
    const after = splFrameSchema.parse(await client.next(topic('spl'), from));
    expect(Object.keys(after.args)).toEqual(['U1000001.Core']);
  });

  it('sends sts authenticated:false with a competing blt when a web login takes brokerage, and true again', async () => {
    const c = await start();
    const client = await connect(jsonCookie(await wsSession(c)));
    await client.next(topic('sts'));
    const from = client.frames.length;
    await loginTrading(c.gw, ALICE);
    const lost = stsFrameSchema.parse(await client.next(topic('sts'), from));
    expect(lost.args).toMatchObject({ authenticated: false, competing: true, connected: true });
    const notice = bltFrameSchema.parse(await client.next(topic('blt'), from));
    expect(notice.args.id).toBe('competing');
    // The /iserver streams need brokerage: a subscription is refused while competing.
    client.send(`smd+${AAPL.id}+{"fields":["31"]}`);
    expect(await client.next((f) => 'error' in f, from)).toEqual({ error: 'unable to subscribe' });

    const back = client.frames.length;
    await c.call('POST', '/iserver/auth/ssodh/init', { publish: true, compete: true });
    const regained = stsFrameSchema.parse(await client.next(topic('sts'), back));
    expect(regained.args).toMatchObject({ authenticated: true, competing: false });
  });

  it('sends a reset blt and sts authenticated:false at the daily reset, the socket staying open', async () => {
    // The test clock starts at 09:30 New York time; Alice's accounts reset with North America's schedule.
    const resets = {
      north_america: { time: '09:33', timeZone: 'America/New_York' },
      europe: { time: '00:00', timeZone: 'Europe/Zurich' },
      asia_pacific: { time: '00:00', timeZone: 'Asia/Hong_Kong' },
    };
    t = await startCpapiTest({ config: { brokerage: { resets } } });
    base = (await t.listener.app.listen({ host: IP, port: 0 })).replace('http', 'ws');
    const c = t;
    const client = await connect(jsonCookie(await wsSession(c)));
    expect(stsFrameSchema.parse(await client.next(topic('sts'))).args.authenticated).toBe(true);
    const from = client.frames.length;
    c.gw.clock.advance(3 * 60_000);
    const notice = bltFrameSchema.parse(await client.next(topic('blt'), from));
    expect(notice.args.id).toBe('reset');
    const reset = stsFrameSchema.parse(await client.next(topic('sts'), from));
    expect(reset.args).toMatchObject({ authenticated: false, competing: false, connected: true });
    expect((await c.call('POST', '/iserver/auth/status')).json()).toMatchObject({
      authenticated: false,
      connected: true,
    });
    expect(client.socket.readyState).toBe(WebSocket.OPEN);
  });

  it('sends sts authenticated:false and closes the socket on logout', async () => {
    const c = await start();
    const client = await connect(jsonCookie(await wsSession(c)));
    await client.next(topic('sts'));
    const from = client.frames.length;
    await c.call('POST', '/logout');
    const last = stsFrameSchema.parse(await client.next(topic('sts'), from));
    expect(last.args).toMatchObject({ authenticated: false, connected: false });
    expect(await closedWithin(client)).toMatchObject({ code: 1000 });
  });

  it('sends sts authenticated:false and closes the socket when the held login idles out', async () => {
    const c = await start();
    const client = await connect(jsonCookie(await wsSession(c)));
    await client.next(topic('sts'));
    const from = client.frames.length;
    c.gw.clock.advance(7 * 60_000);
    const last = stsFrameSchema.parse(await client.next(topic('sts'), from));
    expect(last.args).toMatchObject({ authenticated: false, connected: true, message: 'session expired' });
    expect(await closedWithin(client)).toMatchObject({ code: 1000 });
    expect((await c.call('POST', '/tickle')).statusCode).toBe(401);
  });

  it('answers bad frames with an error frame and stays open; echoes ech', async () => {
    const c = await start();
    const client = await connect(jsonCookie(await wsSession(c)));
    await client.next(topic('sts'));
    const from = client.frames.length;
    for (const bad of ['xyz', 'smd+abc', 'smd+265598+{bad', `smd+999999999+{"fields":["31"]}`, 'tic+1'])
      client.send(bad);
    client.socket.send(Buffer.from([1, 2, 3]), { binary: true });
    client.send('ech+hb');
    client.send('tic');
    await client.next(topic('tic'), from);
    const errors = client.frames.slice(from).filter((f) => typeof f !== 'string' && 'error' in f);
    expect(errors).toHaveLength(5);
    expect(errors).toContainEqual({ error: 'unknown conid 999999999' });
    expect(client.frames.slice(from)).toContain('ech+hb');
    expect(client.socket.readyState).toBe(WebSocket.OPEN);
  });

  it('sends the system heartbeat on its cadence, stamped with the gateway clock', async () => {
    const c = await start();
    // A second app serving the same held login with a 50 ms cadence (IBKR's is 10 s).
    const app = Fastify();
    extraApps.push(app);
    await app.register(websocket);
    await app.register(streamRoutes, {
      face: {
        held: c.listener.held,
        identity: DEFAULT_IDENTITY,
        numbers: new OrderNumbers(c.gw.ctx.store.db, c.gw.ctx.journal),
      },
      bus: c.gw.ctx.bus,
      clock: c.gw.clock,
      trading: c.gw.ctx.trading,
      marketData: c.gw.ctx.marketData,
      logger: c.gw.ctx.logger,
      heartbeatMs: 50,
    });
    const url = (await app.listen({ host: IP, port: 0 })).replace('http', 'ws');
    const client = await connect(jsonCookie(await wsSession(c)), `${url}/v1/api/ws`);
    const beat = heartbeatFrameSchema.parse(await client.next((f) => 'hb' in f));
    expect(beat.hb).toBe(c.gw.clock.now());
    c.gw.clock.advance(1_000);
    const later = heartbeatFrameSchema.parse(await client.next((f) => f.hb === c.gw.clock.now()));
    expect(later.hb - beat.hb).toBe(1_000);
  });
});
