/** `/v1/stream` over a real socket: upgrade authentication, competing within 100 ms, expiring before expiry. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { type TestDatabase, type TestDatabaseFactory, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  BRUNO,
  callAs,
  errorCode,
  type LoggedIn,
  loginAs,
  startTestGateway,
  type TestGateway,
} from '../test-support/gateway.js';

let gw: TestGateway;
const databases: TestDatabase[] = [];
let base: string;
const sockets: WebSocket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) if (s.readyState === WebSocket.OPEN) s.close();
  await gw.close();
  for (const database of databases.splice(0)) await database.drop();
});

/** A fresh database from `makeDatabase`, dropped after the test. */
async function fresh(makeDatabase: TestDatabaseFactory): Promise<TestDatabase> {
  const database = await makeDatabase();
  databases.push(database);
  return database;
}

interface Message {
  topic: string;
  type: string;
  seq: number;
  [key: string]: unknown;
}

function openStream(as: LoggedIn, origin: string | null = base) {
  return new Promise<{ socket: WebSocket; messages: Message[]; closed: Promise<number> }>(
    (resolve, reject) => {
      const socket = new WebSocket(`${base.replace('http', 'ws')}/v1/stream`, {
        headers: { cookie: as.cookie, ...(origin === null ? {} : { origin }) },
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
    },
  );
}

async function waitFor(messages: Message[], type: string, limitMs = 3_000): Promise<Message> {
  const end = Date.now() + limitMs;
  for (;;) {
    const found = messages.find((m) => m.type === type);
    if (found !== undefined) return found;
    if (Date.now() > end) throw new Error(`no ${type} in ${JSON.stringify(messages.map((m) => m.type))}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const post = (as: LoggedIn, url: string, payload?: unknown) => callAs(gw, 'POST', url, as, payload);

describe.each(testDatabases())('/v1/stream on %s', (_name, makeDatabase) => {
  beforeEach(async () => {
    gw = await startTestGateway({
      database: await fresh(makeDatabase),
      config: { server: { port: 0, host: '127.0.0.1' } },
    });
    base = await gw.listen();
  });

  it('closes its streams with 1012 (service restart: reconnect) when the gateway stops', async () => {
    const web = await loginAs(gw, ALICE);
    const { closed } = await openStream(web);
    // An open stream is not a request in flight: a drain does not wait for it, nor list it as cut.
    expect(gw.drain.inFlight()).toEqual([]);
    const reasons: string[] = [];
    sockets.at(-1)?.once('close', (_code, reason) => reasons.push(reason.toString()));
    await gw.close();
    expect(await closed).toBe(1012);
    expect(reasons).toEqual(['SERVICE_RESTART']);
  });

  it('tells a session it is competing within 100 ms of another session’s takeover', async () => {
    const bot = await loginAs(gw, ALICE);
    const phone = await loginAs(gw, ALICE);
    await post(bot, '/v1/session/brokerage', { compete: false });
    const { messages } = await openStream(bot);
    expect(messages[0]).toMatchObject({
      topic: 'session',
      type: 'hello',
      seq: 1,
      state: { tier: 'brokerage' },
    });
    const started = performance.now();
    expect((await post(phone, '/v1/session/brokerage', { compete: true })).statusCode).toBe(200);
    const competing = await waitFor(messages, 'competing');
    expect(performance.now() - started).toBeLessThan(100);
    expect(competing).toMatchObject({ bySessionId: phone.sessionId });
    expect(competing.seq).toBe(2);
  });

  it('announces brokerage, warns before idle expiry, then closes with a coded reason', async () => {
    const web = await loginAs(gw, ALICE);
    const { messages, closed } = await openStream(web);
    await post(web, '/v1/session/brokerage', { compete: false });
    await waitFor(messages, 'brokerage_acquired');
    gw.clock.advance(15 * 60_000 - 59_000);
    const expiring = await waitFor(messages, 'expiring');
    expect(expiring).toMatchObject({ reason: 'idle' });
    expect(expiring.inMs).toBeLessThanOrEqual(60_000);
    gw.clock.advance(60_000);
    await waitFor(messages, 'expired');
    expect(await closed).toBe(4002);
    const seqs = messages.map((m) => m.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
  });

  it('keeps its heartbeat every 10 s after the wall clock goes back an hour (not an hour of silence)', async () => {
    const web = await loginAs(gw, ALICE);
    const { messages } = await openStream(web);
    gw.clock.advance(10_000);
    await waitFor(messages, 'heartbeat');
    gw.clock.rewind(3_600_000);
    // The hub's ticker (every 250 ms) sees the clock stepped back before it moves on.
    await new Promise((r) => setTimeout(r, 600));
    gw.clock.advance(10_000);
    await vi.waitFor(() => expect(messages.filter((m) => m.type === 'heartbeat')).toHaveLength(2));
  });

  it('says revoked and closes when the session is revoked elsewhere', async () => {
    const web = await loginAs(gw, ALICE);
    const other = await loginAs(gw, ALICE);
    const { messages, closed } = await openStream(web);
    await gw.app.inject({
      method: 'DELETE',
      url: `/v1/sessions/${web.sessionId}`,
      headers: { cookie: other.cookie, 'x-csrf-token': other.csrf },
    });
    await waitFor(messages, 'revoked');
    expect(await closed).toBe(4001);
  });

  it('sends a heartbeat every 10 s, and step_up_required when the session moves to another network', async () => {
    const web = await loginAs(gw, ALICE);
    const { messages } = await openStream(web);
    gw.clock.advance(10_000);
    await waitFor(messages, 'heartbeat');
    gw.clock.advance(10_000);
    await vi.waitFor(() => expect(messages.filter((m) => m.type === 'heartbeat')).toHaveLength(2));
    const moved = await gw.app.inject({
      method: 'GET',
      url: '/v1/session',
      headers: { cookie: web.cookie },
      remoteAddress: '203.0.113.5',
    });
    expect(moved.statusCode).toBe(200);
    expect(await waitFor(messages, 'step_up_required')).toMatchObject({ reason: 'network_changed' });
    const seqs = messages.map((m) => m.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
  });

  it('says step_up_required with the country when the session is seen from a country its user never was', async () => {
    const web = await loginAs(gw, ALICE);
    const { messages } = await openStream(web);
    // Alice was seen from the United Kingdom before (the country signal's record of it).
    const { user_id } = await gw.ctx.store.db
      .selectFrom('sessions')
      .select('user_id')
      .where('id', '=', web.sessionId)
      .executeTakeFirstOrThrow();
    const now = gw.clock.now();
    await gw.ctx.store.db
      .insertInto('user_countries')
      .values({ user_id, country: 'GB', first_seen_at: now, last_seen_at: now })
      .execute();
    const moved = await gw.app.inject({
      method: 'GET',
      url: '/v1/session',
      headers: { cookie: web.cookie },
      remoteAddress: '2a00:1450:4001::1',
    });
    expect(moved.statusCode).toBe(200);
    expect(await waitFor(messages, 'step_up_required')).toMatchObject({
      reason: 'new_country',
      country: 'DE',
    });
  });

  it('says reset at the daily reset to a session that was trading, and warns before the absolute expiry', async () => {
    await gw.close();
    gw = await startTestGateway({
      database: await fresh(makeDatabase),
      config: {
        server: { port: 0, host: '127.0.0.1' },
        sessions: { web: { idleTimeoutMs: 20 * 3_600_000, absoluteLifetimeMs: 16 * 3_600_000 } },
      },
    });
    base = await gw.listen();
    const web = await loginAs(gw, ALICE);
    const { messages, closed } = await openStream(web);
    await post(web, '/v1/session/brokerage', { compete: false });
    await waitFor(messages, 'brokerage_acquired');
    const nextResetAt = String((messages[0]?.state as { nextResetAt?: unknown } | undefined)?.nextResetAt);
    gw.clock.set(Date.parse(nextResetAt));
    expect(await waitFor(messages, 'reset')).toMatchObject({ at: nextResetAt });
    // The absolute lifetime (16 h) comes before the idle one (20 h): the warning names it.
    const session = await gw.ctx.sessions.findById(web.sessionId);
    gw.clock.set((session?.expiresAt ?? 0) - 30_000);
    expect(await waitFor(messages, 'expiring')).toMatchObject({ reason: 'absolute' });
    gw.clock.advance(30_000);
    expect(await waitFor(messages, 'expired')).toMatchObject({ code: 'SESSION_EXPIRED' });
    expect(await closed).toBe(4002);
  });

  it('carries order events with their account sequence on topic orders', async () => {
    const web = await loginAs(gw, ALICE);
    const { messages } = await openStream(web);
    await post(web, '/v1/session/brokerage', { compete: false });
    const placed = await post(web, '/v1/accounts/U1000001/orders', {
      clientOrderId: 'stream-1',
      instrumentId: 265598,
      side: 'BUY',
      type: 'MKT',
      quantity: 1,
      tif: 'DAY',
    });
    expect(placed.statusCode).toBe(201);
    const filled = await waitFor(messages, 'filled');
    const accepted = messages.find((m) => m.topic === 'orders' && m.type === 'accepted');
    expect(accepted).toMatchObject({ topic: 'orders', accountId: 'U1000001', eventSeq: 1 });
    expect(filled).toMatchObject({ topic: 'orders', accountId: 'U1000001', eventSeq: 2 });
  });

  it('streams quotes with their entitlement on topic marketdata, and answers a bad request without closing', async () => {
    const web = await loginAs(gw, BRUNO);
    const { socket, messages } = await openStream(web);
    socket.send(JSON.stringify({ op: 'subscribe', topic: 'marketdata', instruments: [265598, 478149849] }));
    await waitFor(messages, 'quote');
    const quotes = () =>
      messages
        .filter((m) => m.type === 'quote')
        .map((m) => m.quote as { instrumentId: number; entitlement: { type: string } });
    expect(
      quotes()
        .slice(0, 2)
        .map((q) => [q.instrumentId, q.entitlement.type]),
    ).toEqual([
      [265598, 'delayed'],
      [478149849, 'delayed'],
    ]);
    gw.clock.advance(250);
    await vi.waitFor(() => expect(quotes().length).toBeGreaterThanOrEqual(4));
    socket.send('{"op":"subscribe","topic":"marketdata","instruments":[]}');
    expect(await waitFor(messages, 'error')).toMatchObject({ topic: 'control', code: 'INVALID_REQUEST' });
    socket.send(
      JSON.stringify({ op: 'subscribe', topic: 'marketdata', instruments: [1], accountId: 'U1000001' }),
    );
    await vi.waitFor(() =>
      expect(messages.filter((m) => m.type === 'error').map((m) => m.code)).toContain('ACCOUNT_NOT_FOUND'),
    );
    const seqs = messages.map((m) => m.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
  });

  it('refuses a foreign origin and a missing session before the socket opens', async () => {
    const web = await loginAs(gw, ALICE);
    await expect(openStream(web, 'https://evil.example')).rejects.toThrow('HTTP 403');
    await expect(openStream({ ...web, cookie: 'gh_session=nope' })).rejects.toThrow('HTTP 401');
    // A non-browser client (no Origin header) with a valid cookie is accepted.
    await expect(openStream(web, null)).resolves.toBeDefined();
    const plain = await gw.app.inject({ method: 'GET', url: '/v1/stream' });
    expect(plain.statusCode).toBe(401);
    expect(errorCode(plain)).toBe('UNAUTHENTICATED');
  });

  it('answers a plain GET (no Upgrade header) with a valid session INVALID_REQUEST, not an empty 404', async () => {
    // Found by the route fuzzer (test-support/fuzz): @fastify/websocket answered such a request an uncoded 404.
    const web = await loginAs(gw, ALICE);
    const plain = await gw.app.inject({ method: 'GET', url: '/v1/stream', headers: { cookie: web.cookie } });
    expect(plain.statusCode).toBe(400);
    expect(errorCode(plain)).toBe('INVALID_REQUEST');
    // An upgrade of the same session still opens.
    await expect(openStream(web, null)).resolves.toBeDefined();
  });
});
