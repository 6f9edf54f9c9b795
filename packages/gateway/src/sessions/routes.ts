/**
 * @module sessions/routes
 * Who am I (`GET /v1/session`), the trading tier (take it, give it up), logout, and the user's own session list with
 * revocation. A user can only see and revoke their own sessions: another user's session id answers
 * `SESSION_NOT_FOUND`, as an unknown one does.
 */
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { appendAudit } from '../audit/index.js';
import type { Config } from '../config/index.js';
import { type Clock, GatehouseError, type KeySource } from '../core/index.js';
import { type Authenticator, clearSessionCookie, clientInfo, parseWith, principalOf } from '../http/index.js';
import type { Database } from '../store/index.js';
import { type BrokerageTier, userResetSchedules } from './brokerage.js';
import { csrfTokenFor } from './csrf.js';
import { requireSensitive } from './guard.js';
import type { SessionService } from './index.js';
import { monitorSessions } from './monitor.js';
import { memoized, whoamiBody } from './presenter.js';
import { sessionOperations as ops } from './schema.js';
import type { Principal } from './service.js';

/** What these routes need of the gateway. */
export interface SessionRoutesDeps {
  auth: Authenticator;
  brokerage: Pick<BrokerageTier, 'acquire' | 'sessionState' | 'release'>;
  clock: Clock;
  config: Pick<Config, 'brokerage'>;
  csrfKey: KeySource;
  db: Kysely<Database>;
  sessions: SessionService;
  /** The failure sandbox is on: who-am-I says so (`"sandbox": true`), so no one takes the gateway for production. */
  sandbox?: boolean;
}

export async function sessionRoutes(app: FastifyInstance, deps: SessionRoutesDeps): Promise<void> {
  const { db } = deps;
  const csrfFor = (principal: Principal) =>
    memoized(principal, 'csrf', () => csrfTokenFor(deps.csrfKey, principal.session.id));

  const sandbox = deps.sandbox === true;
  // Not async: the hottest route in the gateway answers without allocating a promise.
  app.get('/v1/session', deps.auth.forPrograms('read', { operation: ops.whoAmI }), (request, reply) => {
    const principal = principalOf(request);
    reply.type('application/json; charset=utf-8').send(whoamiBody(principal, csrfFor(principal), sandbox));
  });

  const { brokerage } = deps;

  // Keep-alive: refreshes the idle timer (authentication does) and reports the session's state.
  app.post('/v1/session/tickle', deps.auth.forPrograms('read', { operation: ops.tickle }), async (request) =>
    brokerage.sessionState(principalOf(request)),
  );

  const brokerageRoute = deps.auth.forPrograms('trade', { operation: ops.brokerage });
  app.post('/v1/session/brokerage', brokerageRoute, async (request) => {
    const { compete } = parseWith(ops.brokerage.body, request.body);
    return brokerage.acquire(principalOf(request), compete);
  });

  // Giving trading up, so that another session of the user takes it at once: from a page that is closing
  // (`navigator.sendBeacon` on `pagehide`, which sends no header: its CSRF token comes in the body, as a form) or a
  // program that stops. Only ever the caller's own hold (`BrokerageTier.release`). The token in the body is checked as
  // the header is (http/authenticator); the session cookie is SameSite=Lax, so no other site's form even carries it.
  await app.register(async (beacon) => {
    beacon.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: 1024 },
      (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
    );
    const releaseRoute = deps.auth.forPrograms('trade', { operation: ops.release, csrfInBody: true });
    beacon.post('/v1/session/brokerage/release', releaseRoute, async (request) => {
      parseWith(ops.release.body, request.body ?? {});
      return { released: await brokerage.release(principalOf(request)) };
    });
  });

  app.post('/v1/auth/logout', deps.auth.forPeople({ operation: ops.logout }), async (request, reply) => {
    const principal = principalOf(request);
    const { session } = principal;
    await deps.sessions.revoke(session.id, 'logout');
    // Signing out gives trading up at once: another session of the user takes it without waiting.
    await brokerage.release(principal, { ending: true });
    await appendAudit(db, deps.clock, {
      type: 'session.logout',
      userId: session.userId,
      sessionId: session.id,
      ip: clientInfo(request).ip,
    });
    clearSessionCookie(request, reply);
    return { status: 'logged_out' };
  });

  app.get('/v1/sessions', deps.auth.forPeople({ operation: ops.list }), async (request) => {
    const { session, profile } = principalOf(request);
    const schedules = userResetSchedules(deps.config.brokerage.resets, profile.accounts);
    return {
      sessions: await monitorSessions(db, deps.clock, deps.sessions, session.userId, session.id, schedules),
    };
  });

  // Ending the user's other sessions needs what factor changes need (ASVS 5.0 7.5.2: terminating sessions after
  // authenticating again with at least one factor): a second factor in the last 5 minutes, stronger than SMS, and
  // no step-up pending. Otherwise a stolen cookie used from another network could sign the owner out everywhere.
  // Ending the current session needs nothing: logging out must always work.
  const sensitive = (principal: Principal) =>
    requireSensitive(db, deps.clock, principal, { factorChange: true });

  // Revoke every session of the user but the current one (ASVS 3.3.4).
  const revokeOthers = deps.auth.forPeople({ operation: ops.revokeOthers });
  app.post('/v1/sessions/revoke-others', revokeOthers, async (request) => {
    const principal = principalOf(request);
    await sensitive(principal);
    const { session } = principal;
    const others = (await deps.sessions.listForUser(session.userId)).filter((s) => s.id !== session.id);
    for (const other of others) {
      await deps.sessions.revoke(other.id, 'revoked_by_user');
      await appendAudit(db, deps.clock, {
        type: 'session.revoked',
        userId: session.userId,
        sessionId: other.id,
        ip: clientInfo(request).ip,
        data: { by: session.id, reason: 'revoked_by_user' },
      });
    }
    return { status: 'revoked', count: others.length };
  });

  app.delete('/v1/sessions/:id', deps.auth.forPeople({ operation: ops.revoke }), async (request, reply) => {
    const principal = principalOf(request);
    const { session } = principal;
    const { id } = parseWith(ops.revoke.params, request.params);
    if (id !== session.id) await sensitive(principal);
    const target = await deps.sessions.findById(id);
    if (target === undefined || target.userId !== session.userId || target.revokedAt !== null) {
      throw new GatehouseError('SESSION_NOT_FOUND');
    }
    await deps.sessions.revoke(id, 'revoked_by_user');
    await appendAudit(db, deps.clock, {
      type: 'session.revoked',
      userId: session.userId,
      sessionId: id,
      ip: clientInfo(request).ip,
      data: { by: session.id, reason: 'revoked_by_user' },
    });
    if (id === session.id) clearSessionCookie(request, reply);
    return { status: 'revoked', id };
  });
}
