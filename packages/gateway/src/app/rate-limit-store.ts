/**
 * @module app/rate-limit-store
 * The per-address rate limits (`@fastify/rate-limit`: login, factor, step-up and password routes,
 * `login.ipRateLimitMax` per `login.ipRateLimitWindowMs`) counted across nodes. With `cluster.redisUrl` each count
 * is one Lua call on Redis (INCR, and PEXPIRE when the window starts) under `<cluster.keyPrefix>rate:<route>:<key>`,
 * so an address gets the limit once whichever node its requests reach.
 *
 * While Redis cannot be reached the count goes on in this node's memory (the plugin's own behaviour with one
 * node): the limits hold per node, so an address may make up to N times the limit across N nodes for the outage.
 * Requests are never refused for want of Redis, and the login backoff per user and network (`login/throttle.ts`,
 * in the database) holds across nodes throughout.
 */
import type { Redis } from 'ioredis';

interface Count {
  current: number;
  ttl: number;
}

type Callback = (error: Error | null, result: Count | null) => void;

/** What `@fastify/rate-limit` asks of a store. */
interface RateLimitStore {
  incr(key: string, callback: Callback, timeWindow: number, max: number): void;
  child(routeOptions: { routeInfo: { method?: string; url?: string } }): RateLimitStore;
}

const INCR = `
local current = redis.call('INCR', KEYS[1])
if current == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) ttl = tonumber(ARGV[1]) end
return {current, ttl}
`;

/** One route's counts in this node's memory: the fallback while Redis is down. */
class LocalCounts {
  readonly #counts = new Map<string, { current: number; resetAt: number }>();

  incr(key: string, timeWindow: number): Count {
    const now = Date.now();
    let entry = this.#counts.get(key);
    if (entry === undefined || entry.resetAt <= now) {
      if (this.#counts.size >= 10_000) this.#sweep(now);
      entry = { current: 0, resetAt: now + timeWindow };
      this.#counts.set(key, entry);
    }
    entry.current += 1;
    return { current: entry.current, ttl: entry.resetAt - now };
  }

  #sweep(now: number): void {
    for (const [key, entry] of this.#counts) if (entry.resetAt <= now) this.#counts.delete(key);
    // Still full of live windows: the oldest go (an address forgotten early may start a new window).
    for (const key of this.#counts.keys()) {
      if (this.#counts.size < 10_000) break;
      this.#counts.delete(key);
    }
  }
}

class ClusterRateLimitStore implements RateLimitStore {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #local = new LocalCounts();

  constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
    this.#prefix = prefix;
  }

  incr(key: string, callback: Callback, timeWindow: number): void {
    const local = () => callback(null, this.#local.incr(key, timeWindow));
    if (this.#redis.status !== 'ready') {
      local();
      return;
    }
    this.#redis.eval(INCR, 1, `${this.#prefix}${key}`, timeWindow).then(
      (result) => {
        const [current, ttl] = result as [number, number];
        callback(null, { current, ttl });
      },
      () => local(),
    );
  }

  child(routeOptions: { routeInfo: { method?: string; url?: string } }): RateLimitStore {
    const { method = '', url = '' } = routeOptions.routeInfo;
    return new ClusterRateLimitStore(this.#redis, `${this.#prefix}${method}${url}:`);
  }
}

/**
 * The `store` option of `@fastify/rate-limit` (the plugin calls it with `new`): counts on Redis under
 * `<keyPrefix>rate:`, in memory while Redis is down.
 */
export function clusterRateLimitStore(redis: Redis, keyPrefix: string): new () => RateLimitStore {
  return function store() {
    return new ClusterRateLimitStore(redis, `${keyPrefix}rate:`);
  } as unknown as new () => RateLimitStore;
}
