/**
 * @module trading/fills
 * What the router reports — fills, triggers, expiries, IOC remainders — and every other end of a working order (a
 * person's, a program's or a system principal's cancel). Each is applied at once to this node's view
 * (`trading/desk`), in report order, and journalled: the execution, the order, the position, the cash and the event
 * commit together. The router may go on without waiting for the commit; the account's subscribers hear of a change
 * once it has committed.
 */
import { GatehouseError, newTimeOrderedId } from '../core/index.js';
import { findInstrument, type Instrument } from '../instruments/index.js';
import type { OrdersTable } from '../store/index.js';
import { applyFill, type Ledger } from './accounting.js';
import { type Desk, NOT_WORKING } from './desk.js';
import type { RouterEvent } from './router.js';
import {
  appendEvent,
  type EventType,
  insertExecution,
  saveLedgerChange,
  updateWorkingOrder,
} from './store.js';

/**
 * Who may end orders without a trading session, each named: the dead-man switch firing, a session-loss policy, an
 * operator (the admin API), and the engine itself (expiry, IOC remainders). A person's or a program's cancel goes
 * through `cancelOrder` and its checks instead.
 */
export type SystemCanceller = 'dead_man' | 'session_loss' | 'operator' | 'engine';

/**
 * Applies what the router reports to this node's view at once, in report order, and journals it; the router may
 * go on without waiting for the commit.
 */
export async function applyRouterEvent(desk: Desk, event: RouterEvent): Promise<void> {
  const row = desk.open.get(event.orderId);
  if (row === undefined || desk.halted !== null) return;
  const now = desk.deps.clock.now();
  if (event.type === 'fill') {
    const instrument = findInstrument(Number(row.instrument_id)) as Instrument;
    await fillOrder(desk, row, instrument, event, now);
  } else if (event.type === 'triggered') {
    const triggered: OrdersTable = { ...row, triggered: 1, updated_at: now };
    desk.open.set(row.id, triggered);
    desk
      .journalApplied(triggered, async (tx) =>
        (await updateWorkingOrder(tx, triggered)) ? null : NOT_WORKING,
      )
      .catch(() => {});
  } else if (event.type === 'rejected') {
    // A venue's reject after acceptance: the order ends (as `cancelled`, the order statuses having no other end
    // for it) with a `rejected` event that carries the venue's reason.
    const by: SystemCanceller = 'engine';
    endOrder(
      desk,
      row.id,
      'cancelled',
      { by, reason: event.reason, clientOrderId: row.client_order_id },
      'rejected',
    ).catch(() => {});
  } else {
    const by: SystemCanceller = 'engine';
    endOrder(desk, row.id, event.status, { by, reason: event.reason }).catch(() => {});
  }
}

async function fillOrder(
  desk: Desk,
  row: OrdersTable,
  instrument: Instrument,
  fill: Extract<RouterEvent, { type: 'fill' }>,
  now: number,
): Promise<void> {
  const { end, triggered } = fill;
  const accountId = row.account_id;
  const ledger = await desk.ledger(accountId);
  if (desk.open.get(row.id) !== row) return;
  const fee = fill.commission;
  const next: Ledger = { cash: new Map(ledger.cash), positions: new Map(ledger.positions) };
  const realized = applyFill(next, instrument, row.side as 'BUY' | 'SELL', fill.quantity, fill.price, fee);
  const filled = Number(row.filled_quantity) + fill.quantity;
  const avg =
    (Number(row.avg_fill_price ?? 0) * Number(row.filled_quantity) + fill.price * fill.quantity) / filled;
  const status = end === 'filled' ? 'filled' : end === 'cancelled' ? 'cancelled' : 'working';
  const updated: OrdersTable = {
    ...row,
    filled_quantity: filled,
    avg_fill_price: avg,
    status,
    triggered: triggered || row.triggered === 1 ? 1 : 0,
    updated_at: now,
  };
  const currencies =
    instrument.fx === undefined ? [instrument.currency] : [instrument.currency, instrument.fx.base];
  // Applied here first, so the next fill and the next order's buying power see it.
  desk.ledgers.set(accountId, next);
  if (status === 'working') desk.open.set(row.id, updated);
  else desk.open.delete(row.id);
  const events = desk.journalApplied(updated, async (tx) => {
    if (!(await updateWorkingOrder(tx, updated))) return NOT_WORKING;
    await insertExecution(tx, {
      id: newTimeOrderedId('exe', now),
      order_id: row.id,
      account_id: accountId,
      instrument_id: instrument.id,
      side: row.side,
      quantity: fill.quantity,
      price: fill.price,
      commission: fee,
      currency: instrument.currency,
      created_at: now,
    });
    await saveLedgerChange(tx, accountId, next, instrument.id, currencies);
    const type: EventType = status === 'filled' ? 'filled' : 'partially_filled';
    const out = [
      await appendEvent(
        tx,
        accountId,
        type,
        row.id,
        {
          // Symbol and side, so a blotter names what filled without looking the order up.
          symbol: instrument.symbol,
          side: row.side,
          quantity: fill.quantity,
          price: fill.price,
          commission: fee,
          currency: instrument.currency,
          filledQuantity: filled,
          realizedPnl: realized,
        },
        now,
      ),
    ];
    if (status === 'cancelled')
      out.push(
        await appendEvent(
          tx,
          accountId,
          'cancelled',
          row.id,
          { by: 'engine' satisfies SystemCanceller, reason: 'ioc' },
          now,
        ),
      );
    return out;
  });
  events.then(
    (out) => {
      for (const e of out) desk.announce(accountId, e);
    },
    () => {},
  );
}

/**
 * Ends a working order (a user's cancel, an engine's expiry or IOC remainder, a venue's reject): it leaves this
 * node's working set at once, so no fill follows, and the change commits with its event (`event`: the status's own
 * unless named).
 */
export async function endOrder(
  desk: Desk,
  orderId: string,
  status: 'cancelled' | 'expired',
  data: Record<string, unknown>,
  event: EventType = status,
): Promise<OrdersTable> {
  const row = desk.open.get(orderId);
  if (row === undefined) throw new GatehouseError('ORDER_NOT_OPEN');
  const now = desk.deps.clock.now();
  const ended: OrdersTable = { ...row, status, updated_at: now };
  desk.open.delete(orderId);
  const appended = await desk.journalApplied(ended, async (tx) =>
    (await updateWorkingOrder(tx, ended))
      ? appendEvent(tx, row.account_id, event, orderId, data, now)
      : NOT_WORKING,
  );
  desk.announce(row.account_id, appended);
  return ended;
}
