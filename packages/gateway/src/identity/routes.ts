/**
 * @module identity/routes
 * The operators' admin API for account roles: `PUT /v1/admin/accounts/{accountId}/roles/{username} {role}` gives a
 * role (replacing any earlier one), `DELETE` takes it away. Authenticated by `secrets.adminApiToken` (off when
 * unset); every change is audited.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { GatewayContext } from '../app/context.js';
import { clientInfo, parseWith, requireOperator } from '../http/index.js';
import { ACCOUNT_ROLES } from './accounts.js';
import { changeAccountRole } from './roles.js';

const params = z.strictObject({
  accountId: z.string().min(1).max(16),
  username: z.string().min(1).max(64),
});
const body = z.strictObject({ role: z.enum(ACCOUNT_ROLES) });

export async function accountRoleRoutes(app: FastifyInstance, ctx: GatewayContext): Promise<void> {
  const operator = requireOperator(ctx);
  if (operator === undefined) return;
  const deps = { db: ctx.store.db, clock: ctx.clock, bus: ctx.bus };

  app.put('/v1/admin/accounts/:accountId/roles/:username', { preHandler: operator }, async (request) => {
    const { accountId, username } = parseWith(params, request.params);
    const { role } = parseWith(body, request.body);
    return changeAccountRole(deps, {
      accountId,
      username,
      role,
      via: 'admin_api',
      ip: clientInfo(request).ip,
    });
  });

  app.delete('/v1/admin/accounts/:accountId/roles/:username', { preHandler: operator }, async (request) => {
    const { accountId, username } = parseWith(params, request.params);
    return changeAccountRole(deps, {
      accountId,
      username,
      role: null,
      via: 'admin_api',
      ip: clientInfo(request).ip,
    });
  });
}
