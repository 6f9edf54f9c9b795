/**
 * @module trading/store
 * Durable records of the paper account: orders, their pending confirmations, executions, positions, cash, and the
 * per-account event log. Every statement on these tables is here. Every state change writes its event in the same
 * journal entry (`store/journal`), numbered in the same statement as the account's next sequence number; the
 * primary key `(account_id, seq)` turns a race for a number into a retried entry, never a reused number. Writes are
 * plain SQL that runs on SQLite and PostgreSQL alike.
 */

import type { AccountEvent, EventType, OrderStatus, OrderView, PortfolioView } from '@gatehouse/protocol';
import type { Kysely } from 'kysely';
import { findInstrument, type Instrument } from '../instruments/index.js';
import {
  type Database,
  type ExecutionsTable,
  type JournalTx,
  type OrderConfirmationsTable,
  type OrdersTable,
  type PreparedQuery,
  preparedQuery,
} from '../store/index.js';
import { emptyLedger, type Ledger } from './accounting.js';
import type { OrderType, Side, TimeInForce } from './gate.js';

export type { AccountEvent, EventType, OrderStatus, OrderView };

export function presentOrder(r: OrdersTable): OrderView {
  return {
    id: r.id,
    accountId: r.account_id,
    clientOrderId: r.client_order_id,
    instrumentId: Number(r.instrument_id),
    symbol: findInstrument(Number(r.instrument_id))?.symbol ?? null,
    side: r.side as Side,
    type: r.type as OrderType,
    quantity: Number(r.quantity),
    limitPrice: r.limit_price === null ? null : Number(r.limit_price),
    stopPrice: r.stop_price === null ? null : Number(r.stop_price),
    tif: r.tif as TimeInForce,
    status: r.status as OrderStatus,
    filledQuantity: Number(r.filled_quantity),
    avgFillPrice: r.avg_fill_price === null ? null : Number(r.avg_fill_price),
    triggered: r.triggered === 1,
    expiresAt: r.expires_at === null ? null : new Date(Number(r.expires_at)).toISOString(),
    createdAt: new Date(Number(r.created_at)).toISOString(),
    updatedAt: new Date(Number(r.updated_at)).toISOString(),
  };
}

/** An order by id, compiled once: order entry reads it for every repeated clientOrderId. */
export function prepareOrderById(db: Kysely<Database>): PreparedQuery<OrdersTable> {
  return preparedQuery(db, 1, (db, id) => db.selectFrom('orders').selectAll().where('id', '=', id));
}

/** Every order still working in the database, of all accounts (the working set a node starts from). */
/** The working orders, of one account or of all. */
export function listWorkingOrders(db: Kysely<Database>, accountId?: string): Promise<OrdersTable[]> {
  let query = db.selectFrom('orders').selectAll().where('status', '=', 'working');
  if (accountId !== undefined) query = query.where('account_id', '=', accountId);
  return query.execute();
}

/** The account's order with this clientOrderId; throws when there is none. */
export function findOrderByClientOrderId(
  db: Kysely<Database>,
  accountId: string,
  clientOrderId: string,
): Promise<OrdersTable> {
  return db
    .selectFrom('orders')
    .selectAll()
    .where('account_id', '=', accountId)
    .where('client_order_id', '=', clientOrderId)
    .executeTakeFirstOrThrow();
}

/** The account's order with this id; undefined for an unknown id and for another account's order alike. */
export function findAccountOrder(
  db: Kysely<Database>,
  accountId: string,
  orderId: string,
): Promise<OrdersTable | undefined> {
  return db
    .selectFrom('orders')
    .selectAll()
    .where('id', '=', orderId)
    .where('account_id', '=', accountId)
    .executeTakeFirst();
}

export interface OrderFilter {
  status?: 'working' | 'filled' | 'cancelled' | 'expired';
  /** Only orders created at or after this time (ms since the epoch). */
  since?: number;
  clientOrderId?: string;
}

/** The account's orders matching `filter`, newest first, at most 500. */
export function listOrders(
  db: Kysely<Database>,
  accountId: string,
  filter: OrderFilter,
): Promise<OrdersTable[]> {
  let query = db.selectFrom('orders').selectAll().where('account_id', '=', accountId);
  if (filter.status !== undefined) query = query.where('status', '=', filter.status);
  if (filter.since !== undefined) query = query.where('created_at', '>=', filter.since);
  if (filter.clientOrderId !== undefined) query = query.where('client_order_id', '=', filter.clientOrderId);
  return query.orderBy('created_at', 'desc').orderBy('id').limit(500).execute();
}

/** Stores a confirmation awaiting its answer. */
export async function insertConfirmation(db: Kysely<Database>, row: OrderConfirmationsTable): Promise<void> {
  await db.insertInto('order_confirmations').values(row).execute();
}

export function findConfirmation(
  db: Kysely<Database>,
  confirmationId: string,
): Promise<OrderConfirmationsTable | undefined> {
  return db.selectFrom('order_confirmations').selectAll().where('id', '=', confirmationId).executeTakeFirst();
}

/** Spends a confirmation; answers false, writing nothing, when it was already spent. */
export async function claimConfirmation(
  db: Kysely<Database>,
  confirmationId: string,
  now: number,
): Promise<boolean> {
  const claimed = await db
    .updateTable('order_confirmations')
    .set({ used_at: now })
    .where('id', '=', confirmationId)
    .where('used_at', 'is', null)
    .executeTakeFirst();
  return claimed.numUpdatedRows !== 0n;
}

/** Appends an event with the account's next sequence number (inside the caller's journal entry). */
export async function appendEvent(
  tx: JournalTx,
  accountId: string,
  type: EventType,
  orderId: string | null,
  data: Record<string, unknown>,
  now: number,
): Promise<AccountEvent> {
  const { rows } = await tx.run(
    'INSERT INTO account_events (account_id, seq, type, order_id, data, created_at) SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ?, ? FROM account_events WHERE account_id = ? RETURNING seq',
    [accountId, type, orderId, JSON.stringify(data), now, accountId],
  );
  return { seq: Number(rows[0]?.seq), type, orderId, data, at: new Date(now).toISOString() };
}

const ORDER_COLUMNS = [
  'id',
  'account_id',
  'client_order_id',
  'user_id',
  'session_id',
  'instrument_id',
  'side',
  'type',
  'quantity',
  'limit_price',
  'stop_price',
  'tif',
  'status',
  'filled_quantity',
  'avg_fill_price',
  'triggered',
  'acknowledged',
  'expires_at',
  'created_at',
  'updated_at',
] as const satisfies readonly (keyof OrdersTable)[];

const INSERT_ORDER = `INSERT INTO orders (${ORDER_COLUMNS.join(', ')}) VALUES (${ORDER_COLUMNS.map(() => '?').join(', ')}) ON CONFLICT (account_id, client_order_id) DO NOTHING`;

/** Inserts a new order; answers false, writing nothing, when the account already has its clientOrderId. */
export async function insertOrder(tx: JournalTx, row: OrdersTable): Promise<boolean> {
  const { changes } = await tx.run(
    INSERT_ORDER,
    ORDER_COLUMNS.map((c) => row[c]),
  );
  return changes === 1;
}

/**
 * Writes an order's changing fields, only while it is still working in the database; answers whether it was. A
 * `false` means another writer ended the order first.
 */
export async function updateWorkingOrder(tx: JournalTx, row: OrdersTable): Promise<boolean> {
  const { changes } = await tx.run(
    "UPDATE orders SET status = ?, quantity = ?, limit_price = ?, stop_price = ?, filled_quantity = ?, avg_fill_price = ?, triggered = ?, updated_at = ? WHERE id = ? AND status = 'working'",
    [
      row.status,
      row.quantity,
      row.limit_price,
      row.stop_price,
      row.filled_quantity,
      row.avg_fill_price,
      row.triggered,
      row.updated_at,
      row.id,
    ],
  );
  return changes === 1;
}

export async function insertExecution(tx: JournalTx, row: ExecutionsTable): Promise<void> {
  await tx.run(
    'INSERT INTO executions (id, order_id, account_id, instrument_id, side, quantity, price, commission, currency, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    [
      row.id,
      row.order_id,
      row.account_id,
      row.instrument_id,
      row.side,
      row.quantity,
      row.price,
      row.commission,
      row.currency,
      row.created_at,
    ],
  );
}

export async function listEvents(
  db: Kysely<Database>,
  accountId: string,
  after: number,
  limit: number,
): Promise<AccountEvent[]> {
  const rows = await db
    .selectFrom('account_events')
    .selectAll()
    .where('account_id', '=', accountId)
    .where('seq', '>', after)
    .orderBy('seq')
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    seq: Number(r.seq),
    type: r.type as EventType,
    orderId: r.order_id,
    data: JSON.parse(r.data) as Record<string, unknown>,
    at: new Date(Number(r.created_at)).toISOString(),
  }));
}

/** The account's executions since `since` (epoch ms), oldest first, at most `limit`. */
export function listExecutions(
  db: Kysely<Database>,
  accountId: string,
  since: number,
  limit: number,
): Promise<ExecutionsTable[]> {
  return db
    .selectFrom('executions')
    .selectAll()
    .where('account_id', '=', accountId)
    .where('created_at', '>=', since)
    .orderBy('created_at')
    .orderBy('id')
    .limit(limit)
    .execute();
}

export async function loadLedger(db: Kysely<Database>, accountId: string): Promise<Ledger> {
  const ledger = emptyLedger();
  const [cash, positions] = await Promise.all([
    db.selectFrom('cash_balances').selectAll().where('account_id', '=', accountId).execute(),
    db.selectFrom('positions').selectAll().where('account_id', '=', accountId).execute(),
  ]);
  for (const c of cash) ledger.cash.set(c.currency, Number(c.balance));
  for (const p of positions)
    ledger.positions.set(Number(p.instrument_id), {
      quantity: Number(p.quantity),
      avgCost: Number(p.avg_cost),
    });
  return ledger;
}

/** Writes the ledger's cash and the given instrument's position (after a fill), inside the caller's journal entry. */
export async function saveLedgerChange(
  tx: JournalTx,
  accountId: string,
  ledger: Ledger,
  instrumentId: number,
  currencies: readonly string[],
): Promise<void> {
  for (const currency of currencies) {
    await tx.run(
      'INSERT INTO cash_balances (account_id, currency, balance) VALUES (?, ?, ?) ON CONFLICT (account_id, currency) DO UPDATE SET balance = excluded.balance',
      [accountId, currency, ledger.cash.get(currency) ?? 0],
    );
  }
  const position = ledger.positions.get(instrumentId);
  if (position === undefined) {
    await tx.run('DELETE FROM positions WHERE account_id = ? AND instrument_id = ?', [
      accountId,
      instrumentId,
    ]);
  } else {
    await tx.run(
      'INSERT INTO positions (account_id, instrument_id, quantity, avg_cost) VALUES (?, ?, ?, ?) ON CONFLICT (account_id, instrument_id) DO UPDATE SET quantity = excluded.quantity, avg_cost = excluded.avg_cost',
      [accountId, instrumentId, position.quantity, position.avgCost],
    );
  }
}

/** Seeds an account's cash (demo data and tests); replaces the balance of that currency. */
export async function setCash(
  db: Kysely<Database>,
  accountId: string,
  currency: string,
  balance: number,
): Promise<void> {
  await db
    .insertInto('cash_balances')
    .values({ account_id: accountId, currency, balance })
    .onConflict((oc) => oc.columns(['account_id', 'currency']).doUpdateSet({ balance }))
    .execute();
}

/**
 * A position with its value at the last price the account may see: a quote it is not entitled to is not shown
 * here either (a delayed subscription values at the delayed price; none leaves the value empty).
 */
export function presentPosition(
  instrumentId: number,
  p: { quantity: number; avgCost: number },
  lastOf: (instrument: Instrument) => number | null,
): PortfolioView['positions'][number] {
  const instrument = findInstrument(instrumentId);
  const last = instrument === undefined ? null : lastOf(instrument);
  const round = (n: number) => Math.round(n * 100) / 100;
  const multiplier = instrument?.multiplier ?? 1;
  return {
    instrumentId,
    symbol: instrument?.symbol ?? null,
    quantity: p.quantity,
    avgCost: p.avgCost,
    currency: instrument?.currency ?? null,
    lastPrice: last,
    marketValue: last === null ? null : round(p.quantity * last * multiplier),
    unrealizedPnl: last === null ? null : round((last - p.avgCost) * p.quantity * multiplier),
  };
}
