/**
 * The supervisor's states as a bot author meets them: a start while a person holds trading settles in `degraded`
 * (`held_elsewhere`) and acquiring trading reaches `ready`; a gateway that cannot be reached turns it `degraded`
 * (`unreachable`), with `streamDisconnected` and `reconnecting`, until it answers again; two copies of one bot (one
 * client, a key each) are two sessions that compete for trading; and 20-second tokens are
 * refreshed once per lifetime, never twice in a row.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ALICE,
  callAs,
  loginAs,
  registerBot,
  startTestGateway,
  type TestGateway,
} from '@gatehouse/gateway/testing';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type Fetch, NotReadyError, SessionSupervisor, SteppedScheduler } from './index.js';
import { newNodeDpopKey } from './node.js';
import { botOptions, listeningGateway, until } from './test-support.js';

const until10 = (check: () => boolean) => until(check, 10_000);

let gw: TestGateway | undefined;
let dir: string | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

const market = { instrumentId: 265598, side: 'BUY', type: 'MKT', quantity: 1, tif: 'DAY' } as const;

describe('starting beside a person', () => {
  it('settles in degraded (held_elsewhere) when a person holds trading, and acquiring trading makes it ready', async () => {
    const { g, base, issuer } = await listeningGateway();
    gw = g;
    const bot = await registerBot(g, await loginAs(g, ALICE));
    const person = await loginAs(g, ALICE); // a person trades on the web
    expect((await callAs(g, 'POST', '/v1/session/brokerage', person, { compete: true })).statusCode).toBe(
      200,
    );
    const supervisor = new SessionSupervisor({
      ...(await botOptions(bot, base, issuer)),
      trading: { compete: false },
      keepAliveMs: null,
    });
    const states: string[] = [];
    supervisor.on('state', (e) => states.push(`${e.to}${e.reason === undefined ? '' : `:${e.reason}`}`));
    await supervisor.start();
    expect(supervisor.state).toBe('degraded');
    expect(supervisor.degradedReason).toBe('held_elsewhere');
    await expect(supervisor.placeOrder('DU1000001', market)).rejects.toBeInstanceOf(NotReadyError);
    // Without competing, still held: refused, and still degraded.
    await expect(supervisor.acquireTrading({ compete: false })).rejects.toMatchObject({
      code: 'BROKERAGE_HELD_ELSEWHERE',
    });
    expect(supervisor.state).toBe('degraded');
    await supervisor.acquireTrading({ compete: true });
    expect(supervisor.state).toBe('ready');
    expect((await supervisor.placeOrder('DU1000001', market)).status).toBe('accepted');
    expect(states).toEqual([
      'authenticating',
      'syncing',
      'degraded:held_elsewhere',
      'ready:trading_acquired',
    ]);
    await supervisor.stop();
  });
});

describe('stopping', () => {
  it('gives trading up at stop(), so a person trades at once; keepTrading keeps it (issue 20)', async () => {
    const { g, base, issuer } = await listeningGateway();
    gw = g;
    const bot = await registerBot(g, await loginAs(g, ALICE));
    const start = async () => {
      const supervisor = new SessionSupervisor({
        ...(await botOptions(bot, base, issuer)),
        dpopKey: newNodeDpopKey(),
        trading: { compete: true },
        keepAliveMs: null,
      });
      await supervisor.start();
      expect(supervisor.state).toBe('ready');
      return supervisor;
    };
    const askAsPerson = async () =>
      (await callAs(g, 'POST', '/v1/session/brokerage', await loginAs(g, ALICE), { compete: false }))
        .statusCode;

    const kept = await start();
    await kept.stop({ keepTrading: true });
    expect(await askAsPerson()).toBe(409); // still held by the stopped bot's session

    const released = await start();
    await released.stop();
    expect(await askAsPerson()).toBe(200); // the person trades at once, without taking over

    // A bot that lost trading meanwhile leaves the new holder's trading alone.
    const late = await start();
    const person = await loginAs(g, ALICE);
    await callAs(g, 'POST', '/v1/session/brokerage', person, { compete: true });
    await late.stop();
    const tier = await callAs(g, 'POST', '/v1/session/tickle', person, {});
    expect((tier.json() as { tier: string }).tier).toBe('brokerage');
  });
});

describe('two copies of one bot', () => {
  it('are two sessions: the second starts held_elsewhere, and taking trading turns the first competing', async () => {
    const { g, base, issuer } = await listeningGateway();
    gw = g;
    const bot = await registerBot(g, await loginAs(g, ALICE));
    const copy = async (compete: boolean) =>
      new SessionSupervisor({
        ...(await botOptions(bot, base, issuer)), // the same client, each copy with a key of its own
        dpopKey: newNodeDpopKey(),
        trading: { compete },
        keepAliveMs: null,
      });
    const first = await copy(false);
    await first.start();
    expect(first.state).toBe('ready');
    const second = await copy(false);
    await second.start();
    expect(second.degradedReason).toBe('held_elsewhere');
    const [one, two] = await Promise.all(
      [first, second].map((s) => s.request<{ session: { id: string } }>('GET', '/v1/session')),
    );
    expect(one?.session.id).not.toBe(two?.session.id);
    const competing: string[] = [];
    first.on('competing', () => competing.push('first'));
    await second.acquireTrading({ compete: true });
    expect(second.state).toBe('ready');
    await expect(first.placeOrder('DU1000001', market)).rejects.toMatchObject({ code: 'SESSION_COMPETING' });
    expect(first.degradedReason).toBe('competing');
    expect(competing).toEqual(['first']);
    expect((await second.placeOrder('DU1000001', market)).status).toBe('accepted');
    await first.stop();
    await second.stop();
  });
});

describe('connectivity', () => {
  it('is degraded (unreachable) while the network is down, probes, and is ready again when it is back', async () => {
    const { g, base, issuer } = await listeningGateway();
    gw = g;
    const bot = await registerBot(g, await loginAs(g, ALICE));
    let down = false;
    let probes = 0;
    const network: Fetch = async (input, init) => {
      if (down) {
        if (input.endsWith('/v1/session/tickle')) probes += 1;
        throw new TypeError('fetch failed: ECONNREFUSED');
      }
      return fetch(input, init);
    };
    const supervisor = new SessionSupervisor({
      ...(await botOptions(bot, base, issuer)),
      trading: { compete: true },
      keepAliveMs: null,
      backoff: { initialMs: 20, maxMs: 100 },
      fetch: network,
    });
    const states: string[] = [];
    supervisor.on('state', (e) => states.push(`${e.to}${e.reason === undefined ? '' : `:${e.reason}`}`));
    await supervisor.start();
    down = true;
    await expect(supervisor.request('GET', '/v1/session')).rejects.toMatchObject({ name: 'NetworkError' });
    expect(supervisor.state).toBe('degraded');
    expect(supervisor.degradedReason).toBe('unreachable');
    await expect(supervisor.placeOrder('DU1000001', market)).rejects.toBeInstanceOf(NotReadyError);
    await until10(() => probes >= 3);
    down = false;
    await until10(() => supervisor.state === 'ready');
    expect(states).toEqual(['authenticating', 'syncing', 'ready', 'degraded:unreachable', 'ready:reachable']);
    expect((await supervisor.placeOrder('DU1000001', market)).status).toBe('accepted');
    await supervisor.stop();
  });

  it('says when the stream drops and reconnects, and is unreachable while the gateway is down', async () => {
    dir = await mkdtemp(join(tmpdir(), 'gh-sdk-states-'));
    const database = { url: join(dir, 'g.db') };
    let g = await startTestGateway({ config: { server: { port: 0, host: '127.0.0.1' }, database } });
    gw = g;
    const base = await g.listen();
    const port = Number(new URL(base).port);
    const bot = await registerBot(g, await loginAs(g, ALICE));
    const supervisor = new SessionSupervisor({
      ...(await botOptions(bot, base, base)),
      dpopKey: newNodeDpopKey(),
      trading: { compete: true },
      keepAliveMs: null,
      backoff: { initialMs: 50, maxMs: 200 },
      stream: (url, headers) => new WebSocket(url, { headers }) as never,
    });
    const seen: string[] = [];
    supervisor.on('state', (e) => seen.push(`${e.to}${e.reason === undefined ? '' : `:${e.reason}`}`));
    supervisor.on('streamConnected', () => seen.push('streamConnected'));
    supervisor.on('streamDisconnected', (e) => seen.push(`streamDisconnected:${e.opened}`));
    let reconnecting = 0;
    supervisor.on('reconnecting', (e) => {
      reconnecting += 1;
      expect(e.inMs).toBeLessThanOrEqual(240);
    });
    await supervisor.start();
    await until10(() => seen.includes('streamConnected'));
    const clock = g.clock;
    await g.close();
    await until10(() => supervisor.state === 'degraded');
    expect(supervisor.degradedReason).toBe('unreachable');
    await until10(() => reconnecting >= 3);
    g = await startTestGateway({
      config: { server: { port, host: '127.0.0.1' }, database },
      clock,
      demo: false,
    });
    gw = g;
    await g.listen();
    await until(
      () => supervisor.state === 'ready' && seen.filter((s) => s === 'streamConnected').length === 2,
    );
    expect(seen.filter((s) => s !== 'streamConnected').slice(0, 3)).toEqual([
      'authenticating',
      'syncing',
      'ready',
    ]);
    expect(seen).toContain('streamDisconnected:true');
    expect(seen).toContain('streamDisconnected:false'); // a reconnect that never opened
    expect(seen.indexOf('degraded:unreachable')).toBeGreaterThan(seen.indexOf('streamDisconnected:true'));
    expect(seen.filter((s) => !s.startsWith('stream')).at(-1)).toBe('ready:reachable');
    expect(seen.filter((s) => s === 'streamConnected')).toHaveLength(2);
    await supervisor.stop();
  }, 30_000);
});

describe('refreshing 20-second tokens', () => {
  it('refreshes once per lifetime, never twice in a row, with a request every second', async () => {
    const g = await startTestGateway({
      config: { server: { port: 0, host: '127.0.0.1' }, oauth: { accessTokenTtlMs: 20_000 } },
    });
    gw = g;
    const base = await g.listen();
    const bot = await registerBot(g, await loginAs(g, ALICE));
    let invalidToken = 0;
    const counting: Fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (response.status === 401 && response.headers.get('www-authenticate')?.includes('invalid_token'))
        invalidToken += 1;
      return response;
    };
    const scheduler = new SteppedScheduler(g.clock);
    const supervisor = new SessionSupervisor({
      ...(await botOptions(bot, base, base.replace('localhost', '127.0.0.1'))),
      dpopKey: newNodeDpopKey(),
      scheduler,
      keepAliveMs: null,
      fetch: counting,
    });
    const refreshedAt: number[] = [];
    supervisor.on('tokenRefreshed', () => refreshedAt.push(g.clock.now()));
    await supervisor.start();
    const from = refreshedAt.length;
    for (let second = 0; second < 400; second += 1) {
      await scheduler.advance(1_000, () => supervisor.settled());
      await supervisor.request('GET', '/v1/session');
    }
    const gaps = refreshedAt.slice(from).map((at, i) => at - (refreshedAt[from + i - 1] ?? at));
    // Before: a request in the token's last 5 s refreshed on demand, then the timer set for the old token
    // refreshed again 0.1–2 s later.
    expect(Math.min(...gaps.slice(1))).toBeGreaterThanOrEqual(10_000);
    expect(refreshedAt.length - from).toBeGreaterThanOrEqual(20);
    expect(refreshedAt.length - from).toBeLessThanOrEqual(40);
    expect(invalidToken).toBe(0);
    await supervisor.stop();
  }, 60_000);
});
