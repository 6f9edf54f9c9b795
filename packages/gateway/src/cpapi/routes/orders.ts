/**
 * @module cpapi/routes/orders
 * Orders on the face: place (`iserver/account/{acct}/orders`) answering IBKR's questions or acknowledgements, the
 * reply (`iserver/reply/{id}`), suppress and reset, what-if, live orders, order status, modify, cancel and trades.
 *
 * Every order goes through Gatehouse's order entry (`TradingService`) exactly as a `/v1` order does: the same gate,
 * the same reservations, the same refusals (IBKR's `{"error":"…"}` naming the Gatehouse code and rule). A gate
 * question becomes IBKR's question with IBKR's message id and text where IBKR asks the same (`GATE_TO_IBKR`); the
 * reply id is IBKR-style (a UUID) and lives as the confirmation does (`trading.confirmationTtlMs`, 60 s), and, as at
 * IBKR, placing another order first voids the replies still open ("Orders must be replied to immediately …
 * Submitting other orders … will cancel the order"; research/ibkr-cpapi.md §0.4): answering one then gets `reply
 * id not found`. Questions whose ids were suppressed (`iserver/questions/suppress`) are answered yes at once, for the
 * rest of the held login.
 *
 * Reads (live orders, status, trades) need the brokerage session, as every `/iserver` endpoint does (`no bridge`
 * otherwise); place, modify and cancel go to the gate, whose session checks refuse with the Gatehouse code in IBKR's
 * `no bridge` words, so an order refused here is refused for the same code as on `/v1`.
 */
import { randomUUID } from 'node:crypto';
import type { OrderView } from '@gatehouse/protocol';
import type { FastifyInstance } from 'fastify';
import { accountsFor } from '../../access/index.js';
import { type Clock, GatehouseError } from '../../core/index.js';
import { findInstrument } from '../../instruments/index.js';
import type { Principal } from '../../sessions/index.js';
import {
  type ModifyResult,
  type OrderRequest,
  type PlaceResult,
  type Question,
  refusal,
  type TradingService,
} from '../../trading/index.js';
import { bridged, type FaceState, IbkrError, ibkrErrorOf, loggedIn, parseWire } from '../kit.js';
import { ibkrStatus, liveOrder, orderStatus, ticketToOrder, trade } from '../orders-wire.js';
import {
  GATE_TO_IBKR,
  type GateQuestionId,
  IBKR_ERROR_TEXTS,
  IBKR_SUPPRESSIBLE_MESSAGES,
  type IbkrMessageId,
  liveOrdersQuerySchema,
  modifyOrderBodySchema,
  placeOrdersBodySchema,
  priceConstraintQuestion,
  replyBodySchema,
  suppressBodySchema,
} from '../wire/index.js';

export interface OrderRoutesDeps {
  face: FaceState;
  trading: TradingService;
  clock: Clock;
  /** `trading.priceBandConfirm`: the percentage IBKR's o163 question names. */
  priceBandConfirm: number;
  /** `trading.confirmationTtlMs`: how long a reply id may be answered. */
  replyTtlMs: number;
}

interface OpenReply {
  accountId: string;
  confirmationId: string;
  /** The order asked about (its words are those of the next question, should the gate ask again). */
  order: OrderRequest | OrderView;
  modify: boolean;
  /** The held login it was asked in: a new login voids it. */
  wsSession: string | null;
  expiresAt: number;
}

/** Gate refusals that mean "no brokerage session": worded as IBKR's `no bridge`, so clients re-init as they do. */
const NO_BRIDGE_CODES = new Set(['BROKERAGE_REQUIRED', 'SESSION_COMPETING', 'SESSION_RESET']);

export async function orderRoutes(app: FastifyInstance, deps: OrderRoutesDeps): Promise<void> {
  const { face, trading, clock } = deps;
  const replies = new Map<string, OpenReply>();
  const suppressed = { session: null as string | null, ids: new Set<string>() };

  /** The suppressed ids of the current login (a new login starts with none). */
  const suppressedNow = () => {
    if (suppressed.session !== face.held.wsSession) {
      suppressed.session = face.held.wsSession;
      suppressed.ids.clear();
    }
    return suppressed.ids;
  };

  const number = (order: OrderView) => face.numbers.numberOf(order.id, order.accountId);

  /** Runs order entry, wording its refusals as IBKR does. */
  const entry = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      if (!(error instanceof GatehouseError)) throw error;
      const worded = ibkrErrorOf(error);
      if (NO_BRIDGE_CODES.has(error.code))
        throw new IbkrError(400, `${IBKR_ERROR_TEXTS.noBridge}: ${worded.message}`);
      throw worded;
    }
  };

  /** An order-entry answer as IBKR's: acknowledgements, or the questions with a reply id. */
  const answer = async (
    principal: Principal,
    accountId: string,
    result: PlaceResult | ModifyResult,
    order: OrderRequest | OrderView,
    modify: boolean,
  ): Promise<unknown[]> => {
    if (result.status === 'confirmation_required') {
      const question = ibkrQuestion(result.questions, order, deps.priceBandConfirm);
      const ids = suppressedNow();
      if (question.messageIds.every((id) => ids.has(id)))
        return answer(
          principal,
          accountId,
          await entry(() => trading.confirm(principal, accountId, result.confirmationId)),
          order,
          modify,
        );
      for (const [id, open] of replies) if (open.expiresAt <= clock.now()) replies.delete(id);
      const id = randomUUID();
      replies.set(id, {
        accountId,
        confirmationId: result.confirmationId,
        order,
        modify,
        wsSession: face.held.wsSession,
        expiresAt: clock.now() + deps.replyTtlMs,
      });
      return [{ id, ...question }];
    }
    if (result.status === 'existing') {
      // IBKR refuses a cOID it has seen (ibind `handle_questions`: "Order couldn't be submitted: Local order ID=").
      throw new IbkrError(
        400,
        `Order couldn't be submitted: Local order ID=${result.order.clientOrderId} is already registered.`,
      );
    }
    const n = await number(result.order);
    return modify
      ? [
          {
            order_id: String(n),
            local_order_id: result.order.clientOrderId,
            order_status: ibkrStatus(result.order),
          },
        ]
      : [{ order_id: String(n), order_status: ibkrStatus(result.order), encrypt_message: '1' }];
  };

  app.post<{ Params: { accountId: string } }>(
    '/v1/api/iserver/account/:accountId/orders',
    async (request) => {
      const principal = await loggedIn(face);
      const { accountId } = request.params;
      const order = oneTicket(request.body, accountId);
      // A new order voids the questions still open (IBKR: replies must come at once).
      replies.clear();
      const result = await entry(() => trading.place(principal, accountId, order));
      return answer(principal, accountId, result, order, false);
    },
  );

  app.post<{ Params: { replyId: string } }>('/v1/api/iserver/reply/:replyId', async (request) => {
    const principal = await loggedIn(face);
    const { replyId } = request.params;
    const { confirmed } = parseWire(replyBodySchema, request.body);
    const open = replies.get(replyId);
    replies.delete(replyId);
    if (open === undefined || open.expiresAt <= clock.now() || open.wsSession !== face.held.wsSession)
      throw new IbkrError(400, `${IBKR_ERROR_TEXTS.replyIdNotFound}: '${replyId}'`, false);
    if (!confirmed) throw new IbkrError(400, 'Order was not confirmed and is not placed.', false);
    const result = await entry(() => trading.confirm(principal, open.accountId, open.confirmationId));
    return answer(principal, open.accountId, result, open.order, open.modify);
  });

  app.post('/v1/api/iserver/questions/suppress', async (request) => {
    await loggedIn(face);
    const { messageIds } = parseWire(suppressBodySchema, request.body);
    const unknown = messageIds.find((id) => !Object.hasOwn(IBKR_SUPPRESSIBLE_MESSAGES, id));
    if (unknown !== undefined)
      throw new IbkrError(400, `Bad Request: messageId ${unknown} is not suppressible`);
    const ids = suppressedNow();
    for (const id of messageIds) ids.add(id);
    return { status: 'submitted' };
  });

  app.post('/v1/api/iserver/questions/suppress/reset', async () => {
    await loggedIn(face);
    suppressedNow().clear();
    return { status: 'submitted' };
  });

  app.post<{ Params: { accountId: string } }>(
    '/v1/api/iserver/account/:accountId/orders/whatif',
    async (request) => {
      const principal = await loggedIn(face);
      const { accountId } = request.params;
      const order = oneTicket(request.body, accountId);
      const p = await entry(() => trading.preview(principal, accountId, order));
      const money = (n: number, currency = p.baseCurrency) => `${n.toFixed(2)} ${currency}`;
      const signed = order.side === 'BUY' ? order.quantity : -order.quantity;
      const notional = Math.abs(order.quantity) * p.price;
      const margin = p.verdict.outcome === 'reject' ? 0 : p.required - p.commission;
      return {
        amount: {
          amount: money(notional, p.currency),
          commission: money(p.commission, p.currency),
          total: money(notional + p.commission, p.currency),
        },
        equity: {
          current: money(p.netLiquidation),
          change: money(-p.commission),
          after: money(p.netLiquidation - p.commission),
        },
        initial: {
          current: money(p.initialMargin),
          change: money(margin),
          after: money(p.initialMargin + margin),
        },
        maintenance: {
          current: money(p.initialMargin),
          change: money(margin),
          after: money(p.initialMargin + margin),
        },
        position: { current: String(p.position), change: String(signed), after: String(p.position + signed) },
        warn:
          p.verdict.outcome === 'confirm'
            ? ibkrQuestion(p.verdict.questions, order, deps.priceBandConfirm).message.join('\n')
            : null,
        // The gate's refusal in the same plain words as order entry's (some rules carry no message of their own).
        error:
          p.verdict.outcome === 'reject'
            ? `${refusal(p.verdict).message} [Gatehouse ${p.verdict.code}]`
            : null,
      };
    },
  );

  // Today's orders of every account the user may view (or `accountId`'s). `force=true` answers an empty list, as
  // IBKR's does (it clears IBKR's cache; research §4).
  app.get('/v1/api/iserver/account/orders', async (request) => {
    const principal = await bridged(face);
    const query = parseWire(liveOrdersQuerySchema, request.query);
    if (query.force === 'true') return { orders: [], snapshot: true };
    const filters = new Set(
      (query.filters ?? '')
        .split(',')
        .map((f) => f.trim().toLowerCase())
        .filter(Boolean),
    );
    const accounts =
      query.accountId === undefined ? accountsFor(principal, 'view').map((a) => a.id) : [query.accountId];
    const orders = [];
    for (const accountId of accounts) {
      for (const order of await entry(() => trading.list(principal, accountId, { today: true }))) {
        const status = ibkrStatus(order).toLowerCase().replace('presubmitted', 'pre_submitted');
        if (filters.size > 0 && !filters.has(status) && !(filters.has('inactive') && status === 'cancelled'))
          continue;
        orders.push(liveOrder(order, await number(order)));
      }
    }
    return { orders: orders.slice(0, 1000), snapshot: true };
  });

  app.get<{ Params: { orderId: string } }>(
    '/v1/api/iserver/account/order/status/:orderId',
    async (request) => {
      const principal = await bridged(face);
      const { order, n } = await ownOrder(principal, request.params.orderId);
      return orderStatus(order, n);
    },
  );

  app.post<{ Params: { accountId: string; orderId: string } }>(
    '/v1/api/iserver/account/:accountId/order/:orderId',
    async (request) => {
      const principal = await loggedIn(face);
      const { accountId } = request.params;
      const { order } = await ownOrder(principal, request.params.orderId, accountId);
      const ticket = parseWire(modifyOrderBodySchema, request.body);
      const wanted = ticketToOrder({ ...ticket, cOID: order.clientOrderId }, accountId);
      if (
        wanted.instrumentId !== order.instrumentId ||
        wanted.side !== order.side ||
        wanted.type !== order.type
      )
        throw new IbkrError(400, 'Bad Request: a modify may change the quantity and prices only');
      const change = {
        ...(wanted.quantity === order.quantity ? {} : { quantity: wanted.quantity }),
        ...(wanted.limitPrice === undefined || wanted.limitPrice === order.limitPrice
          ? {}
          : { limitPrice: wanted.limitPrice }),
        ...(wanted.stopPrice === undefined || wanted.stopPrice === order.stopPrice
          ? {}
          : { stopPrice: wanted.stopPrice }),
      };
      if (Object.keys(change).length === 0)
        throw new IbkrError(400, 'Bad Request: the order already has these values');
      replies.clear();
      const result = await entry(() => trading.modifyOrder(principal, accountId, order.id, change));
      return answer(principal, accountId, result, order, true);
    },
  );

  // `-1` cancels every working order of the account (campus "Cancel Order").
  app.delete<{ Params: { accountId: string; orderId: string } }>(
    '/v1/api/iserver/account/:accountId/order/:orderId',
    async (request) => {
      const principal = await loggedIn(face);
      const { accountId, orderId } = request.params;
      if (orderId === '-1') {
        const working = await entry(() => trading.list(principal, accountId, { status: 'open' }));
        for (const order of working) await entry(() => trading.cancelOrder(principal, accountId, order.id));
        return { msg: 'Request was submitted', order_id: '-1', conid: '-1', account: accountId };
      }
      const { order, n } = await ownOrder(principal, orderId, accountId);
      const cancelled = await entry(() => trading.cancelOrder(principal, accountId, order.id));
      return {
        msg: 'Request was submitted',
        order_id: String(n),
        conid: String(cancelled.instrumentId),
        account: accountId,
      };
    },
  );

  // Executions of the last `days` (1–7, default 1), every account the user may view (openapi `/iserver/account/trades`).
  app.get<{ Querystring: { days?: string } }>('/v1/api/iserver/account/trades', async (request) => {
    const principal = await bridged(face);
    const days = Math.min(7, Math.max(1, Number.parseInt(request.query.days ?? '1', 10) || 1));
    const since = clock.now() - days * 24 * 3_600_000;
    const trades = [];
    for (const account of accountsFor(principal, 'view'))
      for (const execution of await entry(() => trading.executions(principal, account.id, since)))
        trades.push(trade(execution));
    return trades;
  });

  /** The order a number names, if it is one of the user's (in `accountId` when given); else IBKR's 400. */
  async function ownOrder(principal: Principal, orderId: string, accountId?: string) {
    const n = Number(orderId);
    const known = /^\d{1,15}$/.test(orderId) ? await face.numbers.orderOf(n) : undefined;
    if (known === undefined || (accountId !== undefined && known.accountId !== accountId))
      throw new IbkrError(400, `Bad Request: order ${orderId} was not found`);
    try {
      return { order: await trading.get(principal, known.accountId, known.orderId), n };
    } catch (error) {
      // Another user's order answers as an unknown one does.
      if (error instanceof GatehouseError && error.status === 404)
        throw new IbkrError(400, `Bad Request: order ${orderId} was not found`);
      throw error;
    }
  }
}

/** The gate's questions as one IBKR question: messages and ids index-aligned, IBKR's own text where it asks the same. */
function ibkrQuestion(
  questions: readonly Question[],
  order: OrderRequest | OrderView,
  priceBandConfirm: number,
): { message: string[]; isSuppressed: boolean; messageIds: string[] } {
  const message: string[] = [];
  const messageIds: string[] = [];
  for (const q of questions) {
    const mapping = GATE_TO_IBKR[q.id as GateQuestionId] ?? null;
    const id: IbkrMessageId | null = mapping?.messageId ?? null;
    messageIds.push(id ?? q.id);
    if (id === 'o163') {
      const at = order.limitPrice ?? undefined;
      const desc = `${order.side} ${order.quantity} ${symbolOf(order)}${at === undefined ? '' : ` @ ${at}`}`;
      message.push(priceConstraintQuestion(desc, Math.round(priceBandConfirm * 100)));
    } else if (id !== null && mapping?.relation === 'same') message.push(IBKR_SUPPRESSIBLE_MESSAGES[id]);
    else message.push(q.message);
  }
  return { message, isSuppressed: false, messageIds };
}

/** The one order of a place or what-if body; more is IBKR's bracket or OCA group, which Gatehouse does not serve. */
function oneTicket(body: unknown, accountId: string): OrderRequest {
  const { orders } = parseWire(placeOrdersBodySchema, body);
  if (orders.length > 1)
    throw new IbkrError(400, 'Bad Request: one order per request (brackets and OCA groups are not served)');
  return ticketToOrder(orders[0] as (typeof orders)[number], accountId);
}

/** How IBKR names the contract in a question (`AAPL NASDAQ.NMS`). */
function symbolOf(order: OrderRequest | OrderView): string {
  const instrument = findInstrument(order.instrumentId);
  return instrument === undefined
    ? String(order.instrumentId)
    : `${instrument.symbol} ${instrument.exchange}`;
}
