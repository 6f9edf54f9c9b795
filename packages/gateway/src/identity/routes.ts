/**
 * @module identity/routes
 * The operators' admin API for account roles: `PUT /v1/admin/accounts/{accountId}/roles/{username} {role}` gives a
 * role (replacing any earlier one), `DELETE` takes it away. Authenticated by `secrets.adminApiToken` (off when
 * unset); every change is audited.
 */
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import type { Clock, EventBus } from '../core/index.js';
import { type Authenticator, clientInfo, parseWith } from '../http/index.js';
import type { Database } from '../store/index.js';
import { changeAccountRole } from './roles.js';
import { accountRoleOperations as ops } from './schema.js';

/** What these routes need of the gateway. */
export interface AccountRoleRoutesDeps {
  auth: Authenticator;
  bus: EventBus;
  clock: Clock;
  db: Kysely<Database>;
}

export async function accountRoleRoutes(app: FastifyInstance, deps: AccountRoleRoutesDeps): Promise<void> {
  const operator = deps.auth.operator;
  if (operator === undefined) return;
  const roles = { db: deps.db, clock: deps.clock, bus: deps.bus };

  const give = { preHandler: operator, config: { operation: ops.give } };
  app.put('/v1/admin/accounts/:accountId/roles/:username', give, async (request) => {
    const { accountId, username } = parseWith(ops.give.params, request.params);
    const { role } = parseWith(ops.give.body, request.body);
    return changeAccountRole(roles, {
      accountId,
      username,
      role,
      via: 'admin_api',
      ip: clientInfo(request).ip,
    });
  });

  const take = { preHandler: operator, config: { operation: ops.take } };
  app.delete('/v1/admin/accounts/:accountId/roles/:username', take, async (request) => {
    const { accountId, username } = parseWith(ops.take.params, request.params);
    return changeAccountRole(roles, {
      accountId,
      username,
      role: null,
      via: 'admin_api',
      ip: clientInfo(request).ip,
    });
  });
}
