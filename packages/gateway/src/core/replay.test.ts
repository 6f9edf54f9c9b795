/**
 * The replay guards: a key is claimed once within its time to live — in memory with one node, on Redis with
 * several — and while Redis cannot be reached claims go to the fallback (the database), are refused with a coded
 * error when neither answers, and keys claimed in the fallback stay refused once Redis is back.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { testRedisUrl, unreachableRedisUrl } from '../test-support/redis.js';
import { ManualClock } from './clock.js';
import { GatehouseError } from './errors.js';
import { MemoryReplayGuard, RedisReplayGuard, type ReplayFallback, replayKey } from './replay.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('MemoryReplayGuard', () => {
  it('claims a key once until it expires; namespaces and keys are apart', async () => {
    const clock = new ManualClock();
    const guard = new MemoryReplayGuard(clock, 100);
    expect(await guard.claim('dpop', 'k1', 1_000)).toBe(true);
    expect(await guard.claim('dpop', 'k1', 1_000)).toBe(false);
    expect(await guard.claim('proof', 'k1', 1_000)).toBe(true);
    expect(await guard.claim('dpop', 'k2', 1_000)).toBe(true);
    clock.advance(999);
    expect(await guard.claim('dpop', 'k1', 1_000)).toBe(false);
    clock.advance(1);
    expect(await guard.claim('dpop', 'k1', 1_000)).toBe(true);
    expect(await guard.claim('dpop', 'k1', 1_000)).toBe(false);
  });

  it('stays bounded per namespace: the oldest claims go first, and a flood of one kind leaves the others', async () => {
    const guard = new MemoryReplayGuard(new ManualClock(), 2);
    expect(await guard.claim('proof', 'p', 60_000)).toBe(true);
    for (const key of ['a', 'b', 'c']) expect(await guard.claim('dpop', key, 60_000)).toBe(true);
    expect(await guard.claim('dpop', 'c', 60_000)).toBe(false);
    expect(await guard.claim('dpop', 'a', 60_000)).toBe(true);
    expect(await guard.claim('proof', 'p', 60_000)).toBe(false);
  });

  it('drops expired claims as new ones come: a steady rate holds its live claims, not maxEntries', async () => {
    const clock = new ManualClock();
    const guard = new MemoryReplayGuard(clock, 200_000);
    // 6 proofs a second for an hour, each claimed for 5 minutes (DPoP: max age + future skew).
    for (let i = 0; i < 6 * 3_600; i += 1) {
      expect(await guard.claim('dpop', `jti${i}`, 300_000)).toBe(true);
      clock.advance(1_000 / 6);
    }
    expect(guard.size('dpop')).toBeLessThanOrEqual(6 * 300 + 2);
    expect(await guard.claim('dpop', `jti${6 * 3_600 - 1}`, 300_000)).toBe(false);
  });

  it('hashes long keys', () => {
    expect(replayKey('dpop', 'short')).toBe('dpop:short');
    const long = replayKey('dpop', 'x'.repeat(200));
    expect(long).toMatch(/^dpop:[A-Za-z0-9_-]{43}$/);
    expect(replayKey('dpop', 'y'.repeat(200))).not.toBe(long);
  });
});

/** A fallback that records its claims in memory, or fails as a database that cannot be reached. */
function fallback(clock: ManualClock, fail = false): ReplayFallback & { claims: string[]; live: boolean } {
  const memory = new MemoryReplayGuard(clock);
  const claims: string[] = [];
  return {
    claims,
    live: false,
    async hasLiveClaims() {
      return this.live;
    },
    async claim(namespace, key, ttlMs) {
      claims.push(`${namespace}:${key}`);
      if (fail) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
      return memory.claim(namespace, key, ttlMs);
    },
  };
}

/** A Redis connection whose state the test sets: up (SET … NX on a map) or down. */
function switchableRedis() {
  const keys = new Set<string>();
  const state = { status: 'ready', keys };
  const redis = {
    get status() {
      return state.status;
    },
    async set(key: string) {
      if (state.status !== 'ready') throw new Error('Connection is closed.');
      if (keys.has(key)) return null;
      keys.add(key);
      return 'OK';
    },
  };
  return { state, redis: redis as unknown as Redis };
}

describe('RedisReplayGuard while another node cannot reach Redis', () => {
  it('claims in the database too once it sees a live claim there, so a key claimed on either side is refused', async () => {
    const clock = new ManualClock();
    const { redis } = switchableRedis();
    const db = fallback(clock);
    const guard = new RedisReplayGuard({ probeEveryMs: 0, redis, prefix: 'p:', fallback: db, clock });
    expect(await guard.claim('proof', 'before', 70_000)).toBe(true);
    expect(db.claims).toEqual([]);
    // Node X, cut off from Redis, claims a proof in the database; this node's next probe sees it.
    expect(await db.claim('proof', 'on-x', 70_000)).toBe(true);
    db.live = true;
    await guard.probe();
    expect(await guard.claim('proof', 'on-x', 70_000)).toBe(false);
    // What this node takes now goes to the database too: node X refuses it.
    expect(await guard.claim('proof', 'on-y', 70_000)).toBe(true);
    expect(await db.claim('proof', 'on-y', 70_000)).toBe(false);
    // Nothing live there any more, and every key it could hold expired: Redis alone again.
    db.live = false;
    clock.advance(120_000);
    await guard.probe();
    const asked = db.claims.length;
    expect(await guard.claim('proof', 'later', 70_000)).toBe(true);
    expect(db.claims.length).toBe(asked);
  });
});

describe('RedisReplayGuard when Redis may have forgotten', () => {
  it('refuses what was issued before Redis went, while it could be valid: claimed there, maybe, and lost', async () => {
    const clock = new ManualClock();
    const { state, redis } = switchableRedis();
    const db = fallback(clock);
    const guard = new RedisReplayGuard({ probeEveryMs: 0, redis, prefix: 'p:', fallback: db, clock });
    const before = clock.now();
    expect(await guard.claim('proof', 'a', 70_000, before)).toBe(true);
    clock.advance(1_000);
    // Redis goes: the database never heard of "a", and the guard refuses it all the same.
    state.status = 'reconnecting';
    expect(await guard.claim('proof', 'a', 70_000, before)).toBe(false);
    expect(db.claims).toEqual([]);
    // What is issued since is claimed in the database, once.
    clock.advance(10);
    const during = clock.now();
    expect(await guard.claim('proof', 'b', 70_000, during)).toBe(true);
    expect(await guard.claim('proof', 'b', 70_000, during)).toBe(false);
    // Redis comes back empty (a restart without persistence): neither "a" nor "b" is accepted again.
    state.keys.clear();
    state.status = 'ready';
    expect(await guard.claim('proof', 'a', 70_000, before)).toBe(false);
    expect(await guard.claim('proof', 'b', 70_000, during)).toBe(false);
    expect(await guard.claim('proof', 'c', 70_000, clock.now())).toBe(true);
    expect(await guard.claim('proof', 'c', 70_000, clock.now())).toBe(false);
  });

  it('takes a closed connection for a possible loss, even when no claim failed meanwhile (a quick restart)', async () => {
    const clock = new ManualClock();
    const { state, redis } = switchableRedis();
    const events = new EventEmitter();
    Object.assign(redis, { on: events.on.bind(events) });
    const guard = new RedisReplayGuard({
      probeEveryMs: 0,
      redis,
      prefix: 'p:',
      fallback: fallback(clock),
      clock,
    });
    const before = clock.now();
    expect(await guard.claim('dpop', 'x', 70_000, before)).toBe(true);
    clock.advance(500);
    events.emit('close');
    state.keys.clear();
    events.emit('ready');
    clock.advance(500);
    expect(await guard.claim('dpop', 'x', 70_000, before)).toBe(false);
    expect(await guard.claim('dpop', 'y', 70_000, clock.now())).toBe(true);
    // Once nothing issued before the loss can be valid any more, the guard is as before.
    clock.advance(70_000);
    expect(await guard.claim('dpop', 'z', 70_000, clock.now())).toBe(true);
  });
});

describe('RedisReplayGuard while Redis is down', () => {
  it('claims in the fallback, logs the outage once, and keeps refusing those keys once Redis is back', async () => {
    const clock = new ManualClock();
    const { state, redis } = switchableRedis();
    const db = fallback(clock);
    const warnings: string[] = [];
    const guard = new RedisReplayGuard({
      probeEveryMs: 0,
      redis,
      prefix: 'p:',
      fallback: db,
      clock,
      log: { warn: (_d, m) => warnings.push(m), info: () => {} },
    });
    expect(await guard.claim('dpop', 'before', 70_000)).toBe(true);
    expect(db.claims).toEqual([]);

    state.status = 'reconnecting';
    expect(await guard.claim('dpop', 'during', 70_000)).toBe(true);
    expect(await guard.claim('dpop', 'during', 70_000)).toBe(false);
    expect(await guard.claim('dpop', 'during2', 70_000)).toBe(true);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/Redis unreachable: replay checks .* go to the database/);

    state.status = 'ready';
    // Redis never saw "during": the fallback, still asked while its claims may live, refuses it.
    expect(await guard.claim('dpop', 'during', 70_000)).toBe(false);
    expect(await guard.claim('dpop', 'fresh', 70_000)).toBe(true);
    expect(await guard.claim('dpop', 'fresh', 70_000)).toBe(false);
    expect(state.keys.has('p:replay:dpop:fresh')).toBe(true);
    // Once every key claimed in the outage has expired (the longest lives 120 s), Redis alone answers.
    clock.advance(120_000);
    const asked = db.claims.length;
    expect(await guard.claim('dpop', 'later', 70_000)).toBe(true);
    expect(db.claims.length).toBe(asked);
    expect(guard.stats.redis).toBeGreaterThan(0);
  });

  it('refuses with SERVICE_UNAVAILABLE when neither Redis nor the database answers', async () => {
    const clock = new ManualClock();
    const { state, redis } = switchableRedis();
    state.status = 'reconnecting';
    const guard = new RedisReplayGuard({
      probeEveryMs: 0,
      redis,
      prefix: 'p:',
      fallback: fallback(clock, true),
      clock,
    });
    const refused = await guard.claim('proof', 'k', 70_000).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(GatehouseError);
    expect((refused as GatehouseError).code).toBe('SERVICE_UNAVAILABLE');
  });

  it('falls back when the connection cannot reach any Redis at all', async () => {
    const clock = new ManualClock();
    const redis = new Redis(await unreachableRedisUrl(), { enableOfflineQueue: false, lazyConnect: true });
    redis.on('error', () => {});
    cleanups.push(() => redis.disconnect());
    const db = fallback(clock);
    const guard = new RedisReplayGuard({ probeEveryMs: 0, redis, prefix: 'p:', fallback: db, clock });
    expect(await guard.claim('device-login', 'n1', 120_000)).toBe(true);
    expect(await guard.claim('device-login', 'n1', 120_000)).toBe(false);
    expect(db.claims).toEqual(['device-login:n1', 'device-login:n1']);
  });

  it('falls back when a connected Redis stops answering: the command times out (a paused Redis)', async () => {
    const clock = new ManualClock();
    // A server that takes connections and never answers, as a paused Redis does.
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => silent.close(resolve)));
    cleanups.push(() => {
      for (const socket of sockets) socket.destroy();
    });
    const { port } = silent.address() as AddressInfo;
    const redis = new Redis(port, '127.0.0.1', {
      enableOfflineQueue: false,
      enableReadyCheck: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 200,
    });
    redis.on('error', () => {});
    cleanups.push(() => redis.disconnect());
    await new Promise((resolve) => redis.once('ready', resolve));
    const db = fallback(clock);
    const guard = new RedisReplayGuard({ probeEveryMs: 0, redis, prefix: 'p:', fallback: db, clock });
    const started = performance.now();
    expect(await guard.claim('proof', 'k', 70_000)).toBe(true);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(db.claims).toEqual(['proof:k']);
  });
});

const url = testRedisUrl();

describe.skipIf(url === null)('RedisReplayGuard on Redis', () => {
  it('claims a key once across guards sharing a Redis, with SET PX NX under the prefix, until it expires', async () => {
    const prefix = `gh-test-${randomBytes(6).toString('hex')}:`;
    const clock = new ManualClock();
    const connect = async () => {
      const redis = new Redis(url as string, { enableOfflineQueue: false });
      cleanups.push(() => redis.quit());
      await new Promise((resolve) => redis.once('ready', resolve));
      return redis;
    };
    const a = new RedisReplayGuard({
      probeEveryMs: 0,
      redis: await connect(),
      prefix,
      fallback: fallback(clock),
      clock,
    });
    const b = new RedisReplayGuard({
      probeEveryMs: 0,
      redis: await connect(),
      prefix,
      fallback: fallback(clock),
      clock,
    });
    expect(await a.claim('dpop', 'jti-1', 300)).toBe(true);
    expect(await b.claim('dpop', 'jti-1', 300)).toBe(false);
    expect(await a.claim('dpop', 'jti-1', 300)).toBe(false);
    expect(await b.claim('dpop', 'jti-2', 300)).toBe(true);
    const inspect = await connect();
    const ttl = await inspect.pttl(`${prefix}replay:dpop:jti-1`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(300);
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect(await b.claim('dpop', 'jti-1', 300)).toBe(true);
    expect(a.stats).toMatchObject({ fallback: 0 });
    await inspect.del(`${prefix}replay:dpop:jti-1`, `${prefix}replay:dpop:jti-2`);
  });
});
