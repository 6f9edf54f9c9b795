/**
 * @module trading/place
 * A new order through the gate: check access and the order's shape, return the existing order for a known
 * `clientOrderId` (idempotent for 24 h), judge it, and act on the gate's answer — reject (a `rejected` event, then a
 * coded 422), confirm (a confirmation valid for 60 s, a 409 with its questions), or accept: the order and its
 * `accepted` event are committed in one transaction before the client hears `201`, so nothing acknowledged is lost,
 * then the router takes it.
 *
 * Also the round through the gate that a change to a working order shares (`trading/modify`): reading the gate's
 * inputs, judging against this node's view, coding a refusal, storing the questions as a confirmation.
 */
import { accountAccess } from '../access/index.js';
import { GatehouseError, newId, newTimeOrderedId } from '../core/index.js';
import type { UserAccount } from '../identity/index.js';
import { findInstrument, type Instrument } from '../instruments/index.js';
import { nextResetAt, type Principal } from '../sessions/index.js';
import type { OrdersTable } from '../store/index.js';
import type { Ledger } from './accounting.js';
import { type Desk, faultSubject } from './desk.js';
import {
  evaluateGate,
  type GateResult,
  type GateSnapshot,
  type OrderRequest,
  type Question,
} from './gate.js';
import { validateOrder } from './order-shape.js';
import { plainWords } from './restrictions.js';
import { type GateInputs, gateSnapshot } from './snapshot.js';
import {
  type AccountEvent,
  appendEvent,
  findOrderByClientOrderId,
  insertConfirmation,
  insertOrder,
  type OrderView,
  presentOrder,
} from './store.js';

export type PlaceResult =
  | { status: 'accepted'; order: OrderView }
  | { status: 'existing'; order: OrderView }
  | ConfirmationRequired;

export interface ConfirmationRequired {
  status: 'confirmation_required';
  confirmationId: string;
  questions: Question[];
}

/** What a confirmation row stores: the order as it would be placed (or changed), and what was answered already. */
export interface SavedIntent {
  order: OrderRequest;
  acknowledged: string[];
  /** The working order this confirmation changes; absent for a new order. */
  modifies?: string;
}

/** The coded error for the gate's rejection, in plain words, with the rule that decided it. */
export function refusal(verdict: Extract<GateResult, { outcome: 'reject' }>): GatehouseError {
  return new GatehouseError(verdict.code, plainWords(verdict)?.message ?? verdict.message, {
    ...(verdict.ruleId === undefined ? {} : { ruleId: verdict.ruleId }),
    ...verdict.details,
  });
}

/**
 * What the gate needs that takes I/O: the account's entitlements (with its type as it is now: an operator may have
 * changed it since this session's profile was read), the session's trading state read authoritatively, and the
 * account's ledger loaded. Read before the gate's synchronous step (`judge`).
 */
export async function gateInputs(
  desk: Desk,
  principal: Principal,
  account: UserAccount,
  instrument: Instrument,
  judging = true,
): Promise<GateInputs> {
  // Read for this order: the sandbox's entitlement faults on its session, user, client, account or instrument act.
  const cache = desk.deps.entitlements;
  const entitlements = await cache.get(
    account.id,
    cache.faults.armed ? { subject: faultSubject(principal, account.id, instrument), judging } : undefined,
  );
  if (entitlements === undefined) throw new GatehouseError('ACCOUNT_NOT_FOUND');
  const state = await desk.deps.brokerage.tradingState(principal);
  await desk.ledger(account.id);
  return { entitlements, state };
}

/**
 * What the gate sees of an order against this node's view of the account at this instant: its ledger, its working
 * and reserved orders (`changing`, an order being changed, excluded), the market and the policies. Order entry,
 * preview and availability all judge from it.
 */
export function deskSnapshot(
  desk: Desk,
  principal: Principal,
  account: UserAccount,
  inputs: GateInputs,
  instrument: Instrument,
  order: OrderRequest,
  acknowledged: readonly string[] = [],
  changing?: string,
): GateSnapshot & { ledger: Ledger } {
  const { clock, marketData, policies, options } = desk.deps;
  const ledger = desk.ledgers.get(account.id);
  if (ledger === undefined) throw new GatehouseError('ACCOUNT_NOT_FOUND');
  const snapshot = gateSnapshot({
    principal,
    account,
    inputs,
    ledger,
    working: desk.workingOrders(account.id, changing),
    instrument,
    order,
    acknowledged,
    market: { now: clock.now(), rates: desk.rates(), quote: (i) => marketData.live(i) },
    policies,
    priceBand: options.priceBand,
  });
  return { ...snapshot, ledger };
}

/**
 * The gate's verdict on an order (`deskSnapshot`). Synchronous, so the verdict and the reservation that follows it
 * cannot interleave with another order's.
 */
export function judge(
  desk: Desk,
  principal: Principal,
  account: UserAccount,
  inputs: GateInputs,
  instrument: Instrument,
  order: OrderRequest,
  acknowledged: readonly string[],
  changing?: string,
): GateResult {
  return evaluateGate(
    deskSnapshot(desk, principal, account, inputs, instrument, order, acknowledged, changing),
  );
}

/** Stores the gate's questions for an order (new or changed); the answer comes within the confirmation's TTL. */
export async function askConfirmation(
  desk: Desk,
  principal: Principal,
  accountId: string,
  intent: SavedIntent,
  verdict: Extract<GateResult, { outcome: 'confirm' }>,
): Promise<ConfirmationRequired> {
  const { clock, faults } = desk.deps;
  const now = clock.now();
  const confirmationId = newId('cnf');
  // The reply-id race (research/ibkr-cpapi.md §4: "reply id not found"): while the sandbox's
  // `order.confirmation_expires` holds, a question is asked already expired, so the answer meets the real refusal.
  const expired =
    faults?.armed === true &&
    faults.take(
      'order.confirmation_expires',
      faultSubject(principal, accountId, findInstrument(intent.order.instrumentId)),
    ) !== undefined;
  await insertConfirmation(desk.deps.db, {
    id: confirmationId,
    account_id: accountId,
    user_id: principal.session.userId,
    order: JSON.stringify(intent),
    questions: JSON.stringify(verdict.questions),
    created_at: now,
    expires_at: expired ? now : now + desk.deps.options.confirmationTtlMs,
    used_at: null,
  });
  return { status: 'confirmation_required', confirmationId, questions: verdict.questions };
}

/** The row of a new working order, as the principal's session places it now. */
function newOrderRow(
  principal: Principal,
  accountId: string,
  instrument: Instrument,
  order: OrderRequest,
  acknowledged: readonly string[],
  now: number,
): OrdersTable {
  return {
    id: newTimeOrderedId('ord', now),
    account_id: accountId,
    client_order_id: order.clientOrderId,
    user_id: principal.session.userId,
    session_id: principal.session.id,
    instrument_id: instrument.id,
    side: order.side,
    type: order.type,
    quantity: order.quantity,
    limit_price: order.type === 'LMT' || order.type === 'STP_LMT' ? (order.limitPrice ?? null) : null,
    stop_price: order.type === 'STP' || order.type === 'STP_LMT' ? (order.stopPrice ?? null) : null,
    tif: order.tif,
    status: 'working',
    filled_quantity: 0,
    avg_fill_price: null,
    triggered: 0,
    acknowledged: JSON.stringify(acknowledged),
    expires_at:
      order.tif === 'DAY'
        ? nextResetAt(now, { timeZone: instrument.hours.timeZone, time: instrument.hours.close })
        : null,
    created_at: now,
    updated_at: now,
  };
}

/** Places a new order (see the module's header). */
export async function placeOrder(
  desk: Desk,
  principal: Principal,
  accountId: string,
  order: OrderRequest,
  acknowledged: readonly string[],
): Promise<PlaceResult> {
  const { db, clock } = desk.deps;
  desk.running();
  const account = accountAccess(principal, accountId, 'trade');
  const instrument = findInstrument(order.instrumentId);
  if (instrument === undefined) throw new GatehouseError('INSTRUMENT_NOT_FOUND');
  validateOrder(order, instrument);
  const now = clock.now();
  const existingId = await desk.clientOrderIds.find(accountId, order.clientOrderId, now);
  if (existingId !== undefined) {
    const existing = await desk.orderById.first(existingId);
    if (existing !== undefined) return { status: 'existing', order: presentOrder(existing) };
  }

  const row = newOrderRow(principal, accountId, instrument, order, acknowledged, now);
  // The gate's verdict and the reservation are one synchronous step: an order accepted here counts against the
  // next one's buying power and position at once, before it is committed, so orders racing on one account cannot
  // all pass.
  const inputs = await gateInputs(desk, principal, account, instrument);
  const verdict = judge(desk, principal, account, inputs, instrument, order, acknowledged);
  if (verdict.outcome === 'accept') desk.reserved.set(row.id, row);
  if (verdict.outcome === 'reject') {
    const refused = refusal(verdict);
    const event = await desk.write(accountId, (tx) =>
      appendEvent(
        tx,
        accountId,
        'rejected',
        null,
        {
          clientOrderId: order.clientOrderId,
          // What was refused, in a blotter's words (a rejected order has no row of its own).
          symbol: instrument.symbol,
          side: order.side,
          quantity: order.quantity,
          type: order.type,
          ...(order.limitPrice === undefined ? {} : { limitPrice: order.limitPrice }),
          code: verdict.code,
          // The words the client was refused with (a product rule names the instrument and the entity).
          reason: refused.message,
          ...(verdict.ruleId === undefined ? {} : { ruleId: verdict.ruleId }),
        },
        now,
      ),
    );
    desk.announce(accountId, event);
    throw refused;
  }
  if (verdict.outcome === 'confirm')
    return askConfirmation(desk, principal, accountId, { order, acknowledged: [...acknowledged] }, verdict);

  let event: AccountEvent | null;
  try {
    event = await desk.write(accountId, async (tx) =>
      (await insertOrder(tx, row))
        ? appendEvent(
            tx,
            accountId,
            'accepted',
            row.id,
            { clientOrderId: row.client_order_id, order: presentOrder(row) },
            now,
          )
        : null,
    );
  } finally {
    // From here the order is working (below) or was never placed: either way no longer only reserved.
    desk.reserved.delete(row.id);
  }
  if (event === null) {
    // Another submission with this clientOrderId holds the unique key (a race, or an id older than the window).
    const winner = await findOrderByClientOrderId(db, accountId, order.clientOrderId);
    return { status: 'existing', order: presentOrder(winner) };
  }
  desk.clientOrderIds.add(accountId, row.client_order_id, row.id, now);
  desk.announce(accountId, event);
  // Committed, so placed, and answered so. If trading halted meanwhile (another entry of its batch failed), this
  // node's view is left alone: the order is working in the database, where a resume or a restart finds it.
  if (desk.halted !== null) return { status: 'accepted', order: presentOrder(row) };
  desk.open.set(row.id, row);
  // The router may have filled the order at once: answer with that, once it is durable.
  let filled: OrdersTable | undefined;
  try {
    await desk.router.submit(row);
    const pending = desk.pending.get(row.id);
    if (pending !== undefined) await pending.durable;
    filled = pending?.row;
  } catch {
    // The order is committed and working, and only what followed did not commit (its fill: trading halted on this
    // node; or, with several nodes, the account moved meanwhile and its new node works the order). The placement
    // stands, answered as committed: an order answered with an error is never in the database.
  }
  return { status: 'accepted', order: presentOrder(filled ?? row) };
}
