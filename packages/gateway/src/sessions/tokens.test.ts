/**
 * Session tokens (ASVS 5.0 7.2.2, 7.2.3, 7.2.4 at login): dynamic reference tokens of 256 bits from the CSPRNG, a new
 * one at every authentication, of which the server keeps only the SHA-256.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { sha256 } from '../core/index.js';
import { type TestDatabase, type TestDatabaseFactory, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  BRUNO,
  callAs,
  errorCode,
  loginAs,
  startTestGateway,
  type TestGateway,
  type TestGatewayOptions,
} from '../test-support/gateway.js';

let gw: TestGateway;
let database: TestDatabase | undefined;
afterEach(async () => {
  await gw?.close();
  await database?.drop();
  database = undefined;
});

/** A gateway on a fresh database from `makeDatabase`, dropped after the test. */
async function gatewayOn(makeDatabase: TestDatabaseFactory, options: TestGatewayOptions = {}) {
  database = await makeDatabase();
  return startTestGateway({ ...options, database });
}

describe.each(testDatabases())('concurrent sessions (ASVS 5.0 7.1.2) on %s', (_name, makeDatabase) => {
  it('keeps at most sessions.maxLivePerUser live sessions: a login beyond ends the least recently used', async () => {
    gw = await gatewayOn(makeDatabase, { config: { sessions: { maxLivePerUser: 3 } } });
    const first = await loginAs(gw, ALICE);
    const second = await loginAs(gw, ALICE);
    const third = await loginAs(gw, ALICE);
    const bruno = await loginAs(gw, BRUNO);
    // The first is used again, so the second is now the least recently used.
    gw.clock.advance(1_000);
    expect((await callAs(gw, 'GET', '/v1/session', first)).statusCode).toBe(200);
    await gw.ctx.sessions.flushLastSeen();
    const fourth = await loginAs(gw, ALICE);
    expect(errorCode(await callAs(gw, 'GET', '/v1/session', second))).toBe('SESSION_REVOKED');
    for (const live of [first, third, fourth, bruno])
      expect((await callAs(gw, 'GET', '/v1/session', live)).statusCode).toBe(200);
    const ended = await gw.ctx.store.db
      .selectFrom('sessions')
      .select(['id', 'revoke_reason'])
      .where('revoked_at', 'is not', null)
      .execute();
    expect(ended).toEqual([{ id: second.sessionId, revoke_reason: 'session_limit' }]);
    const audit = await gw.ctx.store.db
      .selectFrom('audit_log')
      .select('data')
      .where('type', '=', 'session.revoked')
      .where('session_id', '=', second.sessionId)
      .executeTakeFirstOrThrow();
    expect(JSON.parse(audit.data)).toMatchObject({ reason: 'session_limit', by: fourth.sessionId });
  });
});

describe.each(testDatabases())('session tokens on %s', (_name, makeDatabase) => {
  it('issues a fresh 256-bit token at every login and stores only its hash', async () => {
    gw = await gatewayOn(makeDatabase);
    const tokens: string[] = [];
    for (let i = 0; i < 5; i += 1) tokens.push((await loginAs(gw, ALICE)).cookie.replace('gh_session=', ''));
    for (const token of tokens) expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 bytes, base64url
    expect(new Set(tokens).size).toBe(tokens.length);
    const rows = await gw.ctx.store.db.selectFrom('sessions').select('token_hash').execute();
    const stored = rows.map((r) => r.token_hash);
    for (const token of tokens) {
      expect(stored).toContain(sha256(token));
      expect(stored).not.toContain(token);
    }
  });
});
