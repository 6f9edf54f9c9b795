/**
 * @module store/migrations/0014-oauth-instances
 * The program session of each instance of a personal client, one row per grant and DPoP key (`oauth_instances`):
 * the row that a token request for the key finds, and that the one opening the key's session writes while it holds
 * its grant's row, so concurrent requests for one key (on any node) share one session. Keys that asked for tokens
 * before have no row: their newest token names their session (`oauth_tokens.session_id`), and their next token
 * request records it here.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('oauth_instances')
    .addColumn('grant_id', 'text', (c) => c.notNull().references('oauth_grants.id').onDelete('cascade'))
    .addColumn('jkt', 'text', (c) => c.notNull())
    .addColumn('session_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('oauth_instances_pk', ['grant_id', 'jkt'])
    .execute();
  await db.schema.createIndex('oauth_instances_session').on('oauth_instances').column('session_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('oauth_instances').execute();
}
