/**
 * @module store/migrations/0011-factor-codes
 * Second-factor codes:
 * - an SMS code is bound to what it was sent for (ASVS 5.0 6.6.2): `purpose` (`login`, `step_up`, `enrol`) and
 *   `bound_to` (the login transaction's id, the session's id, or the factor being enrolled). Codes sent before
 *   have neither, so they complete nothing: at most a few minutes of codes, each of which the user can ask again;
 * - a recovery code records its entropy (`bits`): rows from before hold codes of the 80-bit format (the default),
 *   new codes have 120 bits (ASVS 5.0 6.5.2; see factors/recovery for why the old ones still work until used).
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('sms_challenges').addColumn('purpose', 'text').execute();
  await db.schema.alterTable('sms_challenges').addColumn('bound_to', 'text').execute();
  await db.schema
    .alterTable('recovery_codes')
    .addColumn('bits', 'integer', (c) => c.notNull().defaultTo(80))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('recovery_codes').dropColumn('bits').execute();
  await db.schema.alterTable('sms_challenges').dropColumn('bound_to').execute();
  await db.schema.alterTable('sms_challenges').dropColumn('purpose').execute();
}
