/**
 * @module ws/login-stream
 * `/v1/auth/login/{loginId}/stream`: the login screen's live view of a pending push. Possession of the login id
 * authenticates it (checked before the upgrade, as for the long-poll). It sends `login_state` messages whenever
 * the push is created, delivered, approved, denied, cancelled, answered with a wrong number or expires, and `fallback` once no device acknowledged
 * delivery in time. Cookies cannot be set over a WebSocket, so on `approved` the page calls
 * `GET /v1/auth/login/{loginId}` once to receive its session.
 */
import type {} from '@fastify/websocket';
import { loginParamsSchema, loginStreamMessageSchema } from '@gatehouse/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { EventBus } from '../core/index.js';
import { availableFactorTypes } from '../factors/index.js';
import { latestPushForLogin } from '../factors/push.js';
import { clientInfo, operation, parseWith } from '../http/index.js';
import { findOpenLogin, type LoginLimits, type LoginTransactions, type OpenLogin } from '../login/index.js';

/** What the stream needs: the parts of `findOpenLogin` (the upgrade's check), the bus and the push timeout. */
export interface LoginStreamDeps extends LoginLimits, LoginTransactions {
  bus: EventBus;
  /** How long a push may go undelivered before the other factors are offered (`push.deliveryTimeoutMs`). */
  pushDeliveryTimeoutMs: number;
}

const loginStream = operation({
  tag: 'login',
  summary: 'Follow a pending push (WebSocket)',
  description:
    'The login screen’s live view of its push: `login_state` whenever the push is created, delivered, approved, ' +
    'denied or expires, and `fallback` once no device acknowledged delivery in time. Possession of the login id ' +
    'authenticates it. Cookies cannot be set over a WebSocket: on `approved`, call `GET /v1/auth/login/{loginId}` ' +
    'once to receive the session.',
  params: loginParamsSchema,
  responses: { 101: { description: 'Switching Protocols: the stream is open.' } },
  messages: { receive: loginStreamMessageSchema },
});

/** How often the stream re-reads the push while nothing else wakes it (to notice expiry and missed delivery). */
const RECHECK_MS = 1_000;

export async function loginStreamRoutes(app: FastifyInstance, deps: LoginStreamDeps): Promise<void> {
  const { db, clock, bus } = deps;
  /** The login each upgrade found open, from the upgrade's check to its socket. */
  const logins = new WeakMap<FastifyRequest, OpenLogin>();
  app.get(
    '/v1/auth/login/:loginId/stream',
    {
      websocket: true,
      config: { operation: loginStream },
      preValidation: async (request) => {
        const { loginId } = parseWith(loginStream.params, request.params);
        logins.set(request, await findOpenLogin(deps, loginId, clientInfo(request)));
      },
    },
    (socket, request) => {
      const login = logins.get(request);
      if (login === undefined) {
        socket.close(1011, 'INTERNAL');
        return;
      }
      let last = '';
      let fallbackSent = false;
      const refresh = async () => {
        const push = await latestPushForLogin(db, clock, login.id);
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
        const late = clock.now() >= push.createdAt + deps.pushDeliveryTimeoutMs;
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
      const unsubscribe = bus.subscribe('push.updated', (message) => {
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
