/**
 * @module readiness/routes
 * `GET /v1/readiness`, `GET`/`PUT /v1/watchlist` and `POST /v1/accounts/{accountId}/entity-review`: for people's
 * sessions (a program's token is `API_NOT_ALLOWED`); the checklist is about the person's own access.
 */
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import type { Clock } from '../core/index.js';
import { type Authenticator, parseWith, principalOf } from '../http/index.js';
import type { Database } from '../store/index.js';
import type { TradingService } from '../trading/index.js';
import { readinessOperations as ops } from './schema.js';
import { getWatchlist, readinessOf, reviewEntity, setWatchlist } from './service.js';

/** What these routes need of the gateway. */
export interface ReadinessRoutesDeps {
  auth: Authenticator;
  clock: Clock;
  db: Kysely<Database>;
  trading: TradingService;
}

export async function readinessRoutes(app: FastifyInstance, deps: ReadinessRoutesDeps): Promise<void> {
  app.get('/v1/readiness', deps.auth.forPeople({ operation: ops.readiness }), async (request) =>
    readinessOf(deps, principalOf(request)),
  );

  app.get('/v1/watchlist', deps.auth.forPeople({ operation: ops.watchlist }), async (request) =>
    getWatchlist(deps.db, principalOf(request)),
  );

  app.put('/v1/watchlist', deps.auth.forPeople({ operation: ops.setWatchlist }), async (request) => {
    const { instrumentIds } = parseWith(ops.setWatchlist.body, request.body);
    return setWatchlist(deps.db, principalOf(request), instrumentIds);
  });

  app.post(
    '/v1/accounts/:accountId/entity-review',
    deps.auth.forPeople({ operation: ops.entityReview }),
    async (request) => {
      const { accountId } = parseWith(ops.entityReview.params, request.params);
      parseWith(ops.entityReview.body, request.body ?? {});
      return reviewEntity(deps, principalOf(request), accountId);
    },
  );
}
