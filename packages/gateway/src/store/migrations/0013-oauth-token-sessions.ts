/**
 * @module store/migrations/0013-oauth-token-sessions
 * Each token records the program session it acts through (`oauth_tokens.session_id`): a personal client has one
 * session per instance (per DPoP key), so a grant's session is no longer one column of the grant. Rows written
 * before have none and act through their grant's session (`oauth_grants.session_id`), as they did. The indexes find
 * an instance's newest token (grant and key) and a session's tokens.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('oauth_tokens').addColumn('session_id', 'text').execute();
  await db.schema
    .createIndex('oauth_tokens_instance')
    .on('oauth_tokens')
    .columns(['grant_id', 'jkt', 'created_at'])
    .execute();
  await db.schema.createIndex('oauth_tokens_session').on('oauth_tokens').column('session_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('oauth_tokens_session').execute();
  await db.schema.dropIndex('oauth_tokens_instance').execute();
  await db.schema.alterTable('oauth_tokens').dropColumn('session_id').execute();
}
