/**
 * The event bus on a real Redis (GATEHOUSE_TEST_REDIS_URL), two buses standing for two nodes: a message reaches
 * every node's subscribers once, its own included; subscriptions follow the handlers; every topic's message
 * survives the trip; a throwing handler stops no other; close ends both connections; a lost connection is
 * re-established with its subscriptions; an unreachable Redis never makes `publish` throw.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { eventually, testRedisUrl, unreachableRedisUrl } from '../test-support/redis.js';
import type { BusMessages } from './event-bus.js';
import { type BusLog, RedisEventBus } from './redis-bus.js';

const url = testRedisUrl();

describe.skipIf(url === null)('RedisEventBus', () => {
  const redisUrl = url as string;
  const admin = new Redis(redisUrl, { lazyConnect: true });
  const buses: RedisEventBus[] = [];
  let prefix = '';

  afterEach(async () => {
    for (const bus of buses.splice(0)) await bus.close();
  });
  afterAll(async () => {
    await admin.quit().catch(() => admin.disconnect());
  });

  /** A node's bus, on a prefix of this test's own (test files share the Redis). */
  async function node(log?: BusLog): Promise<RedisEventBus> {
    const bus = new RedisEventBus({ url: redisUrl, prefix, ...(log === undefined ? {} : { log }) });
    buses.push(bus);
    expect(await bus.ready()).toBe(true);
    return bus;
  }
  const subscribers = async (topic: string) => {
    const [, count] = (await admin.pubsub('NUMSUB', `${prefix}${topic}`)) as [string, number];
    return count;
  };
  const revoked = (sessionId: string): BusMessages['session.revoked'] => ({
    sessionId,
    tokenHash: `hash-${sessionId}`,
    userId: 'usr_alice',
    reason: 'logout',
  });

  it('delivers a message published on one node to the subscribers of every node, each once', async () => {
    prefix = `gatehouse:test:${randomBytes(4).toString('hex')}:`;
    const a = await node();
    const b = await node();
    const heardOnA: string[] = [];
    const heardOnB: string[] = [];
    a.subscribe('session.revoked', (m) => heardOnA.push(m.sessionId));
    b.subscribe('session.revoked', (m) => heardOnB.push(m.sessionId));
    await eventually(async () => (await subscribers('session.revoked')) === 2);

    await a.publish('session.revoked', revoked('ses_1'));
    // The publishing node's own subscribers hear it at once, without the round trip.
    expect(heardOnA).toEqual(['ses_1']);
    await eventually(() => heardOnB.length === 1);
    await eventually(() => a.stats.published === 1);
    // A marker from B, published after Redis took A's message: once A hears it, A's own copy came back too.
    await b.publish('session.revoked', revoked('ses_marker'));
    await eventually(() => heardOnA.length === 2);
    expect(heardOnA).toEqual(['ses_1', 'ses_marker']);
    expect(heardOnB).toEqual(['ses_1', 'ses_marker']);
    expect(a.stats).toMatchObject({ published: 1, received: 1, publishFailures: 0 });
    expect(b.stats).toMatchObject({ published: 1, received: 1, publishFailures: 0 });
  });

  it('subscribes to a topic while a handler wants it, and stops delivering to a handler that unsubscribed', async () => {
    prefix = `gatehouse:test:${randomBytes(4).toString('hex')}:`;
    const a = await node();
    const b = await node();
    const first: string[] = [];
    const second: string[] = [];
    expect(await subscribers('user.changed')).toBe(0);
    const stopFirst = b.subscribe('user.changed', (m) => first.push(m.userId));
    const stopSecond = b.subscribe('user.changed', (m) => second.push(m.userId));
    await eventually(async () => (await subscribers('user.changed')) === 1);

    stopFirst();
    await a.publish('user.changed', { userId: 'usr_1' });
    await eventually(() => second.length === 1);
    expect(first).toEqual([]);
    // Still one handler: B stays subscribed.
    expect(await subscribers('user.changed')).toBe(1);

    stopSecond();
    await eventually(async () => (await subscribers('user.changed')) === 0);
    await a.publish('user.changed', { userId: 'usr_2' });
    await eventually(() => a.stats.published === 2);
    expect(b.stats.received).toBe(1);
    expect(second).toEqual(['usr_1']);
  });

  it('carries every field of typed messages across nodes', async () => {
    prefix = `gatehouse:test:${randomBytes(4).toString('hex')}:`;
    const a = await node();
    const b = await node();
    const heard: unknown[] = [];
    b.subscribe('account.event', (m) => heard.push(m));
    b.subscribe('oauth.revoked', (m) => heard.push(m));
    b.subscribe('stream.dropped', (m) => heard.push(m));
    b.subscribe('push.deliver', (m) => heard.push(m));
    await eventually(async () => (await subscribers('push.deliver')) === 1);
    const sent: unknown[] = [];
    const send = async <T extends keyof BusMessages>(topic: T, message: BusMessages[T]) => {
      sent.push(message);
      await a.publish(topic, message);
    };
    await send('account.event', {
      accountId: 'U1000001',
      seq: 42,
      type: 'order.filled',
      orderId: null,
      data: { price: 187.25, quantity: 3, tags: ['paper'], nested: { ok: true } },
    });
    await send('oauth.revoked', { grantId: 'grt_1', jkt: 'thumb' });
    await send('oauth.revoked', { grantId: 'grt_2' });
    await send('stream.dropped', { faultId: 'flt_1', target: { type: 'session', id: 'ses_9' } });
    await send('push.deliver', { deviceIds: ['dev_1', 'dev_2'], message: { type: 'push', number: 17 } });
    await eventually(() => heard.length === sent.length);
    expect(heard).toEqual(sent);
  });

  it('runs the other handlers when one throws, on the publishing node and on the others', async () => {
    prefix = `gatehouse:test:${randomBytes(4).toString('hex')}:`;
    const warnings: string[] = [];
    const log: BusLog = { info: () => {}, warn: (_details, message) => warnings.push(message) };
    const a = await node(log);
    const b = await node(log);
    const heard: string[] = [];
    for (const bus of [a, b]) {
      bus.subscribe('device.revoked', () => {
        throw new Error('handler bug');
      });
      bus.subscribe('device.revoked', (m) => heard.push(m.deviceId));
    }
    await eventually(async () => (await subscribers('device.revoked')) === 2);

    await expect(a.publish('device.revoked', { deviceId: 'dev_1' })).resolves.toBeUndefined();
    await eventually(() => heard.length === 2);
    expect(heard).toEqual(['dev_1', 'dev_1']);
    expect(a.stats.handlerErrors).toBe(1);
    expect(b.stats.handlerErrors).toBe(1);
    expect(warnings).toEqual([
      'an event bus handler failed; the others ran',
      'an event bus handler failed; the others ran',
    ]);
  });

  it('keeps on its own node a message JSON cannot carry, and throws nothing into the publisher', async () => {
    prefix = `gatehouse:test:${randomBytes(4).toString('hex')}:`;
    const warnings: string[] = [];
    const a = await node({ info: () => {}, warn: (_details, message) => warnings.push(message) });
    const heard: unknown[] = [];
    a.subscribe('account.event', (m) => heard.push(m.data));
    const message = { accountId: 'U1', seq: 1, type: 'x', orderId: null, data: { big: 1n } };
    await expect(a.publish('account.event', message)).resolves.toBeUndefined();
    expect(heard).toEqual([{ big: 1n }]);
    expect(a.stats).toMatchObject({ published: 0, publishFailures: 1 });
    expect(warnings).toEqual(['an event bus message that is not JSON stayed on this node']);
  });

  it('ends both of its connections on close, and publishes nothing afterwards', async () => {
    prefix = `gatehouse:test:${randomBytes(4).toString('hex')}:`;
    const bus = await node();
    bus.subscribe('session.changed', () => {});
    const ours = async () =>
      ((await admin.client('LIST')) as string).split('\n').filter((line) => line.includes(bus.nodeId)).length;
    expect(await ours()).toBe(2);

    await bus.close();
    expect(await ours()).toBe(0);
    await expect(bus.publish('session.changed', { sessionId: 's', tokenHash: 'h' })).resolves.toBeUndefined();
    expect(bus.stats.publishFailures).toBe(0);
    await bus.close();
  });

  it('subscribes again after its connection was cut, and hears the other nodes again', async () => {
    prefix = `gatehouse:test:${randomBytes(4).toString('hex')}:`;
    const a = await node();
    const b = await node();
    const heard: string[] = [];
    b.subscribe('account.changed', (m) => heard.push(m.accountId));
    await eventually(async () => (await subscribers('account.changed')) === 1);

    const line = ((await admin.client('LIST')) as string)
      .split('\n')
      .find((l) => l.includes(`name=gatehouse-bus-sub-${b.nodeId}`));
    const id = /\bid=(\d+)/.exec(line ?? '')?.[1];
    expect(id).toBeDefined();
    await admin.client('KILL', 'ID', id as string);
    await eventually(async () => (await subscribers('account.changed')) === 0);
    // ioredis reconnects; the bus subscribes again to the channels its handlers want.
    await eventually(async () => (await subscribers('account.changed')) === 1, 5_000);
    await a.publish('account.changed', { accountId: 'U1000001' });
    await eventually(() => heard.length === 1);
    expect(heard).toEqual(['U1000001']);
  });
});

describe('RedisEventBus without a Redis', () => {
  it('publishes without throwing or waiting, delivers on its own node, and counts what other nodes missed', async () => {
    const warnings: string[] = [];
    const bus = new RedisEventBus({
      url: await unreachableRedisUrl(),
      log: { info: () => {}, warn: (_details, message) => warnings.push(message) },
    });
    try {
      expect(await bus.ready()).toBe(false);
      const heard: string[] = [];
      bus.subscribe('session.revoked', (m) => heard.push(m.sessionId));
      const started = performance.now();
      for (const id of ['ses_1', 'ses_2', 'ses_3']) {
        await expect(
          bus.publish('session.revoked', { sessionId: id, tokenHash: 'h', userId: 'u', reason: 'logout' }),
        ).resolves.toBeUndefined();
      }
      expect(performance.now() - started).toBeLessThan(100);
      expect(heard).toEqual(['ses_1', 'ses_2', 'ses_3']);
      expect(bus.stats).toMatchObject({ published: 0, publishFailures: 3 });
      // One warning for the outage, not one per retry or message.
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/Redis unreachable.*from the database on every request/);
    } finally {
      await bus.close();
    }
  });
});
