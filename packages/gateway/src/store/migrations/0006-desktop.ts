/**
 * @module store/migrations/0006-desktop
 * The desktop channel: a login from a pre-validated desktop device remembers the device whose key signed it, so
 * the session that completes it (with the security key, when policy asks for one) is bound to that key.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('login_transactions').addColumn('device_id', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('login_transactions').dropColumn('device_id').execute();
}
