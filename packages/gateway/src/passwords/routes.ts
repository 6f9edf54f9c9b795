/**
 * @module passwords/routes
 * `POST /v1/password {currentPassword, newPassword, endOtherSessions?}`: a person changes their password
 * (`passwords/service`). People only: the route names no `apiScope`, so a program's token gets `API_NOT_ALLOWED`.
 * Limited per client address like the login routes, and every check of the current password is claimed under the
 * brute-force limits.
 */
import type { FastifyInstance } from 'fastify';
import type { GatewayContext } from '../app/context.js';
import { GatehouseError } from '../core/index.js';
import { clientInfo, parseWith, principalOf, requireSession, withRenewedToken } from '../http/index.js';
import { changePasswordSchema } from './schema.js';
import { changePassword, type PasswordDeps } from './service.js';

export async function passwordRoutes(app: FastifyInstance, ctx: GatewayContext): Promise<void> {
  const deps: PasswordDeps = {
    login: ctx.login,
    policy: ctx.passwordPolicy,
    initialLifetimeMs: ctx.config.password.initialLifetimeMs,
    oauth: ctx.oauth,
  };
  const rateLimit = {
    max: ctx.config.login.ipRateLimitMax,
    timeWindow: ctx.config.login.ipRateLimitWindowMs,
    errorResponseBuilder: (_request: unknown, context: { ttl: number }) =>
      new GatehouseError('RATE_LIMITED', undefined, { retryAfterMs: context.ttl }),
  };

  // Checking the current password re-authenticates: the session gets a new token, and the one this request carried
  // ends (ASVS 5.0 7.2.4), as after a step-up.
  app.post(
    '/v1/password',
    { preHandler: requireSession(ctx), config: { rateLimit } },
    async (request, reply) => {
      const principal = principalOf(request);
      const body = parseWith(changePasswordSchema, request.body);
      const changed = await changePassword(deps, principal, body, clientInfo(request));
      const token = await ctx.sessions.renewToken(principal.session);
      return withRenewedToken(request, reply, principal.session, token, ctx.clock.now(), changed);
    },
  );
}
