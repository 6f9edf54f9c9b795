/**
 * Gap-free replay on `/v1/stream`: a client that reconnects with `resumeAfter` gets every event after its last one
 * — from the database, then live — in order, with no gap and no duplicate, also when the gateway restarted in
 * between; and a program's stream authenticates with its DPoP-bound token.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { ManualClock } from '../core/index.js';
import { type TestDatabase, type TestDatabaseFactory, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  callAs,
  type LoggedIn,
  loginAs,
  startTestGateway,
  type TestGateway,
} from '../test-support/gateway.js';
import { botToken, ISSUER, registerBot } from '../test-support/program.js';

let gw: TestGateway | undefined;
const sockets: WebSocket[] = [];
const dirs: string[] = [];
const databases: TestDatabase[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) if (s.readyState === WebSocket.OPEN) s.close();
  await gw?.close();
  gw = undefined;
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  for (const database of databases.splice(0)) await database.drop();
});

interface Restartable {
  database: TestDatabase;
  url: string;
}

/** A fresh database a gateway can restart on: on SQLite a file, on PostgreSQL the test's own database. */
async function restartable(makeDatabase: TestDatabaseFactory): Promise<Restartable> {
  const database = await makeDatabase();
  databases.push(database);
  if (database.dialect !== 'sqlite') return { database, url: database.url };
  const dir = mkdtempSync(join(tmpdir(), 'gh-replay-'));
  dirs.push(dir);
  return { database, url: join(dir, 'g.db') };
}

interface Message {
  topic: string;
  type: string;
  eventSeq?: number;
  replayed?: boolean;
  [key: string]: unknown;
}

async function start(on: Restartable, clock?: ManualClock): Promise<{ gw: TestGateway; base: string }> {
  const started = await startTestGateway({
    database: on.database,
    config: { server: { port: 0, host: '127.0.0.1' }, database: { url: on.url } },
    ...(clock === undefined ? {} : { clock, demo: false }),
  });
  gw = started;
  return { gw: started, base: await started.listen() };
}

function connect(base: string, path: string, headers: Record<string, string>) {
  return new Promise<{ socket: WebSocket; messages: Message[] }>((resolve, reject) => {
    const socket = new WebSocket(`${base.replace('http', 'ws')}${path}`, { headers });
    sockets.push(socket);
    const messages: Message[] = [];
    socket.on('message', (raw: Buffer) => {
      const message = JSON.parse(raw.toString()) as Message;
      messages.push(message);
      if (message.type === 'hello') resolve({ socket, messages });
    });
    socket.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

async function until(messages: Message[], done: (m: Message[]) => boolean, limitMs = 3_000) {
  const end = Date.now() + limitMs;
  while (!done(messages)) {
    if (Date.now() > end)
      throw new Error(`waited for ${JSON.stringify(messages.map((m) => [m.type, m.eventSeq]))}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const orderEvents = (messages: Message[]) =>
  messages.filter((m) => m.topic === 'orders' && m.eventSeq !== undefined).map((m) => m.eventSeq as number);

async function placeMarket(g: TestGateway, as: LoggedIn, id: string) {
  const placed = await callAs(g, 'POST', '/v1/accounts/DU1000001/orders', as, {
    clientOrderId: id,
    instrumentId: 265598,
    side: 'BUY',
    type: 'MKT',
    quantity: 1,
    tif: 'DAY',
  });
  expect(placed.statusCode).toBe(201);
}

describe.each(testDatabases())('gap-free replay on %s', (_name, makeDatabase) => {
  it('replays what a client missed, then goes live, across a gateway restart, with no gap and no duplicate', async () => {
    const database = await restartable(makeDatabase);
    let { gw: g, base } = await start(database);
    let alice = await loginAs(g, ALICE);
    await callAs(g, 'POST', '/v1/session/brokerage', alice, { compete: true });
    await placeMarket(g, alice, 'r1'); // events 1 (accepted), 2 (filled)
    await placeMarket(g, alice, 'r2'); // 3, 4
    // The client had seen up to 1.
    const first = await connect(base, '/v1/stream?resumeAfter=DU1000001:1', { cookie: alice.cookie });
    await until(first.messages, (m) => m.some((x) => x.type === 'replayed'));
    expect(first.messages.filter((m) => m.replayed === true).map((m) => m.eventSeq)).toEqual([2, 3, 4]);
    await placeMarket(g, alice, 'r3'); // 5, 6 live
    await until(first.messages, (m) => orderEvents(m).includes(6));
    expect(orderEvents(first.messages)).toEqual([2, 3, 4, 5, 6]);
    first.socket.close();

    // The gateway restarts; orders go on while the client is away.
    const clock = g.clock;
    await g.close();
    ({ gw: g, base } = await start(database, clock));
    alice = await loginAs(g, ALICE);
    await callAs(g, 'POST', '/v1/session/brokerage', alice, { compete: true });
    await placeMarket(g, alice, 'r4'); // 7, 8
    const second = await connect(base, '/v1/stream', { cookie: alice.cookie });
    second.socket.send(JSON.stringify({ op: 'resume', accountId: 'DU1000001', after: 6 }));
    await until(second.messages, (m) => m.some((x) => x.type === 'replayed'));
    await placeMarket(g, alice, 'r5'); // 9, 10
    await until(second.messages, (m) => orderEvents(m).includes(10));
    expect(orderEvents(second.messages)).toEqual([7, 8, 9, 10]);
    expect(second.messages.find((m) => m.type === 'replayed')).toMatchObject({
      accountId: 'DU1000001',
      lastSeq: 8,
    });
  });

  it('fills a gap in the live stream from the database, and refuses another user’s account or a bad resumeAfter', async () => {
    const { gw: g, base } = await start(await restartable(makeDatabase));
    const alice = await loginAs(g, ALICE);
    await callAs(g, 'POST', '/v1/session/brokerage', alice, { compete: true });
    const stream = await connect(base, '/v1/stream?resumeAfter=DU1000001:0', { cookie: alice.cookie });
    await until(stream.messages, (m) => m.some((x) => x.type === 'replayed'));
    await placeMarket(g, alice, 'g1'); // 1, 2 live
    await until(stream.messages, (m) => orderEvents(m).includes(2));
    // Two events whose bus messages are lost (written, never announced), then a live one: the stream fills the gap.
    await g.ctx.store.db
      .insertInto('account_events')
      .values(
        [3, 4].map((seq) => ({
          account_id: 'DU1000001',
          seq,
          type: 'modified',
          order_id: null,
          data: '{}',
          created_at: 0,
        })),
      )
      .execute();
    await placeMarket(g, alice, 'g2'); // 5, 6 live
    await until(stream.messages, (m) => orderEvents(m).includes(6));
    expect(orderEvents(stream.messages)).toEqual([1, 2, 3, 4, 5, 6]);
    stream.socket.send(JSON.stringify({ op: 'resume', accountId: 'U2000002', after: 0 }));
    await until(stream.messages, (m) => m.some((x) => x.type === 'error'));
    expect(stream.messages.find((m) => m.type === 'error')).toMatchObject({ code: 'ACCOUNT_NOT_FOUND' });
    await expect(connect(base, '/v1/stream?resumeAfter=nonsense', { cookie: alice.cookie })).rejects.toThrow(
      'HTTP 400',
    );
  });

  it('lets a program open its stream with a DPoP-bound token and see its granted account only', async () => {
    const { gw: g, base } = await start(await restartable(makeDatabase));
    const alice = await loginAs(g, ALICE);
    const bot = await registerBot(g, alice, { scopes: ['read', 'trade'] });
    const token = await botToken(bot);
    const proof = await bot.proof('GET', '/v1/stream', {
      accessToken: token,
      htu: `${ISSUER.replace(':80', '')}/v1/stream`,
    });
    const url = new URL(base);
    const htu = `http://${url.host}/v1/stream`;
    const headers = {
      authorization: `DPoP ${token}`,
      dpop: await bot.proof('GET', '/v1/stream', { accessToken: token, htu }),
    };
    const stream = await connect(base, '/v1/stream', headers);
    expect(stream.messages[0]).toMatchObject({ type: 'hello' });
    // A proof for another URL does not open it.
    await expect(
      connect(base, '/v1/stream', { authorization: `DPoP ${token}`, dpop: proof }),
    ).rejects.toThrow('HTTP 401');
    // Quotes need the marketdata scope.
    stream.socket.send(JSON.stringify({ op: 'subscribe', topic: 'marketdata', instruments: [265598] }));
    await until(stream.messages, (m) => m.some((x) => x.type === 'error'));
    expect(stream.messages.find((m) => m.type === 'error')).toMatchObject({ code: 'SCOPE_REQUIRED' });
  });
});
