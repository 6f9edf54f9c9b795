/**
 * @module trading/store
 * Durable records of the paper account: orders, executions, positions, cash, and the per-account event log. Every
 * state change writes its event in the same transaction, with the next number of the account's sequence (one
 * conditional upsert on `account_sequences`, so concurrent writers on PostgreSQL serialise on the account's row and
 * never reuse a number).
 */
import type { Kysely } from 'kysely';
import type { Database, OrdersTable } from '../store/index.js';
import { emptyLedger, type Ledger } from './accounting.js';
import type { OrderType, Side, TimeInForce } from './gate.js';

export type OrderStatus = 'working' | 'filled' | 'cancelled' | 'expired';
export type EventType =
  | 'accepted'
  | 'confirmed'
  | 'rejected'
  | 'modified'
  | 'cancelled'
  | 'filled'
  | 'partially_filled'
  | 'expired';

export interface OrderView {
  id: string;
  accountId: string;
  clientOrderId: string;
  instrumentId: number;
  side: Side;
  type: OrderType;
  quantity: number;
  limitPrice: number | null;
  stopPrice: number | null;
  tif: TimeInForce;
  status: OrderStatus;
  filledQuantity: number;
  avgFillPrice: number | null;
  triggered: boolean;
  expiresAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export function presentOrder(r: OrdersTable): OrderView {
  return {
    id: r.id,
    accountId: r.account_id,
    clientOrderId: r.client_order_id,
    instrumentId: Number(r.instrument_id),
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

export interface AccountEvent {
  seq: number;
  type: EventType;
  orderId: string | null;
  data: Record<string, unknown>;
  at: string;
}

/** Appends an event with the account's next sequence number (inside the caller's transaction). */
export async function appendEvent(
  trx: Kysely<Database>,
  accountId: string,
  type: EventType,
  orderId: string | null,
  data: Record<string, unknown>,
  now: number,
): Promise<AccountEvent> {
  const row = await trx
    .insertInto('account_sequences')
    .values({ account_id: accountId, last_seq: 1 })
    .onConflict((oc) =>
      oc.column('account_id').doUpdateSet((eb) => ({ last_seq: eb('account_sequences.last_seq', '+', 1) })),
    )
    .returning('last_seq')
    .executeTakeFirstOrThrow();
  const seq = Number(row.last_seq);
  await trx
    .insertInto('account_events')
    .values({
      account_id: accountId,
      seq,
      type,
      order_id: orderId,
      data: JSON.stringify(data),
      created_at: now,
    })
    .execute();
  return { seq, type, orderId, data, at: new Date(now).toISOString() };
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

/** Writes the ledger's cash and the given instrument's position (after a fill), inside the caller's transaction. */
export async function saveLedgerChange(
  trx: Kysely<Database>,
  accountId: string,
  ledger: Ledger,
  instrumentId: number,
  currencies: readonly string[],
): Promise<void> {
  for (const currency of currencies) {
    const balance = ledger.cash.get(currency) ?? 0;
    await trx
      .insertInto('cash_balances')
      .values({ account_id: accountId, currency, balance })
      .onConflict((oc) => oc.columns(['account_id', 'currency']).doUpdateSet({ balance }))
      .execute();
  }
  const position = ledger.positions.get(instrumentId);
  if (position === undefined) {
    await trx
      .deleteFrom('positions')
      .where('account_id', '=', accountId)
      .where('instrument_id', '=', instrumentId)
      .execute();
  } else {
    await trx
      .insertInto('positions')
      .values({
        account_id: accountId,
        instrument_id: instrumentId,
        quantity: position.quantity,
        avg_cost: position.avgCost,
      })
      .onConflict((oc) =>
        oc
          .columns(['account_id', 'instrument_id'])
          .doUpdateSet({ quantity: position.quantity, avg_cost: position.avgCost }),
      )
      .execute();
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
