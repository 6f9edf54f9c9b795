/**
 * Issue 14, finding 3: every secret-guessing path claims its attempt atomically before the secret is verified, so a
 * concurrent burst gets no more verifications than the limits allow. Each burst runs on SQLite and on PostgreSQL.
 *
 * Before the fix the limits were read before the (slow) verification and written after it. These tests failed
 * then: on both engines 20 parallel wrong passwords were all verified by argon2id, 20 parallel wrong PINs left
 * `pin_failures` at 1 or 2 with the device still enabled, and 20 parallel checks of one SMS code compared 13 to 20
 * codes where 3 may be; on PostgreSQL, whose transactions run side by side, 13 to 20 of 20 parallel wrong TOTP, recovery, SMS or step-up
 * codes were checked where 3 or 5 may be. (On SQLite those code checks happened not to interleave: they never
 * wait on another thread, so each request ran to its end before the next began.)
 */
import { randomBytes } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { describe, expect, it } from 'vitest';
import { type DeviceIdentity, enrolDevice, signWithDevice } from '../authenticator/index.js';
import { MAX_PIN_FAILURES } from '../devices/index.js';
import { SMS_POLICY, totpCode, verifySmsCode } from '../factors/index.js';
import { type TestDatabaseFactory, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  callAs,
  errorCode,
  json,
  type LoggedIn,
  loginAs,
  startLogin,
  startTestGateway,
  type TestGateway,
} from '../test-support/gateway.js';
import { mobileLoginMessage } from './mobile.js';

const BURST = 20;

async function withGateway(
  factory: TestDatabaseFactory,
  run: (gw: TestGateway) => Promise<void>,
  config: Parameters<typeof startTestGateway>[0] = {},
): Promise<void> {
  const database = await factory();
  const gw = await startTestGateway({ ...config, database });
  try {
    await run(gw);
  } finally {
    await gw.close();
    await database.drop();
  }
}

/** Counts every argon2id verification (passwords and PINs) the login service makes. */
function countVerifications(gw: TestGateway): { count: number } {
  const counter = { count: 0 };
  const original = gw.ctx.hasher.verify;
  gw.ctx.hasher.verify = async (encoded, secret) => {
    counter.count += 1;
    return original(encoded, secret);
  };
  return counter;
}

async function auditCount(gw: TestGateway, type: string): Promise<number> {
  const rows = await gw.ctx.store.db
    .selectFrom('audit_log')
    .select('type')
    .where('type', '=', type)
    .execute();
  return rows.length;
}

function codes(responses: LightMyRequestResponse[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of responses) {
    const code = errorCode(r) ?? String(r.statusCode);
    out[code] = (out[code] ?? 0) + 1;
  }
  return out;
}

/** Six-digit codes that are not valid TOTP codes for the secret at `now` (±1 step). */
function wrongTotpCodes(secret: string, now: number, n: number): string[] {
  const valid = new Set([-30_000, 0, 30_000].map((d) => totpCode(secret, now + d)));
  const out: string[] = [];
  for (let i = 0; out.length < n; i += 1) {
    const code = String(100_000 + i * 7919);
    if (!valid.has(code)) out.push(code);
  }
  return out;
}

function submitFactor(gw: TestGateway, loginId: string, type: string, code: string) {
  return gw.app.inject({ method: 'POST', url: `/v1/auth/login/${loginId}/factor`, payload: { type, code } });
}

async function openLogin(gw: TestGateway): Promise<string> {
  const started = await startLogin(gw, ALICE.username, ALICE.password);
  expect(started.statusCode).toBe(200);
  return (json(started) as { loginId: string }).loginId;
}

describe.each(testDatabases())('brute-force limits under a concurrent burst on %s', (_name, factory) => {
  it('verifies at most backoffFreeFailures of 20 parallel wrong passwords', async () => {
    await withGateway(factory, async (gw) => {
      const verified = countVerifications(gw);
      const free = gw.ctx.config.login.backoffFreeFailures;
      const responses = await Promise.all(
        Array.from({ length: BURST }, (_, i) => startLogin(gw, ALICE.username, `wrong-password-${i}`)),
      );
      // Each claim is one conditional statement, so the claim that reaches `free` starts the wait and every later
      // one is refused before argon2id runs: exactly `free` verifications, however the burst interleaves.
      expect(verified.count).toBe(free);
      expect(codes(responses)).toEqual({ INVALID_CREDENTIALS: free, TOO_MANY_ATTEMPTS: BURST - free });
      expect(await auditCount(gw, 'login.password_failed')).toBe(free);
      // The owner's right password now waits too (same network, no device cookie).
      expect(errorCode(await startLogin(gw, ALICE.username, ALICE.password))).toBe('TOO_MANY_ATTEMPTS');
    });
  });

  it('counts every one of 20 parallel wrong PINs it verifies and disables the device after 5', async () => {
    await withGateway(
      factory,
      async (gw) => {
        const base = await gw.listen();
        const session = await loginAs(gw, ALICE);
        const enrol = await gw.app.inject({
          method: 'POST',
          url: '/v1/devices/mobile/enroll',
          headers: { cookie: session.cookie, 'x-csrf-token': session.csrf, host: new URL(base).host },
        });
        const phone: DeviceIdentity = await enrolDevice(
          (json(enrol) as { activationUri: string }).activationUri,
          { name: 'iPhone', platform: 'ios', pin: '2468' },
        );
        const mobileLogin = (pin: string) => {
          const ts = gw.clock.now();
          const nonce = randomBytes(16).toString('base64url');
          return gw.app.inject({
            method: 'POST',
            url: '/v1/auth/login',
            payload: {
              channel: 'mobile',
              deviceId: phone.deviceId,
              pin,
              ts,
              nonce,
              signature: signWithDevice(phone.privateKey, mobileLoginMessage(phone.deviceId, ts, nonce)),
            },
          });
        };
        const verified = countVerifications(gw);
        const responses = await Promise.all(Array.from({ length: BURST }, () => mobileLogin('0000')));
        const row = await gw.ctx.store.db
          .selectFrom('devices')
          .select(['pin_failures', 'login_disabled'])
          .where('id', '=', phone.deviceId)
          .executeTakeFirstOrThrow();
        expect(row).toEqual({ pin_failures: MAX_PIN_FAILURES, login_disabled: 1 });
        expect(verified.count).toBe(MAX_PIN_FAILURES);
        expect(codes(responses)).toEqual({
          INVALID_CREDENTIALS: MAX_PIN_FAILURES - 1,
          DEVICE_REVOKED: BURST - MAX_PIN_FAILURES + 1,
        });
        const notes = await gw.ctx.store.db
          .selectFrom('notifications')
          .select('kind')
          .where('kind', '=', 'factor_removed')
          .execute();
        expect(notes).toHaveLength(1);
        expect(errorCode(await mobileLogin('2468'))).toBe('DEVICE_REVOKED');
      },
      { config: { server: { port: 0, host: '127.0.0.1' } } },
    );
  });

  it('checks at most maxFactorAttempts of 20 parallel wrong TOTP codes on one login', async () => {
    await withGateway(
      factory,
      async (gw) => {
        const loginId = await openLogin(gw);
        const wrong = wrongTotpCodes(ALICE.totpSecret, gw.clock.now(), BURST);
        const responses = await Promise.all(wrong.map((code) => submitFactor(gw, loginId, 'totp', code)));
        expect(await auditCount(gw, 'login.factor_failed')).toBe(3);
        expect(codes(responses)).toEqual({ INVALID_CREDENTIALS: 3, LOGIN_INVALID: BURST - 3 });
        const row = await gw.ctx.store.db
          .selectFrom('login_transactions')
          .select('attempts')
          .executeTakeFirstOrThrow();
        expect(row.attempts).toBe(3);
        // The right code cannot complete the spent login.
        const right = await submitFactor(gw, loginId, 'totp', totpCode(ALICE.totpSecret, gw.clock.now()));
        expect(errorCode(right)).toBe('LOGIN_INVALID');
      },
      { config: { login: { maxFactorAttempts: 3 } } },
    );
  });

  it('checks at most backoffFreeFailures TOTP codes over parallel bursts on several logins', async () => {
    await withGateway(factory, async (gw) => {
      const free = gw.ctx.config.login.backoffFreeFailures;
      const logins = [await openLogin(gw), await openLogin(gw), await openLogin(gw), await openLogin(gw)];
      const wrong = wrongTotpCodes(ALICE.totpSecret, gw.clock.now(), BURST);
      const responses = await Promise.all(
        wrong.map((code, i) => submitFactor(gw, logins[i % logins.length] as string, 'totp', code)),
      );
      expect(await auditCount(gw, 'login.factor_failed')).toBe(free);
      expect(codes(responses)).toEqual({ INVALID_CREDENTIALS: free, TOO_MANY_ATTEMPTS: BURST - free });
    });
  });

  it('checks at most maxFactorAttempts of 20 parallel wrong recovery codes', async () => {
    await withGateway(
      factory,
      async (gw) => {
        const alice = await loginAs(gw, ALICE);
        const generated = json(await callAs(gw, 'POST', '/v1/factors/recovery-codes', alice)) as {
          codes: string[];
        };
        expect(generated.codes).toHaveLength(10);
        const loginId = await openLogin(gw);
        const responses = await Promise.all(
          Array.from({ length: BURST }, (_, i) =>
            submitFactor(gw, loginId, 'recovery_code', `zzzz-zzzz-zzzz-${String(1000 + i).slice(-4)}`),
          ),
        );
        expect(await auditCount(gw, 'login.factor_failed')).toBe(3);
        expect(codes(responses)).toEqual({ INVALID_CREDENTIALS: 3, LOGIN_INVALID: BURST - 3 });
        const remaining = await gw.ctx.store.db
          .selectFrom('recovery_codes')
          .select('id')
          .where('used_at', 'is', null)
          .execute();
        expect(remaining).toHaveLength(10);
      },
      { config: { login: { maxFactorAttempts: 3 } } },
    );
  });

  it('checks at most 3 of 20 parallel wrong SMS codes, and the right code is void afterwards', async () => {
    await withGateway(factory, async (gw) => {
      const alice = await loginAs(gw, ALICE);
      const smsCode = async () => {
        const row = await gw.ctx.store.db
          .selectFrom('sms_outbox')
          .select('body')
          .orderBy('created_at', 'desc')
          .orderBy('id', 'desc')
          .executeTakeFirstOrThrow();
        return /(\d{6})/.exec(row.body)?.[1] ?? '';
      };
      const enrol = json(await callAs(gw, 'POST', '/v1/factors/sms', alice, { phone: '+14155550100' })) as {
        factorId: string;
      };
      const confirmed = await callAs(gw, 'POST', `/v1/factors/${enrol.factorId}/confirm`, alice, {
        code: await smsCode(),
      });
      expect(confirmed.statusCode).toBe(200);

      gw.clock.advance(31_000);
      const loginId = await openLogin(gw);
      expect((await gw.app.inject({ method: 'POST', url: `/v1/auth/login/${loginId}/sms` })).statusCode).toBe(
        200,
      );
      const right = await smsCode();
      const wrong = Array.from({ length: BURST }, (_, i) => String((Number(right) + 1 + i) % 1_000_000));
      await Promise.all(wrong.map((code) => submitFactor(gw, loginId, 'sms', code.padStart(6, '0'))));
      const challenge = await gw.ctx.store.db
        .selectFrom('sms_challenges')
        .select(['attempts', 'consumed_at'])
        .orderBy('created_at', 'desc')
        .executeTakeFirstOrThrow();
      expect(challenge).toEqual({ attempts: SMS_POLICY.maxAttempts, consumed_at: null });
      // The login's own limit (maxFactorAttempts = backoffFreeFailures = 5) bounds the checks as well.
      expect(await auditCount(gw, 'login.factor_failed')).toBe(5);
      expect(errorCode(await submitFactor(gw, loginId, 'sms', right))).toBeOneOf([
        'INVALID_CREDENTIALS',
        'LOGIN_INVALID',
        'TOO_MANY_ATTEMPTS',
      ]);
      expect(await gw.ctx.store.db.selectFrom('sessions').select('id').execute()).toHaveLength(1);
    });
  });

  it('spends at most 3 attempts of one SMS challenge when its checks run in parallel', async () => {
    await withGateway(factory, async (gw) => {
      const alice = await loginAs(gw, ALICE);
      const enrol = json(await callAs(gw, 'POST', '/v1/factors/sms', alice, { phone: '+14155550100' })) as {
        factorId: string;
      };
      expect(enrol.factorId).toMatch(/^fac_/);
      const sent = await gw.ctx.store.db.selectFrom('sms_outbox').select('body').executeTakeFirstOrThrow();
      const right = Number(/(\d{6})/.exec(sent.body)?.[1]);
      const user = await gw.ctx.store.db
        .selectFrom('users')
        .select('id')
        .where('username', '=', 'alice')
        .executeTakeFirstOrThrow();
      // The factor's enrolment confirmation checks codes outside any transaction: the claim alone bounds it.
      const results = await Promise.all(
        Array.from({ length: BURST }, (_, i) =>
          verifySmsCode(
            gw.ctx.store.db,
            gw.clock,
            user.id,
            String((right + 1 + i) % 1_000_000).padStart(6, '0'),
            { purpose: 'enrol', factorId: enrol.factorId },
          ),
        ),
      );
      const reasons = results.map((r) => (r.ok ? 'ok' : r.reason));
      expect(reasons.filter((r) => r === 'mismatch')).toHaveLength(SMS_POLICY.maxAttempts);
      expect(reasons.filter((r) => r === 'locked')).toHaveLength(BURST - SMS_POLICY.maxAttempts);
      const challenge = await gw.ctx.store.db
        .selectFrom('sms_challenges')
        .select('attempts')
        .executeTakeFirstOrThrow();
      expect(challenge.attempts).toBe(SMS_POLICY.maxAttempts);
    });
  });

  it('checks at most backoffFreeFailures of 20 parallel wrong step-up codes', async () => {
    await withGateway(factory, async (gw) => {
      const free = gw.ctx.config.login.backoffFreeFailures;
      const alice: LoggedIn = await loginAs(gw, ALICE);
      const wrong = wrongTotpCodes(ALICE.totpSecret, gw.clock.now(), BURST);
      const responses = await Promise.all(
        wrong.map((code) => callAs(gw, 'POST', '/v1/session/step-up', alice, { type: 'totp', code })),
      );
      expect(await auditCount(gw, 'login.factor_failed')).toBe(free);
      expect(codes(responses)).toEqual({ INVALID_CREDENTIALS: free, TOO_MANY_ATTEMPTS: BURST - free });
      // A code of the next step (accepted within the ±1 window; the current step was spent by the login).
      const right = { type: 'totp', code: totpCode(ALICE.totpSecret, gw.clock.now() + 30_000) };
      expect(errorCode(await callAs(gw, 'POST', '/v1/session/step-up', alice, right))).toBe(
        'TOO_MANY_ATTEMPTS',
      );
      gw.clock.advance(gw.ctx.config.login.backoffBaseMs);
      expect((await callAs(gw, 'POST', '/v1/session/step-up', alice, right)).statusCode).toBe(200);
    });
  });
});

describe.each(testDatabases())(
  'attempts that spend nothing, and ones that spend exactly one, on %s',
  (_n, factory) => {
    /** What an attempt can spend: bucket counts, the logins' attempts, sessions and audit rows. */
    async function spent(gw: TestGateway) {
      const db = gw.ctx.store.db;
      const throttle = await db
        .selectFrom('login_throttle')
        .select(['subject', 'failures'])
        .orderBy('subject')
        .execute();
      const logins = await db
        .selectFrom('login_transactions')
        .select('attempts')
        .orderBy('created_at')
        .execute();
      const sessions = await db.selectFrom('sessions').select('id').execute();
      const audit = await db.selectFrom('audit_log').select('type').execute();
      return {
        throttle: Object.fromEntries(throttle.map((r) => [r.subject.split(' ')[0], r.failures])),
        attempts: logins.map((r) => r.attempts),
        sessions: sessions.length,
        audit: audit.length,
      };
    }

    it('spends one attempt and one failure on a wrong code, and issues nothing', async () => {
      await withGateway(factory, async (gw) => {
        const loginId = await openLogin(gw);
        const before = await spent(gw);
        const [wrong] = wrongTotpCodes(ALICE.totpSecret, gw.clock.now(), 1);
        expect(errorCode(await submitFactor(gw, loginId, 'totp', wrong as string))).toBe(
          'INVALID_CREDENTIALS',
        );
        const after = await spent(gw);
        expect(after.attempts).toEqual([1]);
        expect(after.throttle).toEqual({ account: 1, network: 1 });
        expect(before.throttle).toEqual({ account: 0, network: 0 });
        expect(after.sessions).toBe(0);
      });
    });

    it('spends an attempt on a replayed code and issues nothing', async () => {
      await withGateway(factory, async (gw) => {
        const code = totpCode(ALICE.totpSecret, gw.clock.now());
        expect((await submitFactor(gw, await openLogin(gw), 'totp', code)).statusCode).toBe(200);
        const replayed = await openLogin(gw);
        expect(errorCode(await submitFactor(gw, replayed, 'totp', code))).toBe('INVALID_CREDENTIALS');
        const after = await spent(gw);
        expect(after.attempts).toEqual([1, 1]); // the right code spent its attempt too, then completed
        expect(after.sessions).toBe(1);
        expect(await auditCount(gw, 'login.factor_replayed')).toBe(1);
      });
    });

    it('spends nothing on an expired login, an unavailable factor or malformed input', async () => {
      await withGateway(factory, async (gw) => {
        const alice = await loginAs(gw, ALICE);
        const loginId = await openLogin(gw);
        const before = await spent(gw);
        const refused = [
          await submitFactor(gw, loginId, 'sms', '123456'),
          await gw.app.inject({
            method: 'POST',
            url: `/v1/auth/login/${loginId}/factor`,
            payload: { type: 'totp', code: 123456 },
          }),
          await gw.app.inject({
            method: 'POST',
            url: `/v1/auth/login/${loginId}/factor`,
            payload: { type: 'password', code: '123456' },
          }),
          await callAs(gw, 'POST', '/v1/session/step-up', alice, { type: 'totp' }),
          await callAs(gw, 'POST', '/v1/session/step-up', alice, { type: 'sms', code: '123456' }),
          await gw.app.inject({
            method: 'POST',
            url: '/v1/auth/login',
            payload: { username: ALICE.username, channel: 'web' },
          }),
        ];
        expect(refused.map((r) => errorCode(r))).toEqual([
          'FACTOR_NOT_AVAILABLE',
          'INVALID_REQUEST',
          'INVALID_REQUEST',
          'INVALID_REQUEST',
          'FACTOR_NOT_AVAILABLE',
          'INVALID_REQUEST',
        ]);
        gw.clock.advance(gw.ctx.config.login.transactionTtlMs);
        const expired = await submitFactor(gw, loginId, 'totp', totpCode(ALICE.totpSecret, gw.clock.now()));
        expect(errorCode(expired)).toBe('LOGIN_INVALID');
        expect(await spent(gw)).toEqual(before);
      });
    });

    it('spends no try of an expired SMS code', async () => {
      await withGateway(factory, async (gw) => {
        const alice = await loginAs(gw, ALICE);
        const enrol = json(await callAs(gw, 'POST', '/v1/factors/sms', alice, { phone: '+14155550100' })) as {
          factorId: string;
        };
        const user = await gw.ctx.store.db
          .selectFrom('users')
          .select('id')
          .where('username', '=', 'alice')
          .executeTakeFirstOrThrow();
        gw.clock.advance(SMS_POLICY.ttlMs);
        const binding = { purpose: 'enrol', factorId: enrol.factorId } as const;
        expect(await verifySmsCode(gw.ctx.store.db, gw.clock, user.id, '123456', binding)).toEqual({
          ok: false,
          reason: 'expired',
        });
        const challenge = await gw.ctx.store.db
          .selectFrom('sms_challenges')
          .select('attempts')
          .executeTakeFirstOrThrow();
        expect(challenge.attempts).toBe(0);
      });
    });
  },
);
