/**
 * @module store/migrations/0016-sms-outbox-login
 * The SMS simulator's outbox records which login a text was sent for (`login_id`: the login transaction's id, never
 * its handle), so a demo instance can show the person logging in the text of their own login and no other.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('sms_outbox').addColumn('login_id', 'text').execute();
  await db.schema.createIndex('sms_outbox_login').on('sms_outbox').column('login_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('sms_outbox_login').execute();
  await db.schema.alterTable('sms_outbox').dropColumn('login_id').execute();
}
