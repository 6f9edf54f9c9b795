/** Web login over HTTP: password, TOTP, session cookie; negative paths for every way a login can be wrong. */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256 } from '../core/index.js';
import { totpCode } from '../factors/index.js';
import { type TestDatabase, type TestDatabaseFactory, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  errorCode,
  json,
  startLogin,
  startTestGateway,
  submitTotp,
  type TestGateway,
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

async function loginId(): Promise<string> {
  const response = await startLogin(gw, ALICE.username, ALICE.password);
  expect(response.statusCode).toBe(200);
  return (response.json() as { loginId: string }).loginId;
}

async function count(table: 'sessions' | 'login_transactions' | 'audit_log'): Promise<number> {
  const row = await gw.ctx.store.db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

describe.each(testDatabases())('web login on %s', (_name, makeDatabase) => {
  beforeEach(async () => {
    gw = await startTestGateway({ database: await fresh(makeDatabase) });
  });

  describe('POST /v1/auth/login', () => {
    it('asks for the second factor after a correct password', async () => {
      const response = await startLogin(gw, ALICE.username, ALICE.password);
      expect(response.statusCode).toBe(200);
      const body = json(response);
      expect(body.status).toBe('second_factor_required');
      expect(body.factors).toEqual([{ type: 'totp' }]);
      expect(typeof body.loginId).toBe('string');
      expect((body.loginId as string).length).toBeGreaterThanOrEqual(43); // 256 bits, base64url
      expect(response.headers['set-cookie']).toBeUndefined();
    });

    it('answers a wrong password and an unknown user identically, after the same argon2id work', async () => {
      let verifications = 0;
      const original = gw.ctx.hasher.verify;
      gw.ctx.hasher.verify = async (encoded, password) => {
        verifications += 1;
        return original(encoded, password);
      };
      const wrong = await startLogin(gw, ALICE.username, 'not-the-password!');
      const unknown = await startLogin(gw, 'nobody-here', 'not-the-password!');
      expect(verifications).toBe(2);
      expect(wrong.statusCode).toBe(401);
      expect(unknown.statusCode).toBe(401);
      expect(wrong.body).toBe(unknown.body);
      expect(errorCode(wrong)).toBe('INVALID_CREDENTIALS');
      expect(Object.keys(wrong.headers).sort()).toEqual(Object.keys(unknown.headers).sort());
    });

    it('treats the username case-insensitively', async () => {
      const response = await startLogin(gw, 'ALICE', ALICE.password);
      expect(response.statusCode).toBe(200);
    });

    it('refuses a disabled user exactly like a wrong password', async () => {
      await gw.ctx.store.db
        .updateTable('users')
        .set({ status: 'disabled' })
        .where('username', '=', 'alice')
        .execute();
      const response = await startLogin(gw, ALICE.username, ALICE.password);
      expect(response.statusCode).toBe(401);
      expect(errorCode(response)).toBe('INVALID_CREDENTIALS');
    });
  });

  describe('POST /v1/auth/login/{loginId}/factor', () => {
    it('issues a session cookie and a CSRF token for a valid TOTP code', async () => {
      const id = await loginId();
      const response = await submitTotp(gw, id, totpCode(ALICE.totpSecret, gw.clock.now()));
      expect(response.statusCode).toBe(200);
      const body = json(response) as { status: string; session: Record<string, unknown>; csrfToken: string };
      expect(body.status).toBe('authenticated');
      expect(body.session).toMatchObject({ channel: 'web', aal: 2, current: true });
      expect(body.csrfToken.length).toBeGreaterThan(20);
      const cookie = response.cookies.find((c) => c.name === 'gh_session');
      expect(cookie).toBeDefined();
      expect(cookie?.httpOnly).toBe(true);
      expect(cookie?.sameSite).toBe('Lax');
      expect(cookie?.path).toBe('/');
      expect(cookie?.secure).toBeFalsy();
      expect(Buffer.from(cookie?.value ?? '', 'base64url').length).toBeGreaterThanOrEqual(32);
      // Only the SHA-256 of the token is stored.
      const row = await gw.ctx.store.db.selectFrom('sessions').selectAll().executeTakeFirstOrThrow();
      expect(row.token_hash).not.toBe(cookie?.value);
      expect(JSON.stringify(row)).not.toContain(cookie?.value);
    });

    it('uses a __Host- Secure cookie when served over TLS (behind a trusted proxy)', async () => {
      const tls = await startTestGateway({
        database: await fresh(makeDatabase),
        config: { server: { trustedProxies: ['127.0.0.1'] } },
      });
      try {
        const started = await tls.app.inject({
          method: 'POST',
          url: '/v1/auth/login',
          payload: { username: ALICE.username, password: ALICE.password, channel: 'web' },
          headers: { 'x-forwarded-proto': 'https' },
        });
        const { loginId: id } = started.json() as { loginId: string };
        const done = await tls.app.inject({
          method: 'POST',
          url: `/v1/auth/login/${id}/factor`,
          payload: { type: 'totp', code: totpCode(ALICE.totpSecret, tls.clock.now()) },
          headers: { 'x-forwarded-proto': 'https' },
        });
        expect(done.statusCode).toBe(200);
        const cookie = done.cookies.find((c) => c.name === '__Host-gh_session');
        expect(cookie?.secure).toBe(true);
        expect(cookie?.path).toBe('/');
        expect(cookie?.domain).toBeUndefined();
        const whoami = await tls.app.inject({
          method: 'GET',
          url: '/v1/session',
          headers: { 'x-forwarded-proto': 'https', cookie: `__Host-gh_session=${cookie?.value}` },
        });
        expect(whoami.statusCode).toBe(200);
      } finally {
        await tls.close();
      }
    });

    it('refuses a wrong code with the same answer as a wrong password', async () => {
      const id = await loginId();
      const right = totpCode(ALICE.totpSecret, gw.clock.now());
      const wrong = right === '000000' ? '111111' : '000000';
      const response = await submitTotp(gw, id, wrong);
      expect(response.statusCode).toBe(401);
      expect(errorCode(response)).toBe('INVALID_CREDENTIALS');
      expect(await count('sessions')).toBe(0);
    });

    it('refuses a replayed code, even on a fresh login', async () => {
      const code = totpCode(ALICE.totpSecret, gw.clock.now());
      expect((await submitTotp(gw, await loginId(), code)).statusCode).toBe(200);
      const replay = await submitTotp(gw, await loginId(), code);
      expect(replay.statusCode).toBe(401);
      expect(errorCode(replay)).toBe('INVALID_CREDENTIALS');
      expect(await count('sessions')).toBe(1);
      const events = await gw.ctx.store.db.selectFrom('audit_log').select('type').execute();
      expect(events.map((e) => e.type)).toContain('login.factor_replayed');
    });

    it('accepts a code one step old and refuses one two steps old', async () => {
      const id = await loginId();
      const twoStepsOld = totpCode(ALICE.totpSecret, gw.clock.now() - 60_000);
      const oneStepOld = totpCode(ALICE.totpSecret, gw.clock.now() - 30_000);
      const current = totpCode(ALICE.totpSecret, gw.clock.now());
      const inTwoSteps = totpCode(ALICE.totpSecret, gw.clock.now() + 60_000);
      // The frozen clock makes these four codes fixed and distinct.
      expect(new Set([twoStepsOld, oneStepOld, current, inTwoSteps]).size).toBe(4);
      expect((await submitTotp(gw, id, twoStepsOld)).statusCode).toBe(401);
      expect((await submitTotp(gw, id, inTwoSteps)).statusCode).toBe(401);
      expect((await submitTotp(gw, id, oneStepOld)).statusCode).toBe(200);
    });

    it('refuses a code for a step before the last one used', async () => {
      const now = gw.clock.now();
      expect((await submitTotp(gw, await loginId(), totpCode(ALICE.totpSecret, now))).statusCode).toBe(200);
      const older = totpCode(ALICE.totpSecret, now - 30_000);
      const response = await submitTotp(gw, await loginId(), older);
      expect(response.statusCode).toBe(401);
    });

    it('refuses an unknown, an expired and an already used login id', async () => {
      const unknown = await submitTotp(gw, 'x'.repeat(43), '123456');
      expect(unknown.statusCode).toBe(401);
      expect(errorCode(unknown)).toBe('LOGIN_INVALID');

      const used = await loginId();
      expect((await submitTotp(gw, used, totpCode(ALICE.totpSecret, gw.clock.now()))).statusCode).toBe(200);
      gw.clock.advance(30_000);
      const again = await submitTotp(gw, used, totpCode(ALICE.totpSecret, gw.clock.now()));
      expect(again.statusCode).toBe(401);
      expect(errorCode(again)).toBe('LOGIN_INVALID');

      const expiring = await loginId();
      gw.clock.advance(5 * 60_000);
      const expired = await submitTotp(gw, expiring, totpCode(ALICE.totpSecret, gw.clock.now()));
      expect(expired.statusCode).toBe(401);
      expect(errorCode(expired)).toBe('LOGIN_INVALID');
      expect(await count('sessions')).toBe(1);
    });

    it('voids a login after too many wrong codes', async () => {
      const id = await loginId();
      for (let i = 0; i < gw.ctx.config.login.maxFactorAttempts; i += 1) {
        expect((await submitTotp(gw, id, '000000')).statusCode).toBeOneOf([401, 429]);
      }
      gw.clock.advance(60 * 60_000);
      const response = await submitTotp(gw, id, totpCode(ALICE.totpSecret, gw.clock.now()));
      expect(errorCode(response)).toBe('LOGIN_INVALID');
    });
  });

  describe('brute force', () => {
    it('backs off exponentially after 5 failures, then lets the owner in after the wait', async () => {
      for (let i = 1; i <= 5; i += 1) {
        const r = await startLogin(gw, ALICE.username, `wrong-password-${i}`);
        expect(errorCode(r)).toBe('INVALID_CREDENTIALS');
      }
      // The sixth attempt waits 1 s, even with the right password; the password is not checked.
      const blocked = await startLogin(gw, ALICE.username, ALICE.password);
      expect(blocked.statusCode).toBe(429);
      expect(errorCode(blocked)).toBe('TOO_MANY_ATTEMPTS');
      expect((json(blocked).error as { details: { retryAfterMs: number } }).details.retryAfterMs).toBe(1_000);
      expect(blocked.headers['retry-after']).toBe('1');

      gw.clock.advance(1_000);
      expect(errorCode(await startLogin(gw, ALICE.username, 'wrong-again'))).toBe('INVALID_CREDENTIALS');
      const longer = await startLogin(gw, ALICE.username, ALICE.password);
      expect((json(longer).error as { details: { retryAfterMs: number } }).details.retryAfterMs).toBe(2_000);

      gw.clock.advance(2_000);
      expect((await startLogin(gw, ALICE.username, ALICE.password)).statusCode).toBe(200);
    });

    it('never locks out for longer than the maximum wait', async () => {
      for (let i = 0; i < 40; i += 1) {
        await startLogin(gw, ALICE.username, 'wrong-password');
        gw.clock.advance(gw.ctx.config.login.backoffMaxMs);
      }
      const response = await startLogin(gw, ALICE.username, ALICE.password);
      expect(response.statusCode).toBe(200);
    });

    it('applies the same backoff to unknown usernames (no enumeration through the throttle)', async () => {
      for (let i = 0; i < 5; i += 1) await startLogin(gw, 'ghost', 'wrong-password');
      expect(errorCode(await startLogin(gw, 'ghost', 'wrong-password'))).toBe('TOO_MANY_ATTEMPTS');
    });

    it('counts wrong second-factor codes towards the same backoff', async () => {
      for (let i = 0; i < 5; i += 1) {
        const id = await loginId();
        expect(errorCode(await submitTotp(gw, id, '000000'))).toBe('INVALID_CREDENTIALS');
      }
      expect(errorCode(await startLogin(gw, ALICE.username, ALICE.password))).toBe('TOO_MANY_ATTEMPTS');
    });

    it('rate limits login requests per client address', async () => {
      const limited = await startTestGateway({
        database: await fresh(makeDatabase),
        config: { login: { ipRateLimitMax: 3 } },
      });
      try {
        for (let i = 0; i < 3; i += 1) {
          expect((await startLogin(limited, `user${i}`, 'wrong-password', '10.1.1.1')).statusCode).toBe(401);
        }
        const response = await startLogin(limited, 'user9', 'wrong-password', '10.1.1.1');
        expect(response.statusCode).toBe(429);
        expect(errorCode(response)).toBe('RATE_LIMITED');
        expect((await startLogin(limited, 'user9', 'wrong-password', '10.1.1.2')).statusCode).toBe(401);
      } finally {
        await limited.close();
      }
    });
  });

  describe('bad input changes nothing', () => {
    const cases: [string, Record<string, string>, string, number, string][] = [
      ['malformed JSON', { 'content-type': 'application/json' }, '{"username":', 400, 'MALFORMED_JSON'],
      [
        'an unknown field',
        { 'content-type': 'application/json' },
        JSON.stringify({ username: 'alice', password: 'x', channel: 'web', admin: true }),
        400,
        'INVALID_REQUEST',
      ],
      [
        'a wrongly typed field',
        { 'content-type': 'application/json' },
        JSON.stringify({ username: 42, password: 'x', channel: 'web' }),
        400,
        'INVALID_REQUEST',
      ],
      [
        'a missing field',
        { 'content-type': 'application/json' },
        JSON.stringify({ username: 'alice', channel: 'web' }),
        400,
        'INVALID_REQUEST',
      ],
      [
        'an unknown channel',
        { 'content-type': 'application/json' },
        JSON.stringify({ username: 'alice', password: 'x', channel: 'fax' }),
        400,
        'INVALID_REQUEST',
      ],
      [
        'a body over 64 KiB',
        { 'content-type': 'application/json' },
        JSON.stringify({ username: 'alice', password: 'x'.repeat(70_000), channel: 'web' }),
        413,
        'BODY_TOO_LARGE',
      ],
      [
        'a form body',
        { 'content-type': 'application/x-www-form-urlencoded' },
        'username=alice',
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
    ];
    it.each(cases)('refuses %s with a coded error', async (_name, headers, payload, status, code) => {
      const before = [await count('login_transactions'), await count('audit_log')];
      const response = await gw.app.inject({ method: 'POST', url: '/v1/auth/login', headers, payload });
      expect(response.statusCode).toBe(status);
      expect(errorCode(response)).toBe(code);
      expect([await count('login_transactions'), await count('audit_log')]).toEqual(before);
      const throttled = await gw.ctx.store.db.selectFrom('login_throttle').selectAll().execute();
      expect(throttled).toEqual([]);
    });

    it('refuses a malformed factor submission without spending an attempt', async () => {
      const id = await loginId();
      const response = await gw.app.inject({
        method: 'POST',
        url: `/v1/auth/login/${id}/factor`,
        payload: { type: 'totp', code: 123456 },
      });
      expect(response.statusCode).toBe(400);
      expect(errorCode(response)).toBe('INVALID_REQUEST');
      const row = await gw.ctx.store.db
        .selectFrom('login_transactions')
        .select('attempts')
        .executeTakeFirstOrThrow();
      expect(row.attempts).toBe(0);
    });

    it('answers random factor submissions with a coded 4xx, never a 5xx, and spends no session', async () => {
      const id = await loginId();
      await fc.assert(
        fc.asyncProperty(fc.jsonValue(), async (payload) => {
          const response = await gw.app.inject({
            method: 'POST',
            url: `/v1/auth/login/${id}/factor`,
            headers: { 'content-type': 'application/json' },
            payload: JSON.stringify(payload),
          });
          expect(response.statusCode).toBeGreaterThanOrEqual(400);
          expect(response.statusCode).toBeLessThan(500);
          expect(typeof errorCode(response)).toBe('string');
        }),
        { numRuns: 60 },
      );
      expect(await count('sessions')).toBe(0);
    });

    it('answers an unknown route with the error envelope', async () => {
      const response = await gw.app.inject({ method: 'GET', url: '/v1/nope' });
      expect(response.statusCode).toBe(404);
      expect(errorCode(response)).toBe('NOT_FOUND');
    });
  });

  // Security review L2: before the fix the username of a failed login was stored as typed (lower-cased) in the
  // `login.password_failed` and `login.throttled` audit data, so a password typed into the username field stayed in
  // the hash-chained audit log for ever. A name that is no user's is now kept only as a short keyed hash.
  describe('failed logins in the audit log', () => {
    const failures = async () =>
      (
        await gw.ctx.store.db
          .selectFrom('audit_log')
          .select(['type', 'user_id', 'data'])
          .where('type', 'in', ['login.password_failed', 'login.throttled'])
          .orderBy('seq')
          .execute()
      ).map((r) => ({
        type: r.type,
        userId: r.user_id,
        data: JSON.parse(r.data) as Record<string, unknown>,
      }));

    it('keeps an unknown username only as a short keyed hash, one per name, and a user’s name as it is', async () => {
      const typed = 'Tr0ub4dor&3-Sunflower-Meadow';
      const unknown = [];
      for (let i = 0; i < 6; i += 1) unknown.push(await startLogin(gw, typed, 'not-the-password!'));
      const known = [];
      for (let i = 0; i < 6; i += 1) known.push(await startLogin(gw, ALICE.username, 'not-the-password!'));
      await startLogin(gw, 'another-unknown-name', 'not-the-password!');
      // The client cannot tell them apart: the same answers, failures then the backoff, for both.
      expect(unknown.map((r) => r.body)).toEqual(known.map((r) => r.body));
      expect(errorCode(unknown[5] as (typeof unknown)[number])).toBe('TOO_MANY_ATTEMPTS');

      const rows = await failures();
      const written = JSON.stringify(rows);
      expect(written).not.toContain(typed.toLowerCase());
      expect(written.toLowerCase()).not.toContain('sunflower');
      const ofTyped = rows.slice(0, 6);
      expect(ofTyped.map((r) => r.type)).toEqual([
        ...Array(5).fill('login.password_failed'),
        'login.throttled',
      ]);
      const hash = ofTyped[0]?.data.usernameHash as string;
      expect(hash).toMatch(/^[A-Za-z0-9_-]{16}$/);
      // Keyed: not a plain hash of the name anyone could compute and compare.
      expect([sha256(typed.toLowerCase()), sha256(typed)].map((h) => h.slice(0, 16))).not.toContain(hash);
      for (const row of ofTyped) {
        expect(row.userId).toBeNull();
        expect(row.data.username).toBeUndefined();
        expect(row.data.usernameHash).toBe(hash);
      }
      expect(rows[12]?.data.usernameHash).toMatch(/^[A-Za-z0-9_-]{16}$/);
      expect(rows[12]?.data.usernameHash).not.toBe(hash);
      // Nor in the brute-force table: its buckets name users by a keyed hash, known and unknown alike.
      const subjects = JSON.stringify(
        await gw.ctx.store.db.selectFrom('login_throttle').select('subject').execute(),
      );
      expect(subjects.toLowerCase()).not.toContain('sunflower');
      expect(subjects).not.toContain(ALICE.username);

      // A real user's name is recorded as it is (the user id is recorded anyway), throttled attempts included.
      const ofAlice = rows.slice(6, 12);
      expect(ofAlice.map((r) => r.type)).toEqual([
        ...Array(5).fill('login.password_failed'),
        'login.throttled',
      ]);
      for (const row of ofAlice) {
        expect(row.data.username).toBe('alice');
        expect(row.data.usernameHash).toBeUndefined();
      }
      expect(ofAlice[0]?.userId).toMatch(/^usr_/);
    });
  });
});
