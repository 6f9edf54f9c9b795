/**
 * @module cluster/leases
 * Every statement on `account_leases` and `cluster_nodes`. A lease is a row: the account, the node that works it,
 * its fencing token and its expiry (epoch ms on the nodes' clocks, which must agree within a fraction of the lease:
 * NTP). Taking a lease is one conditional upsert — it succeeds only when the row is absent, expired, or already this
 * node's — and it grows the fencing token by one, so two nodes racing for a free account cannot both get it, and
 * anything the previous holder still writes under its old token is refused (`fenceCheck`).
 */
import { type Kysely, sql } from 'kysely';
import type { Database, JournalTx } from '../store/index.js';

export interface Lease {
  accountId: string;
  nodeId: string;
  fence: number;
  expiresAt: number;
}

/** Takes the account's lease for `nodeId` if it is free, expired or its own; the new fencing token, or null. */
export async function takeLease(
  db: Kysely<Database>,
  accountId: string,
  nodeId: string,
  now: number,
  leaseMs: number,
): Promise<number | null> {
  const row = await db
    .insertInto('account_leases')
    .values({ account_id: accountId, node_id: nodeId, fence: 1, expires_at: now + leaseMs })
    .onConflict((oc) =>
      oc
        .column('account_id')
        .doUpdateSet({
          node_id: nodeId,
          fence: sql<number>`account_leases.fence + 1`,
          expires_at: now + leaseMs,
        })
        .where((eb) =>
          eb.or([eb('account_leases.expires_at', '<=', now), eb('account_leases.node_id', '=', nodeId)]),
        ),
    )
    .returning('fence')
    .executeTakeFirst();
  return row === undefined ? null : Number(row.fence);
}

/** The account's lease row, if any. */
export async function readLease(db: Kysely<Database>, accountId: string): Promise<Lease | undefined> {
  const row = await db
    .selectFrom('account_leases')
    .selectAll()
    .where('account_id', '=', accountId)
    .executeTakeFirst();
  return row === undefined
    ? undefined
    : {
        accountId: row.account_id,
        nodeId: row.node_id,
        fence: Number(row.fence),
        expiresAt: Number(row.expires_at),
      };
}

/** Extends this node's leases on `accountIds`; answers the ones it still holds, with their tokens. */
export async function renewLeases(
  db: Kysely<Database>,
  nodeId: string,
  accountIds: readonly string[],
  expiresAt: number,
): Promise<Map<string, number>> {
  const held = new Map<string, number>();
  for (let i = 0; i < accountIds.length; i += 500) {
    const rows = await db
      .updateTable('account_leases')
      .set({ expires_at: expiresAt })
      .where('node_id', '=', nodeId)
      .where('account_id', 'in', accountIds.slice(i, i + 500))
      .returning(['account_id', 'fence'])
      .execute();
    for (const row of rows) held.set(row.account_id, Number(row.fence));
  }
  return held;
}

/** Gives this node's leases on `accountIds` up at once (drain): the next node to ask takes them. */
export async function releaseLeases(
  db: Kysely<Database>,
  nodeId: string,
  accountIds: readonly string[],
): Promise<void> {
  for (let i = 0; i < accountIds.length; i += 500)
    await db
      .updateTable('account_leases')
      .set({ expires_at: 0 })
      .where('node_id', '=', nodeId)
      .where('account_id', 'in', accountIds.slice(i, i + 500))
      .execute();
}

/** Accounts with working orders whose lease is missing or expired: their node died or gave them up. */
export async function orphanedAccounts(db: Kysely<Database>, now: number, limit: number): Promise<string[]> {
  const rows = await db
    .selectFrom('orders')
    .leftJoin('account_leases', 'account_leases.account_id', 'orders.account_id')
    .select('orders.account_id')
    .distinct()
    .where('orders.status', '=', 'working')
    .where((eb) =>
      eb.or([eb('account_leases.account_id', 'is', null), eb('account_leases.expires_at', '<=', now)]),
    )
    .limit(limit)
    .execute();
  return rows.map((r) => r.account_id);
}

/**
 * The fencing check a journal entry of the account runs first, in its transaction: the row still carries this
 * node's token. The update locks the row until the commit, so a takeover waits for the batch, or the batch sees the
 * new token and writes nothing.
 */
export async function fenceCheck(
  tx: JournalTx,
  accountId: string,
  nodeId: string,
  fence: number,
): Promise<boolean> {
  const { changes } = await tx.run(
    'UPDATE account_leases SET fence = fence WHERE account_id = ? AND node_id = ? AND fence = ?',
    [accountId, nodeId, fence],
  );
  return changes === 1;
}

/** Records this node and where other nodes reach it (again at every renewal: `seen_at`). */
export async function announceNode(
  db: Kysely<Database>,
  node: { nodeId: string; internalUrl: string; now: number; draining: boolean },
): Promise<void> {
  await db
    .insertInto('cluster_nodes')
    .values({
      node_id: node.nodeId,
      internal_url: node.internalUrl,
      started_at: node.now,
      seen_at: node.now,
      draining: node.draining ? 1 : 0,
    })
    .onConflict((oc) =>
      oc.column('node_id').doUpdateSet({
        internal_url: node.internalUrl,
        seen_at: node.now,
        draining: node.draining ? 1 : 0,
      }),
    )
    .execute();
}

/** Marks this node seen now. */
export async function nodeSeen(
  db: Kysely<Database>,
  nodeId: string,
  now: number,
  draining: boolean,
): Promise<void> {
  await db
    .updateTable('cluster_nodes')
    .set({ seen_at: now, draining: draining ? 1 : 0 })
    .where('node_id', '=', nodeId)
    .execute();
}

/** Where a node's internal listener is. */
export async function nodeUrl(db: Kysely<Database>, nodeId: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('cluster_nodes')
    .select('internal_url')
    .where('node_id', '=', nodeId)
    .executeTakeFirst();
  return row?.internal_url;
}
