/**
 * The drain's parts on their own (app/drain.ts); e2e/shutdown.test.ts stops a real `gatehouse serve` process.
 */
import { connect } from 'node:net';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance } from 'fastify';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { installErrorHandling } from '../http/index.js';
import { Drain, requestDeadlineMs, type Stoppable, stopWithin } from './drain.js';

function deferred() {
  let resolve: () => void = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** A logger whose lines are kept. */
function capturedLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { logger, lines };
}

async function drainingApp(more?: (app: FastifyInstance) => void) {
  const drain = new Drain();
  const app = Fastify();
  installErrorHandling(app, { dpopAlgorithms: [] });
  drain.install(app);
  const held = deferred();
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async () => ({ status: 'ready' }));
  app.post('/v1/slow', async () => {
    await held.promise;
    return { done: true };
  });
  more?.(app);
  await app.ready();
  return { app, drain, held };
}

describe('a drain', () => {
  it('refuses new requests (readyz too, not healthz) with a coded 503, Retry-After and Connection: close once it begins; the request in flight finishes', async () => {
    const { app, drain, held } = await drainingApp();
    const slow = app.inject({ method: 'POST', url: '/v1/slow' });
    await new Promise((r) => setTimeout(r, 10));
    expect(drain.inFlight().map((r) => `${r.method} ${r.route}`)).toEqual(['POST /v1/slow']);
    expect((await app.inject({ url: '/readyz' })).statusCode).toBe(200);

    drain.enter('requests');
    const ready = await app.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json().error.code).toBe('SERVICE_UNAVAILABLE');
    expect(ready.headers['retry-after']).toBe('1');
    expect(ready.headers.connection).toBe('close');
    const order = await app.inject({ method: 'POST', url: '/v1/slow' });
    expect(order.statusCode).toBe(503);
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
    // The refused ones never counted as in flight; the one that was still runs, and finishes.
    expect(drain.inFlight()).toHaveLength(1);
    held.resolve();
    expect((await slow).json()).toEqual({ done: true });
    expect(drain.inFlight()).toEqual([]);
    await app.close();
  });

  it('forgets a request whose connection was destroyed without an answer (injected: a handler that cuts its socket, as order.response_lost does)', async () => {
    const { app, drain } = await drainingApp((app) => {
      app.get('/v1/lost', async (request, reply) => {
        reply.hijack();
        request.raw.socket.destroy();
        return reply;
      });
      app.get('/v1/fine', async () => ({ ok: true }));
    });
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    await expect(fetch(`${base}/v1/lost`)).rejects.toThrow();
    expect((await fetch(`${base}/v1/fine`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 20));
    expect(drain.inFlight()).toEqual([]);
    await app.close();
  });

  it('keeps a fifth of the bound, at most 1 s, for writing behind', () => {
    expect(requestDeadlineMs(10_000)).toBe(9_000);
    expect(requestDeadlineMs(1_500)).toBe(1_200);
  });
});

/** A raw client on `port`: when it connected, what it was sent, and when the server closed it. */
function rawClient(port: number) {
  const socket = connect(port, '127.0.0.1');
  const seen = { data: '', closedAt: 0 };
  socket.on('data', (chunk) => {
    seen.data += chunk.toString();
  });
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) =>
    socket.once('close', () => {
      seen.closedAt = Date.now();
      resolve(seen.closedAt);
    }),
  );
  const connected = new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return { socket, seen, closed, connected };
}

const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i += 1) await new Promise((r) => setTimeout(r, 5));
  expect(check()).toBe(true);
};

/** The gateway's own stop of `app` (app/gateway.ts `close`), without the rest of a gateway. */
function stoppable(app: FastifyInstance, drain: Drain, graceMs: number, logger: pino.Logger): Stoppable {
  return {
    drain,
    pendingWrites: () => ({ pendingLastSeen: 0, pendingJournal: 0 }),
    close: async () => {
      drain.begin(app);
      const disarm = drain.armDeadline(app, requestDeadlineMs(graceMs), logger);
      await app.close();
      disarm();
    },
  };
}

describe('a drain against connections that are not requests', () => {
  it('closes an idle keep-alive connection when it begins, and at the request deadline destroys one still sending its headers (injected: a header line every 50 ms): cut, logged with the connection', async () => {
    const { logger, lines } = capturedLogger();
    const { app, drain } = await drainingApp();
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as { port: number };
    const idle = rawClient(port);
    await idle.connected;
    idle.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => idle.seen.data.includes('"ok"'));
    const slow = rawClient(port);
    await slow.connected;
    slow.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    let n = 0;
    const trickle = setInterval(() => slow.socket.write(`x-line-${n++}: b\r\n`), 50);
    await until(() => drain.open().connections === 2);

    const started = Date.now();
    const graceMs = 500;
    const stopped = await stopWithin(stoppable(app, drain, graceMs, logger), graceMs, logger);
    clearInterval(trickle);
    expect((await idle.closed) - started).toBeLessThan(100);
    expect((await slow.closed) - started).toBeGreaterThanOrEqual(requestDeadlineMs(graceMs) - 10);
    expect(Date.now() - started).toBeLessThan(graceMs);
    expect(stopped.outcome).toBe('cut');
    expect(stopped.outcome === 'cut' && stopped.cut).toMatchObject({
      requests: [],
      streams: 0,
      connections: 1,
    });
    expect(lines.find((l) => l.level === 50)).toMatchObject({ requests: [], streams: 0, connections: 1 });
    expect(lines.some((l) => /every request finished/.test(String(l.msg)))).toBe(false);
  });

  it('at the request deadline destroys a stream whose client stopped reading (injected: a WebSocket client that never answers the 1012 close), and names it in the cut', async () => {
    const { logger, lines } = capturedLogger();
    const drain = new Drain();
    const app = Fastify();
    drain.install(app);
    await app.register(websocket, {
      preClose(done) {
        for (const client of this.websocketServer.clients) client.close(1012, 'SERVICE_RESTART');
        this.websocketServer.close();
        done();
      },
    });
    app.get('/v1/stream', { websocket: true }, () => {});
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as { port: number };
    const stalled = rawClient(port);
    await stalled.connected;
    stalled.socket.write(
      'GET /v1/stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    await until(() => stalled.seen.data.startsWith('HTTP/1.1 101'));
    // From here the client reads nothing and sends nothing: it never answers the close frame.
    stalled.socket.pause();
    expect(drain.open()).toEqual({ streams: 1, connections: 1 });

    const started = Date.now();
    const graceMs = 500;
    const stopped = await stopWithin(stoppable(app, drain, graceMs, logger), graceMs, logger);
    expect(Date.now() - started).toBeLessThan(graceMs);
    // Destroyed on the server's side (the paused client only notices once it reads again).
    await until(() => drain.open().connections === 0);
    expect(stopped.outcome).toBe('cut');
    expect(stopped.outcome === 'cut' && stopped.cut).toMatchObject({
      requests: [],
      streams: 1,
      connections: 1,
    });
    expect(lines.find((l) => l.level === 50)).toMatchObject({ streams: 1, connections: 1 });
    stalled.socket.destroy();
  });

  it('names the streams and connections still open when the bound passes first (injected: a close that never ends)', async () => {
    const { logger, lines } = capturedLogger();
    const { app, drain } = await drainingApp();
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as { port: number };
    const held = rawClient(port);
    await held.connected;
    held.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    await until(() => drain.open().connections === 1);
    drain.enter('requests');
    const gateway: Stoppable = {
      drain,
      close: () => new Promise(() => {}),
      pendingWrites: () => ({ pendingLastSeen: 0, pendingJournal: 0 }),
    };
    const stopped = await stopWithin(gateway, 100, logger);
    expect(stopped.outcome === 'cut' && stopped.cut).toMatchObject({
      requests: [],
      streams: 0,
      connections: 1,
    });
    expect(lines.find((l) => l.level === 50)).toMatchObject({ streams: 0, connections: 1 });
    held.socket.destroy();
    await app.close();
  });
});

describe('stopWithin', () => {
  const writes = () => ({ pendingLastSeen: 3, pendingJournal: 2 });

  it('says drained when close finishes within the bound and cut nothing', async () => {
    const { logger } = capturedLogger();
    const gateway: Stoppable = { drain: new Drain(), close: async () => {}, pendingWrites: writes };
    expect((await stopWithin(gateway, 1_000, logger)).outcome).toBe('drained');
  });

  it('gives up at the bound when close hangs (injected: a close that never ends), and logs the stage, the requests and the writes left', async () => {
    const { logger, lines } = capturedLogger();
    const { app, drain } = await drainingApp();
    void app.inject({ method: 'POST', url: '/v1/slow' });
    await new Promise((r) => setTimeout(r, 10));
    drain.enter('requests');
    const gateway: Stoppable = { drain, close: () => new Promise(() => {}), pendingWrites: writes };
    const started = Date.now();
    const stopped = await stopWithin(gateway, 150, logger);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(stopped.outcome).toBe('cut');
    const line = lines.find((l) => l.level === 50);
    expect(line).toMatchObject({
      stage: 'requests',
      pendingLastSeen: 3,
      pendingJournal: 2,
      requests: [expect.objectContaining({ method: 'POST', route: '/v1/slow' })],
    });
  });

  it('says cut when close finished only because requests were cut at the request deadline', async () => {
    const { logger } = capturedLogger();
    const { app, drain, held } = await drainingApp();
    void app.inject({ method: 'POST', url: '/v1/slow' });
    await new Promise((r) => setTimeout(r, 10));
    drain.cutConnections();
    held.resolve();
    const gateway: Stoppable = { drain, close: async () => {}, pendingWrites: writes };
    const stopped = await stopWithin(gateway, 1_000, logger);
    expect(stopped.outcome).toBe('cut');
  });

  it('says failed when a step of the stop throws (injected: close rejects), logged', async () => {
    const { logger, lines } = capturedLogger();
    const gateway: Stoppable = {
      drain: new Drain(),
      close: async () => {
        throw new Error('disk gone');
      },
      pendingWrites: writes,
    };
    expect((await stopWithin(gateway, 1_000, logger)).outcome).toBe('failed');
    expect(lines.some((l) => l.msg === 'shutdown failed')).toBe(true);
  });
});
