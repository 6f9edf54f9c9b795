/**
 * The factor registry over HTTP: enrolment with confirmation, rename, removal, the recent-second-factor rule, SMS
 * restrictions, recovery codes and the backup-factor warning. Each failure leaves the registry unchanged.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type TestDatabase, type TestDatabaseFactory, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  BRUNO,
  callAs,
  errorCode,
  json,
  type LoggedIn,
  loginAs,
  type Method,
  renewed,
  startLogin,
  startTestGateway,
  type TestGateway,
} from '../test-support/gateway.js';
import { totpCode } from './index.js';

let gw: TestGateway;
const databases: TestDatabase[] = [];
let alice: LoggedIn;

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

const call = (method: Method, url: string, as: LoggedIn, payload?: unknown) =>
  callAs(gw, method, url, as, payload);

async function factors(as: LoggedIn = alice) {
  return json(await call('GET', '/v1/factors', as)) as {
    factors: { id: string; type: string; status: string; label: string; phone?: string }[];
    recoveryCodes: { remaining: number };
    backupFactorMissing: boolean;
  };
}

async function lastSms(): Promise<string> {
  const row = await gw.ctx.store.db
    .selectFrom('sms_outbox')
    .select('body')
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .executeTakeFirstOrThrow();
  return /(\d{6})/.exec(row.body)?.[1] ?? '';
}

describe.each(testDatabases())('factors on %s', (_name, makeDatabase) => {
  beforeEach(async () => {
    gw = await startTestGateway({ database: await fresh(makeDatabase) });
    alice = await loginAs(gw, ALICE);
  });

  describe('factor registry', () => {
    it('lists the factors and warns while there is no backup', async () => {
      const list = await factors();
      expect(list.factors).toHaveLength(1);
      expect(list.factors[0]).toMatchObject({ type: 'totp', status: 'active' });
      expect(list.backupFactorMissing).toBe(true);
      expect(JSON.stringify(list)).not.toContain(ALICE.totpSecret);
    });

    it('enrols a second TOTP app only once a first code confirms it', async () => {
      const enrol = await call('POST', '/v1/factors/totp', alice, { label: 'Backup phone' });
      expect(enrol.statusCode).toBe(200);
      const { factorId, secret, uri } = json(enrol) as { factorId: string; secret: string; uri: string };
      expect(uri).toContain(`secret=${secret}`);
      expect((await factors()).factors.find((f) => f.id === factorId)?.status).toBe('pending');
      // A pending factor cannot be used to log in.
      expect(
        (json(await startLogin(gw, ALICE.username, ALICE.password)) as { factors: unknown[] }).factors,
      ).toEqual([{ type: 'totp' }]);
      const wrong = await call('POST', `/v1/factors/${factorId}/confirm`, alice, { code: '000000' });
      expect(errorCode(wrong)).toBe('INVALID_CREDENTIALS');
      const ok = await call('POST', `/v1/factors/${factorId}/confirm`, alice, {
        code: totpCode(secret, gw.clock.now()),
      });
      expect(ok.statusCode).toBe(200);
      expect(json(ok)).toMatchObject({ status: 'active', backupFactorMissing: false });
      const notes = await gw.ctx.store.db.selectFrom('notifications').select('kind').execute();
      expect(notes.map((n) => n.kind)).toContain('factor_added');
    });

    it('requires a second factor verified in the last 5 minutes, then accepts one after step-up', async () => {
      gw.clock.advance(5 * 60_000 + 1);
      const stale = await call('POST', '/v1/factors/recovery-codes', alice);
      expect(stale.statusCode).toBe(403);
      expect(errorCode(stale)).toBe('STEP_UP_REQUIRED');
      expect((json(stale).error as { details: { reason: string } }).details.reason).toBe(
        'stale_second_factor',
      );
      expect((await factors()).recoveryCodes.remaining).toBe(0);

      gw.clock.advance(30_000);
      const stepUp = await call('POST', '/v1/session/step-up', alice, {
        type: 'totp',
        code: totpCode(ALICE.totpSecret, gw.clock.now()),
      });
      expect(stepUp.statusCode).toBe(200);
      alice = renewed(alice, stepUp);
      expect((await call('POST', '/v1/factors/recovery-codes', alice)).statusCode).toBe(200);
    });

    it('renames and removes factors, but never the last one', async () => {
      const { factors: list } = await factors();
      const only = list[0]?.id as string;
      const renamed = await call('PATCH', `/v1/factors/${only}`, alice, { label: 'Work phone' });
      expect(renamed.statusCode).toBe(200);
      expect((await factors()).factors[0]?.label).toBe('Work phone');
      const last = await call('DELETE', `/v1/factors/${only}`, alice);
      expect(last.statusCode).toBe(409);
      expect(errorCode(last)).toBe('LAST_FACTOR');

      const { factorId, secret } = json(await call('POST', '/v1/factors/totp', alice, {})) as {
        factorId: string;
        secret: string;
      };
      await call('POST', `/v1/factors/${factorId}/confirm`, alice, {
        code: totpCode(secret, gw.clock.now()),
      });
      const removed = await call('DELETE', `/v1/factors/${only}`, alice);
      expect(removed.statusCode).toBe(200);
      expect((await factors()).factors.map((f) => f.id)).toEqual([factorId]);
      const notes = await gw.ctx.store.db.selectFrom('notifications').select('kind').execute();
      expect(notes.map((n) => n.kind)).toContain('factor_removed');
    });

    it('cannot touch another user’s factor', async () => {
      const bruno = await loginAs(gw, BRUNO);
      const brunoFactor = (await factors(bruno)).factors[0]?.id as string;
      for (const response of [
        await call('PATCH', `/v1/factors/${brunoFactor}`, alice, { label: 'mine now' }),
        await call('DELETE', `/v1/factors/${brunoFactor}`, alice),
        await call('POST', `/v1/factors/${brunoFactor}/confirm`, alice, { code: '123456' }),
      ]) {
        expect(response.statusCode).toBe(404);
        expect(errorCode(response)).toBe('FACTOR_NOT_FOUND');
      }
      expect((await factors(bruno)).factors[0]?.label).toBe('Demo authenticator');
    });

    it('refuses malformed enrolments without changing anything', async () => {
      for (const [url, payload] of [
        ['/v1/factors/sms', { phone: '555-1234' }],
        ['/v1/factors/sms', { phone: '+14155550100', extra: 1 }],
        ['/v1/factors/totp', { label: '' }],
      ] as const) {
        const response = await call('POST', url, alice, payload);
        expect(response.statusCode).toBe(400);
        expect(errorCode(response)).toBe('INVALID_REQUEST');
      }
      expect((await factors()).factors).toHaveLength(1);
    });
  });

  describe('SMS', () => {
    async function enrolSms(as: LoggedIn = alice, phone = '+14155550100') {
      const enrol = await call('POST', '/v1/factors/sms', as, { phone });
      expect(enrol.statusCode).toBe(200);
      const { factorId } = json(enrol) as { factorId: string };
      const confirm = await call('POST', `/v1/factors/${factorId}/confirm`, as, { code: await lastSms() });
      expect(confirm.statusCode).toBe(200);
      return factorId;
    }

    it('enrols a number, masks it in the list, and logs in with a texted code', async () => {
      await enrolSms();
      const listed = (await factors()).factors.find((f) => f.type === 'sms');
      expect(listed?.phone).toBe('+14•••••••00');
      gw.clock.advance(31_000);
      const started = json(await startLogin(gw, ALICE.username, ALICE.password)) as {
        loginId: string;
        factors: { type: string }[];
      };
      expect(started.factors.map((f) => f.type)).toEqual(['totp', 'sms']);
      const sent = await gw.app.inject({ method: 'POST', url: `/v1/auth/login/${started.loginId}/sms` });
      expect(sent.statusCode).toBe(200);
      expect(json(sent)).toMatchObject({ status: 'sms_sent', remainingThisHour: 3 });
      const done = await gw.app.inject({
        method: 'POST',
        url: `/v1/auth/login/${started.loginId}/factor`,
        payload: { type: 'sms', code: await lastSms() },
      });
      expect(done.statusCode).toBe(200);
      expect((json(done) as { session: { amr: string[] } }).session.amr).toEqual(['pwd', 'sms']);
    });

    it('leaves no pending factor behind when the resend limit refuses the enrolment text', async () => {
      // Found by the route fuzzer (test-support/fuzz): the refused enrolment kept its pending factor.
      const first = await call('POST', '/v1/factors/sms', alice, { phone: '+14155550100' });
      expect(first.statusCode).toBe(200);
      const before = await gw.ctx.store.db.selectFrom('second_factors').select('id').execute();
      const refused = await call('POST', '/v1/factors/sms', alice, { phone: '+14155550101' });
      expect(errorCode(refused)).toBe('SMS_RESEND_TOO_SOON');
      expect(await gw.ctx.store.db.selectFrom('second_factors').select('id').execute()).toEqual(before);
    });

    it('limits resends to one per 30 s and five per hour', async () => {
      await enrolSms();
      const started = json(await startLogin(gw, ALICE.username, ALICE.password)) as { loginId: string };
      const send = () => gw.app.inject({ method: 'POST', url: `/v1/auth/login/${started.loginId}/sms` });
      const tooSoon = await send();
      expect(tooSoon.statusCode).toBe(429);
      expect(errorCode(tooSoon)).toBe('SMS_RESEND_TOO_SOON');
      for (let i = 0; i < 4; i += 1) {
        gw.clock.advance(30_000);
        expect((await send()).statusCode).toBe(200);
      }
      gw.clock.advance(30_000);
      const limit = await send();
      expect(errorCode(limit)).toBe('SMS_LIMIT_REACHED');
      expect(await gw.ctx.store.db.selectFrom('sms_outbox').select('id').execute()).toHaveLength(5);
    });

    it('voids a code after 3 wrong attempts and after 5 minutes', async () => {
      await enrolSms();
      gw.clock.advance(30_000);
      const first = json(await startLogin(gw, ALICE.username, ALICE.password)) as { loginId: string };
      await gw.app.inject({ method: 'POST', url: `/v1/auth/login/${first.loginId}/sms` });
      const code = await lastSms();
      const submit = (loginId: string, c: string) =>
        gw.app.inject({
          method: 'POST',
          url: `/v1/auth/login/${loginId}/factor`,
          payload: { type: 'sms', code: c },
        });
      const wrong = code === '999999' ? '111111' : '999999';
      for (let i = 0; i < 3; i += 1) expect((await submit(first.loginId, wrong)).statusCode).toBe(401);
      const second = json(await startLogin(gw, ALICE.username, ALICE.password)) as { loginId: string };
      expect((await submit(second.loginId, code)).statusCode).toBe(401);

      gw.clock.advance(30_000);
      await gw.app.inject({ method: 'POST', url: `/v1/auth/login/${second.loginId}/sms` });
      const fresh = await lastSms();
      gw.clock.advance(5 * 60_000);
      expect((await submit(second.loginId, fresh)).statusCode).toBe(401);
    });

    it('a session authenticated by SMS cannot enrol or remove factors', async () => {
      await enrolSms();
      gw.clock.advance(31_000);
      const started = json(await startLogin(gw, ALICE.username, ALICE.password)) as { loginId: string };
      await gw.app.inject({ method: 'POST', url: `/v1/auth/login/${started.loginId}/sms` });
      const done = await gw.app.inject({
        method: 'POST',
        url: `/v1/auth/login/${started.loginId}/factor`,
        payload: { type: 'sms', code: await lastSms() },
      });
      const smsSession: LoggedIn = {
        cookie: `gh_session=${done.cookies.find((c) => c.name === 'gh_session')?.value}`,
        csrf: (json(done) as { csrfToken: string }).csrfToken,
        sessionId: '',
      };
      const response = await call('POST', '/v1/factors/totp', smsSession, {});
      expect(response.statusCode).toBe(403);
      expect(errorCode(response)).toBe('FACTOR_TOO_WEAK');
      const totpId = (await factors()).factors.find((f) => f.type === 'totp')?.id as string;
      expect(errorCode(await call('DELETE', `/v1/factors/${totpId}`, smsSession))).toBe('FACTOR_TOO_WEAK');
    });
  });

  describe('recovery codes', () => {
    it('are shown once, work once each, and tell the user to enrol a new device', async () => {
      const generated = await call('POST', '/v1/factors/recovery-codes', alice);
      const { codes } = json(generated) as { codes: string[] };
      expect(codes).toHaveLength(10);
      expect(new Set(codes).size).toBe(10);
      const stored = await gw.ctx.store.db.selectFrom('recovery_codes').select('code_hash').execute();
      expect(JSON.stringify(stored)).not.toContain((codes[0] as string).replace(/-/g, ''));
      expect((await factors()).backupFactorMissing).toBe(false);

      const login = async (code: string) => {
        const { loginId } = json(await startLogin(gw, ALICE.username, ALICE.password)) as { loginId: string };
        return gw.app.inject({
          method: 'POST',
          url: `/v1/auth/login/${loginId}/factor`,
          payload: { type: 'recovery_code', code },
        });
      };
      const used = await login((codes[3] as string).toUpperCase());
      expect(used.statusCode).toBe(200);
      expect(json(used)).toMatchObject({ notice: 'recovery_code_used', remainingRecoveryCodes: 9 });
      const again = await login(codes[3] as string);
      expect(errorCode(again)).toBe('INVALID_CREDENTIALS');
      const notes = await gw.ctx.store.db.selectFrom('notifications').select('kind').execute();
      expect(notes.map((n) => n.kind)).toContain('recovery_code_used');
      expect((await factors()).recoveryCodes.remaining).toBe(9);
    });

    it('a new set voids the unused old codes', async () => {
      const { codes: old } = json(await call('POST', '/v1/factors/recovery-codes', alice)) as {
        codes: string[];
      };
      await call('POST', '/v1/factors/recovery-codes', alice);
      const { loginId } = json(await startLogin(gw, ALICE.username, ALICE.password)) as { loginId: string };
      const response = await gw.app.inject({
        method: 'POST',
        url: `/v1/auth/login/${loginId}/factor`,
        payload: { type: 'recovery_code', code: old[0] },
      });
      expect(errorCode(response)).toBe('INVALID_CREDENTIALS');
    });
  });

  describe('step-up on a network change', () => {
    it('marks the session when its client address moves to another network, and a second factor clears it', async () => {
      const from = (ip: string) =>
        gw.app.inject({
          method: 'POST',
          url: '/v1/factors/recovery-codes',
          headers: { cookie: alice.cookie, 'x-csrf-token': alice.csrf },
          remoteAddress: ip,
        });
      // Same /24 as the login address (127.0.0.1): no step-up.
      expect((await from('127.0.0.77')).statusCode).toBe(200);
      const moved = await from('203.0.113.5');
      expect(moved.statusCode).toBe(403);
      expect(errorCode(moved)).toBe('STEP_UP_REQUIRED');
      expect((json(moved).error as { details: { reason: string } }).details.reason).toBe('network_changed');
      // Reading still works on the new network.
      const read = await gw.app.inject({
        method: 'GET',
        url: '/v1/session',
        headers: { cookie: alice.cookie },
        remoteAddress: '203.0.113.5',
      });
      expect(read.statusCode).toBe(200);
      const audit = await gw.ctx.store.db.selectFrom('audit_log').select('type').execute();
      expect(audit.map((a) => a.type)).toContain('session.network_changed');

      gw.clock.advance(30_000);
      const stepUp = await gw.app.inject({
        method: 'POST',
        url: '/v1/session/step-up',
        headers: { cookie: alice.cookie, 'x-csrf-token': alice.csrf },
        remoteAddress: '203.0.113.5',
        payload: { type: 'totp', code: totpCode(ALICE.totpSecret, gw.clock.now()) },
      });
      expect(stepUp.statusCode).toBe(200);
      alice = renewed(alice, stepUp);
      expect((await from('203.0.113.5')).statusCode).toBe(200);
    });

    it('refuses a wrong step-up code and counts it towards the backoff', async () => {
      const response = await call('POST', '/v1/session/step-up', alice, { type: 'totp', code: '000000' });
      expect(response.statusCode).toBe(401);
      const row = await gw.ctx.store.db
        .selectFrom('login_throttle')
        .select('failures')
        .executeTakeFirstOrThrow();
      expect(row.failures).toBe(1);
    });

    it('uses the trusted proxy’s X-Forwarded-For only when the peer is trusted', async () => {
      const proxied = await startTestGateway({
        database: await fresh(makeDatabase),
        config: { server: { trustedProxies: ['10.0.0.1'] } },
      });
      try {
        const me = await loginAs(proxied, ALICE);
        const via = (peer: string, forwarded: string) =>
          proxied.app.inject({
            method: 'POST',
            url: '/v1/factors/recovery-codes',
            headers: { cookie: me.cookie, 'x-csrf-token': me.csrf, 'x-forwarded-for': forwarded },
            remoteAddress: peer,
          });
        // An untrusted peer's X-Forwarded-For is ignored: the client is 127.0.0.1, as at login.
        expect((await via('127.0.0.1', '198.51.100.1')).statusCode).toBe(200);
        // Through the trusted proxy the forwarded address counts, and it is on another network.
        expect(errorCode(await via('10.0.0.1', '198.51.100.1'))).toBe('STEP_UP_REQUIRED');
        proxied.clock.advance(30_000);
        const stepped = await proxied.app.inject({
          method: 'POST',
          url: '/v1/session/step-up',
          headers: { cookie: me.cookie, 'x-csrf-token': me.csrf, 'x-forwarded-for': '198.51.100.1' },
          remoteAddress: '10.0.0.1',
          payload: { type: 'totp', code: totpCode(ALICE.totpSecret, proxied.clock.now()) },
        });
        expect(stepped.statusCode).toBe(200);
        const after = renewed(me, stepped);
        const from = (peer: string, forwarded?: string) =>
          proxied.app.inject({
            method: 'POST',
            url: '/v1/factors/recovery-codes',
            headers: {
              cookie: after.cookie,
              'x-csrf-token': after.csrf,
              ...(forwarded === undefined ? {} : { 'x-forwarded-for': forwarded }),
            },
            remoteAddress: peer,
          });
        // The proxy's own address with nothing forwarded (its health check, an upgrade sent without the header) is
        // no client network: the session is not sent back and forth between networks and needs no new step-up.
        expect((await from('10.0.0.1')).statusCode).toBe(200);
        expect((await from('10.0.0.1', '198.51.100.1')).statusCode).toBe(200);
      } finally {
        await proxied.close();
      }
    });
  });
});
