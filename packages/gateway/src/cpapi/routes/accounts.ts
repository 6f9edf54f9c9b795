/**
 * @module cpapi/routes/accounts
 * Accounts and portfolio: `iserver/accounts`, `iserver/account` (switch), `portfolio/accounts`,
 * `portfolio/subaccounts`, `portfolio/{acct}/meta`, `summary`, `ledger`, `positions/{page}`, `position/{conid}`,
 * `iserver/account/pnl/partitioned`.
 */
import type { FastifyInstance } from 'fastify';
import type { Clock } from '../../core/index.js';
import type { TradingService } from '../../trading/index.js';
import type { FaceState } from '../kit.js';

export interface AccountRoutesDeps {
  face: FaceState;
  trading: TradingService;
  clock: Clock;
}

export async function accountRoutes(_app: FastifyInstance, _deps: AccountRoutesDeps): Promise<void> {}
