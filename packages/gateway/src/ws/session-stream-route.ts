/**
 * @module ws/session-stream-route
 * `GET /v1/stream`, the upgrade to a session's live channel (ws/session-stream.ts): authenticated before the socket
 * opens by the same authenticator as every HTTP route (a cookie session with an allowed `Origin`, a mobile or
 * desktop bearer token with its device proof, or a program's DPoP-bound token with scope `read`), with the
 * optional `resumeAfter` query naming the last event sequence the client holds per account.
 */
import type {} from '@fastify/websocket';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { GatehouseError } from '../core/index.js';
import { type Authenticator, principalOf } from '../http/index.js';
import { SessionStream, type SessionStreamDeps } from './session-stream.js';
import { SessionStreamHub } from './stream-hub.js';

type ResumePoint = { accountId: string; after: number };

/** `DU1000001:42,U1000001:7`: the last event sequence the client holds, per account. */
const resumeAfterQuery = z
  .string()
  .max(2000)
  .regex(/^[A-Z0-9]{1,16}:\d{1,15}(,[A-Z0-9]{1,16}:\d{1,15}){0,49}$/, 'ACCOUNT:SEQ[,ACCOUNT:SEQ]')
  .transform((s) =>
    s
      .split(',')
      .map((pair) => pair.split(':') as [string, string])
      .map(([a, q]) => ({ accountId: a, after: Number(q) })),
  );

export interface SessionStreamRouteDeps extends SessionStreamDeps {
  auth: Authenticator;
}

const upgradeQuery = z.looseObject({ resumeAfter: resumeAfterQuery.optional() });

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
      preValidation: async (request) => {
        const parsed = upgradeQuery.safeParse(request.query ?? {});
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
