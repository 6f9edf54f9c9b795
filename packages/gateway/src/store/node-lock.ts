/**
 * @module store/node-lock
 * Refuses a second node that would be wrong rather than slow. A node without `cluster.redisUrl` keeps its caches
 * and replay checks in its own memory and works every account itself, so two of them on one PostgreSQL database
 * would accept each other's revoked sessions and replayed proofs and fill the same orders. At start each node takes
 * a PostgreSQL advisory lock on one connection it keeps for the life of the process: a single node the exclusive
 * lock (`pg_try_advisory_lock`), a cluster node (with `cluster.redisUrl`, or given a bus that spans its nodes by
 * whoever embeds it) the shared one (`pg_try_advisory_lock_shared`). A start that cannot take its lock stops with
 * the cause and the fix: a single node when any node holds the database, a cluster node when a single node does.
 * Several cluster nodes share the lock. The lock ends with its connection: at `release`, and when the process dies
 * (PostgreSQL drops a dead session's locks), so a node that crashed never blocks the next start.
 *
 * SQLite: nothing to lock here. A SQLite database is one file on one machine, opened by one process (the gateway
 * is one node there); several nodes need PostgreSQL (docs/deployment.md).
 */
import pg from 'pg';
import { isPostgresUrl } from './database.js';

/** The advisory lock's key, the same for every Gatehouse node: "gatehouse" read as a number. */
const LOCK_KEY = '7450483958421108';

/** A single node meets another single node. */
export const SINGLE_NODE_REFUSED =
  'another Gatehouse node without cluster.redisUrl is using this database: several nodes need cluster.redisUrl ' +
  'set on each of them (docs/deployment.md)';
/** A single node meets cluster nodes. */
export const SINGLE_AMONG_CLUSTER_REFUSED =
  'Gatehouse nodes with cluster.redisUrl are using this database: set cluster.redisUrl on this node too ' +
  '(docs/deployment.md)';
export const CLUSTER_NODE_REFUSED =
  'a Gatehouse node without cluster.redisUrl is using this database: stop it, or set cluster.redisUrl on it too, ' +
  'before starting nodes with cluster.redisUrl (docs/deployment.md)';

export interface NodeLock {
  /** Ends the lock (and its connection). */
  release(): Promise<void>;
}

/** Where a lost lock connection is told (a pino logger fits). */
export interface NodeLockLog {
  warn(details: object, message: string): void;
}

export class NodeLockRefused extends Error {}

/**
 * Takes this node's lock on the database at `url` (see the module's comment); a SQLite URL needs none. Throws
 * `NodeLockRefused` with the cause and the fix when another node's lock stands in the way.
 */
export async function lockDatabaseForNode(
  url: string,
  mode: 'single' | 'cluster',
  log?: NodeLockLog,
): Promise<NodeLock> {
  if (!isPostgresUrl(url)) return { release: async () => {} };
  const client = new pg.Client({ connectionString: url });
  let ending = false;
  // The server ending this connection ends the lock: told, never thrown at the process (an unhandled 'error').
  client.on('error', (error: Error) => {
    if (ending) return;
    // Told once: the lock is gone with the connection, and a node started now is not refused.
    ending = true;
    log?.warn(
      { err: { message: error.message } },
      'the connection holding this node’s database lock was lost; a node started now is not refused',
    );
    client.end().catch(() => {});
  });
  await client.connect();
  const fn = mode === 'single' ? 'pg_try_advisory_lock' : 'pg_try_advisory_lock_shared';
  let taken: boolean;
  try {
    const result = await client.query<{ taken: boolean }>(`select ${fn}($1::bigint) as taken`, [LOCK_KEY]);
    taken = result.rows[0]?.taken === true;
  } catch (error) {
    ending = true;
    await client.end().catch(() => {});
    throw error;
  }
  if (!taken) {
    let message = CLUSTER_NODE_REFUSED;
    if (mode === 'single') {
      // Who holds it: cluster nodes share the lock, so a shared one taken now says they are the holders.
      const shared = await client
        .query<{ taken: boolean }>('select pg_try_advisory_lock_shared($1::bigint) as taken', [LOCK_KEY])
        .then((r) => r.rows[0]?.taken === true)
        .catch(() => false);
      message = shared ? SINGLE_AMONG_CLUSTER_REFUSED : SINGLE_NODE_REFUSED;
    }
    ending = true;
    await client.end().catch(() => {});
    throw new NodeLockRefused(message);
  }
  return {
    release: async () => {
      if (ending) return;
      ending = true;
      await client.end().catch(() => {});
    },
  };
}
