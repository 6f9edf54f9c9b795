/**
 * @module store/migrations/0015-sandbox-faults
 * The failure sandbox's faults (`sandbox_faults`): each injected fault, its target, schedule and state, kept after
 * it ends so the portal and the drill report list past faults too. Every node reads active faults from here.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('sandbox_faults')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('target_type', 'text', (c) => c.notNull())
    .addColumn('target_id', 'text')
    .addColumn('params', 'text', (c) => c.notNull())
    .addColumn('schedule', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('starts_at', 'bigint', (c) => c.notNull())
    .addColumn('ends_at', 'bigint')
    .addColumn('hits', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('owner_user_id', 'text')
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('note', 'text')
    .execute();
  await db.schema.createIndex('sandbox_faults_state').on('sandbox_faults').column('state').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('sandbox_faults').execute();
}
