/**
 * @module cpapi/stream
 * The face's WebSocket, `GET /v1/api/ws` (and its `/v1/portal/ws` alias): IBKR's streaming channel for the held
 * login (campus "Websockets"; research/ibkr-cpapi.md §6). A client reads `session` from `/tickle` and opens the socket
 * with the cookie `api` naming it. ibind sends it as JSON, `api={"session": "<id>"}` (research §11), which some
 * clients URL-encode; others (the npm `ibkr-client`) send the bare id, `api=<id>`: all three are accepted.
 *
 * The upgrade is authenticated before the socket opens: without a held login, or with a cookie that does not name
 * its current WebSocket id, the answer is IBKR's `401 {"error":"not authenticated","statusCode":401}` and no socket
 * opens (IBKR's gateway closes unauthenticated sockets; refusing the upgrade tells the client the same, earlier).
 * Opening the socket counts as a request to the held session, as any call to IBKR's gateway does. What a socket
 * then sends and accepts is `cpapi/stream/connection`.
 */
import type {} from '@fastify/websocket';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { IbkrError } from './kit.js';
import { FaceStream, type Opening } from './stream/connection.js';
import type { StreamRoutesDeps } from './stream/deps.js';

export type { StreamRoutesDeps };

const HEARTBEAT_MS = 10_000;

/**
 * The WebSocket id an `api` cookie names: `{"session":"<id>"}` as JSON (URL-encoded or not), or the bare id. Null
 * when the header has no `api` cookie or its value names nothing.
 */
export function apiCookieSession(header: string | undefined): string | null {
  if (header === undefined) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== 'api') continue;
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (value.includes('%')) {
      try {
        value = decodeURIComponent(value);
      } catch {
        return null;
      }
    }
    if (!value.startsWith('{')) return value === '' ? null : value;
    try {
      const parsed = JSON.parse(value) as { session?: unknown } | null;
      return typeof parsed?.session === 'string' && parsed.session !== '' ? parsed.session : null;
    } catch {
      return null;
    }
  }
  return null;
}

export async function streamRoutes(app: FastifyInstance, deps: StreamRoutesDeps): Promise<void> {
  const { face } = deps;
  const timings = { heartbeatMs: deps.heartbeatMs ?? HEARTBEAT_MS, tickMs: deps.marketData.feed.tickMs };
  const streams = new Set<FaceStream>();
  /** Each upgrade's checks, from the upgrade to its socket. */
  const openings = new WeakMap<FastifyRequest, Opening>();
  app.addHook('onClose', async () => {
    for (const stream of [...streams]) stream.shutdown();
  });

  app.get(
    '/v1/api/ws',
    {
      websocket: true,
      preValidation: async (request) => {
        const wsSession = apiCookieSession(request.headers.cookie);
        if (wsSession === null || !face.held.isWsSession(wsSession))
          throw new IbkrError(401, 'not authenticated');
        const { held, principal } = await face.held.current();
        // The login may have ended, or been replaced, while it was read.
        if (principal === null || held.kind !== 'live' || !face.held.isWsSession(wsSession))
          throw new IbkrError(401, 'not authenticated');
        openings.set(request, { wsSession, ip: request.ip, principal, held });
      },
    },
    (socket, request) => {
      const opening = openings.get(request);
      if (opening === undefined) {
        socket.close(1011, 'internal error');
        return;
      }
      const stream: FaceStream = new FaceStream(deps, timings, socket, opening, () => streams.delete(stream));
      streams.add(stream);
      stream.open();
    },
  );
}
