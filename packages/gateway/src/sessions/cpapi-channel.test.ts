/**
 * The `cpapi` channel: the session the IBKR-compatible face holds for a bot. IBKR's lifetimes (6 min idle, 24 h at
 * most), and a token no route of the gateway's own API accepts, from a cookie or as a bearer token.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type TestDatabase, testDatabases } from '../test-support/databases.js';
import { ALICE, errorCode, startTestGateway, type TestGateway } from '../test-support/gateway.js';

let gw: TestGateway;
const databases: TestDatabase[] = [];
afterEach(async () => {
  await gw.close();
  for (const database of databases.splice(0)) await database.drop();
});

describe.each(testDatabases())('the cpapi channel on %s', (_name, makeDatabase) => {
  it('lives 6 min idle and 24 h at most, and its token opens nothing on /v1', async () => {
    const database = await makeDatabase();
    databases.push(database);
    gw = await startTestGateway({ database });
    const alice = await gw.ctx.store.db
      .selectFrom('users')
      .select('id')
      .where('username', '=', ALICE.username)
      .executeTakeFirstOrThrow();
    const { token, session } = await gw.ctx.sessions.create({
      userId: alice.id,
      channel: 'cpapi',
      aal: 2,
      amr: ['pwd', 'otp'],
      ip: '127.0.0.1',
      userAgent: 'cpapi face',
      secondFactorAt: gw.clock.now(),
      lastFactor: 'totp',
    });
    expect(session.idleTimeoutMs).toBe(6 * 60_000);
    expect(session.expiresAt - session.createdAt).toBe(24 * 3_600_000);
    // The face itself authenticates with it.
    await expect(gw.ctx.sessions.authenticate(token)).resolves.toMatchObject({
      session: { channel: 'cpapi' },
    });

    const asCookie = await gw.app.inject({
      method: 'GET',
      url: '/v1/session',
      headers: { cookie: `gh_session=${token}` },
    });
    expect(asCookie.statusCode).toBe(401);
    expect(errorCode(asCookie)).toBe('UNAUTHENTICATED');
    const asBearer = await gw.app.inject({
      method: 'GET',
      url: '/v1/session',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(asBearer.statusCode).toBe(401);
    expect(errorCode(asBearer)).toBe('UNAUTHENTICATED');

    // Six idle minutes end it.
    gw.clock.advance(6 * 60_000 + 1);
    await expect(gw.ctx.sessions.authenticate(token)).rejects.toMatchObject({ code: 'SESSION_EXPIRED' });
  });
});
