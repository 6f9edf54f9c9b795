/**
 * @module store/migrations/0012-cpapi-order-numbers
 * The CPAPI face's order numbers: IBKR names an order by a number (`order_id`, 10 digits), Gatehouse by a string id.
 * Each order the face shows gets the next number once, kept here so it stays the same across restarts and nodes.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('cpapi_order_numbers')
    .addColumn('number', 'bigint', (c) => c.primaryKey())
    .addColumn('order_id', 'text', (c) => c.notNull().unique())
    .addColumn('account_id', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('cpapi_order_numbers').execute();
}
