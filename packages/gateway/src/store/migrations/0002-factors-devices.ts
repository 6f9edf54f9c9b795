/**
 * @module store/migrations/0002-factors-devices
 * Every second factor (TOTP, SMS, security keys, recovery codes, push from enrolled mobile devices), devices and
 * their networks, step-up state on sessions, and the outboxes of the SMS and notification simulators.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Factors: `status` is pending until an enrolment is confirmed with a first code.
  await db.schema
    .alterTable('second_factors')
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('active'))
    .execute();
  await db.schema.alterTable('second_factors').addColumn('phone', 'text').execute();
  await db.schema.alterTable('second_factors').addColumn('credential_id', 'text').execute();
  await db.schema.alterTable('second_factors').addColumn('public_key', 'text').execute();
  await db.schema.alterTable('second_factors').addColumn('sign_count', 'bigint').execute();
  await db.schema.alterTable('second_factors').addColumn('transports', 'text').execute();
  await db.schema
    .alterTable('second_factors')
    .addColumn('hardware_bound', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .createIndex('second_factors_credential')
    .on('second_factors')
    .column('credential_id')
    .unique()
    .execute();

  await db.schema
    .createTable('recovery_codes')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('code_hash', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('used_at', 'bigint')
    .execute();
  await db.schema.createIndex('recovery_codes_user').on('recovery_codes').column('user_id').execute();

  await db.schema
    .createTable('sms_challenges')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('factor_id', 'text', (c) => c.notNull().references('second_factors.id').onDelete('cascade'))
    .addColumn('code_hash', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('consumed_at', 'bigint')
    .execute();
  await db.schema
    .createIndex('sms_challenges_user')
    .on('sms_challenges')
    .columns(['user_id', 'created_at'])
    .execute();

  await db.schema
    .createTable('sms_outbox')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('to_number', 'text', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('notifications')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('data', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('notifications_user')
    .on('notifications')
    .columns(['user_id', 'created_at'])
    .execute();

  await db.schema
    .alterTable('sessions')
    .addColumn('step_up_required', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.alterTable('sessions').addColumn('device_id', 'text').execute();
  await db.schema.alterTable('sessions').addColumn('network', 'text').execute();
  await db.schema.alterTable('sessions').addColumn('last_factor', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['notifications', 'sms_outbox', 'sms_challenges', 'recovery_codes']) {
    await db.schema.dropTable(table).execute();
  }
  await db.schema.dropIndex('second_factors_credential').execute();
  for (const column of [
    'status',
    'phone',
    'credential_id',
    'public_key',
    'sign_count',
    'transports',
    'hardware_bound',
  ]) {
    await db.schema.alterTable('second_factors').dropColumn(column).execute();
  }
  for (const column of ['step_up_required', 'device_id', 'network', 'last_factor']) {
    await db.schema.alterTable('sessions').dropColumn(column).execute();
  }
}
