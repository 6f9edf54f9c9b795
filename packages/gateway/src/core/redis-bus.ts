/**
 * @module core/redis-bus
 * The event bus between nodes, on Redis pub/sub (`cluster.redisUrl`): one channel per topic
 * (`gatehouse:bus:<topic>`), JSON messages, one connection that publishes and one that subscribes.
 *
 * - A message reaches every node's subscribers once. The publishing node delivers to its own subscribers at once,
 *   in process (so one node behaves as with the in-process bus, with or without Redis), and ignores its own
 *   message when Redis brings it back (each message names its node).
 * - A node subscribes to a topic's channel while it has a handler for it, and subscribes again to every such
 *   channel each time its connection is (re)established.
 * - A handler that throws is logged and counted; the others still run.
 * - While Redis cannot be reached, `publish` never throws nor waits: other nodes miss the message (logged once per
 *   outage, counted in `stats`, which the metrics report). The bus then says it is not `connected` (the gauge
 *   `gatehouse_bus_connected` is 0) and the node runs degraded: its caches of what other nodes announce — sessions
 *   (`sessions/service.ts`), brokerage holders (`sessions/holder-view.ts`), entitlements (`entitlements/store.ts`)
 *   and programs' access tokens (`oauth/service.ts`) — keep nothing, so every authentication reads the database
 *   and a session revoked on another node is refused at once. Each cache empties itself when the bus drops and again
 *   when it is back (`onConnection`): messages published during the outage are lost, and nothing cached before or
 *   during it is trusted after it. The bus is `connected` again once both connections are up and its channels are
 *   subscribed again.
 * - A message lost while the bus is connected (a node's subscriber connection dropping in the middle of a publish,
 *   say) is bounded by the re-reads every node does anyway: a cached session (`revalidateAfterMs` =
 *   `sessions.cacheRevalidateMs`, 30 s) and the brokerage holder (the same setting), entitlements (`maxAgeMs`, 30 s)
 *   and the profile behind open streams (`ws/stream-hub.ts`, `RELOAD_MS`, 30 s) are read again from the database.
 *   Messages without a database re-read behind them (`push.deliver`, `stream.dropped`) are lost with it.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { BusHandler, BusMessages, BusTopic, EventBus } from './event-bus.js';

/** Where the bus reports its connection and its failures (a pino logger fits). */
export interface BusLog {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

export interface RedisEventBusOptions {
  /** `redis://…` or `rediss://…`. */
  url: string;
  /** Channel names are this followed by the topic. */
  prefix?: string;
  /** This node's name (`cluster.nodeId`); a random one when absent. */
  nodeId?: string;
  log?: BusLog;
}

/** What the bus did since it started, per node. */
export interface RedisBusStats {
  /** Messages Redis took for other nodes. */
  published: number;
  /** Messages other nodes did not get: Redis unreachable or refusing. */
  publishFailures: number;
  /** Messages heard from other nodes. */
  received: number;
  /** Handlers that threw (the others ran). */
  handlerErrors: number;
}

interface Envelope {
  /** The publishing node. */
  n: string;
  /** The message. */
  m: unknown;
}

const silent: BusLog = { info: () => {}, warn: () => {} };

export class RedisEventBus implements EventBus {
  /** This node's name on the bus (also the connections' client names in Redis). */
  readonly nodeId: string;
  readonly stats: RedisBusStats = { published: 0, publishFailures: 0, received: 0, handlerErrors: 0 };
  readonly #prefix: string;
  readonly #log: BusLog;
  readonly #pub: Redis;
  readonly #sub: Redis;
  readonly #handlers = new Map<BusTopic, Set<(message: unknown) => void>>();
  /** Whether this outage was already reported, so a dead Redis logs once, not on every retry or message. */
  #down = false;
  #closed = false;
  /** Both connections up and the subscriber's channels subscribed again. */
  #connected = false;
  /** The subscriber connection is up and has re-subscribed every channel. */
  #subscribed = false;
  readonly #listeners = new Set<(connected: boolean) => void>();

  constructor(options: RedisEventBusOptions) {
    this.nodeId = options.nodeId ?? `node-${randomBytes(6).toString('hex')}`;
    this.#prefix = options.prefix ?? 'gatehouse:bus:';
    this.#log = options.log ?? silent;
    const connection = (role: string) =>
      new Redis(options.url, {
        connectionName: `gatehouse-bus-${role}-${this.nodeId}`,
        // Nothing waits for Redis: a command while disconnected fails at once instead of queueing.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        // The subscriptions are re-established here, from the handlers held now, on every (re)connection.
        autoResubscribe: false,
        connectTimeout: 5_000,
      });
    this.#pub = connection('pub');
    this.#sub = connection('sub');
    for (const redis of [this.#pub, this.#sub]) {
      redis.on('error', (error: Error) => this.#lost(error));
      // A connection Redis closed (a restart, a shutdown) says so before any error does.
      redis.on('close', () => this.#lost(new Error('Redis connection closed')));
    }
    this.#pub.on('ready', () => this.#restored());
    this.#sub.on('ready', () => {
      const channels = [...this.#handlers.keys()].map((topic) => this.#channel(topic));
      const subscribed = () => {
        this.#subscribed = true;
        this.#restored();
      };
      if (channels.length === 0) subscribed();
      else this.#sub.subscribe(...channels).then(subscribed, (error: Error) => this.#lost(error));
    });
    this.#sub.on('message', (channel: string, raw: string) => this.#receive(channel, raw));
  }

  /**
   * Resolves true once both connections are up, false at the first connection error or after `timeoutMs` (the
   * bus keeps reconnecting either way).
   */
  ready(timeoutMs = 5_000): Promise<boolean> {
    const up = () => this.#pub.status === 'ready' && this.#sub.status === 'ready';
    if (up()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        for (const redis of [this.#pub, this.#sub]) {
          redis.off('ready', check);
          redis.off('error', fail);
        }
        resolve(ok);
      };
      const check = () => {
        if (up()) finish(true);
      };
      const fail = () => finish(false);
      const timer = setTimeout(fail, timeoutMs);
      for (const redis of [this.#pub, this.#sub]) {
        redis.on('ready', check);
        redis.on('error', fail);
      }
    });
  }

  /** Whether other nodes hear what this one publishes now (see the module's comment for what changes when not). */
  get connected(): boolean {
    return this.#connected;
  }

  onConnection(listener: (connected: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async publish<T extends BusTopic>(topic: T, message: BusMessages[T]): Promise<void> {
    this.#deliver(topic, message);
    if (this.#closed) return;
    if (this.#pub.status !== 'ready') {
      this.#failed(new Error(`Redis connection ${this.#pub.status}`));
      return;
    }
    const envelope: Envelope = { n: this.nodeId, m: message };
    let payload: string;
    try {
      payload = JSON.stringify(envelope);
    } catch (error) {
      this.stats.publishFailures += 1;
      this.#log.warn({ err: error, topic }, 'an event bus message that is not JSON stayed on this node');
      return;
    }
    // Not awaited: a request never waits on Redis. Commands on one connection keep their order.
    this.#pub.publish(this.#channel(topic), payload).then(
      () => {
        this.stats.published += 1;
      },
      (error: Error) => this.#failed(error),
    );
  }

  subscribe<T extends BusTopic>(topic: T, handler: BusHandler<T>): () => void {
    let handlers = this.#handlers.get(topic);
    if (handlers === undefined) {
      handlers = new Set();
      this.#handlers.set(topic, handlers);
      if (this.#sub.status === 'ready') {
        this.#sub.subscribe(this.#channel(topic)).catch((error: Error) => this.#lost(error));
      }
    }
    const entry = handler as (message: unknown) => void;
    handlers.add(entry);
    const own = handlers;
    return () => {
      own.delete(entry);
      if (own.size > 0 || this.#handlers.get(topic) !== own) return;
      this.#handlers.delete(topic);
      if (this.#sub.status === 'ready') {
        this.#sub.unsubscribe(this.#channel(topic)).catch((error: Error) => this.#lost(error));
      }
    };
  }

  /** Drops every handler and ends both connections (QUIT when connected; otherwise stops reconnecting). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#handlers.clear();
    this.#listeners.clear();
    await Promise.all(
      [this.#pub, this.#sub].map(async (redis) => {
        if (redis.status === 'ready') {
          try {
            await redis.quit();
            return;
          } catch {
            // Falls through to the disconnect below.
          }
        }
        redis.disconnect();
      }),
    );
  }

  #channel(topic: BusTopic): string {
    return `${this.#prefix}${topic}`;
  }

  #deliver(topic: BusTopic, message: unknown): void {
    const handlers = this.#handlers.get(topic);
    if (handlers === undefined) return;
    for (const handler of [...handlers]) {
      try {
        handler(message);
      } catch (error) {
        this.stats.handlerErrors += 1;
        this.#log.warn({ err: error, topic }, 'an event bus handler failed; the others ran');
      }
    }
  }

  #receive(channel: string, raw: string): void {
    if (!channel.startsWith(this.#prefix)) return;
    let envelope: Envelope;
    try {
      envelope = JSON.parse(raw) as Envelope;
    } catch {
      this.#log.warn({ channel }, 'an event bus message that is not JSON was ignored');
      return;
    }
    if (envelope.n === this.nodeId) return;
    this.stats.received += 1;
    this.#deliver(channel.slice(this.#prefix.length) as BusTopic, envelope.m);
  }

  #failed(error: Error): void {
    this.stats.publishFailures += 1;
    this.#lost(error);
  }

  #lost(error: Error): void {
    if (this.#closed) return;
    if (this.#sub.status !== 'ready') this.#subscribed = false;
    // A command refused on a connection that is up (a message lost while connected) changes nothing here.
    if (this.#pub.status !== 'ready' || !this.#subscribed) this.#change(false);
    if (this.#down) return;
    this.#down = true;
    this.#log.warn(
      { err: { message: error.message } },
      'Redis unreachable: event bus messages to other nodes are dropped until it is back; this node reads ' +
        'sessions, holders, entitlements and access tokens from the database on every request meanwhile',
    );
  }

  #restored(): void {
    if (this.#closed || this.#pub.status !== 'ready' || this.#sub.status !== 'ready' || !this.#subscribed)
      return;
    this.#change(true);
    if (!this.#down) return;
    this.#down = false;
    this.#log.info({}, 'Redis reachable again: the event bus reaches every node; caches start empty');
  }

  #change(connected: boolean): void {
    if (this.#connected === connected) return;
    this.#connected = connected;
    for (const listener of [...this.#listeners]) {
      try {
        listener(connected);
      } catch (error) {
        this.stats.handlerErrors += 1;
        this.#log.warn({ err: error }, 'an event bus connection listener failed; the others ran');
      }
    }
  }
}
