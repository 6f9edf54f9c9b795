/**
 * @module identity/routes
 * The operators' admin API for account roles: `PUT /v1/admin/accounts/{accountId}/roles/{username} {role}` gives a
 * role (replacing any earlier one), `DELETE` takes it away. Authenticated by `secrets.adminApiToken` (off when
 * unset); every change is audited.
 */
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Clock, EventBus } from '../core/index.js';
import { type Authenticator, clientInfo, parseWith } from '../http/index.js';
import type { Database } from '../store/index.js';
import { ACCOUNT_ROLES } from './accounts.js';
import { changeAccountRole } from './roles.js';

const params = z.strictObject({
  accountId: z.string().min(1).max(16),
  username: z.string().min(1).max(64),
});
const body = z.strictObject({ role: z.enum(ACCOUNT_ROLES) });

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

  app.put('/v1/admin/accounts/:accountId/roles/:username', { preHandler: operator }, async (request) => {
    const { accountId, username } = parseWith(params, request.params);
    const { role } = parseWith(body, request.body);
    return changeAccountRole(roles, {
      accountId,
      username,
      role,
      via: 'admin_api',
      ip: clientInfo(request).ip,
    });
  });

  app.delete('/v1/admin/accounts/:accountId/roles/:username', { preHandler: operator }, async (request) => {
    const { accountId, username } = parseWith(params, request.params);
    return changeAccountRole(roles, {
      accountId,
      username,
      role: null,
      via: 'admin_api',
      ip: clientInfo(request).ip,
    });
  });
}
