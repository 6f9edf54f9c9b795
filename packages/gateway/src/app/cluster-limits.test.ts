/**
 * Limits counted across nodes. Two nodes (`cluster.redisUrl`, a random `cluster.keyPrefix`) on one PostgreSQL
 * database: wrong passwords spread over both back the user off as one node would (`login_throttle`, in the
 * database), and a per-address rate limit counts requests to both (on Redis, app/rate-limit-store.ts). A node whose
 * Redis cannot be reached keeps counting per address in its own memory and refuses nothing for want of Redis.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../config/index.js';
import { ManualClock } from '../core/index.js';
import { type TestDatabase, testDatabases } from '../test-support/databases.js';
import { ALICE, errorCode, startTestGateway, type TestGateway } from '../test-support/gateway.js';
import { testRedisUrl, unreachableRedisUrl } from '../test-support/redis.js';

const redisUrl = testRedisUrl();
const postgres = testDatabases().find(([name]) => name === 'postgres')?.[1];
const STRANGER_IP = '203.0.113.9';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function twoNodes(
  extra: ConfigInput = {},
): Promise<{ a: TestGateway; b: TestGateway; prefix: string }> {
  const database = await (postgres as () => Promise<TestDatabase>)();
  cleanups.push(() => database.drop());
  const clock = new ManualClock();
  const prefix = `gh-test-${randomBytes(6).toString('hex')}:`;
  const config = { ...extra, cluster: { redisUrl: redisUrl as string, keyPrefix: prefix } };
  const a = await startTestGateway({ clock, config, database });
  cleanups.push(() => a.close());
  const b = await startTestGateway({ clock, config, database, demo: false });
  cleanups.push(() => b.close());
  return { a, b, prefix };
}

function login(gw: TestGateway, username: string, password: string, ip = STRANGER_IP) {
  return gw.app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    payload: { username, password, channel: 'web' },
    remoteAddress: ip,
  });
}

describe.skipIf(redisUrl === null || postgres === undefined)('limits across two nodes', () => {
  it('backs a user off after wrong passwords spread over both nodes, as after the same number on one', async () => {
    const { a, b } = await twoNodes();
    const free = a.ctx.config.login.backoffFreeFailures;
    for (let i = 0; i < free; i += 1) {
      const node = i % 2 === 0 ? a : b;
      expect(errorCode(await login(node, ALICE.username, `guess-${i}`))).toBe('INVALID_CREDENTIALS');
    }
    // Both nodes hold the user back on that network, the right password included.
    for (const node of [a, b]) {
      const held = await login(node, ALICE.username, ALICE.password);
      expect(errorCode(held)).toBe('TOO_MANY_ATTEMPTS');
      expect(
        (held.json() as { error: { details: { retryAfterMs: number } } }).error.details.retryAfterMs,
      ).toBeGreaterThan(0);
    }
    a.clock.advance(a.ctx.config.login.backoffBaseMs);
    expect((await login(b, ALICE.username, ALICE.password)).statusCode).toBe(200);
  });

  it('counts one address’s requests to both nodes against one per-address limit, on Redis', async () => {
    const max = 4;
    const { a, b, prefix } = await twoNodes({ login: { ipRateLimitMax: max } });
    const ip = `198.51.100.${1 + Math.floor(Math.random() * 200)}`;
    for (let i = 0; i < max; i += 1) {
      const node = i % 2 === 0 ? a : b;
      expect(errorCode(await login(node, `nobody-${i}`, 'wrong-password', ip))).toBe('INVALID_CREDENTIALS');
    }
    for (const node of [a, b]) {
      const limited = await login(node, 'nobody-else', 'wrong-password', ip);
      expect(limited.statusCode).toBe(429);
      expect(errorCode(limited)).toBe('RATE_LIMITED');
    }
    // Another address is not held by it.
    expect(errorCode(await login(b, 'nobody-0', 'wrong-password', '198.51.100.250'))).toBe(
      'INVALID_CREDENTIALS',
    );
    const redis = new Redis(redisUrl as string);
    cleanups.push(() => redis.quit());
    const keys = await redis.keys(`${prefix}rate:*`);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.every((key) => key.startsWith(`${prefix}rate:POST/v1/auth/login:`))).toBe(true);
    await redis.del(...keys);
  });
});

describe('a node whose Redis cannot be reached', () => {
  it('counts each address in its own memory: the limit holds on the node and nothing is refused for Redis', async () => {
    const gw = await startTestGateway({
      config: { cluster: { redisUrl: await unreachableRedisUrl() }, login: { ipRateLimitMax: 2 } },
    });
    cleanups.push(() => gw.close());
    expect(errorCode(await login(gw, 'nobody-1', 'wrong-password'))).toBe('INVALID_CREDENTIALS');
    expect(errorCode(await login(gw, 'nobody-2', 'wrong-password'))).toBe('INVALID_CREDENTIALS');
    expect(errorCode(await login(gw, 'nobody-3', 'wrong-password'))).toBe('RATE_LIMITED');
    expect(errorCode(await login(gw, 'nobody-3', 'wrong-password', '192.0.2.7'))).toBe('INVALID_CREDENTIALS');
  });
});
