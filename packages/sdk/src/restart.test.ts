/**
 * A bot's restarts and stops: a token file written under one DPoP key read back by a process with another (the old
 * guide's start-up, which threw `INVALID_DPOP_PROOF`), the key kept in the file so the restart keeps its token and
 * session; the event position kept beside the tokens so a restart reads only what is new, with history marked
 * `replayed`; and the dead-man switch disarmed on purpose, with what each scope cancels.
 */
import { mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ALICE,
  callAs,
  loginAs,
  registerBot,
  type TestGateway,
  type TestProgram,
} from '@gatehouse/gateway/testing';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import WebSocket from 'ws';
import {
  type EventType,
  type Fetch,
  SessionSupervisor,
  type SupervisorEvents,
  TokenStoreError,
} from './index.js';
import { FileTokenStore, newNodeDpopKey } from './node.js';
import { botOptions, listeningGateway, restingOrder, skewed, until } from './test-support.js';

let gw: TestGateway | undefined;
let dir: string | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

async function setup() {
  const started = await listeningGateway();
  gw = started.g;
  dir = await mkdtemp(join(tmpdir(), 'gh-sdk-restart-'));
  const alice = await loginAs(started.g, ALICE);
  const bot: TestProgram = await registerBot(started.g, alice);
  let tokenRequests = 0;
  const counting: Fetch = async (input, init) => {
    if (input.endsWith('/oauth2/token')) tokenRequests += 1;
    return fetch(input, init);
  };
  return { ...started, alice, bot, dir, counting, tokenRequests: () => tokenRequests };
}

const stream = (url: string, headers: Record<string, string>) => new WebSocket(url, { headers }) as never;
const market = (clientOrderId: string) =>
  ({ clientOrderId, instrumentId: 265598, side: 'BUY', type: 'MKT', quantity: 1, tif: 'DAY' }) as const;

describe('restarting a bot', () => {
  it('starts again from a token file written under another key, instead of failing with INVALID_DPOP_PROOF', async () => {
    const { base, issuer, bot, dir } = await setup();
    const store = new FileTokenStore(join(dir, 'tokens.json'));
    // The old guide's start-up: a file store and a new key per process.
    // On the gateway's clock, as a real machine would be: the stored token is still valid when read back.
    const scheduler = skewed(gw as TestGateway, 0);
    const first = new SessionSupervisor({
      ...(await botOptions(bot, base, issuer)),
      dpopKey: newNodeDpopKey(),
      tokenStore: store,
      scheduler,
    });
    await first.start();
    await first.stop();
    const second = new SessionSupervisor({
      ...(await botOptions(bot, base, issuer)),
      dpopKey: newNodeDpopKey(),
      tokenStore: store,
      scheduler,
    });
    await second.start();
    expect(second.state).toBe('ready');
    expect(await second.request('GET', '/v1/session')).toMatchObject({ session: { channel: 'api' } });
    await second.stop();
  });

  it('keeps the DPoP key in the token file: a restart reuses its token and its session, and the file stays 0600', async () => {
    const { base, issuer, bot, dir, counting, tokenRequests } = await setup();
    const path = join(dir, 'bot.json');
    const run = async () => {
      const store = new FileTokenStore(path);
      const supervisor = new SessionSupervisor({
        ...(await botOptions(bot, base, issuer)),
        dpopKey: await store.dpopKey(),
        tokenStore: store,
        fetch: counting,
        scheduler: skewed(gw as TestGateway, 0), // the gateway's clock: the stored expiry is in its time
      });
      await supervisor.start();
      const { session } = await supervisor.request<{ session: { id: string } }>('GET', '/v1/session');
      await supervisor.stop();
      return session.id;
    };
    const firstSession = await run();
    const grantsBefore = tokenRequests();
    expect(grantsBefore).toBeGreaterThanOrEqual(1); // with the server's DPoP nonce, two exchanges
    expect(await run()).toBe(firstSession);
    expect(tokenRequests()).toBe(grantsBefore); // the stored token was used: no new grant
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const content = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    expect(content).toMatchObject({ dpopKey: { kty: 'EC', crv: 'P-256' } });
    // The same key read back twice is the same key; clearing the tokens keeps it.
    const store = new FileTokenStore(path);
    expect((await store.dpopKey()).publicJwk).toEqual((await new FileTokenStore(path).dpopKey()).publicJwk);
    await store.clear();
    expect(await store.load()).toBeUndefined();
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ dpopKey: content.dpopKey });
  });

  it('writes the token file whole under concurrent saves, leaves no temporary file, and refuses a bad key', async () => {
    dir = await mkdtemp(join(tmpdir(), 'gh-sdk-file-'));
    const path = join(dir, 'bot.json');
    const store = new FileTokenStore(path);
    const key = await store.dpopKey();
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        store.save({ accessToken: `t${i}`, expiresAt: i, scope: 'read', resumeAfter: { DU1000001: i } }),
      ),
    );
    expect(await store.load()).toMatchObject({ accessToken: 't19', resumeAfter: { DU1000001: 19 } });
    expect((await new FileTokenStore(path).dpopKey()).publicJwk).toEqual(key.publicJwk);
    expect(await readdir(dir)).toEqual(['bot.json']); // no temporary file left
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const other = (await new FileTokenStore(join(dir, 'other.json')).dpopKey()).publicJwk;
    const kept = (JSON.parse(await readFile(path, 'utf8')) as { dpopKey: Record<string, string> }).dpopKey;
    for (const bad of [
      { kty: 'EC', crv: 'P-384', x: 'a', y: 'b', d: 'c' },
      { kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA', d: 'AAAA' },
      { ...kept, x: other.x, y: other.y }, // d of one key, x and y of another
      'not a key',
    ]) {
      await writeFile(path, JSON.stringify({ dpopKey: bad }), { mode: 0o600 });
      await expect(new FileTokenStore(path).dpopKey()).rejects.toBeInstanceOf(TokenStoreError);
    }
    // A link in place of the file is refused, even to a file of the right shape.
    await rm(path);
    await symlink(join(dir, 'other.json'), path);
    await expect(new FileTokenStore(path).load()).rejects.toThrow('not a regular file (a link)');
  });

  it('resumes the events where the last run stopped (kept in the token store), marking history replayed', async () => {
    const { base, issuer, bot, dir } = await setup();
    const path = join(dir, 'bot.json');
    const start = async (extra: { resumeAfter?: Record<string, number> } = {}) => {
      const store = new FileTokenStore(path);
      const supervisor = new SessionSupervisor({
        ...(await botOptions(bot, base, issuer)),
        dpopKey: await store.dpopKey(),
        tokenStore: store,
        trading: { compete: true },
        stream,
        ...extra,
      });
      const events: SupervisorEvents['orderEvent'][] = [];
      supervisor.on('orderEvent', (e) => {
        if (e.accountId === 'DU1000001') events.push(e);
      });
      await supervisor.start();
      return { supervisor, events };
    };
    const first = await start();
    for (const id of ['r1', 'r2']) await first.supervisor.placeOrder('DU1000001', market(id));
    await until(() => first.events.length === 4); // accepted and filled, twice
    expect(first.events.map((e) => e.replayed)).toEqual([false, false, false, false]);
    expectTypeOf(first.events[0]?.type).toEqualTypeOf<EventType | undefined>();
    expect(first.events.map((e) => e.type)).toEqual(['accepted', 'filled', 'accepted', 'filled']);
    await first.supervisor.stop();
    expect(JSON.parse(await readFile(path, 'utf8'))).toMatchObject({ resumeAfter: { DU1000001: 4 } });

    // Two orders while the bot is down.
    const alice = await loginAs(gw as TestGateway, ALICE);
    await callAs(gw as TestGateway, 'POST', '/v1/session/brokerage', alice, { compete: true });
    for (const id of ['w1', 'w2'])
      expect(
        (await callAs(gw as TestGateway, 'POST', '/v1/accounts/DU1000001/orders', alice, market(id)))
          .statusCode,
      ).toBe(201);

    const second = await start();
    // Only what happened while it was down, marked as history; nothing of the first run again.
    expect(second.events.map((e) => [e.eventSeq, e.replayed])).toEqual([
      [5, true],
      [6, true],
      [7, true],
      [8, true],
    ]);
    await second.supervisor.placeOrder('DU1000001', market('r3'));
    await until(() => second.events.length === 6);
    expect(second.events.slice(4).map((e) => [e.eventSeq, e.replayed])).toEqual([
      [9, false],
      [10, false],
    ]);
    await second.supervisor.stop();

    // An explicit position wins over the stored one.
    const third = await start({ resumeAfter: { DU1000001: 8 } });
    expect(third.events.map((e) => e.eventSeq)).toEqual([9, 10]);
    await third.supervisor.stop();
  });
});

describe('the dead-man switch and stopping', () => {
  const working = async (g: TestGateway) =>
    (
      await g.ctx.store.db
        .selectFrom('orders')
        .select('client_order_id')
        .where('status', '=', 'working')
        .orderBy('client_order_id')
        .execute()
    ).map((r) => r.client_order_id);
  const armed = async (g: TestGateway) =>
    (await g.ctx.store.db.selectFrom('dead_man_switches').select('id').execute()).length;

  it('disarms on request (deadMan.disarm, stop({ disarmDeadMan })), and a plain stop leaves it armed', async () => {
    const { g, base, issuer, bot } = await setup();
    const make = async () =>
      new SessionSupervisor({
        ...(await botOptions(bot, base, issuer)),
        trading: { compete: true },
        keepAliveMs: null,
        deadMan: { timeoutMs: 60_000, scope: 'session' },
      });
    const a = await make();
    await a.start();
    expect(await armed(g)).toBe(1);
    expect(await a.deadMan.disarm()).toMatchObject({ armed: false });
    expect(await armed(g)).toBe(0);
    await a.deadMan.arm();
    expect(await armed(g)).toBe(1);
    await a.stop({ disarmDeadMan: true });
    expect(await armed(g)).toBe(0);
    expect(a.state).toBe('disconnected');

    const b = await make();
    await b.start();
    await b.placeOrder('DU1000001', restingOrder(g, 'bot-left'));
    await b.stop();
    expect(await armed(g)).toBe(1); // a plain stop: the switch still covers what the bot left working
    g.clock.advance(60_000);
    await g.ctx.safety.fireDue();
    expect(await working(g)).toEqual([]);
  });

  it('a session switch cancels the bot’s own orders only; an account switch a person’s too', async () => {
    const { g, base, issuer, bot, alice } = await setup();
    await g.ctx.store.db.updateTable('users').set({ brokerage_policy: 'shared' }).execute(); // both may trade
    const run = async (scope: 'session' | 'account', tag: string) => {
      const supervisor = new SessionSupervisor({
        ...(await botOptions(bot, base, issuer)),
        trading: { compete: false },
        keepAliveMs: null,
        deadMan: { timeoutMs: 60_000, scope, ...(scope === 'account' ? { accountId: 'DU1000001' } : {}) },
      });
      await supervisor.start();
      await supervisor.placeOrder('DU1000001', restingOrder(g, `bot-${tag}`));
      await callAs(g, 'POST', '/v1/session/brokerage', alice, { compete: false });
      const person = await callAs(
        g,
        'POST',
        '/v1/accounts/DU1000001/orders',
        alice,
        restingOrder(g, `person-${tag}`),
      );
      expect(person.statusCode).toBe(201);
      await supervisor.stop(); // armed: the process "died"
      g.clock.advance(60_000);
      await g.ctx.safety.fireDue();
    };
    await run('session', 's');
    expect(await working(g)).toEqual(['person-s']);
    await run('account', 'a');
    expect(await working(g)).toEqual([]);
  });
});
