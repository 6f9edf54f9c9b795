/**
 * The SDK against a real in-process gateway (over HTTP): a soak of 1,000 token lifetimes in compressed time with no
 * request refused for an expired token; 50 concurrent calls at the moment of expiry and exactly one refresh; a
 * placement whose response is lost and exactly one order; a competing takeover (degraded, paused, re-acquired);
 * and the bad inputs: a token file others can read or that is corrupt, an HTML answer, a network that stays down
 * (bounded backoff, no spinning).
 */

import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ALICE,
  callAs,
  loginAs,
  registerBot,
  startTestGateway,
  type TestGateway,
  type TestProgram,
} from '@gatehouse/gateway/testing';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Fetch,
  GatehouseApiError,
  NotReadyError,
  SessionSupervisor,
  SteppedScheduler,
  TokenStoreError,
  UnexpectedResponseError,
} from './index.js';
import { FileTokenStore, newNodeDpopKey } from './node.js';
import { botOptions } from './test-support.js';

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

async function setup(options: { ttlMs?: number } = {}) {
  gw = await startTestGateway({
    config: {
      server: { port: 0, host: '127.0.0.1' },
      ...(options.ttlMs === undefined ? {} : { oauth: { accessTokenTtlMs: options.ttlMs } }),
    },
  });
  const base = await gw.listen();
  const alice = await loginAs(gw, ALICE);
  const bot: TestProgram = await registerBot(gw, alice);
  const counts = { token: 0, invalidToken: 0, orders: 0 };
  const counting: Fetch = async (input, init) => {
    if (input.endsWith('/oauth2/token')) counts.token += 1;
    const response = await fetch(input, init);
    if (response.status === 401 && response.headers.get('www-authenticate')?.includes('invalid_token'))
      counts.invalidToken += 1;
    return response;
  };
  const issuer = base.replace('localhost', '127.0.0.1');
  return { g: gw, base, alice, bot, counts, counting, issuer };
}

describe('SessionSupervisor', () => {
  it('soaks 1,000 token lifetimes in compressed time without one request refused for an expired token', async () => {
    const { g, base, bot, counts, counting, issuer } = await setup({ ttlMs: 60_000 });
    const scheduler = new SteppedScheduler(g.clock);
    const supervisor = new SessionSupervisor({
      ...(await botOptions(bot, base, issuer)),
      scheduler,
      fetch: counting,
    });
    await supervisor.start();
    const states: string[] = [];
    supervisor.on('state', (e) => states.push(e.to));
    const lifetimes = 1_000;
    for (let i = 0; i < lifetimes; i += 1) {
      // Three requests per lifetime, the last one late in it.
      for (const step of [6_000, 24_000, 27_000]) {
        await scheduler.advance(step, () => supervisor.settled());
        await supervisor.request('GET', '/v1/session');
      }
      await scheduler.advance(3_000, () => supervisor.settled());
    }
    expect(counts.invalidToken).toBe(0);
    expect(supervisor.stats.refreshes).toBeGreaterThanOrEqual(lifetimes);
    expect(supervisor.stats.refreshes).toBeLessThanOrEqual(lifetimes * 1.35);
    expect(states).toEqual([]);
    supervisor.stop();
  }, 120_000);

  it('refreshes exactly once for 50 calls made at the moment the token expires', async () => {
    const { g, base, bot, counts, counting, issuer } = await setup({ ttlMs: 60_000 });
    const scheduler = new SteppedScheduler(g.clock);
    const supervisor = new SessionSupervisor({
      ...(await botOptions(bot, base, issuer)),
      dpopKey: newNodeDpopKey(), // the Node signer of @gatehouse/sdk/node
      scheduler,
      fetch: counting,
    });
    await supervisor.start();
    const before = counts.token;
    g.clock.advance(60_000); // the proactive refresh did not run (its timer was not stepped): the token is dead now
    const results = await Promise.all(
      Array.from({ length: 50 }, () => supervisor.request('GET', '/v1/session')),
    );
    expect(results).toHaveLength(50);
    expect(counts.token - before).toBe(1);
    expect(counts.invalidToken).toBe(0);
    supervisor.stop();
  });

  it('places exactly one order when the placement’s response is lost, and says what happened', async () => {
    const { g, base, bot, issuer } = await setup();
    let lose = true;
    const losing: Fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (lose && init.method === 'POST' && input.endsWith('/orders')) {
        lose = false;
        throw new TypeError('fetch failed: connection reset'); // the server placed it; the answer never arrived
      }
      return response;
    };
    const supervisor = new SessionSupervisor({
      ...(await botOptions(bot, base, issuer)),
      trading: { compete: true },
      fetch: losing,
    });
    await supervisor.start();
    const order = { instrumentId: 265598, side: 'BUY', type: 'MKT', quantity: 1, tif: 'DAY' } as const;
    const result = await supervisor.placeOrder('DU1000001', { ...order, clientOrderId: 'lost-1' });
    expect(result).toMatchObject({
      status: 'accepted',
      reconciled: true,
      order: { clientOrderId: 'lost-1' },
    });
    // Never sent twice: one order on the server.
    const rows = await g.ctx.store.db
      .selectFrom('orders')
      .select('id')
      .where('client_order_id', '=', 'lost-1')
      .execute();
    expect(rows).toHaveLength(1);
    // A request lost before the server saw it: reconciled as not found (safe to resend with the same id).
    const dropping: Fetch = async (input, init) => {
      if (init.method === 'POST' && input.endsWith('/orders')) throw new TypeError('fetch failed');
      return fetch(input, init);
    };
    const offline = new SessionSupervisor({
      ...(await botOptions(bot, base, issuer)),
      fetch: dropping,
    });
    await offline.start();
    expect(await offline.placeOrder('DU1000001', { ...order, clientOrderId: 'lost-2' })).toEqual({
      status: 'not_found',
      clientOrderId: 'lost-2',
    });
    supervisor.stop();
    offline.stop();
  });

  it('turns degraded on a competing takeover, pauses trading, and takes it back on request', async () => {
    const { g, base, bot, issuer } = await setup();
    const supervisor = new SessionSupervisor({
      ...(await botOptions(bot, base, issuer)),
      trading: { compete: true },
    });
    const events: string[] = [];
    supervisor.on('competing', () => events.push('competing'));
    supervisor.on('state', (e) => events.push(e.to));
    await supervisor.start();
    const order = { instrumentId: 265598, side: 'BUY', type: 'MKT', quantity: 1, tif: 'DAY' } as const;
    expect((await supervisor.placeOrder('DU1000001', order)).status).toBe('accepted');
    await callAs(g, 'POST', '/v1/session/brokerage', await loginAs(g, ALICE), { compete: true });
    await expect(supervisor.placeOrder('DU1000001', order)).rejects.toMatchObject({
      code: 'SESSION_COMPETING',
    });
    expect(supervisor.state).toBe('degraded');
    await expect(supervisor.placeOrder('DU1000001', order)).rejects.toBeInstanceOf(NotReadyError);
    await supervisor.acquireTrading({ compete: true });
    expect(supervisor.state).toBe('ready');
    expect((await supervisor.placeOrder('DU1000001', order)).status).toBe('accepted');
    expect(events).toEqual(['authenticating', 'syncing', 'ready', 'degraded', 'competing', 'ready']);
    supervisor.stop();
  });
});

describe('bad input', () => {
  it('refuses a token file others can read, or one that is not a token file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gh-sdk-'));
    try {
      const file = join(dir, 'tokens.json');
      const store = new FileTokenStore(file);
      expect(await store.load()).toBeUndefined();
      await store.save({ accessToken: 'a', expiresAt: 1, scope: 'read' });
      expect(await store.load()).toEqual({ accessToken: 'a', expiresAt: 1, scope: 'read' });
      await chmod(file, 0o644);
      await expect(store.load()).rejects.toBeInstanceOf(TokenStoreError);
      await writeFile(file, 'not json', { mode: 0o600 });
      await chmod(file, 0o600);
      await expect(store.load()).rejects.toThrow('not JSON');
      await writeFile(file, JSON.stringify({ accessToken: 42 }));
      await expect(store.load()).rejects.toThrow('unexpected content');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('answers an HTML page or a 5xx with a typed error, and backs off (bounded) while the network is down', async () => {
    const { g, base, bot, issuer } = await setup({ ttlMs: 60_000 });
    const html: Fetch = async () =>
      new Response('<html>502 Bad Gateway</html>', { status: 502, headers: { 'content-type': 'text/html' } });
    const proxied = new SessionSupervisor({
      ...(await botOptions(bot, base, issuer)),
      fetch: html,
    });
    await expect(proxied.start()).rejects.toBeInstanceOf(UnexpectedResponseError);

    // The network goes down after the start: refreshes back off, never spin.
    let down = false;
    let attempts = 0;
    const flaky: Fetch = async (input, init) => {
      if (down) {
        attempts += 1;
        throw new TypeError('fetch failed: ECONNREFUSED');
      }
      return fetch(input, init);
    };
    const scheduler = new SteppedScheduler(g.clock);
    const supervisor = new SessionSupervisor({
      ...(await botOptions(bot, base, issuer)),
      scheduler,
      fetch: flaky,
    });
    const states: string[] = [];
    supervisor.on('state', (e) => states.push(e.to));
    await supervisor.start();
    down = true;
    // Five simulated minutes without a network, the token expiring in the middle: the refresh backs off
    // exponentially (capped at 30 s), so a dozen-odd attempts, never a tight loop.
    const realPause = () => new Promise<void>((resolve) => setTimeout(resolve, 5)); // lets WebCrypto signing finish
    // Steps of 5 s: every timer still fires at its own time (the scheduler runs them one by one), in a few dozen
    // real pauses rather than hundreds, so a loaded machine does not turn this into a timeout.
    for (let i = 0; i < 60; i += 1) {
      await scheduler.advance(5_000, realPause);
      await realPause();
    }
    expect(attempts).toBeGreaterThan(5);
    expect(attempts).toBeLessThan(25);
    expect(supervisor.state).toBe('degraded');
    expect(supervisor.backoffMs(1)).toBeLessThanOrEqual(300);
    expect(supervisor.backoffMs(30)).toBeLessThanOrEqual(36_000);
    down = false;
    for (let i = 0; i < 7; i += 1) {
      await scheduler.advance(5_000, realPause);
      await realPause();
    }
    await supervisor.settled();
    expect(supervisor.state).toBe('ready');
    expect(states).toEqual(['authenticating', 'syncing', 'ready', 'degraded', 'ready']);
    expect(await supervisor.request('GET', '/v1/session')).toMatchObject({ session: { channel: 'api' } });
    supervisor.stop();
    expect(new GatehouseApiError(401, 'INVALID_TOKEN', 'x', undefined, undefined).code).toBe('INVALID_TOKEN');
  }, 60_000);
});
