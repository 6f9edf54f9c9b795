/**
 * @module app/cluster
 * What running as one of several nodes adds at start-up (`cluster.redisUrl` set): this node's name, the event bus on
 * Redis, and the node's account ownership and node-to-node channel (`cluster/`). Without `cluster.redisUrl`: a name
 * all the same (logs), the in-process bus, and no ownership (every account is worked here).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { ClusterNode } from '../cluster/index.js';
import type { Config } from '../config/index.js';
import { type Clock, type EventBus, InProcessEventBus, RedisEventBus } from '../core/index.js';
import type { Database } from '../store/index.js';

/** This node's name in the cluster: its leases, its bus messages, its logs (`cluster.nodeId`, else the host's). */
export function nodeName(config: Config): string {
  return config.cluster.nodeId ?? `${hostname()}-${randomBytes(3).toString('hex')}`;
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

/** With several nodes, each account is worked by one node at a time (`cluster/ownership`); null on one node. */
export function clusterNode(
  config: Config,
  parts: { db: Kysely<Database>; clock: Clock; nodeId: string; secret: Buffer; log: Logger },
): ClusterNode | null {
  if (config.cluster.redisUrl === undefined) return null;
  return new ClusterNode({ config: config.cluster, ...parts });
}
