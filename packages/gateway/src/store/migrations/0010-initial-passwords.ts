/**
 * @module store/migrations/0010-initial-passwords
 * Initial passwords (ASVS 5.0 6.4.1): a password an operator set (`gatehouse user create`, `user reset-password`)
 * is an initial secret that stops working at `initial_expires_at` unless the user has changed it; a password the
 * user chose has none. Existing passwords were not marked, so they stay the user's own.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('password_credentials').addColumn('initial_expires_at', 'bigint').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('password_credentials').dropColumn('initial_expires_at').execute();
}
