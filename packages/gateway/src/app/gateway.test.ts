/** The assembled gateway: the whole web login on each database, health checks, logs without secrets, shutdown. */
import { afterEach, describe, expect, it } from 'vitest';
import { totpCode } from '../factors/index.js';
import { type TestDatabase, type TestDatabaseFactory, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  loginAs,
  startLogin,
  startTestGateway,
  submitTotp,
  type TestGateway,
} from '../test-support/gateway.js';

const open: TestGateway[] = [];
const databases: TestDatabase[] = [];
afterEach(async () => {
  while (open.length > 0) await open.pop()?.close();
  for (const database of databases.splice(0)) await database.drop();
});

/** A fresh database from `makeDatabase`, dropped after the test. */
async function fresh(makeDatabase: TestDatabaseFactory): Promise<TestDatabase> {
  const database = await makeDatabase();
  databases.push(database);
  return database;
}

describe.each(testDatabases())('the web login on %s', (_name, factory) => {
  it('logs in, answers who-am-I, lists sessions and logs out', async () => {
    const database = await factory();
    const gw = await startTestGateway({ database });
    try {
      const me = await loginAs(gw, ALICE);
      const whoami = await gw.app.inject({
        method: 'GET',
        url: '/v1/session',
        headers: { cookie: me.cookie },
      });
      expect(whoami.statusCode).toBe(200);
      expect((whoami.json() as { accounts: unknown[] }).accounts).toHaveLength(3);
      const ready = await gw.app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.json()).toEqual({ status: 'ready', database: database.dialect });
      const logout = await gw.app.inject({
        method: 'POST',
        url: '/v1/auth/logout',
        headers: { cookie: me.cookie, 'x-csrf-token': me.csrf },
      });
      expect(logout.statusCode).toBe(200);
      const after = await gw.app.inject({
        method: 'GET',
        url: '/v1/session',
        headers: { cookie: me.cookie },
      });
      expect(after.statusCode).toBe(401);
    } finally {
      await gw.close();
      await database.drop();
    }
  });
});

describe.each(testDatabases())('operations on %s', (_name, makeDatabase) => {
  it('creates no default account: without the demo data there is no user at all (ASVS 5.0 6.3.2)', async () => {
    const gw = await startTestGateway({ database: await fresh(makeDatabase), demo: false });
    open.push(gw);
    expect(await gw.ctx.store.db.selectFrom('users').select('username').execute()).toEqual([]);
    expect((await startLogin(gw, ALICE.username, ALICE.password)).statusCode).toBe(401);
  });

  it('answers /healthz and /readyz', async () => {
    const gw = await startTestGateway({ database: await fresh(makeDatabase), demo: false });
    open.push(gw);
    expect((await gw.app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await gw.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });

  it('reports not ready when the database is gone', async () => {
    const gw = await startTestGateway({ database: await fresh(makeDatabase), demo: false });
    await gw.ctx.store.close();
    const response = await gw.app.inject({ method: 'GET', url: '/readyz' });
    expect(response.statusCode).toBe(503);
    await gw.app.close();
  });

  it('answers a body over the size limit with 413 BODY_TOO_LARGE', async () => {
    // Issue 14, finding 9: a body over `server.bodyLimitBytes` was answered 400, the status of a malformed request,
    // instead of 413 Content Too Large (RFC 9110 §15.5.14).
    const gw = await startTestGateway({
      database: await fresh(makeDatabase),
      demo: false,
      config: { server: { bodyLimitBytes: 1024 } },
    });
    open.push(gw);
    const response = await gw.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ username: 'alice', password: 'x'.repeat(2_000), channel: 'web' }),
    });
    expect(response.statusCode).toBe(413);
    expect(response.json()).toMatchObject({ error: { code: 'BODY_TOO_LARGE' } });
  });

  it('writes pending last-seen times during shutdown', async () => {
    const gw = await startTestGateway({ database: await fresh(makeDatabase) });
    const me = await loginAs(gw, ALICE);
    gw.clock.advance(60_000);
    await gw.app.inject({ method: 'GET', url: '/v1/session', headers: { cookie: me.cookie } });
    const db = gw.ctx.store.db;
    const expected = gw.clock.now();
    // Close everything but the database, then read the row before the database closes.
    await gw.app.close();
    await gw.ctx.sessions.flushLastSeen();
    const row = await db
      .selectFrom('sessions')
      .select('last_seen_at')
      .where('id', '=', me.sessionId)
      .executeTakeFirstOrThrow();
    expect(row.last_seen_at).toBe(expected);
    await gw.close();
  });

  it('never writes a password, TOTP code, token, CSRF token or login id to the logs', async () => {
    const lines: string[] = [];
    const gw = await startTestGateway({
      database: await fresh(makeDatabase),
      logSink: (line) => lines.push(line),
    });
    open.push(gw);
    const started = await startLogin(gw, ALICE.username, ALICE.password);
    const { loginId } = started.json() as { loginId: string };
    const wrong = await submitTotp(gw, loginId, '000000');
    expect(wrong.statusCode).toBe(401);
    const code = totpCode(ALICE.totpSecret, gw.clock.now());
    const done = await submitTotp(gw, loginId, code);
    const token = done.cookies.find((c) => c.name === 'gh_session')?.value ?? '';
    const { csrfToken } = done.json() as { csrfToken: string };
    await gw.app.inject({
      method: 'POST',
      url: '/v1/auth/logout',
      headers: { cookie: `gh_session=${token}`, 'x-csrf-token': csrfToken },
    });
    const all = lines.join('\n');
    expect(lines.length).toBeGreaterThan(3);
    expect(all).toContain('/v1/auth/login/:loginId/factor');
    for (const secret of [ALICE.password, ALICE.totpSecret, code, token, csrfToken, loginId]) {
      expect(secret.length).toBeGreaterThan(5);
      expect(all).not.toContain(secret);
    }
    const audit = await gw.ctx.store.db.selectFrom('audit_log').select('data').execute();
    const auditText = JSON.stringify(audit);
    for (const secret of [ALICE.password, ALICE.totpSecret, code, token, csrfToken, loginId, '000000']) {
      expect(auditText).not.toContain(secret);
    }
  });
});
