/** Sessions over HTTP: who am I, expiry under a frozen clock, logout, listing, revocation, CSRF, caching. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InProcessEventBus } from '../core/index.js';
import { totpCode } from '../factors/index.js';
import { changeAccountRole } from '../identity/index.js';
import { type TestDatabase, type TestDatabaseFactory, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  BRUNO,
  errorCode,
  json,
  type LoggedIn,
  loginAs,
  loginWithSms,
  renewed,
  startTestGateway,
  type TestGateway,
  VIKTOR,
} from '../test-support/gateway.js';

let gw: TestGateway;
const databases: TestDatabase[] = [];

afterEach(async () => {
  await gw.close();
  for (const database of databases.splice(0)) await database.drop();
});

/** A fresh database from `makeDatabase`, dropped after the test. */
async function fresh(makeDatabase: TestDatabaseFactory): Promise<TestDatabase> {
  const database = await makeDatabase();
  databases.push(database);
  return database;
}

function whoami(as: LoggedIn) {
  return gw.app.inject({ method: 'GET', url: '/v1/session', headers: { cookie: as.cookie } });
}

describe.each(testDatabases())('sessions on %s', (_name, makeDatabase) => {
  beforeEach(async () => {
    gw = await startTestGateway({ database: await fresh(makeDatabase) });
  });

  describe('GET /v1/session', () => {
    it('returns the user, the session and the accounts with their legal entity', async () => {
      const alice = await loginAs(gw, ALICE);
      const response = await whoami(alice);
      expect(response.statusCode).toBe(200);
      const body = json(response) as {
        user: { username: string };
        session: Record<string, unknown>;
        accounts: { id: string; paper: boolean; entity: { code: string; regulator: string } }[];
        csrfToken: string;
      };
      expect(body.user.username).toBe('alice');
      expect(Object.keys(body.session)).toEqual(
        expect.arrayContaining(['id', 'channel', 'aal', 'createdAt', 'idleExpiresAt', 'expiresAt']),
      );
      expect(body.accounts.map((a) => a.id)).toEqual(['DU1000001', 'U1000001', 'U1000009']);
      expect(body.accounts[0]?.paper).toBe(true);
      expect(body.accounts[1]?.entity).toMatchObject({ code: 'IBLLC', regulator: 'SEC/FINRA/CFTC' });
      expect(body.csrfToken).toBe(alice.csrf);
      expect(response.headers['cache-control']).toBe('no-store');
    });

    it('requires a session', async () => {
      const response = await gw.app.inject({ method: 'GET', url: '/v1/session' });
      expect(response.statusCode).toBe(401);
      expect(errorCode(response)).toBe('UNAUTHENTICATED');
      const forged = await gw.app.inject({
        method: 'GET',
        url: '/v1/session',
        headers: { cookie: 'gh_session=forged' },
      });
      expect(errorCode(forged)).toBe('UNAUTHENTICATED');
    });

    it('validates a cached session without a database round trip', async () => {
      const alice = await loginAs(gw, ALICE);
      expect((await whoami(alice)).statusCode).toBe(200);
      const before = gw.queries.count;
      for (let i = 0; i < 20; i += 1) expect((await whoami(alice)).statusCode).toBe(200);
      expect(gw.queries.count).toBe(before);
    });

    it('reads the session rows asked for in one turn in one query, each caller its own row', async () => {
      const alice = await loginAs(gw, ALICE);
      const bruno = await loginAs(gw, BRUNO);
      await gw.ctx.sessions.revoke(bruno.sessionId, 'logout');
      const before = gw.queries.count;
      const [a, b, missing, again] = await Promise.all([
        gw.ctx.sessions.readSoon(alice.sessionId),
        gw.ctx.sessions.readSoon(bruno.sessionId),
        gw.ctx.sessions.readSoon('ses_unknown'),
        gw.ctx.sessions.readSoon(alice.sessionId),
      ]);
      expect(gw.queries.count - before).toBe(1);
      expect(a).toMatchObject({ id: alice.sessionId, revokedAt: null });
      expect(again).toEqual(a);
      expect(b).toMatchObject({ id: bruno.sessionId, revokeReason: 'logout' });
      expect(b?.revokedAt).not.toBeNull();
      expect(missing).toBeUndefined();
      // A later turn reads again.
      expect(await gw.ctx.sessions.readSoon(alice.sessionId)).toMatchObject({ id: alice.sessionId });
      expect(gw.queries.count - before).toBe(2);
    });

    it('gives a user’s sessions one shared profile while it reads the same, and the new one once it changes', async () => {
      const first = await loginAs(gw, VIKTOR);
      const second = await loginAs(gw, VIKTOR);
      const token = (as: LoggedIn) => as.cookie.slice(as.cookie.indexOf('=') + 1);
      const a = await gw.ctx.sessions.authenticate(token(first));
      const b = await gw.ctx.sessions.authenticate(token(second));
      expect(a.session.id).not.toBe(b.session.id);
      expect(b.profile).toBe(a.profile);
      const bruno = await gw.ctx.sessions.authenticate(token(await loginAs(gw, BRUNO)));
      expect(bruno.profile).not.toBe(a.profile);
      expect(bruno.profile.user.username).toBe('bruno');

      // Viktor loses an account: both sessions are read again and share the new profile, without the account.
      const viewed = a.profile.accounts.map((account) => account.id);
      expect(viewed).toContain('U1000001');
      await changeAccountRole(
        { db: gw.ctx.store.db, clock: gw.clock, bus: gw.ctx.bus },
        { accountId: 'U1000001', username: 'viktor', role: null, via: 'cli', ip: null },
      );
      const a2 = await gw.ctx.sessions.authenticate(token(first));
      const b2 = await gw.ctx.sessions.authenticate(token(second));
      expect(a2.profile).not.toBe(a.profile);
      expect(a2.profile.accounts.map((account) => account.id)).not.toContain('U1000001');
      expect(b2.profile).toBe(a2.profile);
      expect((await whoami(second)).statusCode).toBe(200);
    });
  });

  describe('expiry under a frozen clock', () => {
    it('ends a session after 15 minutes idle, and activity keeps it alive', async () => {
      const alice = await loginAs(gw, ALICE);
      for (let i = 0; i < 6; i += 1) {
        gw.clock.advance(14 * 60_000);
        expect((await whoami(alice)).statusCode).toBe(200);
      }
      gw.clock.advance(15 * 60_000);
      const response = await whoami(alice);
      expect(response.statusCode).toBe(401);
      expect(errorCode(response)).toBe('SESSION_EXPIRED');
      expect((json(response).error as { details: { reason: string } }).details.reason).toBe('idle');
    });

    it('ends a session at its 12 h absolute lifetime however active it is', async () => {
      const alice = await loginAs(gw, ALICE);
      const start = gw.clock.now();
      while (gw.clock.now() + 10 * 60_000 < start + 12 * 3_600_000) {
        gw.clock.advance(10 * 60_000);
        expect((await whoami(alice)).statusCode).toBe(200);
      }
      gw.clock.set(start + 12 * 3_600_000);
      const response = await whoami(alice);
      expect(errorCode(response)).toBe('SESSION_EXPIRED');
      expect((json(response).error as { details: { reason: string } }).details.reason).toBe('absolute');
    });

    it('keeps the idle timer right across nodes: activity seen by another node counts', async () => {
      const alice = await loginAs(gw, ALICE);
      expect((await whoami(alice)).statusCode).toBe(200); // node A caches the session
      // Node B: the same session is used there for 10 minutes; its last-seen is written behind.
      gw.clock.advance(10 * 60_000);
      await gw.ctx.store.db
        .updateTable('sessions')
        .set({ last_seen_at: gw.clock.now() })
        .where('id', '=', alice.sessionId)
        .execute();
      gw.clock.advance(10 * 60_000); // 20 min since node A saw it, 10 since node B did
      expect((await whoami(alice)).statusCode).toBe(200);
    });
  });

  describe('logout and revocation', () => {
    it('logout invalidates the cookie', async () => {
      const alice = await loginAs(gw, ALICE);
      const response = await gw.app.inject({
        method: 'POST',
        url: '/v1/auth/logout',
        headers: { cookie: alice.cookie, 'x-csrf-token': alice.csrf },
      });
      expect(response.statusCode).toBe(200);
      expect(response.cookies.find((c) => c.name === 'gh_session')?.value).toBe('');
      const after = await whoami(alice);
      expect(after.statusCode).toBe(401);
      expect(errorCode(after)).toBe('SESSION_REVOKED');
    });

    it('lists the user’s own sessions and revokes another one', async () => {
      const laptop = await loginAs(gw, ALICE);
      const desk = await loginAs(gw, ALICE);
      await loginAs(gw, BRUNO);
      const list = await gw.app.inject({
        method: 'GET',
        url: '/v1/sessions',
        headers: { cookie: laptop.cookie },
      });
      const sessions = (json(list) as { sessions: { id: string; current: boolean }[] }).sessions;
      expect(sessions.map((s) => s.id).sort()).toEqual([laptop.sessionId, desk.sessionId].sort());
      expect(sessions.find((s) => s.id === laptop.sessionId)?.current).toBe(true);

      const revoke = await gw.app.inject({
        method: 'DELETE',
        url: `/v1/sessions/${desk.sessionId}`,
        headers: { cookie: laptop.cookie, 'x-csrf-token': laptop.csrf },
      });
      expect(revoke.statusCode).toBe(200);
      expect(errorCode(await whoami(desk))).toBe('SESSION_REVOKED');
      expect((await whoami(laptop)).statusCode).toBe(200);
      const audit = await gw.ctx.store.db.selectFrom('audit_log').select(['type', 'session_id']).execute();
      expect(audit).toContainEqual({ type: 'session.revoked', session_id: desk.sessionId });
    });

    it('cannot see or revoke another user’s session', async () => {
      const alice = await loginAs(gw, ALICE);
      const bruno = await loginAs(gw, BRUNO);
      const response = await gw.app.inject({
        method: 'DELETE',
        url: `/v1/sessions/${bruno.sessionId}`,
        headers: { cookie: alice.cookie, 'x-csrf-token': alice.csrf },
      });
      expect(response.statusCode).toBe(404);
      expect(errorCode(response)).toBe('SESSION_NOT_FOUND');
      expect((await whoami(bruno)).statusCode).toBe(200);
    });

    it('a revocation on one node reaches the cache of another through the event bus', async () => {
      const bus = new InProcessEventBus();
      const nodeA = gw;
      const alice = await loginAs(nodeA, ALICE);
      // A second service sharing the store and the bus stands in for a second node.
      const { SessionService, channelPolicies } = await import('./index.js');
      const make = () =>
        new SessionService({
          db: nodeA.ctx.store.db,
          clock: nodeA.clock,
          bus,
          policies: channelPolicies(nodeA.ctx.config),
          cacheMaxEntries: 100,
          revalidateAfterMs: 3_600_000,
          maxLivePerUser: 50,
          loadProfile: async () => ({
            user: { id: 'u', username: 'alice', displayName: 'A', status: 'active', createdAt: 0 },
            accounts: [],
            initialPasswordExpiresAt: null,
          }),
        });
      const node1 = make();
      const node2 = make();
      const token = decodeURIComponent(alice.cookie.split('=')[1] ?? '');
      await node1.authenticate(token);
      await node2.authenticate(token);
      await node1.revoke(alice.sessionId, 'revoked_by_user');
      await expect(node2.authenticate(token)).rejects.toMatchObject({ code: 'SESSION_REVOKED' });
      node1.close();
      node2.close();
    });
  });

  describe('ending other sessions needs a recent strong factor', () => {
    const revokeOne = (as: LoggedIn, id: string, remoteAddress = '127.0.0.1') =>
      gw.app.inject({
        method: 'DELETE',
        url: `/v1/sessions/${id}`,
        headers: { cookie: as.cookie, 'x-csrf-token': as.csrf },
        remoteAddress,
      });
    const revokeOthers = (as: LoggedIn, remoteAddress = '127.0.0.1') =>
      gw.app.inject({
        method: 'POST',
        url: '/v1/sessions/revoke-others',
        headers: { cookie: as.cookie, 'x-csrf-token': as.csrf },
        remoteAddress,
      });

    it('refuses with a second factor over 5 minutes old, and ends them after a step-up', async () => {
      // Issue 14, finding 5: a session whose second factor was hours old (a stolen cookie) signed out every other
      // session of the user with POST /v1/sessions/revoke-others, or one by one with DELETE /v1/sessions/{id}.
      let owner = await loginAs(gw, ALICE);
      const thief = await loginAs(gw, ALICE);
      gw.clock.advance(5 * 60_000 + 1);
      for (const response of [await revokeOthers(thief), await revokeOne(thief, owner.sessionId)]) {
        expect(response.statusCode).toBe(403);
        expect(errorCode(response)).toBe('STEP_UP_REQUIRED');
        expect((json(response).error as { details: { reason: string } }).details.reason).toBe(
          'stale_second_factor',
        );
      }
      expect((await whoami(owner)).statusCode).toBe(200);

      gw.clock.advance(30_000);
      const stepUp = await gw.app.inject({
        method: 'POST',
        url: '/v1/session/step-up',
        headers: { cookie: owner.cookie, 'x-csrf-token': owner.csrf },
        payload: { type: 'totp', code: totpCode(ALICE.totpSecret, gw.clock.now()) },
      });
      expect(stepUp.statusCode).toBe(200);
      owner = renewed(owner, stepUp);
      const third = await loginAs(gw, ALICE);
      expect((await revokeOne(owner, thief.sessionId)).statusCode).toBe(200);
      expect(errorCode(await whoami(thief))).toBe('SESSION_REVOKED');
      const all = await revokeOthers(owner);
      expect(json(all)).toEqual({ status: 'revoked', count: 1 });
      expect(errorCode(await whoami(third))).toBe('SESSION_REVOKED');
      expect((await whoami(owner)).statusCode).toBe(200);
    });

    it('refuses from a session that must step up after moving to another network', async () => {
      const owner = await loginAs(gw, ALICE);
      const moved = await loginAs(gw, ALICE);
      for (const response of [
        await revokeOthers(moved, '203.0.113.5'),
        await revokeOne(moved, owner.sessionId, '203.0.113.5'),
      ]) {
        expect(response.statusCode).toBe(403);
        expect(errorCode(response)).toBe('STEP_UP_REQUIRED');
        expect((json(response).error as { details: { reason: string } }).details.reason).toBe(
          'network_changed',
        );
      }
      expect((await whoami(owner)).statusCode).toBe(200);
    });

    it('refuses from a session authenticated by SMS', async () => {
      const owner = await loginAs(gw, ALICE);
      const sms = await loginWithSms(gw, ALICE, owner);
      for (const response of [await revokeOthers(sms), await revokeOne(sms, owner.sessionId)]) {
        expect(response.statusCode).toBe(403);
        expect(errorCode(response)).toBe('FACTOR_TOO_WEAK');
      }
      expect((await whoami(owner)).statusCode).toBe(200);
    });

    it('still lets a session end itself without a factor, like logout', async () => {
      const alice = await loginAs(gw, ALICE);
      gw.clock.advance(10 * 60_000);
      const response = await revokeOne(alice, alice.sessionId);
      expect(response.statusCode).toBe(200);
      expect(response.cookies.find((c) => c.name === 'gh_session')?.value).toBe('');
      expect(errorCode(await whoami(alice))).toBe('SESSION_REVOKED');
    });

    it('still answers SESSION_NOT_FOUND for another user’s session after the factor check', async () => {
      const alice = await loginAs(gw, ALICE);
      const bruno = await loginAs(gw, BRUNO);
      gw.clock.advance(5 * 60_000 + 1);
      expect(errorCode(await revokeOne(alice, bruno.sessionId))).toBe('STEP_UP_REQUIRED');
      expect((await whoami(bruno)).statusCode).toBe(200);
    });
  });

  describe('CSRF', () => {
    it('refuses an unsafe method without the token, with a wrong one, or with another session’s', async () => {
      const alice = await loginAs(gw, ALICE);
      const other = await loginAs(gw, BRUNO);
      for (const headers of [
        { cookie: alice.cookie },
        { cookie: alice.cookie, 'x-csrf-token': 'wrong' },
        { cookie: alice.cookie, 'x-csrf-token': other.csrf },
      ]) {
        const response = await gw.app.inject({ method: 'POST', url: '/v1/auth/logout', headers });
        expect(response.statusCode).toBe(403);
        expect(errorCode(response)).toBe('CSRF_TOKEN_INVALID');
      }
      expect((await whoami(alice)).statusCode).toBe(200);
    });

    it('does not require the token on safe methods', async () => {
      const alice = await loginAs(gw, ALICE);
      expect(
        (await gw.app.inject({ method: 'GET', url: '/v1/sessions', headers: { cookie: alice.cookie } }))
          .statusCode,
      ).toBe(200);
    });
  });
});
