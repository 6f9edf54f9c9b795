/**
 * @module store/migrations/0008-event-sequence
 * An account event takes the next number from the account's own events (`MAX(seq) + 1` under the primary key
 * `(account_id, seq)`, in the same statement), so the separate per-account counter row goes. Two writers that race
 * for a number are told apart by the primary key: one commits, the other's journal entry runs again.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('account_sequences').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('account_sequences')
    .addColumn('account_id', 'text', (c) => c.primaryKey())
    .addColumn('last_seq', 'bigint', (c) => c.notNull())
    .execute();
}
