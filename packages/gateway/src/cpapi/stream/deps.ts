/**
 * @module cpapi/stream/deps
 * What the face's WebSocket needs of its listener and of the gateway.
 */
import type { Logger } from 'pino';
import type { Clock, EventBus } from '../../core/index.js';
import type { MarketData } from '../../marketdata/index.js';
import type { TradingService } from '../../trading/index.js';
import type { FaceState } from '../kit.js';

export interface StreamRoutesDeps {
  face: FaceState;
  bus: EventBus;
  clock: Clock;
  trading: TradingService;
  marketData: MarketData;
  logger: Logger;
  /**
   * The heartbeat's real-time cadence in ms; default 10 000, IBKR's (research §6). Only tests set it, to see
   * heartbeats without waiting 10 s.
   */
  heartbeatMs?: number;
}
