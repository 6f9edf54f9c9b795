/**
 * @module ws/session-stream-route
 * `GET /v1/stream`, the upgrade to a session's live channel (ws/session-stream.ts): authenticated before the socket
 * opens by the same authenticator as every HTTP route (a cookie session with an allowed `Origin`, a mobile or
 * desktop bearer token with its device proof, or a program's DPoP-bound token with scope `read`), with the
 * optional `resumeAfter` query naming the last event sequence the client holds per account.
 */
import type {} from '@fastify/websocket';
import { streamMessageSchema, streamRequestSchema, streamUpgradeQuerySchema } from '@gatehouse/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GatehouseError } from '../core/index.js';
import { type Authenticator, operation, principalOf } from '../http/index.js';
import { SessionStream, type SessionStreamDeps } from './session-stream.js';
import { SessionStreamHub } from './stream-hub.js';

type ResumePoint = { accountId: string; after: number };

export interface SessionStreamRouteDeps extends SessionStreamDeps {
  auth: Authenticator;
}

const sessionStream = operation({
  tag: 'streams',
  summary: 'A session’s live channel (WebSocket)',
  description:
    'Topic `session`: the state changes a client must react to (`competing`, `brokerage_acquired`, ' +
    '`brokerage_released`, ' +
    '`step_up_required`, `expiring`, `expired`, `reset`, `revoked`, `token_replaced`) and a heartbeat every 10 s. ' +
    'Topic `orders`: the events of the user’s accounts, gap-free per account (`eventSeq`); `resumeAfter` or ' +
    '`{"op":"resume"}` replays what was missed. Topic `marketdata`: quotes after `{"op":"subscribe"}`. Closes with ' +
    '4001 (revoked), 4002 (expired) or 4003 (the session’s token was replaced: reconnect with the new one). A cookie ' +
    'session needs an allowed `Origin` instead of a CSRF token; programs need scope `read` (`marketdata` to ' +
    'subscribe to quotes).',
  query: streamUpgradeQuerySchema,
  upgradeScope: 'read',
  responses: { 101: { description: 'Switching Protocols: the stream is open.' } },
  messages: { send: streamRequestSchema, receive: streamMessageSchema },
});

export async function sessionStreamRoutes(app: FastifyInstance, deps: SessionStreamRouteDeps): Promise<void> {
  const { auth, ...streamDeps } = deps;
  const hub = new SessionStreamHub(streamDeps);
  app.addHook('onClose', async () => hub.close());
  /** Where each upgrade asked to resume, from the upgrade's check to its socket. */
  const resumes = new WeakMap<FastifyRequest, ResumePoint[]>();
  app.get(
    '/v1/stream',
    {
      websocket: true,
      config: { operation: sessionStream },
      preValidation: async (request) => {
        const parsed = sessionStream.query.safeParse(request.query ?? {});
        if (!parsed.success)
          throw new GatehouseError('INVALID_REQUEST', 'resumeAfter is ACCOUNT:SEQ[,ACCOUNT:SEQ]');
        if (parsed.data.resumeAfter !== undefined) resumes.set(request, parsed.data.resumeAfter);
        // Programs read their accounts' events with scope `read` (quotes ask for `marketdata` on subscribing).
        request.principal = await auth.authenticate(request, { scope: 'read', upgrade: true });
      },
    },
    (socket, request) => {
      const stream = new SessionStream(streamDeps, hub, socket, principalOf(request));
      stream.start(resumes.get(request)).catch((error: unknown) => {
        deps.logger.error({ err: error }, 'session stream failed to start');
        socket.close(1011, 'INTERNAL');
      });
    },
  );
}
