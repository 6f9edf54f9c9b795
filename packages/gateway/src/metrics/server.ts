/**
 * @module metrics/server
 * The metrics listener: `GET /metrics` on an address of its own (`metrics.listen`, `127.0.0.1:9464` by default),
 * as Prometheus scrapes a separate port, never on the public listener. Metrics name no user, but they show who is
 * trading and how logins fail, so they stay off the internet: loopback by default, and a bearer token
 * (`metrics.bearerToken`) for when the port must be reachable from elsewhere.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { isLoopbackHost, parseListenAddress } from '../config/index.js';
import { constantTimeEqual, GatehouseError, sha256, toEnvelope } from '../core/index.js';
import type { GatewayMetrics } from './registry.js';

export interface MetricsServerOptions {
  metrics: GatewayMetrics;
  /** The token scrapes must present; undefined: none (the listener's address is the control). */
  bearerToken: string | undefined;
}

/** The metrics listener's app (not yet listening). */
export async function buildMetricsApp(options: MetricsServerOptions): Promise<FastifyInstance> {
  // No request logging: a scrape every few seconds is not an event; start and failure are logged by the caller.
  const app = Fastify({ logger: false });
  const expected = options.bearerToken === undefined ? undefined : sha256(options.bearerToken);
  app.setNotFoundHandler((_request, reply) => {
    const error = new GatehouseError('NOT_FOUND');
    return reply.status(error.status).send(toEnvelope(error));
  });
  app.get('/metrics', async (request, reply) => {
    if (expected !== undefined) {
      const header = request.headers.authorization;
      const presented = header?.startsWith('Bearer ') === true ? header.slice(7).trim() : undefined;
      if (presented === undefined || !constantTimeEqual(sha256(presented), expected)) {
        const error = new GatehouseError('UNAUTHENTICATED');
        return reply.status(error.status).header('www-authenticate', 'Bearer').send(toEnvelope(error));
      }
    }
    reply.header('cache-control', 'no-store').type(options.metrics.registry.contentType);
    return options.metrics.registry.metrics();
  });
  return app;
}

/**
 * Starts the metrics listener on `metrics.listen`; resolves to its URL, or null when it could not bind. A taken
 * port is logged as an error naming the setting and the gateway serves on: metrics are for operators, and a
 * trading gateway that refuses to start over its scrape port would trade availability for them (Prometheus reports
 * the target down, which is alerted on).
 */
export async function listenForMetrics(
  app: FastifyInstance,
  settings: { listen: string; bearerToken?: string | undefined },
  logger: Logger,
): Promise<string | null> {
  const address = parseListenAddress(settings.listen);
  if (address === null || address === undefined) return null;
  if (!isLoopbackHost(address.host) && settings.bearerToken === undefined) {
    logger.warn(
      { listen: settings.listen },
      'the metrics listener is reachable beyond loopback without metrics.bearerToken: anyone who reaches it reads the metrics',
    );
  }
  try {
    const url = await app.listen({ host: address.host, port: address.port });
    logger.info({ url: `${url}/metrics` }, 'metrics listener started');
    return url;
  } catch (error) {
    logger.error(
      { err: error, listen: settings.listen },
      'the metrics listener could not start (metrics.listen); metrics are not served',
    );
    return null;
  }
}
