/**
 * @module cpapi/routes/orders
 * Orders: place with questions and replies, suppress and reset, what-if, live orders, order status, modify,
 * cancel and trades.
 */
import type { FastifyInstance } from 'fastify';
import type { Clock } from '../../core/index.js';
import type { TradingService } from '../../trading/index.js';
import type { FaceState } from '../kit.js';

export interface OrderRoutesDeps {
  face: FaceState;
  trading: TradingService;
  clock: Clock;
}

export async function orderRoutes(_app: FastifyInstance, _deps: OrderRoutesDeps): Promise<void> {}
