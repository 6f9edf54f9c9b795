/**
 * What two nodes do while their bus (Redis) is down: they run degraded, every authentication reads the database,
 * so a session revoked on node A is refused on node B at once — not after the 30 s re-read — though the message
 * never reached B. The state change is logged once and exported (`gatehouse_bus_connected`). When Redis is back
 * the nodes reconnect and cache again, from empty. The Redis restarted here is this test's own `redis-server`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, type RedisEventBus } from '../core/index.js';
import {
  ALICE,
  BRUNO,
  callAs,
  errorCode,
  loginAs,
  startTestGateway,
  type TestGateway,
  type TestGatewayOptions,
} from '../test-support/gateway.js';
import { botToken, registerBot, type TestProgram } from '../test-support/program.js';
import { eventually, unreachableRedisUrl } from '../test-support/redis.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(options: TestGatewayOptions): Promise<TestGateway> {
  const gw = await startTestGateway(options);
  cleanups.push(() => gw.close());
  return gw;
}

/** A SQLite file both nodes open, removed after the test. */
function sharedFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gh-bus-down-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'g.db');
}

/** This test's own Redis, on a free port: started, stopped and started again on that port. */
class OwnRedis {
  #child: ChildProcess | null = null;
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.#child = child;
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('Ready to accept connections')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${out}`)));
    });
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (child === null || child.exitCode !== null) return;
    this.#child = null;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
}

async function ownRedis(): Promise<OwnRedis> {
  const port = Number(new URL(await unreachableRedisUrl()).port);
  const redis = new OwnRedis(port);
  await redis.start();
  cleanups.push(() => redis.stop());
  return redis;
}

async function scrape(gw: TestGateway): Promise<string> {
  return (await gw.metricsApp?.inject({ method: 'GET', url: '/metrics' }))?.body ?? '';
}

describe('two nodes whose Redis cannot be reached', () => {
  it('read the database on every authentication: a session revoked on A is refused on B at once', async () => {
    const redisUrl = await unreachableRedisUrl();
    const clock = new ManualClock();
    const config = { database: { url: sharedFile() }, cluster: { redisUrl } };
    const a = await start({ clock, config });
    const b = await start({ clock, config, demo: false });
    expect(b.ctx.bus.connected).toBe(false);
    expect(await scrape(b)).toContain('gatehouse_bus_connected 0');

    const alice = await loginAs(a, ALICE);
    expect((await callAs(b, 'GET', '/v1/session', alice)).statusCode).toBe(200);
    const before = b.queries.count;
    expect((await callAs(b, 'GET', '/v1/session', alice)).statusCode).toBe(200);
    // Not from memory: degraded, B asked the database again.
    expect(b.queries.count).toBeGreaterThan(before);

    expect((await callAs(a, 'POST', '/v1/auth/logout', alice)).statusCode).toBe(200);
    // The clock has not moved: no re-read is due, and the revocation never reached B over the bus.
    expect(errorCode(await callAs(b, 'GET', '/v1/session', alice))).toBe('SESSION_REVOKED');
  });

  it('read a program’s access token from the database each time: one revoked on A is refused on B at once', async () => {
    const redisUrl = await unreachableRedisUrl();
    const clock = new ManualClock();
    const config = { database: { url: sharedFile() }, cluster: { redisUrl } };
    const a = await start({ clock, config });
    const b = await start({ clock, config, demo: false });
    const bot = await registerBot(a, await loginAs(a, ALICE));
    const token = await botToken(bot);
    const onB = Object.assign(Object.create(bot) as TestProgram, { gw: b });
    expect((await onB.call('GET', '/v1/session', token)).statusCode).toBe(200);
    expect((await onB.call('GET', '/v1/session', token)).statusCode).toBe(200);
    expect((await bot.form('/oauth2/revoke', { token })).statusCode).toBe(200);
    expect(errorCode(await onB.call('GET', '/v1/session', token))).toBe('INVALID_TOKEN');
  });
});

describe('two nodes whose Redis goes away and comes back', () => {
  it('cache while connected, refuse at once on B what A revoked during the outage, and cache again after', async () => {
    const redis = await ownRedis();
    const clock = new ManualClock();
    const lines: string[] = [];
    const config = {
      database: { url: sharedFile() },
      cluster: { redisUrl: redis.url, keyPrefix: 'gh-own:' },
    };
    const a = await start({ clock, config });
    const b = await start({ clock, config, demo: false, logSink: (line) => lines.push(line) });
    await eventually(() => a.ctx.bus.connected && b.ctx.bus.connected, 5_000);
    expect(await scrape(b)).toContain('gatehouse_bus_connected 1');

    const alice = await loginAs(a, ALICE);
    const bruno = await loginAs(a, BRUNO);
    for (const who of [alice, bruno])
      expect((await callAs(b, 'GET', '/v1/session', who)).statusCode).toBe(200);
    let before = b.queries.count;
    expect((await callAs(b, 'GET', '/v1/session', alice)).statusCode).toBe(200);
    expect(b.queries.count).toBe(before); // cached on B

    await redis.stop();
    await eventually(() => !a.ctx.bus.connected && !b.ctx.bus.connected, 5_000);
    expect(await scrape(b)).toContain('gatehouse_bus_connected 0');
    // The session B had cached is refused on B at once after A revokes it: B dropped its cache when the bus did.
    expect((await callAs(a, 'POST', '/v1/auth/logout', alice)).statusCode).toBe(200);
    expect((a.ctx.bus as RedisEventBus).stats.publishFailures).toBeGreaterThan(0);
    expect(errorCode(await callAs(b, 'GET', '/v1/session', alice))).toBe('SESSION_REVOKED');
    // Degraded: every authentication reads the database.
    before = b.queries.count;
    expect((await callAs(b, 'GET', '/v1/session', bruno)).statusCode).toBe(200);
    expect((await callAs(b, 'GET', '/v1/session', bruno)).statusCode).toBe(200);
    expect(b.queries.count - before).toBeGreaterThanOrEqual(2);

    await redis.start();
    await eventually(() => a.ctx.bus.connected && b.ctx.bus.connected, 10_000);
    expect(await scrape(b)).toContain('gatehouse_bus_connected 1');
    // Back: B reads once, from an empty cache, then answers from memory again.
    before = b.queries.count;
    expect((await callAs(b, 'GET', '/v1/session', bruno)).statusCode).toBe(200);
    expect(b.queries.count).toBeGreaterThan(before);
    before = b.queries.count;
    expect((await callAs(b, 'GET', '/v1/session', bruno)).statusCode).toBe(200);
    expect(b.queries.count).toBe(before);
    // And the bus carries revocations again.
    expect((await callAs(a, 'POST', '/v1/auth/logout', bruno)).statusCode).toBe(200);
    await eventually(
      async () => errorCode(await callAs(b, 'GET', '/v1/session', bruno)) === 'SESSION_REVOKED',
    );

    // The outage and the return are each logged once on B.
    const messages = lines.map((line) => (JSON.parse(line) as { msg?: string }).msg ?? '');
    expect(messages.filter((m) => m.startsWith('Redis unreachable: event bus'))).toHaveLength(1);
    expect(messages.filter((m) => m.startsWith('Redis reachable again: the event bus'))).toHaveLength(1);
  });
});
