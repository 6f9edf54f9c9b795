/**
 * @module core/replay
 * "Seen once" checks shared by every node: a DPoP proof's `jti` (oauth/dpop.ts), a device proof's `jti`
 * (sessions/device-proof.ts), a signed device login's nonce (login/device-login.ts) and a device stream's opening
 * nonce (factors/device-hub.ts). `claim(namespace, key, ttlMs)` is true only the first time a key is claimed within
 * `ttlMs` — on any node — so a proof replayed to another node is refused as it is on the node that saw it.
 *
 * - One node (no `cluster.redisUrl`): `MemoryReplayGuard`, bounded, in this process — nothing else could see the key.
 * - Several nodes: `RedisReplayGuard`, one `SET <cluster.keyPrefix>replay:<namespace>:<key> 1 PX <ttl> NX` per
 *   claim (keys longer than 64 characters are hashed). While Redis cannot be reached it claims in its fallback (the
 *   database: store/replay-claims.ts), and for as long as a key claimed there may live after Redis is back (the
 *   longest `ttlMs` it was given) it claims in both, so a key claimed during the outage is still refused after
 *   it. A claim that neither can answer is refused with `SERVICE_UNAVAILABLE`: a replay is never accepted for want
 *   of a place to check it.
 * - Redis forgets: claims made on it before it lost its connection (a restart without persistence, a failover to a
 *   replica that missed them, an outage during which the fallback never heard of them) cannot be trusted to be
 *   there. So a proof or nonce issued before the moment this node saw Redis go (`issuedAt` at or before it) is
 *   refused for as long as it could otherwise be valid (`ttlMs` after that moment): it may have been claimed there.
 *   Those issued since are claimed in the fallback during the outage and in both just after it. A client whose clock
 *   runs behind may see a fresh proof refused in that window, and signs another.
 * - A partition in which some nodes reach Redis and others do not: every second each node asks its fallback
 *   whether any node holds a live claim there (`hasLiveClaims`); while one does, it claims in both too, so a key
 *   claimed on either side is refused on the other. What is left is the second before a node notices: a proof
 *   replayed within it, from a node cut off from Redis to one that is not, could be accepted once.
 */
import type { Redis } from 'ioredis';
import type { Clock } from './clock.js';
import { sha256 } from './crypto.js';
import { GatehouseError } from './errors.js';
import { LruCache } from './lru.js';

export interface ReplayGuard {
  /**
   * True only the first time `key` is claimed in `namespace` within `ttlMs`; throws a coded error only. `issuedAt`
   * (epoch ms) is the latest the proof or nonce says it was made (the end of its second, for a JWT's `iat`): a
   * guard that may have lost claims made before some moment refuses what was issued before it (`RedisReplayGuard`).
   */
  claim(namespace: string, key: string, ttlMs: number, issuedAt?: number): Promise<boolean>;
  /** Stops what the guard runs in the background (nothing by default). */
  close?(): void;
}

/** A fallback that can say whether any node claimed there lately (the database). */
export interface ReplayFallback extends ReplayGuard {
  /** Whether some claim made here has not expired yet. */
  hasLiveClaims(): Promise<boolean>;
}

/** Keys longer than this are hashed (SHA-256, base64url) before they are stored. */
const MAX_KEY_LENGTH = 64;

/** `namespace:key`, the key hashed when long. */
export function replayKey(namespace: string, key: string): string {
  return `${namespace}:${key.length > MAX_KEY_LENGTH ? sha256(key) : key}`;
}

/**
 * One node's claims, in memory: at most `maxEntries` per namespace (the oldest go first; a namespace of its own
 * each, so a flood of one kind of proof cannot push another's claims out), each until it expires.
 */
export class MemoryReplayGuard implements ReplayGuard {
  readonly #clock: Clock;
  readonly #max: number;
  /** namespace → key → when its claim expires. */
  readonly #seen = new Map<string, LruCache<string, number>>();

  constructor(clock: Clock, maxEntries = 200_000) {
    this.#clock = clock;
    this.#max = maxEntries;
  }

  async claim(namespace: string, key: string, ttlMs: number, _issuedAt?: number): Promise<boolean> {
    return this.claimNow(namespace, key, ttlMs);
  }

  /** `claim`, answered synchronously. */
  claimNow(namespace: string, key: string, ttlMs: number): boolean {
    const now = this.#clock.now();
    let seen = this.#seen.get(namespace);
    if (seen === undefined) {
      seen = new LruCache(this.#max);
      this.#seen.set(namespace, seen);
    }
    // Claims expire in about the order they were made (one ttl per namespace): drop the expired oldest as we go,
    // two per claim, so the namespace holds its live claims rather than filling up to `maxEntries`.
    seen.dropOldestWhile((until) => until <= now, 2);
    const expires = seen.get(key);
    if (expires !== undefined && now < expires) return false;
    seen.set(key, now + ttlMs);
    return true;
  }

  /** Claims held in a namespace (live, and expired ones not yet dropped). */
  size(namespace: string): number {
    return this.#seen.get(namespace)?.size ?? 0;
  }
}

/** Where `RedisReplayGuard` tells of an outage (a pino logger fits). */
export interface ReplayLog {
  warn(details: object, message: string): void;
  info(details: object, message: string): void;
}

export interface RedisReplayGuardOptions {
  /** A connection that fails commands at once while disconnected (`enableOfflineQueue: false`). */
  redis: Redis;
  /** Key prefix (`cluster.keyPrefix`); keys are `<prefix>replay:<namespace>:<key>`. */
  prefix: string;
  /** Where claims go while Redis cannot be reached (the database). */
  fallback: ReplayFallback;
  /** How often to ask the fallback whether another node claims there (ms; default 1 s; 0: never, tests). */
  probeEveryMs?: number;
  clock: Clock;
  log?: ReplayLog;
}

/** What the guard did since it started. */
export interface ReplayStats {
  /** Claims answered by Redis. */
  redis: number;
  /** Claims answered by the fallback (Redis unreachable, or just back). */
  fallback: number;
}

/** The longest time to live a claim is given (a device login's nonce: twice its 60 s skew). */
const DEFAULT_LONGEST_TTL_MS = 120_000;

export class RedisReplayGuard implements ReplayGuard {
  readonly stats: ReplayStats = { redis: 0, fallback: 0 };
  readonly #o: RedisReplayGuardOptions;
  /** Until when (clock time) claims also go to the fallback: keys claimed there during an outage may still live. */
  #fallbackUntil = 0;
  #longestTtl = 0;
  #degraded = false;
  /** Whether the connection is up as far as this guard has seen; `#lostAt` is when it last went. */
  #up = true;
  #lostAt = 0;
  readonly #probe: NodeJS.Timeout | null;

  constructor(options: RedisReplayGuardOptions) {
    this.#o = options;
    const every = options.probeEveryMs ?? 1_000;
    this.#probe = every > 0 ? setInterval(() => void this.probe(), every) : null;
    this.#probe?.unref();
    // A connection closing is Redis possibly forgetting (a restart): noticed even if no claim failed meanwhile.
    if (typeof options.redis.on === 'function') {
      options.redis.on('close', () => this.#lost());
      options.redis.on('ready', () => {
        this.#up = true;
      });
    }
  }

  /** Issued before Redis last went, and still within its time: it may have been claimed there, and forgotten. */
  #doubtful(issuedAt: number | undefined, now: number, ttlMs: number): boolean {
    return (
      issuedAt !== undefined && this.#lostAt > 0 && issuedAt <= this.#lostAt && now < this.#lostAt + ttlMs
    );
  }

  /** Redis is gone, from now: what it held may be lost. The moment is kept once per outage. */
  #lost(): void {
    if (!this.#up) return;
    this.#up = false;
    this.#lostAt = this.#o.clock.now();
  }

  /**
   * Asks the fallback whether any node claims there now (one cut off from Redis); if one does, claims go to both
   * for as long as its keys may live. Never throws: a fallback that cannot answer leaves things as they are.
   */
  async probe(): Promise<void> {
    try {
      if (await this.#o.fallback.hasLiveClaims()) {
        const longest = Math.max(this.#longestTtl, DEFAULT_LONGEST_TTL_MS);
        this.#fallbackUntil = Math.max(this.#fallbackUntil, this.#o.clock.now() + longest);
      }
    } catch {
      // The database is asked again at the next probe.
    }
  }

  close(): void {
    if (this.#probe !== null) clearInterval(this.#probe);
  }

  async claim(namespace: string, key: string, ttlMs: number, issuedAt?: number): Promise<boolean> {
    if (ttlMs > this.#longestTtl) this.#longestTtl = ttlMs;
    const now = this.#o.clock.now();
    if (this.#o.redis.status !== 'ready') this.#lost();
    if (this.#doubtful(issuedAt, now, ttlMs)) return false;
    let first: boolean;
    try {
      if (this.#o.redis.status !== 'ready') throw new Error(`Redis connection ${this.#o.redis.status}`);
      const set = await this.#o.redis.set(
        `${this.#o.prefix}replay:${replayKey(namespace, key)}`,
        '1',
        'PX',
        Math.max(1, Math.ceil(ttlMs)),
        'NX',
      );
      first = set === 'OK';
    } catch (error) {
      this.#lost();
      if (this.#doubtful(issuedAt, now, ttlMs)) return false;
      return this.#degradedClaim(namespace, key, ttlMs, error as Error, now);
    }
    this.stats.redis += 1;
    if (this.#degraded) {
      this.#degraded = false;
      this.#o.log?.info({}, 'Redis reachable again: replay checks are on Redis');
    }
    if (!first || now >= this.#fallbackUntil) return first;
    // Just after an outage: a key claimed in the fallback during it must still be refused.
    this.stats.fallback += 1;
    return this.#o.fallback.claim(namespace, key, ttlMs);
  }

  async #degradedClaim(
    namespace: string,
    key: string,
    ttlMs: number,
    error: Error,
    now: number,
  ): Promise<boolean> {
    if (!this.#degraded) {
      this.#degraded = true;
      this.#o.log?.warn(
        { err: { message: error.message } },
        'Redis unreachable: replay checks (DPoP and device proofs, device login nonces) go to the database',
      );
    }
    this.#fallbackUntil = Math.max(
      this.#fallbackUntil,
      now + Math.max(this.#longestTtl, DEFAULT_LONGEST_TTL_MS),
    );
    this.stats.fallback += 1;
    try {
      return await this.#o.fallback.claim(namespace, key, ttlMs);
    } catch (fallbackError) {
      if (fallbackError instanceof GatehouseError) throw fallbackError;
      this.#o.log?.warn(
        { err: { message: (fallbackError as Error).message } },
        'a replay check could be made neither on Redis nor in the database: the request is refused',
      );
      throw new GatehouseError('SERVICE_UNAVAILABLE');
    }
  }
}
