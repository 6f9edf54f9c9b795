/**
 * @module trading/confirm
 * The answer to a confirmation: once, within its TTL (60 s by default), by the user it was asked of, on the same
 * account. It places the order, or makes the change, with its questions acknowledged — through the whole gate
 * again, so what changed meanwhile (a takeover, a fill, the market) still counts. An order confirmed without market
 * data is audited.
 */
import { accountAccess } from '../access/index.js';
import { appendAudit } from '../audit/index.js';
import { GatehouseError } from '../core/index.js';
import type { Principal } from '../sessions/index.js';
import type { Desk } from './desk.js';
import { NO_MARKET_DATA, type Question } from './gate.js';
import { type ModifyResult, modifyOrder } from './modify.js';
import { type PlaceResult, placeOrder, type SavedIntent } from './place.js';
import { appendEvent, claimConfirmation, findConfirmation } from './store.js';

/** Answers a confirmation (see the module's header). */
export async function confirmOrder(
  desk: Desk,
  principal: Principal,
  accountId: string,
  confirmationId: string,
): Promise<PlaceResult | ModifyResult> {
  desk.running();
  accountAccess(principal, accountId, 'trade');
  // Checked before the confirmation is spent: a session that may not trade leaves it for one that may.
  await desk.deps.brokerage.requireTrading(principal);
  const { db, clock } = desk.deps;
  const now = clock.now();
  const row = await findConfirmation(db, confirmationId);
  if (
    row === undefined ||
    row.account_id !== accountId ||
    row.user_id !== principal.session.userId ||
    row.used_at !== null ||
    now >= Number(row.expires_at)
  ) {
    throw new GatehouseError('CONFIRMATION_INVALID');
  }
  if (!(await claimConfirmation(db, confirmationId, now))) throw new GatehouseError('CONFIRMATION_INVALID');
  const saved = JSON.parse(row.order) as SavedIntent;
  const questions = JSON.parse(row.questions) as Question[];
  const acknowledged = [...saved.acknowledged, ...questions.map((q) => q.id)];
  if (questions.some((q) => q.id === NO_MARKET_DATA.id || q.id === 'delayed_market_data')) {
    await appendAudit(db, clock, {
      type: 'order.confirmed_without_market_data',
      userId: principal.session.userId,
      sessionId: principal.session.id,
      data: { accountId, clientOrderId: saved.order.clientOrderId, questions: questions.map((q) => q.id) },
    });
  }
  const result =
    saved.modifies === undefined
      ? await placeOrder(desk, principal, accountId, saved.order, acknowledged)
      : await modifyOrder(
          desk,
          principal,
          accountId,
          saved.modifies,
          {
            quantity: saved.order.quantity,
            ...(saved.order.limitPrice === undefined ? {} : { limitPrice: saved.order.limitPrice }),
            ...(saved.order.stopPrice === undefined ? {} : { stopPrice: saved.order.stopPrice }),
          },
          acknowledged,
        );
  if (result.status === 'accepted' || result.status === 'modified') {
    const event = await desk.write(accountId, (tx) =>
      appendEvent(
        tx,
        accountId,
        'confirmed',
        result.order.id,
        { confirmationId, questions: questions.map((q) => q.id) },
        now,
      ),
    );
    desk.announce(accountId, event);
  }
  return result;
}
