/**
 * @module trading/routes
 * The catalogue, market-data snapshots, order entry (place, what-if, confirm, cancel, modify, list, get), the
 * account's positions and cash, and its event log (`GET …/events?after=<seq>`).
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { type FaultProbe, noFaults } from '../core/index.js';
import { type Authenticator, clientInfo, parseWith, principalOf } from '../http/index.js';
import { findInstrument, requireInstruments, searchInstruments } from '../instruments/index.js';
import type { MarketData } from '../marketdata/index.js';
import type { Principal } from '../sessions/index.js';
import { faultSubject } from './desk.js';
import type { TradingService } from './index.js';
import { presentWhatIf } from './preview.js';
import { tradingOperations as ops } from './schema.js';
import type { ModifyResult, PlaceResult } from './service.js';

/** What these routes need of the gateway. */
export interface TradingRoutesDeps {
  auth: Authenticator;
  marketData: MarketData;
  trading: TradingService;
  /** The failure sandbox's probe (`order.response_lost`); none when absent. */
  faults?: FaultProbe;
}

export async function tradingRoutes(app: FastifyInstance, deps: TradingRoutesDeps): Promise<void> {
  const { trading } = deps;

  app.get(
    '/v1/instruments',
    deps.auth.forPrograms('read', { operation: ops.instruments }),
    async (request) => {
      const query = parseWith(ops.instruments.query, request.query);
      return {
        instruments: searchInstruments(query).map(({ basePrice: _b, volatility: _v, ...rest }) => rest),
      };
    },
  );

  app.get(
    '/v1/accounts/:accountId/instruments/:instrumentId/availability',
    deps.auth.forPrograms('read', { operation: ops.availability }),
    async (request) => {
      const { accountId, instrumentId } = parseWith(ops.availability.params, request.params);
      return trading.availability(principalOf(request), accountId, instrumentId);
    },
  );

  const snapshot = deps.auth.forPrograms('marketdata', { operation: ops.snapshot });
  app.get('/v1/marketdata/snapshot', snapshot, async (request) => {
    const query = parseWith(ops.snapshot.query, request.query);
    const { accountId, subscriptions } = await trading.marketDataView(principalOf(request), query.accountId);
    const quotes = requireInstruments(query.instruments).map((i) => deps.marketData.view(i, subscriptions));
    return { accountId, quotes };
  });

  // 201 for a new order, 200 for an existing or changed one, 409 with the questions to answer first.
  const answer = (reply: { code: (n: number) => unknown }, result: PlaceResult | ModifyResult) => {
    if (result.status === 'confirmation_required') {
      reply.code(409);
      return { confirmationId: result.confirmationId, questions: result.questions };
    }
    reply.code(result.status === 'accepted' ? 201 : 200);
    return result.order;
  };

  // The sandbox's `order.response_lost`: the order is committed (accepted, journalled, announced) and then the
  // connection drops before the answer, as a network cut after the server's commit would. The client finds the
  // order by its clientOrderId, and placing it again returns it (research/broker-sessions.md §6: never retry a
  // placement blindly; reconcile).
  const faults = deps.faults ?? noFaults;
  const lost = (
    reply: FastifyReply,
    principal: Principal,
    accountId: string,
    result: PlaceResult | ModifyResult,
  ) => {
    if (!faults.armed || result.status !== 'accepted') return false;
    const instrument = findInstrument(result.order.instrumentId);
    if (faults.take('order.response_lost', faultSubject(principal, accountId, instrument)) === undefined)
      return false;
    reply.hijack();
    reply.raw.destroy();
    return true;
  };

  const place = deps.auth.forPrograms('trade', { operation: ops.place });
  app.post('/v1/accounts/:accountId/orders', place, async (request, reply) => {
    const { accountId } = parseWith(ops.place.params, request.params);
    const order = parseWith(ops.place.body, request.body);
    const principal = principalOf(request);
    const result = await trading.place(principal, accountId, order);
    if (lost(reply, principal, accountId, result)) return reply;
    return answer(reply, result);
  });

  // The gate's verdict on an order without placing it; the request's own errors answer as placing's do.
  const whatIf = deps.auth.forPrograms('trade', { operation: ops.whatIf });
  app.post('/v1/accounts/:accountId/orders/what-if', whatIf, async (request) => {
    const { accountId } = parseWith(ops.whatIf.params, request.params);
    const order = parseWith(ops.whatIf.body, request.body);
    return presentWhatIf(await trading.preview(principalOf(request), accountId, order));
  });

  app.post(
    '/v1/accounts/:accountId/orders/confirmations/:confirmationId',
    deps.auth.forPrograms('trade', { operation: ops.confirm }),
    async (request, reply) => {
      const { accountId, confirmationId } = parseWith(ops.confirm.params, request.params);
      parseWith(ops.confirm.body, request.body);
      const principal = principalOf(request);
      const result = await trading.confirm(principal, accountId, confirmationId);
      if (lost(reply, principal, accountId, result)) return reply;
      return answer(reply, result);
    },
  );

  app.get(
    '/v1/accounts/:accountId/orders',
    deps.auth.forPrograms('read', { operation: ops.list }),
    async (request) => {
      const { accountId } = parseWith(ops.list.params, request.params);
      const query = parseWith(ops.list.query, request.query);
      return {
        orders: await trading.list(principalOf(request), accountId, {
          ...(query.status === undefined ? {} : { status: query.status }),
          ...(query.clientOrderId === undefined ? {} : { clientOrderId: query.clientOrderId }),
          today: query.scope === 'today',
        }),
      };
    },
  );

  const get = deps.auth.forPrograms('read', { operation: ops.get });
  app.get('/v1/accounts/:accountId/orders/:orderId', get, async (request) => {
    const { accountId, orderId } = parseWith(ops.get.params, request.params);
    return trading.get(principalOf(request), accountId, orderId);
  });

  const cancel = deps.auth.forPrograms('trade', { operation: ops.cancel });
  app.delete('/v1/accounts/:accountId/orders/:orderId', cancel, async (request) => {
    const { accountId, orderId } = parseWith(ops.cancel.params, request.params);
    return trading.cancelOrder(principalOf(request), accountId, orderId);
  });

  app.patch(
    '/v1/accounts/:accountId/orders/:orderId',
    deps.auth.forPrograms('trade', { operation: ops.modify }),
    async (request, reply) => {
      const { accountId, orderId } = parseWith(ops.modify.params, request.params);
      const change = parseWith(ops.modify.body, request.body);
      return answer(reply, await trading.modifyOrder(principalOf(request), accountId, orderId, change));
    },
  );

  const portfolio = deps.auth.forPrograms('read', { operation: ops.portfolio });
  app.get('/v1/accounts/:accountId/portfolio', portfolio, async (request) => {
    const { accountId } = parseWith(ops.portfolio.params, request.params);
    return trading.summary(principalOf(request), accountId);
  });

  const events = deps.auth.forPrograms('read', { operation: ops.events });
  app.get('/v1/accounts/:accountId/events', events, async (request) => {
    const { accountId } = parseWith(ops.events.params, request.params);
    const { after, limit } = parseWith(ops.events.query, request.query);
    return { accountId, events: await trading.events(principalOf(request), accountId, after, limit) };
  });

  // An operator cancels an order without a session (the admin API, `secrets.adminApiToken`); audited.
  const operator = deps.auth.operator;
  if (operator === undefined) return;
  const operatorCancel = { preHandler: operator, config: { operation: ops.operatorCancel } };
  app.delete('/v1/admin/accounts/:accountId/orders/:orderId', operatorCancel, async (request) => {
    const { accountId, orderId } = parseWith(ops.operatorCancel.params, request.params);
    return trading.cancelByOperator(accountId, orderId, clientInfo(request).ip);
  });

  // Trading again on this node after it halted (a full disk, a read-only database), once writes succeed.
  const resume = { preHandler: operator, config: { operation: ops.resume } };
  app.post('/v1/admin/trading/resume', resume, async (request) => ({
    status: 'running' as const,
    ...(await trading.resume(clientInfo(request).ip)),
  }));
}
