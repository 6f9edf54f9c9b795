/**
 * @module ws/login-stream
 * `/v1/auth/login/{loginId}/stream`: the login screen's live view of a pending push. Possession of the login id
 * authenticates it (checked before the upgrade, as for the long-poll). It sends `login_state` messages whenever
 * the push is created, delivered, approved, denied or expires, and `fallback` once no device acknowledged
 * delivery in time. Cookies cannot be set over a WebSocket, so on `approved` the page calls
 * `GET /v1/auth/login/{loginId}` once to receive its session.
 */
import type {} from '@fastify/websocket';
import type { FastifyInstance } from 'fastify';
import type { GatewayContext } from '../app/context.js';
import { availableFactorTypes } from '../factors/index.js';
import { latestPushForLogin } from '../factors/push.js';
import { clientInfo, parseWith } from '../http/index.js';
import { findOpenLogin, type OpenLogin } from '../login/index.js';
import { loginParamsSchema } from '../login/schema.js';

/** How often the stream re-reads the push while nothing else wakes it (to notice expiry and missed delivery). */
const RECHECK_MS = 1_000;

export async function loginStreamRoutes(app: FastifyInstance, ctx: GatewayContext): Promise<void> {
  const { db } = ctx.store;
  app.get(
    '/v1/auth/login/:loginId/stream',
    {
      websocket: true,
      preValidation: async (request) => {
        const { loginId } = parseWith(loginParamsSchema, request.params);
        (request as unknown as { login: OpenLogin }).login = await findOpenLogin(
          ctx.login,
          loginId,
          clientInfo(request),
        );
      },
    },
    (socket, request) => {
      const login = (request as unknown as { login: OpenLogin }).login;
      let last = '';
      let fallbackSent = false;
      const refresh = async () => {
        const push = await latestPushForLogin(db, ctx.clock, login.id);
        if (push === undefined) return;
        const delivered = push.deliveredAt !== null;
        const state = JSON.stringify({
          type: 'login_state',
          challengeId: push.id,
          status: push.status,
          delivered,
        });
        if (state !== last) {
          last = state;
          socket.send(state);
        }
        const late = ctx.clock.now() >= push.createdAt + ctx.config.push.deliveryTimeoutMs;
        if (push.status === 'pending' && !delivered && late && !fallbackSent) {
          fallbackSent = true;
          const factors = (await availableFactorTypes(db, login.user_id)).filter((t) => t !== 'push');
          socket.send(
            JSON.stringify({
              type: 'fallback',
              challengeId: push.id,
              factors: factors.map((type) => ({ type })),
            }),
          );
        }
      };
      const run = () => {
        refresh().catch((error: unknown) => request.log.error({ err: error }, 'login stream refresh failed'));
      };
      const unsubscribe = ctx.bus.subscribe('push.updated', (message) => {
        if (message.loginId === undefined || message.loginId === login.id) run();
      });
      const timer = setInterval(run, RECHECK_MS);
      timer.unref();
      socket.once('close', () => {
        clearInterval(timer);
        unsubscribe();
      });
      socket.send(JSON.stringify({ type: 'ready' }));
      run();
    },
  );
}
