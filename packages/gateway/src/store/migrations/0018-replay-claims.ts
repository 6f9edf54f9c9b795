/**
 * @module store/migrations/0018-replay-claims
 * Single-use keys (proofs' `jti`s, device login nonces) claimed in the database while Redis cannot be reached, so
 * every node refuses a replay during an outage too (store/replay-claims.ts). Rows live until `expires_at` (epoch ms)
 * and are swept afterwards.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('replay_claims')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('replay_claims_expiry').on('replay_claims').column('expires_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('replay_claims').execute();
}
