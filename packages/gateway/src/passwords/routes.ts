/**
 * @module passwords/routes
 * `POST /v1/password {currentPassword, newPassword, endOtherSessions?}`: a person changes their password
 * (`passwords/service`). People only: the route names no `apiScope`, so a program's token gets `API_NOT_ALLOWED`.
 * Limited per client address like the login routes, and every check of the current password is claimed under the
 * brute-force limits.
 */
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/index.js';
import { GatehouseError } from '../core/index.js';
import { type Authenticator, clientInfo, parseWith, principalOf, withRenewedToken } from '../http/index.js';
import { passwordOperations as ops } from './schema.js';
import { changePassword, type PasswordChangeDeps } from './service.js';

/** What these routes need of the gateway: a password change's parts, and the rate limit's settings. */
export interface PasswordRoutesDeps extends PasswordChangeDeps {
  auth: Authenticator;
  config: Pick<Config, 'login'>;
}

export async function passwordRoutes(app: FastifyInstance, deps: PasswordRoutesDeps): Promise<void> {
  const rateLimit = {
    max: deps.config.login.ipRateLimitMax,
    timeWindow: deps.config.login.ipRateLimitWindowMs,
    errorResponseBuilder: (_request: unknown, context: { ttl: number }) =>
      new GatehouseError('RATE_LIMITED', undefined, { retryAfterMs: context.ttl }),
  };

  // Checking the current password re-authenticates: the session gets a new token, and the one this request carried
  // ends (ASVS 5.0 7.2.4), as after a step-up.
  app.post(
    '/v1/password',
    deps.auth.forPeople({ rateLimit, operation: ops.change }),
    async (request, reply) => {
      const principal = principalOf(request);
      const body = parseWith(ops.change.body, request.body);
      const changed = await changePassword(deps, principal, body, clientInfo(request));
      const token = await deps.sessions.renewToken(principal.session);
      return withRenewedToken(request, reply, principal.session, token, deps.clock.now(), changed);
    },
  );
}
