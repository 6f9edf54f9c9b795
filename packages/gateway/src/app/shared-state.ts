/**
 * @module app/shared-state
 * What several nodes share, built at start-up: the node's name, the node's lock on its database
 * (store/node-lock.ts), the event bus (on Redis with `cluster.redisUrl`), the Redis connection of the replay guard and
 * the rate limits, the replay guard itself (core/replay.ts) — on Redis with `cluster.redisUrl` (the database while
 * Redis is unreachable), in memory with one node —, and the node's account ownership and node-to-node channel
 * (`cluster/`).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { ClusterNode } from '../cluster/index.js';
import type { Config } from '../config/index.js';
import {
  type Clock,
  type EventBus,
  InProcessEventBus,
  MemoryReplayGuard,
  RedisEventBus,
  RedisReplayGuard,
  type ReplayGuard,
  type SecretRing,
} from '../core/index.js';
import { type Database, lockDatabaseForNode, type NodeLock } from '../store/index.js';
import { DatabaseReplayGuard } from '../store/replay-claims.js';

/** This node's name in the cluster: its leases, its bus messages, its logs (`cluster.nodeId`, else the host's). */
export function nodeName(config: Config): string {
  return config.cluster.nodeId ?? `${hostname()}-${randomBytes(3).toString('hex')}`;
}

/** With several nodes, each account is worked by one node at a time (`cluster/ownership`); null on one node. */
export function clusterNode(
  config: Config,
  parts: {
    db: Kysely<Database>;
    clock: Clock;
    nodeId: string;
    secret: SecretRing;
    log: Logger;
  },
): ClusterNode | null {
  if (config.cluster.redisUrl === undefined) return null;
  return new ClusterNode({ config: config.cluster, ...parts });
}

/**
 * Takes the node's lock on a PostgreSQL database before anything is opened or migrated: a node that would share its
 * database wrongly stops here. A bus given by the embedder (`busGiven`) spans its nodes, as Redis does.
 */
export function lockForNode(config: Config, busGiven: boolean, logger: Logger): Promise<NodeLock> {
  const mode = config.cluster.redisUrl === undefined && !busGiven ? 'single' : 'cluster';
  return lockDatabaseForNode(config.database.url, mode, logger);
}

/** The event bus: on Redis with `cluster.redisUrl` (a Redis down at start is logged; the bus connects later). */
export async function eventBus(config: Config, nodeId: string, logger: Logger): Promise<EventBus> {
  if (config.cluster.redisUrl === undefined) return new InProcessEventBus();
  const bus = new RedisEventBus({
    url: config.cluster.redisUrl,
    nodeId,
    prefix: `${config.cluster.keyPrefix}bus:`,
    log: logger,
  });
  if (await bus.ready()) logger.info({ node: bus.nodeId }, 'event bus on Redis');
  return bus;
}

/**
 * The connection to Redis of the replay guard and the rate limits (`cluster.redisUrl`; null without it): commands
 * fail at once while it is down, and after a second when it does not answer (a Redis paused or cut off), instead of
 * queueing; each user has its fallback. Waits up to 5 s for it at start, as the bus does.
 */
export async function sharedRedis(config: Config, nodeId: string): Promise<Redis | null> {
  if (config.cluster.redisUrl === undefined) return null;
  const redis = new Redis(config.cluster.redisUrl, {
    connectionName: `gatehouse-shared-${nodeId}`,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 5_000,
    commandTimeout: 1_000,
  });
  // Outages are told by the replay guard (once each) and the bus; without a listener ioredis would print each retry.
  redis.on('error', () => {});
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off('ready', done);
      redis.off('error', done);
      resolve();
    };
    const timer = setTimeout(done, 5_000);
    redis.once('ready', done);
    redis.once('error', done);
  });
  return redis;
}

/** "Seen once" checks: on Redis with several nodes (the database while Redis is down), in memory with one. */
export function replayGuard(
  config: Config,
  redis: Redis | null,
  db: Kysely<Database>,
  clock: Clock,
  logger: Logger,
): ReplayGuard {
  if (redis === null) return new MemoryReplayGuard(clock, 200_000);
  return new RedisReplayGuard({
    redis,
    prefix: config.cluster.keyPrefix,
    fallback: new DatabaseReplayGuard(db, clock),
    clock,
    log: logger,
  });
}
