/**
 * @module store/migrations/0007-trading
 * Entitlements per account (options level, trading permissions, disclosures, market-data subscriptions) and the
 * paper-trading records: orders (unique per account and clientOrderId), pending confirmations, executions,
 * positions, cash per currency, and the per-account event log with its sequence counter. Amounts are double
 * precision; the engine rounds every amount to 1e-8 of its currency.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('accounts')
    .addColumn('options_level', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .createTable('account_permissions')
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
    .addColumn('asset_class', 'text', (c) => c.notNull())
    .addColumn('region', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('account_permissions_pk', ['account_id', 'asset_class', 'region'])
    .execute();
  await db.schema
    .createTable('account_disclosures')
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
    .addColumn('disclosure', 'text', (c) => c.notNull())
    .addColumn('accepted_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('account_disclosures_pk', ['account_id', 'disclosure'])
    .execute();
  await db.schema
    .createTable('account_subscriptions')
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
    .addColumn('bundle', 'text', (c) => c.notNull())
    .addColumn('professional', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('account_subscriptions_pk', ['account_id', 'bundle'])
    .execute();

  await db.schema
    .createTable('orders')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
    .addColumn('client_order_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('session_id', 'text', (c) => c.notNull())
    .addColumn('instrument_id', 'integer', (c) => c.notNull())
    .addColumn('side', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('quantity', 'double precision', (c) => c.notNull())
    .addColumn('limit_price', 'double precision')
    .addColumn('stop_price', 'double precision')
    .addColumn('tif', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('filled_quantity', 'double precision', (c) => c.notNull())
    .addColumn('avg_fill_price', 'double precision')
    .addColumn('triggered', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('acknowledged', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('expires_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('orders_client_order_id', ['account_id', 'client_order_id'])
    .execute();
  await db.schema
    .createIndex('orders_account_status')
    .on('orders')
    .columns(['account_id', 'status'])
    .execute();

  await db.schema
    .createTable('order_confirmations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('order', 'text', (c) => c.notNull())
    .addColumn('questions', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('used_at', 'bigint')
    .execute();

  await db.schema
    .createTable('executions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('order_id', 'text', (c) => c.notNull().references('orders.id'))
    .addColumn('account_id', 'text', (c) => c.notNull())
    .addColumn('instrument_id', 'integer', (c) => c.notNull())
    .addColumn('side', 'text', (c) => c.notNull())
    .addColumn('quantity', 'double precision', (c) => c.notNull())
    .addColumn('price', 'double precision', (c) => c.notNull())
    .addColumn('commission', 'double precision', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('executions_account')
    .on('executions')
    .columns(['account_id', 'created_at'])
    .execute();

  await db.schema
    .createTable('positions')
    .addColumn('account_id', 'text', (c) => c.notNull())
    .addColumn('instrument_id', 'integer', (c) => c.notNull())
    .addColumn('quantity', 'double precision', (c) => c.notNull())
    .addColumn('avg_cost', 'double precision', (c) => c.notNull())
    .addPrimaryKeyConstraint('positions_pk', ['account_id', 'instrument_id'])
    .execute();
  await db.schema
    .createTable('cash_balances')
    .addColumn('account_id', 'text', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('balance', 'double precision', (c) => c.notNull())
    .addPrimaryKeyConstraint('cash_balances_pk', ['account_id', 'currency'])
    .execute();

  await db.schema
    .createTable('account_events')
    .addColumn('account_id', 'text', (c) => c.notNull())
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('order_id', 'text')
    .addColumn('data', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('account_events_pk', ['account_id', 'seq'])
    .execute();
  await db.schema
    .createTable('account_sequences')
    .addColumn('account_id', 'text', (c) => c.primaryKey())
    .addColumn('last_seq', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of [
    'account_sequences',
    'account_events',
    'cash_balances',
    'positions',
    'executions',
    'order_confirmations',
    'orders',
    'account_subscriptions',
    'account_disclosures',
    'account_permissions',
  ]) {
    await db.schema.dropTable(table).execute();
  }
  await db.schema.alterTable('accounts').dropColumn('options_level').execute();
}
