/**
 * @module login/routes
 * `POST /v1/auth/login` and `POST /v1/auth/login/{loginId}/factor`. Both are rate limited per client address
 * before any work is done; per-user backoff happens inside the login service.
 */
import type { FastifyInstance } from 'fastify';
import type { GatewayContext } from '../app/context.js';
import { GatehouseError } from '../core/index.js';
import { clientInfo, parseWith, setSessionCookie } from '../http/index.js';
import { csrfTokenFor, presentSession } from '../sessions/index.js';
import { factorRequestSchema, loginParamsSchema, loginRequestSchema } from './schema.js';
import { completeLoginFactor, startLogin } from './service.js';

export async function loginRoutes(app: FastifyInstance, ctx: GatewayContext): Promise<void> {
  const rateLimit = {
    max: ctx.config.login.ipRateLimitMax,
    timeWindow: ctx.config.login.ipRateLimitWindowMs,
    errorResponseBuilder: (_request: unknown, context: { ttl: number }) =>
      new GatehouseError('RATE_LIMITED', undefined, { retryAfterMs: context.ttl }),
  };

  app.post('/v1/auth/login', { config: { rateLimit } }, async (request) => {
    const body = parseWith(loginRequestSchema, request.body);
    return startLogin(ctx.login, body, clientInfo(request));
  });

  app.post('/v1/auth/login/:loginId/factor', { config: { rateLimit } }, async (request, reply) => {
    const { loginId } = parseWith(loginParamsSchema, request.params);
    const body = parseWith(factorRequestSchema, request.body);
    const { token, session } = await completeLoginFactor(ctx.login, loginId, body, clientInfo(request));
    setSessionCookie(request, reply, token, session.expiresAt - session.createdAt);
    return {
      status: 'authenticated',
      session: presentSession(session, session.id),
      csrfToken: csrfTokenFor(ctx.csrfKey, session.id),
    };
  });
}
