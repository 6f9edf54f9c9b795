/**
 * @module safety/routes
 * `PUT /v1/safety/dead-man` (arm, re-arm, disarm), `GET /v1/safety/dead-man` (its state), and an account owner's
 * session-loss policy: `PUT /v1/accounts/{accountId}/session-loss-policy`.
 */
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import type { Clock } from '../core/index.js';
import { type Authenticator, parseWith, principalOf } from '../http/index.js';
import { requireSensitive } from '../sessions/index.js';
import type { Database } from '../store/index.js';
import type { SafetyService } from './index.js';
import { safetyOperations as ops } from './schema.js';

/** What these routes need of the gateway. */
export interface SafetyRoutesDeps {
  auth: Authenticator;
  clock: Clock;
  db: Kysely<Database>;
  safety: SafetyService;
}

export async function safetyRoutes(app: FastifyInstance, deps: SafetyRoutesDeps): Promise<void> {
  app.put(
    '/v1/safety/dead-man',
    deps.auth.forPrograms('trade', { operation: ops.armDeadMan }),
    async (request) => {
      const body = parseWith(ops.armDeadMan.body, request.body);
      return deps.safety.arm(principalOf(request), body);
    },
  );

  app.get(
    '/v1/safety/dead-man',
    deps.auth.forPrograms('read', { operation: ops.deadMan }),
    async (request) => {
      const query = parseWith(ops.deadMan.query, request.query);
      return deps.safety.state(principalOf(request), query.scope, query.accountId);
    },
  );

  app.put(
    '/v1/accounts/:accountId/session-loss-policy',
    deps.auth.forPeople({ operation: ops.sessionLossPolicy }),
    async (request) => {
      const { accountId } = parseWith(ops.sessionLossPolicy.params, request.params);
      const { policy } = parseWith(ops.sessionLossPolicy.body, request.body);
      const principal = principalOf(request);
      await requireSensitive(deps.db, deps.clock, principal);
      await deps.safety.setAccountPolicy(principal, accountId, policy);
      return { accountId, policy };
    },
  );
}
