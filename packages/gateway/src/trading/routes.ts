/**
 * @module trading/routes
 * The catalogue, market-data snapshots, order entry (place, confirm, cancel, modify, list, get), the account's
 * positions and cash, and its event log (`GET …/events?after=<seq>`).
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { type Authenticator, clientInfo, parseWith, principalOf } from '../http/index.js';
import { ASSET_CLASSES, requireInstruments, searchInstruments } from '../instruments/index.js';
import type { MarketData } from '../marketdata/index.js';
import { ORDER_TYPES } from './gate.js';
import type { TradingService } from './index.js';
import type { ModifyResult, PlaceResult } from './service.js';

const price = z.number().positive().finite();

export const orderRequestSchema = z.strictObject({
  clientOrderId: z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/),
  instrumentId: z.number().int().positive(),
  side: z.enum(['BUY', 'SELL']),
  type: z.enum(ORDER_TYPES),
  quantity: z.number().finite(),
  limitPrice: price.optional(),
  stopPrice: price.optional(),
  tif: z.enum(['DAY', 'GTC', 'IOC']),
});

const accountParams = z.strictObject({ accountId: z.string().min(1).max(16) });
const orderParams = accountParams.extend({ orderId: z.string().min(1).max(64) });
const confirmationParams = accountParams.extend({ confirmationId: z.string().min(1).max(64) });
const confirmationBody = z.strictObject({ confirmed: z.literal(true) });
const modifyBody = z
  .strictObject({
    quantity: z.number().finite().optional(),
    limitPrice: price.optional(),
    stopPrice: price.optional(),
  })
  .refine((v) => Object.keys(v).length > 0, 'quantity, limitPrice or stopPrice is required');
const listQuery = z.strictObject({
  status: z.enum(['open', 'filled', 'cancelled', 'expired']).optional(),
  /** Look an order up by the client's own id (reconciliation after a lost response). */
  clientOrderId: z.string().min(1).max(64).optional(),
  scope: z.enum(['today', 'all']).optional(),
});
const eventsQuery = z.strictObject({
  after: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(1_000).default(500),
});
const instrumentsQuery = z.strictObject({
  symbol: z.string().min(1).max(32).optional(),
  assetClass: z.enum(ASSET_CLASSES).optional(),
});
const snapshotQuery = z.strictObject({
  instruments: z
    .string()
    .regex(/^\d+(,\d+){0,99}$/, 'a comma-separated list of up to 100 instrument ids')
    .transform((s) => s.split(',').map(Number)),
  accountId: z.string().min(1).max(16).optional(),
});

/** What these routes need of the gateway. */
export interface TradingRoutesDeps {
  auth: Authenticator;
  marketData: MarketData;
  trading: TradingService;
}

export async function tradingRoutes(app: FastifyInstance, deps: TradingRoutesDeps): Promise<void> {
  const { trading } = deps;

  app.get('/v1/instruments', deps.auth.forPrograms('read'), async (request) => {
    const query = parseWith(instrumentsQuery, request.query);
    return {
      instruments: searchInstruments(query).map(({ basePrice: _b, volatility: _v, ...rest }) => rest),
    };
  });

  app.get('/v1/marketdata/snapshot', deps.auth.forPrograms('marketdata'), async (request) => {
    const query = parseWith(snapshotQuery, request.query);
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

  app.post('/v1/accounts/:accountId/orders', deps.auth.forPrograms('trade'), async (request, reply) => {
    const { accountId } = parseWith(accountParams, request.params);
    const order = parseWith(orderRequestSchema, request.body);
    return answer(reply, await trading.place(principalOf(request), accountId, order));
  });

  app.post(
    '/v1/accounts/:accountId/orders/confirmations/:confirmationId',
    deps.auth.forPrograms('trade'),
    async (request, reply) => {
      const { accountId, confirmationId } = parseWith(confirmationParams, request.params);
      parseWith(confirmationBody, request.body);
      return answer(reply, await trading.confirm(principalOf(request), accountId, confirmationId));
    },
  );

  app.get('/v1/accounts/:accountId/orders', deps.auth.forPrograms('read'), async (request) => {
    const { accountId } = parseWith(accountParams, request.params);
    const query = parseWith(listQuery, request.query);
    return {
      orders: await trading.list(principalOf(request), accountId, {
        ...(query.status === undefined ? {} : { status: query.status }),
        ...(query.clientOrderId === undefined ? {} : { clientOrderId: query.clientOrderId }),
        today: query.scope === 'today',
      }),
    };
  });

  app.get('/v1/accounts/:accountId/orders/:orderId', deps.auth.forPrograms('read'), async (request) => {
    const { accountId, orderId } = parseWith(orderParams, request.params);
    return trading.get(principalOf(request), accountId, orderId);
  });

  app.delete('/v1/accounts/:accountId/orders/:orderId', deps.auth.forPrograms('trade'), async (request) => {
    const { accountId, orderId } = parseWith(orderParams, request.params);
    return trading.cancelOrder(principalOf(request), accountId, orderId);
  });

  app.patch(
    '/v1/accounts/:accountId/orders/:orderId',
    deps.auth.forPrograms('trade'),
    async (request, reply) => {
      const { accountId, orderId } = parseWith(orderParams, request.params);
      const change = parseWith(modifyBody, request.body);
      return answer(reply, await trading.modifyOrder(principalOf(request), accountId, orderId, change));
    },
  );

  app.get('/v1/accounts/:accountId/portfolio', deps.auth.forPrograms('read'), async (request) => {
    const { accountId } = parseWith(accountParams, request.params);
    return trading.summary(principalOf(request), accountId);
  });

  app.get('/v1/accounts/:accountId/events', deps.auth.forPrograms('read'), async (request) => {
    const { accountId } = parseWith(accountParams, request.params);
    const { after, limit } = parseWith(eventsQuery, request.query);
    return { accountId, events: await trading.events(principalOf(request), accountId, after, limit) };
  });

  // An operator cancels an order without a session (the admin API, `secrets.adminApiToken`); audited.
  const operator = deps.auth.operator;
  if (operator === undefined) return;
  app.delete('/v1/admin/accounts/:accountId/orders/:orderId', { preHandler: operator }, async (request) => {
    const { accountId, orderId } = parseWith(orderParams, request.params);
    return trading.cancelByOperator(accountId, orderId, clientInfo(request).ip);
  });
}
