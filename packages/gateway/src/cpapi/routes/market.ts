/**
 * @module cpapi/routes/market
 * Contracts and market data: `trsrv/stocks`, `trsrv/secdef`, `iserver/secdef/search`, `iserver/secdef/info`,
 * `iserver/contract/{conid}/info`, `iserver/marketdata/snapshot`, `iserver/marketdata/history`,
 * `iserver/marketdata/unsubscribe`.
 */
import type { FastifyInstance } from 'fastify';
import type { Clock } from '../../core/index.js';
import type { MarketData } from '../../marketdata/index.js';
import type { TradingService } from '../../trading/index.js';
import type { FaceState } from '../kit.js';

export interface MarketRoutesDeps {
  face: FaceState;
  trading: TradingService;
  marketData: MarketData;
  clock: Clock;
}

export async function marketRoutes(_app: FastifyInstance, _deps: MarketRoutesDeps): Promise<void> {}
