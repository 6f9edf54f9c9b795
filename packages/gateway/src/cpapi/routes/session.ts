/**
 * @module cpapi/routes/session
 * The session endpoints, GET or POST where IBKR takes either (research/ibkr-cpapi.md §1 "Methods"): `tickle`,
 * `iserver/auth/status`, `iserver/auth/ssodh/init`, `iserver/reauthenticate`, `sso/validate` and `logout`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { accountsFor } from '../../access/index.js';
import { type Clock, sha256Hex } from '../../core/index.js';
import type { Principal } from '../../sessions/index.js';
import type { FaceState } from '../kit.js';
import { IbkrError, loggedIn, parseWire } from '../kit.js';
import { authStatus, type HeldSession, tickleBody } from '../status.js';
import {
  IBKR_ERROR_TEXTS,
  LOGOUT_BODY,
  type SsoValidateResponse,
  ssodhInitBodySchema,
} from '../wire/index.js';

export interface SessionRoutesDeps {
  face: FaceState;
  clock: Clock;
}

/**
 * IBKR's numeric user id (`userId` in tickle, `USER_ID` in sso/validate; "internal" per campus): derived from the
 * Gatehouse user id, stable, nine digits.
 */
export function numericUserId(userId: string): number {
  return 100_000_000 + (Number.parseInt(sha256Hex(userId).slice(0, 12), 16) % 900_000_000);
}

/** The legal entity's region as IBKR's `region` in sso/validate (its server regions: NJ, Zug, HK). */
const REGIONS: Record<string, string> = { north_america: 'NJ', europe: 'EU', asia_pacific: 'HK' };

export async function sessionRoutes(app: FastifyInstance, deps: SessionRoutesDeps): Promise<void> {
  const { face, clock } = deps;
  const both = (
    path: string,
    handler: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>,
  ) => {
    app.get(`/v1/api${path}`, handler);
    app.post(`/v1/api${path}`, handler);
  };

  // Keep-alive and health (ibind and IBeam read `iserver.authStatus` from here); `session` is the WebSocket id.
  both('/tickle', async () => {
    const { held } = await face.held.current();
    const session = face.held.wsSession;
    if (held.kind !== 'live' || session === null || face.held.userId === null)
      throw new IbkrError(401, IBKR_ERROR_TEXTS.noSession, false);
    return tickleBody(held, face.identity, { session, userId: numericUserId(face.held.userId) });
  });

  both('/iserver/auth/status', async () => {
    const { held } = await face.held.current();
    return authStatus(held, face.identity);
  });

  // Takes the brokerage tier (competing when asked); `publish` must be true, "otherwise a '500' response" (campus).
  app.post('/v1/api/iserver/auth/ssodh/init', async (request) => {
    const body = parseWire(ssodhInitBodySchema, request.body);
    if (body.publish === false) throw new IbkrError(500, 'publish must be true');
    const { held } = await face.held.initBrokerage(body.compete === true);
    if (held.kind === 'none') throw new IbkrError(401, 'not authenticated');
    return { ...authStatus(held, face.identity), established: isEstablished(held) };
  });

  // Deprecated and asynchronous at IBKR (`{"message":"triggered"}`; clients re-poll tickle): the tier is asked for
  // again without competing, after a headless login when the held one lapsed.
  both('/iserver/reauthenticate', async (request) => {
    face.held
      .initBrokerage(false)
      .catch((error: unknown) => request.log.warn({ err: error }, 'reauthenticate'));
    return { message: 'triggered' };
  });

  app.get('/v1/api/sso/validate', async () => {
    const principal = await loggedIn(face);
    return ssoValidate(principal, clock.now());
  });

  // IBeam compares the raw body with `{"status":true}` (research §2): sent as that exact text.
  app.post('/v1/api/logout', async (_request, reply) => {
    await face.held.logout();
    return reply.type('application/json; charset=utf-8').send(LOGOUT_BODY);
  });
}

function isEstablished(held: HeldSession): boolean {
  return held.kind === 'live' && held.state.tier === 'brokerage' && !held.state.competing;
}

function ssoValidate(principal: Principal, now: number): SsoValidateResponse {
  const { session, profile } = principal;
  const accounts = accountsFor(principal, 'view');
  const entity = accounts[0]?.entity;
  return {
    USER_ID: numericUserId(profile.user.id),
    USER_NAME: profile.user.username,
    RESULT: true,
    AUTH_TIME: session.createdAt,
    SF_ENABLED: session.aal >= 2,
    IS_FREE_TRIAL: false,
    CREDENTIAL: profile.user.username,
    IP: session.ip,
    EXPIRES: Math.max(0, Math.min(session.expiresAt, session.lastSeenAt + session.idleTimeoutMs) - now),
    QUALIFIED_FOR_MOBILE_AUTH: null,
    LANDING_APP: 'UNIVERSAL',
    IS_MASTER: false,
    lastAccessed: session.lastSeenAt,
    // IBKR's paper login type (research §8) when every account of the user is a paper one (`DU…`), as
    // `iserver/accounts`' `isPaper` says; otherwise the live one.
    LOGIN_TYPE: accounts.length > 0 && accounts.every((a) => a.paper) ? 2 : 1,
    PAPER_USER_NAME: profile.user.username,
    features: {
      env: 'PROD',
      wlms: true,
      realtime: true,
      bond: true,
      optionChains: true,
      calendar: true,
      newMf: true,
    },
    region: REGIONS[entity?.region ?? ''] ?? 'NJ',
  };
}
