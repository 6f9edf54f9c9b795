/**
 * @module store/migrations/0020-readiness
 * The access-readiness checklist's own records (readiness/): each user's watchlist (instrument ids in order), each
 * user's acknowledgement that they reviewed an account's legal entity (the latest; the audit log keeps every one),
 * each user's re-authentication times per channel (a bounded number of the latest samples), and each API client's
 * refresh path as the token service saw it for a user (oauth/refresh-record.ts): its last successful refresh and the
 * last time the failure sandbox expired its tokens or cut a refresh's answer. Times are epoch ms.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('watchlist_entries')
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('instrument_id', 'integer', (c) => c.notNull())
    .addColumn('position', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('watchlist_entries_pk', ['user_id', 'instrument_id'])
    .execute();
  await db.schema
    .createTable('entity_reviews')
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
    .addColumn('entity_code', 'text', (c) => c.notNull())
    .addColumn('reviewed_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('entity_reviews_pk', ['user_id', 'account_id'])
    .execute();
  await db.schema
    .createTable('reauthentication_samples')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('ms', 'bigint', (c) => c.notNull())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('path', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('reauthentication_samples_user')
    .on('reauthentication_samples')
    .columns(['user_id', 'channel', 'at'])
    .execute();
  await db.schema
    .createTable('api_client_refreshes')
    .addColumn('client_id', 'text', (c) => c.notNull().references('oauth_clients.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('last_refresh_at', 'bigint')
    .addColumn('tokens_expired_at', 'bigint')
    .addColumn('response_lost_at', 'bigint')
    .addPrimaryKeyConstraint('api_client_refreshes_pk', ['client_id', 'user_id'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('api_client_refreshes').execute();
  await db.schema.dropTable('reauthentication_samples').execute();
  await db.schema.dropTable('entity_reviews').execute();
  await db.schema.dropTable('watchlist_entries').execute();
}
