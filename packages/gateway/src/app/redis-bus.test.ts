/**
 * Gateways with `cluster.redisUrl` (GATEHOUSE_TEST_REDIS_URL): their bus is on Redis; two of them on one database
 * are two nodes, and a session logged out on one is refused on the other at once, though the other cached it and
 * its clock says the 30 s re-read is far off; the revocation is on Redis for any node to hear. A gateway whose
 * Redis cannot be reached starts and serves, and a logout on it ends the session there.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type BusMessages, InProcessEventBus, ManualClock, RedisEventBus } from '../core/index.js';
import {
  ALICE,
  callAs,
  errorCode,
  loginAs,
  startTestGateway,
  type TestGateway,
  type TestGatewayOptions,
} from '../test-support/gateway.js';
import { eventually, testRedisUrl, unreachableRedisUrl } from '../test-support/redis.js';

const url = testRedisUrl();

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(options: TestGatewayOptions): Promise<TestGateway> {
  const gw = await startTestGateway(options);
  cleanups.push(() => gw.close());
  return gw;
}

/** A SQLite file two gateways open at once, removed after the test. */
function sharedSqliteFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gh-redis-bus-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'g.db');
}

describe.skipIf(url === null)('gateways on one Redis', () => {
  const redisUrl = url as string;

  it('take their bus from cluster.redisUrl, and keep the in-process one without it', async () => {
    const clustered = await start({ config: { cluster: { redisUrl } } });
    expect(clustered.ctx.bus).toBeInstanceOf(RedisEventBus);
    const single = await start({});
    expect(single.ctx.bus).toBeInstanceOf(InProcessEventBus);
  });

  it('refuse on node B, at once, a session logged out on node A; the revocation is on Redis', async () => {
    const file = sharedSqliteFile();
    const clock = new ManualClock();
    const config = { database: { url: file }, cluster: { redisUrl } };
    const a = await start({ clock, config });
    const b = await start({ clock, config, demo: false });
    // A third node that only listens.
    const listener = new RedisEventBus({ url: redisUrl });
    cleanups.push(() => listener.close());
    expect(await listener.ready()).toBe(true);
    const heard: BusMessages['session.revoked'][] = [];
    listener.subscribe('session.revoked', (m) => heard.push(m));

    const alice = await loginAs(a, ALICE);
    // B reads the session once and caches it; its frozen clock never reaches the 30 s re-read.
    expect((await callAs(b, 'GET', '/v1/session', alice)).statusCode).toBe(200);
    expect((await callAs(b, 'GET', '/v1/session', alice)).statusCode).toBe(200);

    expect((await callAs(a, 'POST', '/v1/auth/logout', alice)).statusCode).toBe(200);
    const took = await eventually(
      async () => errorCode(await callAs(b, 'GET', '/v1/session', alice)) === 'SESSION_REVOKED',
    );
    expect(took).toBeLessThan(1_000);
    await eventually(() => heard.some((m) => m.sessionId === alice.sessionId));
    expect(heard.filter((m) => m.sessionId === alice.sessionId)).toEqual([
      expect.objectContaining({ sessionId: alice.sessionId, reason: expect.any(String) }),
    ]);
    expect((a.ctx.bus as RedisEventBus).stats.publishFailures).toBe(0);
    const scraped = await b.metricsApp?.inject({ method: 'GET', url: '/metrics' });
    expect(scraped?.body).toMatch(/gatehouse_bus_messages_total\{result="received"\} [1-9]/);
  });
});

describe('a gateway whose Redis cannot be reached', () => {
  it('starts, serves, and ends a session logged out on it; other nodes’ copies are counted as missed', async () => {
    const gw = await start({ config: { cluster: { redisUrl: await unreachableRedisUrl() } } });
    const bus = gw.ctx.bus as RedisEventBus;
    expect(bus).toBeInstanceOf(RedisEventBus);
    expect((await gw.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    const alice = await loginAs(gw, ALICE);
    expect((await callAs(gw, 'GET', '/v1/session', alice)).statusCode).toBe(200);

    expect((await callAs(gw, 'POST', '/v1/auth/logout', alice)).statusCode).toBe(200);
    expect(errorCode(await callAs(gw, 'GET', '/v1/session', alice))).toBe('SESSION_REVOKED');
    expect(bus.stats.publishFailures).toBeGreaterThan(0);
    expect(bus.stats.published).toBe(0);
    const scraped = await gw.metricsApp?.inject({ method: 'GET', url: '/metrics' });
    expect(scraped?.body).toContain(
      `gatehouse_bus_messages_total{result="failed"} ${bus.stats.publishFailures}`,
    );
    expect(scraped?.body).toContain('gatehouse_bus_messages_total{result="published"} 0');
  });
});
