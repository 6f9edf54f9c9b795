/**
 * @module app/server
 * Assembles the Fastify application: parsers and limits, error mapping, security headers, health checks and
 * each capability's routes. One place, so the order of plugins is visible.
 */
import { readFileSync } from 'node:fs';
import cookie from '@fastify/cookie';
import rateLimit from '@fastify/rate-limit';
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import { installErrorHandling } from '../http/index.js';
import { loginRoutes } from '../login/index.js';
import { sessionRoutes } from '../sessions/index.js';
import type { GatewayContext } from './context.js';

/**
 * One log line per request, written when it completes, carrying the route pattern rather than the raw URL (a
 * login id travels in a path) and nothing from headers or bodies.
 */
class RequestLogController extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    const line = {
      method: request.method,
      route: request.routeOptions.url ?? '(unmatched)',
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
    };
    if (error) request.log.error({ ...line, err: error }, 'request failed');
    else request.log.info(line, 'request');
  }
}

export async function buildHttpApp(ctx: GatewayContext): Promise<FastifyInstance> {
  const { server } = ctx.config;
  const https =
    server.tlsCertFile !== undefined && server.tlsKeyFile !== undefined
      ? { cert: readFileSync(server.tlsCertFile), key: readFileSync(server.tlsKeyFile) }
      : null;
  const app = Fastify({
    loggerInstance: ctx.logger,
    logController: new RequestLogController(),
    bodyLimit: server.bodyLimitBytes,
    trustProxy: server.trustedProxies.length > 0 ? server.trustedProxies : false,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ...(https === null ? {} : { https }),
  }) as unknown as FastifyInstance;

  installErrorHandling(app);
  await app.register(cookie);
  await app.register(rateLimit, { global: false });

  app.addHook('onSend', async (request, reply) => {
    reply.header('x-content-type-options', 'nosniff');
    if (request.url.startsWith('/v1/')) reply.header('cache-control', 'no-store');
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    try {
      await ctx.store.ping();
      return { status: 'ready', database: ctx.store.dialect };
    } catch {
      return reply
        .status(503)
        .send({ error: { code: 'SERVICE_UNAVAILABLE', message: 'The database is not reachable.' } });
    }
  });

  await loginRoutes(app, ctx);
  await sessionRoutes(app, ctx);
  return app;
}
