/**
 * @module http/websocket-routes
 * A WebSocket route asked without an upgrade (a plain `GET /v1/stream`) answers a coded error, as every route does:
 * `@fastify/websocket` would answer an empty 404. The check runs as the route's last pre-handler, after the
 * route's own checks of its credentials, so a caller without them still learns that first.
 */
import type { FastifyInstance, FastifyRequest, preHandlerHookHandler } from 'fastify';
import { GatehouseError } from '../core/index.js';

/** Whether `request` asks to open a WebSocket (RFC 6455 §4.1: `Upgrade: websocket`). */
function isUpgrade(request: FastifyRequest): boolean {
  const upgrade = request.headers.upgrade;
  return typeof upgrade === 'string' && upgrade.toLowerCase() === 'websocket';
}

const refuseNonUpgrade: preHandlerHookHandler = (request, _reply, done) => {
  if (isUpgrade(request)) {
    done();
    return;
  }
  done(
    new GatehouseError(
      'INVALID_REQUEST',
      'This route is a WebSocket: open it with a GET that asks to upgrade (Upgrade: websocket).',
    ),
  );
};

/** Makes every WebSocket route registered on `app` from now on refuse requests that are not upgrades. */
export function refuseNonUpgrades(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    if (route.websocket !== true || route.method === 'HEAD') return;
    const preHandler = route.preHandler;
    route.preHandler = [
      ...(preHandler === undefined ? [] : Array.isArray(preHandler) ? preHandler : [preHandler]),
      refuseNonUpgrade,
    ];
  });
}
