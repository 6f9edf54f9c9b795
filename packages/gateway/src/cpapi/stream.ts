/**
 * @module cpapi/stream
 * The face's WebSocket, `/v1/api/ws`.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Clock, EventBus } from '../core/index.js';
import type { MarketData } from '../marketdata/index.js';
import type { TradingService } from '../trading/index.js';
import type { FaceState } from './kit.js';

export interface StreamRoutesDeps {
  face: FaceState;
  bus: EventBus;
  clock: Clock;
  trading: TradingService;
  marketData: MarketData;
  logger: Logger;
}

export async function streamRoutes(_app: FastifyInstance, _deps: StreamRoutesDeps): Promise<void> {}
