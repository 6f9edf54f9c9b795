/**
 * The failure sandbox's transport family, each fault shown by what a client meets: a maintenance window answers 503
 * with `Retry-After` on every route (and 200 again once cleared), latency delays the request, errors strike at a
 * seeded rate (the same requests fail twice), pacing refuses the request over the limit, a dropped stream closes
 * abnormally and resumes without a gap, a stalled one carries no heartbeat while it holds, and withheld events are
 * missing live but found by a resume. Faults on one user, session or client leave everyone else alone.
 */

import type { LightMyRequestResponse } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Sandbox } from '../sandbox/index.js';
import {
  ALICE,
  BRUNO,
  callAs,
  errorCode,
  type LoggedIn,
  loginAs,
  loginTrading,
  startTestGateway,
  type TestGateway,
} from '../test-support/gateway.js';
import { botToken, registerBot } from '../test-support/program.js';

let gw: TestGateway | undefined;
const sockets: WebSocket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) if (s.readyState === WebSocket.OPEN) s.close();
  await gw?.close();
  gw = undefined;
});

const OPERATOR = { type: 'operator' } as const;

async function start(listen = false): Promise<{ g: TestGateway; sandbox: Sandbox; base: string }> {
  const g = await startTestGateway({
    config: { sandbox: { enabled: true }, ...(listen ? { server: { port: 0, host: '127.0.0.1' } } : {}) },
  });
  gw = g;
  const sandbox = g.ctx.sandbox;
  if (sandbox === null) throw new Error('sandbox off');
  return { g, sandbox, base: listen ? await g.listen() : '' };
}

async function userId(g: TestGateway, username: string): Promise<string> {
  const row = await g.ctx.store.db
    .selectFrom('users')
    .select('id')
    .where('username', '=', username)
    .executeTakeFirstOrThrow();
  return row.id;
}

let orderNumber = 0;
const marketOrder = () => ({
  clientOrderId: `tr-${++orderNumber}`,
  instrumentId: 265598,
  side: 'BUY',
  type: 'MKT',
  quantity: 1,
  tif: 'DAY',
});

const whoami = (g: TestGateway, as: LoggedIn) => callAs(g, 'GET', '/v1/session', as);

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const result = await fn();
  return [result, performance.now() - t0];
}

function expectMaintenance(response: LightMyRequestResponse, what: string): void {
  expect(response.statusCode, what).toBe(503);
  expect(response.headers['retry-after'], what).toBe('120');
  const { error } = response.json() as { error: { code: string; message: string; details: unknown } };
  expect(error.code, what).toBe('SERVICE_UNAVAILABLE');
  expect(error.message, what).toMatch(/maintenance/i);
  expect(error.details, what).toEqual({ retryAfterMs: 120_000 });
}

describe('HTTP faults', () => {
  it('maintenance: every route answers 503 with Retry-After, health and readiness stay 200; cleared, all is back', async () => {
    const { g, sandbox } = await start();
    const alice = await loginTrading(g, ALICE);
    const bot = await registerBot(g, alice);
    const token = await botToken(bot);
    const fault = await sandbox.inject(
      { kind: 'maintenance', target: { type: 'all' }, params: { retryAfterS: 120 } },
      OPERATOR,
    );
    const routes: [string, () => Promise<LightMyRequestResponse>][] = [
      ['who-am-I', () => whoami(g, alice)],
      ['order entry', () => callAs(g, 'POST', '/v1/accounts/DU1000001/orders', alice, marketOrder())],
      ['portal: sessions', () => callAs(g, 'GET', '/v1/sessions', alice)],
      ['portal: factors', () => callAs(g, 'GET', '/v1/factors', alice)],
      ['portal: events', () => callAs(g, 'GET', '/v1/accounts/DU1000001/events?after=0', alice)],
      [
        'login',
        () =>
          g.app.inject({
            method: 'POST',
            url: '/v1/auth/login',
            payload: { username: ALICE.username, password: ALICE.password, channel: 'web' },
          }),
      ],
      ['oauth token', () => bot.form('/oauth2/token', { grant_type: 'client_credentials' })],
      ['DPoP read', () => bot.call('GET', '/v1/session', token)],
      ['not authenticated', () => g.app.inject({ method: 'GET', url: '/v1/session' })],
    ];
    for (const [what, call] of routes) expectMaintenance(await call(), what);
    expect((await g.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await g.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    // The refused order never reached order entry.
    expect(await g.ctx.store.db.selectFrom('orders').select('id').execute()).toEqual([]);
    expect((await sandbox.list()).find((f) => f.id === fault.id)?.hits).toBe(routes.length);

    await sandbox.clear(fault.id, OPERATOR);
    expect((await whoami(g, alice)).statusCode).toBe(200);
    expect((await callAs(g, 'POST', '/v1/accounts/DU1000001/orders', alice, marketOrder())).statusCode).toBe(
      201,
    );
    expect((await bot.form('/oauth2/token', { grant_type: 'client_credentials' })).statusCode).toBe(200);
    expect((await bot.call('GET', '/v1/session', token)).statusCode).toBe(200);
  });

  it('maintenance on one user: that user gets 503, another user is served', async () => {
    const { g, sandbox } = await start();
    const alice = await loginAs(g, ALICE);
    const bruno = await loginAs(g, BRUNO);
    await sandbox.inject(
      {
        kind: 'maintenance',
        target: { type: 'user', id: await userId(g, ALICE.username) },
        params: { retryAfterS: 120 },
      },
      OPERATOR,
    );
    expectMaintenance(await whoami(g, alice), 'alice');
    expect((await whoami(g, bruno)).statusCode).toBe(200);
    expect((await callAs(g, 'GET', '/v1/sessions', bruno)).statusCode).toBe(200);
  });

  it('latency: the target’s requests wait ms ± jitter; another user’s and /healthz do not', async () => {
    const { g, sandbox } = await start();
    const alice = await loginAs(g, ALICE);
    const bruno = await loginAs(g, BRUNO);
    await sandbox.inject(
      {
        kind: 'http.latency',
        target: { type: 'user', id: await userId(g, ALICE.username) },
        params: { ms: 1_200, jitterMs: 100 },
        schedule: { seed: 5 },
      },
      OPERATOR,
    );
    // Wide margins: a loaded machine slows every request, never by the better part of a second.
    for (let i = 0; i < 2; i += 1) {
      const [response, ms] = await timed(() => whoami(g, alice));
      expect(response.statusCode).toBe(200);
      expect(ms).toBeGreaterThanOrEqual(1_100);
    }
    const [brunos, brunoMs] = await timed(() => whoami(g, bruno));
    expect(brunos.statusCode).toBe(200);
    expect(brunoMs).toBeLessThan(700);
    const [, healthMs] = await timed(() => g.app.inject({ method: 'GET', url: '/healthz' }));
    expect(healthMs).toBeLessThan(700);
  });

  it('errors at a rate under a seed: the same requests fail twice; 429, 500 and 502 are coded as a node answers', async () => {
    const { g, sandbox } = await start();
    const alice = await loginAs(g, ALICE);
    const bruno = await loginAs(g, BRUNO);
    const target = { type: 'user', id: await userId(g, ALICE.username) } as const;
    const pattern = async () => {
      const fault = await sandbox.inject(
        { kind: 'http.error', target, params: { status: 503, rate: 0.5 }, schedule: { seed: 42 } },
        OPERATOR,
      );
      const statuses: number[] = [];
      for (let i = 0; i < 16; i += 1) {
        const response = await whoami(g, alice);
        statuses.push(response.statusCode);
        if (response.statusCode !== 200) expect(errorCode(response)).toBe('SERVICE_UNAVAILABLE');
        expect((await whoami(g, bruno)).statusCode).toBe(200);
      }
      const hits = (await sandbox.list()).find((f) => f.id === fault.id)?.hits;
      await sandbox.clear(fault.id, OPERATOR);
      return { statuses, hits };
    };
    const first = await pattern();
    const failed = first.statuses.filter((s) => s === 503).length;
    expect(failed).toBeGreaterThan(2);
    expect(failed).toBeLessThan(14);
    expect(first.hits).toBe(failed);
    expect((await pattern()).statuses).toEqual(first.statuses);

    for (const [status, code] of [
      [429, 'RATE_LIMITED'],
      [500, 'INTERNAL'],
      [502, 'SERVICE_UNAVAILABLE'],
    ] as const) {
      const fault = await sandbox.inject({ kind: 'http.error', target, params: { status } }, OPERATOR);
      const response = await whoami(g, alice);
      expect(response.statusCode).toBe(status);
      expect(errorCode(response)).toBe(code);
      expect(response.headers['retry-after']).toBe(status === 429 ? '1' : undefined);
      await sandbox.clear(fault.id, OPERATOR);
    }
    expect((await whoami(g, alice)).statusCode).toBe(200);
  });

  it('errors on an API client: its token requests and DPoP reads fail, its owner’s web session does not', async () => {
    const { g, sandbox } = await start();
    const alice = await loginAs(g, ALICE);
    const bot = await registerBot(g, alice);
    const token = await botToken(bot);
    await sandbox.inject(
      { kind: 'http.error', target: { type: 'client', id: bot.clientId }, params: { status: 503 } },
      OPERATOR,
    );
    const refused = await bot.form('/oauth2/token', { grant_type: 'client_credentials' });
    expect(refused.statusCode).toBe(503);
    expect(errorCode(refused)).toBe('SERVICE_UNAVAILABLE');
    expect((await bot.call('GET', '/v1/session', token)).statusCode).toBe(503);
    expect((await whoami(g, alice)).statusCode).toBe(200);
  });

  it('pacing: the request over N in a second gets 429 with Retry-After; another user is unaffected; the next second passes', async () => {
    const { g, sandbox } = await start();
    const alice = await loginAs(g, ALICE);
    const bruno = await loginAs(g, BRUNO);
    const fault = await sandbox.inject(
      {
        kind: 'http.pacing',
        target: { type: 'user', id: await userId(g, ALICE.username) },
        params: { perSecond: 3 },
      },
      OPERATOR,
    );
    for (let i = 0; i < 3; i += 1) expect((await whoami(g, alice)).statusCode).toBe(200);
    const over = await whoami(g, alice);
    expect(over.statusCode).toBe(429);
    expect(errorCode(over)).toBe('RATE_LIMITED');
    expect(over.headers['retry-after']).toBe('1');
    for (let i = 0; i < 5; i += 1) expect((await whoami(g, bruno)).statusCode).toBe(200);
    g.clock.advance(1_000);
    expect((await whoami(g, alice)).statusCode).toBe(200);
    await sandbox.clear(fault.id, OPERATOR);

    // On everyone, counted per client address (as IBKR paces), before authentication.
    await sandbox.inject(
      { kind: 'http.pacing', target: { type: 'all' }, params: { perSecond: 2 } },
      OPERATOR,
    );
    const from = (remoteAddress: string) =>
      g.app.inject({ method: 'GET', url: '/v1/session', remoteAddress });
    expect((await from('192.0.2.1')).statusCode).toBe(401);
    expect((await from('192.0.2.1')).statusCode).toBe(401);
    expect((await from('192.0.2.1')).statusCode).toBe(429);
    expect((await from('192.0.2.2')).statusCode).toBe(401);
  });
});

interface Message {
  topic: string;
  type: string;
  seq: number;
  eventSeq?: number;
  replayed?: boolean;
  [key: string]: unknown;
}

interface Stream {
  socket: WebSocket;
  messages: Message[];
  closed: Promise<number>;
}

function connect(base: string, as: LoggedIn, query = ''): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${base.replace('http', 'ws')}/v1/stream${query}`, {
      headers: { cookie: as.cookie, origin: base },
    });
    sockets.push(socket);
    const messages: Message[] = [];
    const closed = new Promise<number>((r) => socket.once('close', (code) => r(code)));
    socket.on('message', (raw: Buffer) => {
      const message = JSON.parse(raw.toString()) as Message;
      messages.push(message);
      if (message.type === 'hello') resolve({ socket, messages, closed });
    });
    socket.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

async function until(stream: Stream, done: (m: Message[]) => boolean, limitMs = 3_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!done(stream.messages)) {
    if (Date.now() > end)
      throw new Error(`waited for ${JSON.stringify(stream.messages.map((m) => [m.type, m.eventSeq]))}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
const orderEvents = (messages: Message[]) =>
  messages.filter((m) => m.topic === 'orders' && m.eventSeq !== undefined).map((m) => m.eventSeq as number);

async function place(g: TestGateway, as: LoggedIn): Promise<void> {
  const placed = await callAs(g, 'POST', '/v1/accounts/DU1000001/orders', as, marketOrder());
  expect(placed.statusCode).toBe(201);
}

describe('stream faults', () => {
  it('dropped: the target’s socket is cut (1006, no close frame), another user’s stays; a resume has no gap', async () => {
    const { g, sandbox, base } = await start(true);
    const alice = await loginTrading(g, ALICE);
    const bruno = await loginAs(g, BRUNO);
    const stream = await connect(base, alice, '?resumeAfter=DU1000001:0');
    const other = await connect(base, bruno);
    await place(g, alice); // events 1, 2
    await until(stream, (m) => orderEvents(m).includes(2));
    const fault = await sandbox.inject(
      { kind: 'stream.dropped', target: { type: 'user', id: await userId(g, ALICE.username) } },
      OPERATOR,
    );
    expect(await stream.closed).toBe(1006);
    expect(stream.messages.some((m) => m.type === 'revoked' || m.type === 'expired')).toBe(false);
    expect(other.socket.readyState).toBe(WebSocket.OPEN);
    expect((await sandbox.list()).find((f) => f.id === fault.id)).toMatchObject({ state: 'done', hits: 1 });
    await place(g, alice); // 3, 4 while the client is away
    const resumed = await connect(base, alice, '?resumeAfter=DU1000001:2');
    await until(resumed, (m) => m.some((x) => x.type === 'replayed'));
    await place(g, alice); // 5, 6 live
    await until(resumed, (m) => orderEvents(m).includes(6));
    expect([...orderEvents(stream.messages), ...orderEvents(resumed.messages)]).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('maintenance on a user refuses their stream upgrade with 503', async () => {
    const { g, sandbox, base } = await start(true);
    const alice = await loginAs(g, ALICE);
    await sandbox.inject(
      { kind: 'maintenance', target: { type: 'user', id: await userId(g, ALICE.username) } },
      OPERATOR,
    );
    await expect(connect(base, alice)).rejects.toThrow('HTTP 503');
  });

  it('stalled: no heartbeat nor event reaches the target while it holds, the socket stays open; then they come in order', async () => {
    const { g, sandbox, base } = await start(true);
    const alice = await loginTrading(g, ALICE);
    const bruno = await loginAs(g, BRUNO);
    const stream = await connect(base, alice, '?resumeAfter=DU1000001:0');
    const other = await connect(base, bruno);
    await until(stream, (m) => m.some((x) => x.type === 'replayed'));
    const before = stream.messages.length;
    await sandbox.inject(
      {
        kind: 'stream.stalled',
        target: { type: 'user', id: await userId(g, ALICE.username) },
        schedule: { durationMs: 30_000 },
      },
      OPERATOR,
    );
    let pings = 0;
    stream.socket.on('ping', () => {
      pings += 1;
    });
    g.clock.advance(10_000);
    await until(other, (m) => m.some((x) => x.type === 'heartbeat'));
    await place(g, alice);
    g.clock.advance(12_000);
    await until(other, (m) => m.filter((x) => x.type === 'heartbeat').length === 2);
    await pause(300);
    expect(stream.messages.length).toBe(before);
    expect(pings).toBe(0);
    expect(stream.socket.readyState).toBe(WebSocket.OPEN);

    g.clock.advance(10_000); // past the stall's end
    await sandbox.tick();
    await until(
      stream,
      (m) => orderEvents(m).includes(2) && m.filter((x) => x.type === 'heartbeat').length >= 2,
    );
    const seqs = stream.messages.map((m) => m.seq);
    expect(seqs).toEqual(seqs.map((_s, i) => i + 1));
    expect(orderEvents(stream.messages)).toEqual([1, 2]);
  });

  it('events withheld: missing live (eventSeq skips them), found by a resume and GET …/events?after=', async () => {
    const { g, sandbox, base } = await start(true);
    const alice = await loginTrading(g, ALICE);
    const resuming = await connect(base, alice, '?resumeAfter=DU1000001:0');
    const waiting = await connect(base, alice, '?resumeAfter=DU1000001:0');
    await place(g, alice); // 1, 2 live
    await until(waiting, (m) => orderEvents(m).includes(2));
    await until(resuming, (m) => orderEvents(m).includes(2));
    const fault = await sandbox.inject(
      {
        kind: 'stream.events_withheld',
        target: { type: 'user', id: await userId(g, ALICE.username) },
      },
      OPERATOR,
    );
    await place(g, alice); // 3, 4 withheld
    const log = await callAs(g, 'GET', '/v1/accounts/DU1000001/events?after=2', alice);
    expect((log.json() as { events: { seq: number }[] }).events.map((e) => e.seq)).toEqual([3, 4]);
    await pause(100);
    expect(orderEvents(waiting.messages)).toEqual([1, 2]);
    resuming.socket.send(JSON.stringify({ op: 'resume', accountId: 'DU1000001', after: 2 }));
    await until(resuming, (m) => orderEvents(m).includes(4));
    expect(resuming.messages.filter((m) => m.replayed === true).map((m) => m.eventSeq)).toEqual([3, 4]);
    expect((await sandbox.list()).find((f) => f.id === fault.id)?.hits).toBe(4);

    await sandbox.clear(fault.id, OPERATOR);
    await place(g, alice); // 5, 6 live again
    await until(waiting, (m) => orderEvents(m).includes(6));
    await until(resuming, (m) => orderEvents(m).includes(6));
    expect(orderEvents(waiting.messages)).toEqual([1, 2, 5, 6]);
    expect(orderEvents(resuming.messages)).toEqual([1, 2, 3, 4, 5, 6]);
  });
});
