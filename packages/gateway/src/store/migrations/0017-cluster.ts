/**
 * @module store/migrations/0017-cluster
 * Several nodes (`cluster/`): the nodes of a cluster and where other nodes reach them (`cluster_nodes`), and which
 * node works each account (`account_leases`): its lease's expiry and its fencing token, which grows by one each time
 * the account changes hands and which every write of the account's journal checks.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('cluster_nodes')
    .addColumn('node_id', 'text', (c) => c.primaryKey())
    .addColumn('internal_url', 'text', (c) => c.notNull())
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('seen_at', 'bigint', (c) => c.notNull())
    .addColumn('draining', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .createTable('account_leases')
    .addColumn('account_id', 'text', (c) => c.primaryKey())
    .addColumn('node_id', 'text', (c) => c.notNull())
    .addColumn('fence', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('account_leases_node').on('account_leases').column('node_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('account_leases').execute();
  await db.schema.dropTable('cluster_nodes').execute();
}
