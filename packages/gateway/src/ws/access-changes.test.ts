/**
 * Security review F3: an open `/v1/stream` follows the user's access as it is now, not as it was at the upgrade.
 * Before the fix the principal was captured at the upgrade: the demo viewer, his role on U1000001 taken away (REST
 * refused him at once), still received Alice's live order events on his open stream, replayed the account's history
 * on `{"op":"resume"}`, and subscribed to quotes under the account's market-data subscription; a program that
 * revoked its own access token kept its stream. On `user.changed` every stream of the user re-reads the profile
 * (a program's stays narrowed to its grant's accounts) and is re-indexed; a disabled user's stream closes; on
 * `oauth.revoked` the grant's program streams close (4001). Both reach streams on every node through the bus.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { InProcessEventBus, ManualClock } from '../core/index.js';
import { changeAccountRole } from '../identity/index.js';
import { setUserEnabled } from '../sessions/index.js';
import { type TestDatabase, type TestDatabaseFactory, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  BRUNO,
  callAs,
  type LoggedIn,
  loginAs,
  loginTrading,
  startTestGateway,
  type TestGateway,
  VIKTOR,
} from '../test-support/gateway.js';
import { ADMIN_TOKEN, botToken, copyOf, registerBot, type TestProgram } from '../test-support/program.js';

const gateways: TestGateway[] = [];
const sockets: WebSocket[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) if (s.readyState === WebSocket.OPEN) s.close();
  for (const g of gateways.splice(0).reverse()) await g.close();
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** A fresh database from `makeDatabase`, dropped after the test. */
async function fresh(makeDatabase: TestDatabaseFactory): Promise<TestDatabase> {
  const database = await makeDatabase();
  cleanups.push(() => database.drop());
  return database;
}

interface Message {
  topic: string;
  type: string;
  seq: number;
  accountId?: string;
  eventSeq?: number;
  code?: string;
  replayed?: boolean;
  [key: string]: unknown;
}

interface Stream {
  socket: WebSocket;
  messages: Message[];
  closed: Promise<number>;
  send(request: unknown): void;
}

async function start(options: Parameters<typeof startTestGateway>[0] = {}) {
  const gw = await startTestGateway({
    ...options,
    config: {
      server: { port: 0, host: '127.0.0.1' },
      secrets: { adminApiToken: ADMIN_TOKEN },
      ...options.config,
    },
  });
  gateways.push(gw);
  return { gw, base: await gw.listen() };
}

function connect(base: string, headers: Record<string, string>): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${base.replace('http', 'ws')}/v1/stream`, { headers });
    sockets.push(socket);
    const messages: Message[] = [];
    const closed = new Promise<number>((r) => socket.once('close', (code) => r(code)));
    const send = (request: unknown) => socket.send(JSON.stringify(request));
    socket.on('message', (raw: Buffer) => {
      const message = JSON.parse(raw.toString()) as Message;
      messages.push(message);
      if (message.type === 'hello') resolve({ socket, messages, closed, send });
    });
    socket.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

const personStream = (base: string, as: LoggedIn) => connect(base, { cookie: as.cookie });

async function programStream(base: string, bot: TestProgram, token: string): Promise<Stream> {
  const htu = `http://${new URL(base).host}/v1/stream`;
  return connect(base, {
    authorization: `DPoP ${token}`,
    dpop: await bot.proof('GET', '/v1/stream', { accessToken: token, htu }),
  });
}

async function until(messages: Message[], done: (m: Message[]) => boolean, what: string, limitMs = 3_000) {
  const end = Date.now() + limitMs;
  while (!done(messages)) {
    if (Date.now() > end)
      throw new Error(`no ${what} in ${JSON.stringify(messages.map((m) => [m.type, m.eventSeq ?? m.code]))}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const orderSeqs = (messages: Message[], accountId: string) =>
  messages
    .filter((m) => m.topic === 'orders' && m.accountId === accountId && m.eventSeq !== undefined)
    .map((m) => m.eventSeq as number);

const lastOrderSeq = (messages: Message[], accountId: string) =>
  Math.max(0, ...orderSeqs(messages, accountId));

/** A market order on `accountId`: two events (accepted, filled). */
async function placeMarket(gw: TestGateway, as: LoggedIn, accountId: string, id: string) {
  const placed = await callAs(gw, 'POST', `/v1/accounts/${accountId}/orders`, as, {
    clientOrderId: id,
    instrumentId: 265598,
    side: 'BUY',
    type: 'MKT',
    quantity: 1,
    tif: 'DAY',
  });
  expect(placed.statusCode).toBe(201);
}

const role = (gw: TestGateway, accountId: string, username: string, given: string | null) =>
  gw.app.inject({
    method: given === null ? 'DELETE' : 'PUT',
    url: `/v1/admin/accounts/${accountId}/roles/${username}`,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    ...(given === null ? {} : { payload: { role: given } }),
  });

/** Lets the node's ticker run a few times (it reads the frozen clock on a real 250 ms timer). */
const settle = (ms = 300) => new Promise((r) => setTimeout(r, ms));

describe.each(testDatabases())(
  'security review F3: a stream follows the current roles on %s',
  (_name, makeDatabase) => {
    it('a viewer whose role is taken away gets no more live events, replay or quotes of the account; given back, they follow again', async () => {
      const { gw, base } = await start({ database: await fresh(makeDatabase) });
      const viktor = await loginAs(gw, VIKTOR);
      const alice = await loginTrading(gw, ALICE);
      const watching = await personStream(base, viktor);
      const owner = await personStream(base, alice);
      for (const s of [watching, owner])
        s.send({ op: 'subscribe', topic: 'marketdata', instruments: [265598], accountId: 'U1000001' });
      await until(watching.messages, (m) => m.some((x) => x.type === 'quote'), 'quote');
      await placeMarket(gw, alice, 'U1000001', 'f3-1');
      await until(watching.messages, (m) => orderSeqs(m, 'U1000001').includes(2), 'events 1-2');

      expect((await role(gw, 'U1000001', 'viktor', null)).statusCode).toBe(200);
      // His quotes under the account's subscription stop, and he is told why.
      expect(await waitFor(watching, 'unsubscribed')).toMatchObject({
        topic: 'marketdata',
        accountId: 'U1000001',
        code: 'ACCOUNT_NOT_FOUND',
      });
      const quotesAtRemoval = watching.messages.filter((m) => m.type === 'quote').length;
      await placeMarket(gw, alice, 'U1000001', 'f3-2');
      await until(owner.messages, (m) => orderSeqs(m, 'U1000001').includes(4), 'events 3-4 on the owner');
      const ownerQuotes = owner.messages.filter((m) => m.type === 'quote').length;
      gw.clock.advance(250);
      await until(
        owner.messages,
        (m) => m.filter((x) => x.type === 'quote').length > ownerQuotes,
        'a new quote on the owner',
      );
      await settle();
      expect(orderSeqs(watching.messages, 'U1000001')).toEqual([1, 2]);
      expect(watching.messages.filter((m) => m.type === 'quote')).toHaveLength(quotesAtRemoval);

      // Replay and a new subscription are refused by the account-access policy, as REST refuses them.
      watching.send({ op: 'resume', accountId: 'U1000001', after: 0 });
      watching.send({ op: 'subscribe', topic: 'marketdata', instruments: [265598], accountId: 'U1000001' });
      await until(watching.messages, (m) => m.filter((x) => x.type === 'error').length === 2, 'two refusals');
      expect(watching.messages.filter((m) => m.type === 'error').map((m) => [m.topic, m.code])).toEqual([
        ['control', 'ACCOUNT_NOT_FOUND'],
        ['control', 'ACCOUNT_NOT_FOUND'],
      ]);
      expect(watching.messages.some((m) => m.replayed === true || m.type === 'replayed')).toBe(false);
      expect(watching.socket.readyState).toBe(WebSocket.OPEN);

      // Given back: the open stream follows the account again. The events it did not get meanwhile are the
      // account's to a viewer now, so the stream fills the gap from the database, as after any lost message.
      expect((await role(gw, 'U1000001', 'viktor', 'viewer')).statusCode).toBe(200);
      await settle(50);
      await placeMarket(gw, alice, 'U1000001', 'f3-3');
      await until(watching.messages, (m) => orderSeqs(m, 'U1000001').includes(6), 'events 5-6');
      expect(orderSeqs(watching.messages, 'U1000001')).toEqual([1, 2, 3, 4, 5, 6]);
      // The owner's stream never missed a thing.
      await until(owner.messages, (m) => orderSeqs(m, 'U1000001').includes(6), 'events 5-6 on the owner');
      expect(orderSeqs(owner.messages, 'U1000001')).toEqual([1, 2, 3, 4, 5, 6]);
    });

    it('a role given while the stream is open brings the account’s live events; another user’s stream sees none', async () => {
      const { gw, base } = await start({ database: await fresh(makeDatabase) });
      const bruno = await loginAs(gw, BRUNO);
      const alice = await loginTrading(gw, ALICE);
      const stream = await personStream(base, bruno);
      await placeMarket(gw, alice, 'U1000001', 'f3-before');
      expect((await role(gw, 'U1000001', 'bruno', 'viewer')).statusCode).toBe(200);
      await settle(50);
      await placeMarket(gw, alice, 'U1000001', 'f3-after');
      await until(stream.messages, (m) => orderSeqs(m, 'U1000001').includes(4), 'events 3-4');
      expect(orderSeqs(stream.messages, 'U1000001')).toEqual([3, 4]);
      // The account's history is his to replay now.
      stream.send({ op: 'resume', accountId: 'U1000001', after: 0 });
      await until(stream.messages, (m) => m.some((x) => x.type === 'replayed'), 'replayed');
      expect(stream.messages.find((m) => m.type === 'replayed')).toMatchObject({ lastSeq: 4 });

      // A user changed is only that user: Viktor's removal leaves Bruno's stream as it was.
      expect((await role(gw, 'U1000001', 'viktor', null)).statusCode).toBe(200);
      await settle(50);
      await placeMarket(gw, alice, 'U1000001', 'f3-other');
      await until(stream.messages, (m) => orderSeqs(m, 'U1000001').includes(6), 'events 5-6');
    });

    it('follows a change no bus message announced (the CLI’s, another process) within 30 s', async () => {
      const { gw, base } = await start({ database: await fresh(makeDatabase) });
      const viktor = await loginAs(gw, VIKTOR);
      const alice = await loginTrading(gw, ALICE);
      const watching = await personStream(base, viktor);
      // As `gatehouse account revoke` does it: the same database, its own bus, which this node does not hear.
      await changeAccountRole(
        { db: gw.ctx.store.db, clock: gw.clock, bus: new InProcessEventBus() },
        { accountId: 'U1000001', username: 'viktor', role: null, via: 'cli', ip: null },
      );
      await placeMarket(gw, alice, 'U1000001', 'f3-cli-1');
      await until(
        watching.messages,
        (m) => orderSeqs(m, 'U1000001').includes(2),
        'events 1-2 (not yet known)',
      );
      gw.clock.advance(30_000);
      await settle(600);
      await placeMarket(gw, alice, 'U1000001', 'f3-cli-2');
      await settle();
      expect(orderSeqs(watching.messages, 'U1000001')).toEqual([1, 2]);
    });

    it('closes the streams of a disabled user as revoked', async () => {
      const { gw, base } = await start({ database: await fresh(makeDatabase) });
      const alice = await loginAs(gw, ALICE);
      const bruno = await loginAs(gw, BRUNO);
      const stream = await personStream(base, alice);
      const other = await personStream(base, bruno);
      await setUserEnabled(
        { db: gw.ctx.store.db, clock: gw.clock, bus: gw.ctx.bus, sessions: gw.ctx.sessions },
        'alice',
        false,
        'cli',
      );
      expect(await stream.closed).toBe(4001);
      expect(stream.messages.at(-1)).toMatchObject({ type: 'revoked', code: 'SESSION_REVOKED' });
      expect(other.socket.readyState).toBe(WebSocket.OPEN);
    });

    it('a program’s stream follows its user’s roles, within its grant’s accounts only', async () => {
      const { gw, base } = await start({ database: await fresh(makeDatabase) });
      const viktor = await loginAs(gw, VIKTOR);
      const adviserBot = await registerBot(gw, viktor, { accounts: ['U1000001'], scopes: ['read'] });
      const alice = await loginTrading(gw, ALICE);
      const aliceBot = await registerBot(gw, alice, { accounts: ['DU1000001'], scopes: ['read'] });
      const adviser = await programStream(base, adviserBot, await botToken(adviserBot));
      const own = await programStream(base, aliceBot, await botToken(aliceBot));
      const person = await personStream(base, alice);
      await placeMarket(gw, alice, 'U1000001', 'f3-p1');
      await until(adviser.messages, (m) => orderSeqs(m, 'U1000001').includes(2), 'events 1-2');

      // Viktor loses the account: his program does too.
      expect((await role(gw, 'U1000001', 'viktor', null)).statusCode).toBe(200);
      // Alice's profile changes (a role on Bruno's account): her program's stream re-reads it and stays on the
      // accounts of its grant.
      expect((await role(gw, 'U2000002', 'alice', 'viewer')).statusCode).toBe(200);
      await settle(50);
      await placeMarket(gw, alice, 'U1000001', 'f3-p2');
      await placeMarket(gw, alice, 'DU1000001', 'f3-p3');
      await until(own.messages, (m) => orderSeqs(m, 'DU1000001').includes(2), 'DU1000001 on the program');
      await until(person.messages, (m) => orderSeqs(m, 'U1000001').includes(4), 'events 3-4 on the web');
      await settle();
      expect(orderSeqs(adviser.messages, 'U1000001')).toEqual([1, 2]);
      expect(orderSeqs(own.messages, 'U1000001')).toEqual([]);
      adviser.send({ op: 'resume', accountId: 'U1000001', after: 0 });
      own.send({ op: 'resume', accountId: 'U2000002', after: 0 });
      own.send({ op: 'resume', accountId: 'U1000001', after: 0 });
      await until(adviser.messages, (m) => m.some((x) => x.type === 'error'), 'a refusal');
      await until(own.messages, (m) => m.filter((x) => x.type === 'error').length === 2, 'two refusals');
      for (const s of [adviser, own])
        expect(s.messages.filter((m) => m.type === 'error').map((m) => m.code)).toEqual(
          s === own ? ['ACCOUNT_NOT_FOUND', 'ACCOUNT_NOT_FOUND'] : ['ACCOUNT_NOT_FOUND'],
        );
    });
  },
);

describe.each(testDatabases())(
  'security review F3: a revoked grant or token closes its program streams on %s',
  (_name, makeDatabase) => {
    it('closes every stream of the grant when the program revokes a token of it, or the user revokes the client; other grants stay', async () => {
      const { gw, base } = await start({ database: await fresh(makeDatabase) });
      const alice = await loginAs(gw, ALICE);
      const bot = await registerBot(gw, alice);
      const other = await registerBot(gw, alice);
      const first = await botToken(bot);
      const second = await botToken(bot);
      const stream = await programStream(base, bot, first);
      const untouched = await programStream(base, other, await botToken(other));

      // The program revokes its second token (RFC 7009): the stream opened with the first one closes too.
      expect((await bot.form('/oauth2/revoke', { token: second })).statusCode).toBe(200);
      expect(await stream.closed).toBe(4001);
      expect(stream.messages.at(-1)).toMatchObject({ type: 'revoked', code: 'SESSION_REVOKED' });
      expect(untouched.socket.readyState).toBe(WebSocket.OPEN);

      // Its grant lives on: a new token opens a stream, which closes when the user revokes the client.
      const again = await programStream(base, bot, await botToken(bot));
      const revoked = await callAs(gw, 'DELETE', `/v1/oauth/clients/${bot.clientId}`, alice);
      expect(revoked.statusCode).toBe(204);
      expect(await again.closed).toBe(4001);
      await settle(50);
      expect(untouched.socket.readyState).toBe(WebSocket.OPEN);
    });

    it('closes only the streams of the copy whose token was revoked: another copy of the bot (its own key) stays', async () => {
      const { gw, base } = await start({ database: await fresh(makeDatabase) });
      const bot = await registerBot(gw, await loginAs(gw, ALICE));
      const copy = copyOf(bot);
      const mine = await botToken(bot);
      const stream = await programStream(base, bot, mine);
      const copyStream = await programStream(base, copy, await botToken(copy));
      expect((await bot.form('/oauth2/revoke', { token: mine })).statusCode).toBe(200);
      expect(await stream.closed).toBe(4001);
      await settle(50);
      expect(copyStream.socket.readyState).toBe(WebSocket.OPEN);
      // The grant ended: every copy's streams close.
      expect(
        (await callAs(gw, 'DELETE', `/v1/oauth/clients/${bot.clientId}`, await loginAs(gw, ALICE)))
          .statusCode,
      ).toBe(204);
      expect(await copyStream.closed).toBe(4001);
    });
  },
);

describe.each(testDatabases())('security review F3 across nodes on %s', (_name, makeDatabase) => {
  it('a role taken away and a token revoked on one node reach the streams on another', async () => {
    const database = await makeDatabase();
    cleanups.push(() => database.drop());
    let url = database.url;
    if (database.dialect === 'sqlite') {
      const dir = mkdtempSync(join(tmpdir(), 'gh-f3-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      url = join(dir, 'g.db');
    }
    const bus = new InProcessEventBus();
    const clock = new ManualClock();
    const shared = { bus, clock, config: { database: { url } } };
    const { gw: a } = await start({ ...shared, database });
    const { gw: b, base: baseB } = await start({ ...shared, database, demo: false });

    const viktor = await loginAs(b, VIKTOR);
    const alice = await loginTrading(a, ALICE);
    const bot = await registerBot(a, alice);
    const token = await botToken(bot);
    const watching = await personStream(baseB, viktor);
    const program = await programStream(baseB, bot, token);
    await placeMarket(a, alice, 'U1000001', 'f3-n1');
    await until(watching.messages, (m) => orderSeqs(m, 'U1000001').includes(2), 'events 1-2 on node B');

    expect((await role(a, 'U1000001', 'viktor', null)).statusCode).toBe(200);
    await settle(50);
    await placeMarket(a, alice, 'U1000001', 'f3-n2');
    await settle();
    expect(lastOrderSeq(watching.messages, 'U1000001')).toBe(2);
    watching.send({ op: 'resume', accountId: 'U1000001', after: 0 });
    await until(watching.messages, (m) => m.some((x) => x.type === 'error'), 'a refusal on node B');
    expect(watching.messages.find((m) => m.type === 'error')).toMatchObject({ code: 'ACCOUNT_NOT_FOUND' });

    expect((await bot.form('/oauth2/revoke', { token })).statusCode).toBe(200);
    expect(await program.closed).toBe(4001);
    expect(watching.socket.readyState).toBe(WebSocket.OPEN);
  });
});

async function waitFor(stream: Stream, type: string): Promise<Message> {
  await until(stream.messages, (m) => m.some((x) => x.type === type), type);
  return stream.messages.find((m) => m.type === type) as Message;
}
