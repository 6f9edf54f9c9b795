/**
 * @module store/migrations/0019-travel
 * Travel-aware device validation (devices/countries.ts, devices/travel.ts):
 * - the countries each device and each user were seen from (first and last seen, epoch ms);
 * - a session's country (the one it was last seen from) and why a pending step-up is pending (`step_up_reason`,
 *   JSON `{reason, country?}`; null on older rows: a network change);
 * - travel notices: a country and inclusive UTC dates (`YYYY-MM-DD`) during which a login from there needs no
 *   step-up.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('sessions').addColumn('step_up_reason', 'text').execute();
  await db.schema.alterTable('sessions').addColumn('country', 'text').execute();
  await db.schema
    .createTable('device_countries')
    .addColumn('device_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('country', 'text', (c) => c.notNull())
    .addColumn('first_seen_at', 'bigint', (c) => c.notNull())
    .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('device_countries_pk', ['device_id', 'country'])
    .execute();
  await db.schema
    .createTable('user_countries')
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('country', 'text', (c) => c.notNull())
    .addColumn('first_seen_at', 'bigint', (c) => c.notNull())
    .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
    // When a session from the country completed a step-up (or it was the user's first): until then it is not known.
    .addColumn('verified_at', 'bigint')
    .addPrimaryKeyConstraint('user_countries_pk', ['user_id', 'country'])
    .execute();
  await db.schema
    .createTable('travel_notices')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('country', 'text', (c) => c.notNull())
    .addColumn('starts_on', 'text', (c) => c.notNull())
    .addColumn('ends_on', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    // Which of the user's `travel.maxNotices` places the notice takes: unique per user, so that two notices racing
    // for the last place cannot both take it (devices/travel.ts).
    .addColumn('slot', 'integer', (c) => c.notNull())
    .addUniqueConstraint('travel_notices_user_slot', ['user_id', 'slot'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('travel_notices').execute();
  await db.schema.dropTable('user_countries').execute();
  await db.schema.dropTable('device_countries').execute();
  await db.schema.alterTable('sessions').dropColumn('country').execute();
  await db.schema.alterTable('sessions').dropColumn('step_up_reason').execute();
}
