/**
 * @module store/migrations/0005-brokerage
 * The brokerage (trading) capability: at most one holder per user under the exclusive policy — the primary key
 * on `user_id` makes that a database guarantee on every engine, so racing sessions cannot both hold it.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('brokerage_holders')
    .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
    .addColumn('session_id', 'text', (c) => c.notNull())
    .addColumn('acquired_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.alterTable('sessions').addColumn('brokerage_at', 'bigint').execute();
  await db.schema
    .alterTable('users')
    .addColumn('brokerage_policy', 'text', (c) => c.notNull().defaultTo('exclusive'))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('brokerage_holders').execute();
  await db.schema.alterTable('sessions').dropColumn('brokerage_at').execute();
  await db.schema.alterTable('users').dropColumn('brokerage_policy').execute();
}
