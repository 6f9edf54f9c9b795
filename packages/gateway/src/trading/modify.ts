/**
 * @module trading/modify
 * A change to a working order (quantity, limit price, stop price). The order as it would stand after the change
 * goes through the whole gate, exactly as a new order does: a change cannot do what placing the order could not.
 * An accepted change is applied to this node's view at once, handed to the router, and journalled with its event.
 */
import { GatehouseError } from '../core/index.js';
import { findInstrument, type Instrument } from '../instruments/index.js';
import type { Principal } from '../sessions/index.js';
import type { OrdersTable } from '../store/index.js';
import { type Desk, NOT_WORKING } from './desk.js';
import type { OrderRequest, OrderType } from './gate.js';
import { validateOrder } from './order-shape.js';
import { askConfirmation, type ConfirmationRequired, gateInputs, judge, refusal } from './place.js';
import { appendEvent, type OrderView, presentOrder, updateWorkingOrder } from './store.js';

/** A change to a working order: any of quantity, limit price, stop price. */
export interface OrderChange {
  quantity?: number;
  limitPrice?: number;
  stopPrice?: number;
}

/** A modify's answer: the order as changed, or the questions to answer first (as for a new order). */
export type ModifyResult = { status: 'modified'; order: OrderView } | ConfirmationRequired;

/**
 * Changes a working order of the account. The gate weighs what is still to fill, as it weighs a new order's whole
 * quantity, against what the account's other working orders leave. Questions come back as a confirmation to answer,
 * as for a new order.
 */
export async function modifyOrder(
  desk: Desk,
  principal: Principal,
  accountId: string,
  orderId: string,
  change: OrderChange,
  acknowledged: readonly string[],
): Promise<ModifyResult> {
  desk.running();
  const { account, row: stored } = await desk.ownOrder(principal, accountId, orderId, 'trade');
  const inputs = await gateInputs(
    desk,
    principal,
    account,
    findInstrument(Number(stored.instrument_id)) as Instrument,
  );
  // From here to the change in this node's view nothing waits: the order is judged as it stands at this instant
  // (a fill meanwhile is included), and no other order of the account is judged in between.
  const row = desk.open.get(orderId);
  if (row === undefined) throw new GatehouseError('ORDER_NOT_OPEN');
  const instrument = findInstrument(Number(row.instrument_id)) as Instrument;
  const next: OrderRequest = {
    clientOrderId: row.client_order_id,
    instrumentId: instrument.id,
    side: row.side as OrderRequest['side'],
    type: row.type as OrderType,
    quantity: change.quantity ?? Number(row.quantity),
    limitPrice: change.limitPrice ?? row.limit_price ?? undefined,
    stopPrice: change.stopPrice ?? row.stop_price ?? undefined,
    tif: row.tif as OrderRequest['tif'],
  };
  validateOrder(next, instrument);
  if (next.quantity < Number(row.filled_quantity))
    throw new GatehouseError('QUANTITY_INVALID', 'The quantity cannot go below what has already filled.', {
      filledQuantity: Number(row.filled_quantity),
    });
  const remaining = { ...next, quantity: next.quantity - Number(row.filled_quantity) };
  const verdict = judge(desk, principal, account, inputs, instrument, remaining, acknowledged, orderId);
  if (verdict.outcome === 'reject') throw refusal(verdict);
  if (verdict.outcome === 'confirm')
    return askConfirmation(
      desk,
      principal,
      accountId,
      { order: next, acknowledged: [...acknowledged], modifies: orderId },
      verdict,
    );
  const updated: OrdersTable = {
    ...row,
    quantity: next.quantity,
    limit_price: row.limit_price === null ? null : (next.limitPrice ?? null),
    stop_price: row.stop_price === null ? null : (next.stopPrice ?? null),
    updated_at: desk.deps.clock.now(),
  };
  desk.open.set(row.id, updated);
  return { status: 'modified', order: await commitChange(desk, updated, change) };
}

/** Hands a change already applied to this node's view to the router, and journals it with its event. */
async function commitChange(desk: Desk, updated: OrdersTable, change: OrderChange): Promise<OrderView> {
  const now = Number(updated.updated_at);
  await desk.router.modify(updated);
  const event = await desk.journalApplied(updated, async (tx) =>
    (await updateWorkingOrder(tx, updated))
      ? appendEvent(tx, updated.account_id, 'modified', updated.id, { change }, now)
      : NOT_WORKING,
  );
  desk.announce(updated.account_id, event);
  return presentOrder(updated);
}
