/**
 * @module safety/routes
 * `PUT /v1/safety/dead-man` (arm, re-arm, disarm), `GET /v1/safety/dead-man` (its state), and an account owner's
 * session-loss policy: `PUT /v1/accounts/{accountId}/session-loss-policy`.
 */
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Clock } from '../core/index.js';
import { type Authenticator, parseWith, principalOf } from '../http/index.js';
import { requireSensitive } from '../sessions/index.js';
import type { Database } from '../store/index.js';
import type { SafetyService } from './index.js';
import { DEAD_MAN_MAX_MS, DEAD_MAN_MIN_MS } from './service.js';

const deadManBody = z
  .strictObject({
    timeoutMs: z
      .number()
      .int()
      .refine((n) => n === 0 || (n >= DEAD_MAN_MIN_MS && n <= DEAD_MAN_MAX_MS), {
        message: `0 (disarm) or ${DEAD_MAN_MIN_MS}–${DEAD_MAN_MAX_MS} ms`,
      }),
    scope: z.enum(['session', 'account']),
    accountId: z.string().min(1).max(16).optional(),
    excludeGtc: z.boolean().optional(),
  })
  .refine((b) => b.scope !== 'account' || b.accountId !== undefined, {
    message: 'scope "account" needs accountId',
    path: ['accountId'],
  });

const deadManQuery = z.strictObject({
  scope: z.enum(['session', 'account']).default('session'),
  accountId: z.string().min(1).max(16).optional(),
});

const policyBody = z.strictObject({ policy: z.enum(['none', 'cancel_day', 'cancel_all']) });
const accountParams = z.strictObject({ accountId: z.string().min(1).max(16) });

/** What these routes need of the gateway. */
export interface SafetyRoutesDeps {
  auth: Authenticator;
  clock: Clock;
  db: Kysely<Database>;
  safety: SafetyService;
}

export async function safetyRoutes(app: FastifyInstance, deps: SafetyRoutesDeps): Promise<void> {
  app.put('/v1/safety/dead-man', deps.auth.forPrograms('trade'), async (request) => {
    const body = parseWith(deadManBody, request.body);
    return deps.safety.arm(principalOf(request), body);
  });

  app.get('/v1/safety/dead-man', deps.auth.forPrograms('read'), async (request) => {
    const query = parseWith(deadManQuery, request.query);
    return deps.safety.state(principalOf(request), query.scope, query.accountId);
  });

  app.put(
    '/v1/accounts/:accountId/session-loss-policy',
    { preHandler: deps.auth.session },
    async (request) => {
      const { accountId } = parseWith(accountParams, request.params);
      const { policy } = parseWith(policyBody, request.body);
      const principal = principalOf(request);
      await requireSensitive(deps.db, deps.clock, principal);
      await deps.safety.setAccountPolicy(principal, accountId, policy);
      return { accountId, policy };
    },
  );
}
