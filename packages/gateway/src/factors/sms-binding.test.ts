/**
 * ASVS 5.0 6.6.2: an out-of-band code is bound to the request it was made for and is not usable for a previous or
 * subsequent one. An SMS code completes the login it was sent for, the step-up of the session that asked for it, or
 * the enrolment of the factor it went to, and nothing else; a check for anything else finds no code and spends no
 * try of it. On SQLite and PostgreSQL.
 *
 * Before codes were bound, the user's newest unconsumed code was checked whatever asked: a code texted for one
 * login completed another, a step-up's code completed a login, and the code confirming a new number logged in.
 */
import type { LightMyRequestResponse } from 'fastify';
import { describe, expect, it } from 'vitest';
import { type TestDatabaseFactory, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  BRUNO,
  callAs,
  errorCode,
  json,
  type LoggedIn,
  lastSmsCode,
  loginAs,
  renewed,
  startLogin,
  startTestGateway,
  type TestGateway,
} from '../test-support/gateway.js';
import { SMS_POLICY } from './index.js';

async function withGateway(factory: TestDatabaseFactory, run: (gw: TestGateway) => Promise<void>) {
  const database = await factory();
  const gw = await startTestGateway({ database });
  try {
    await run(gw);
  } finally {
    await gw.close();
    await database.drop();
  }
}

/** Enrols and confirms an SMS number for the session's user; the clock moves past the resend interval. */
async function enrolSms(gw: TestGateway, as: LoggedIn, phone = '+14155550100'): Promise<string> {
  const enrol = await callAs(gw, 'POST', '/v1/factors/sms', as, { phone });
  expect(enrol.statusCode).toBe(200);
  const { factorId } = json(enrol) as { factorId: string };
  const confirmed = await callAs(gw, 'POST', `/v1/factors/${factorId}/confirm`, as, {
    code: await lastSmsCode(gw),
  });
  expect(confirmed.statusCode).toBe(200);
  gw.clock.advance(SMS_POLICY.resendIntervalMs + 1_000);
  return factorId;
}

async function openLogin(gw: TestGateway, user = ALICE): Promise<string> {
  const started = await startLogin(gw, user.username, user.password);
  expect(started.statusCode).toBe(200);
  return (json(started) as { loginId: string }).loginId;
}

async function textLogin(gw: TestGateway, loginId: string): Promise<string> {
  const sent = await gw.app.inject({ method: 'POST', url: `/v1/auth/login/${loginId}/sms` });
  expect(sent.statusCode).toBe(200);
  return lastSmsCode(gw);
}

function submitSms(gw: TestGateway, loginId: string, code: string) {
  return gw.app.inject({
    method: 'POST',
    url: `/v1/auth/login/${loginId}/factor`,
    payload: { type: 'sms', code },
  });
}

async function textStepUp(gw: TestGateway, as: LoggedIn): Promise<string> {
  const sent = await callAs(gw, 'POST', '/v1/session/step-up/sms', as, {});
  expect(sent.statusCode).toBe(200);
  return lastSmsCode(gw);
}

function stepUpSms(gw: TestGateway, as: LoggedIn, code: string) {
  return callAs(gw, 'POST', '/v1/session/step-up', as, { type: 'sms', code });
}

function refused(response: LightMyRequestResponse): string | undefined {
  expect(response.statusCode).toBe(401);
  return errorCode(response);
}

async function challengeTries(gw: TestGateway): Promise<number[]> {
  const rows = await gw.ctx.store.db
    .selectFrom('sms_challenges')
    .select('attempts')
    .where('consumed_at', 'is', null)
    .execute();
  return rows.map((r) => r.attempts);
}

describe.each(testDatabases())(
  'ASVS 6.6.2: SMS codes bound to what they were sent for, on %s',
  (_name, factory) => {
    it('a code texted for one login does not complete another login of the same user', async () => {
      await withGateway(factory, async (gw) => {
        await enrolSms(gw, await loginAs(gw, ALICE));
        const first = await openLogin(gw);
        const code = await textLogin(gw, first);
        const second = await openLogin(gw);
        expect(refused(await submitSms(gw, second, code))).toBe('INVALID_CREDENTIALS');
        // The other login's check found no code for it and spent no try of this one.
        expect(await challengeTries(gw)).toEqual([0]);
        expect((await submitSms(gw, first, code)).statusCode).toBe(200);
        // Used once: neither login can use it again.
        expect(refused(await submitSms(gw, second, code))).toBe('INVALID_CREDENTIALS');
        expect(refused(await submitSms(gw, first, code))).toBe('LOGIN_INVALID');
      });
    });

    it('a login’s code does not complete a step-up, and a step-up’s code does not complete a login', async () => {
      await withGateway(factory, async (gw) => {
        const alice = await loginAs(gw, ALICE);
        await enrolSms(gw, alice);

        const loginId = await openLogin(gw);
        const loginCode = await textLogin(gw, loginId);
        expect(refused(await stepUpSms(gw, alice, loginCode))).toBe('INVALID_CREDENTIALS');
        expect((await submitSms(gw, loginId, loginCode)).statusCode).toBe(200);

        gw.clock.advance(SMS_POLICY.resendIntervalMs);
        const stepUpCode = await textStepUp(gw, alice);
        const another = await openLogin(gw);
        expect(refused(await submitSms(gw, another, stepUpCode))).toBe('INVALID_CREDENTIALS');
        expect(await challengeTries(gw)).toEqual([0]);
        const stepped = await stepUpSms(gw, alice, stepUpCode);
        expect(stepped.statusCode).toBe(200);
        // Used once (the step-up renewed the session's cookie: login/step-up.test.ts).
        expect(refused(await stepUpSms(gw, renewed(alice, stepped), stepUpCode))).toBe('INVALID_CREDENTIALS');
      });
    });

    it('a step-up’s code does not step up another session of the same user', async () => {
      await withGateway(factory, async (gw) => {
        const alice = await loginAs(gw, ALICE);
        await enrolSms(gw, alice);
        const other = await loginAs(gw, ALICE);
        const code = await textStepUp(gw, alice);
        expect(refused(await stepUpSms(gw, other, code))).toBe('INVALID_CREDENTIALS');
        expect((await stepUpSms(gw, alice, code)).statusCode).toBe(200);
      });
    });

    it('the code confirming a new number logs nobody in, and a login’s code confirms no number', async () => {
      await withGateway(factory, async (gw) => {
        const alice = await loginAs(gw, ALICE);
        await enrolSms(gw, alice);
        const second = await callAs(gw, 'POST', '/v1/factors/sms', alice, { phone: '+14155550199' });
        const { factorId } = json(second) as { factorId: string };
        const enrolCode = await lastSmsCode(gw);
        const loginId = await openLogin(gw);
        expect(refused(await submitSms(gw, loginId, enrolCode))).toBe('INVALID_CREDENTIALS');
        expect(refused(await stepUpSms(gw, alice, enrolCode))).toBe('INVALID_CREDENTIALS');
        expect(await challengeTries(gw)).toEqual([0]);

        // A login's code (it voids the enrolment's) does not confirm the new number either.
        gw.clock.advance(SMS_POLICY.resendIntervalMs);
        const loginCode = await textLogin(gw, loginId);
        const confirm = (code: string) =>
          callAs(gw, 'POST', `/v1/factors/${factorId}/confirm`, alice, { code });
        expect(refused(await confirm(loginCode))).toBe('INVALID_CREDENTIALS');
        expect(refused(await confirm(enrolCode))).toBe('INVALID_CREDENTIALS');
        expect((await submitSms(gw, loginId, loginCode)).statusCode).toBe(200);

        // A fresh code for the enrolment confirms it, once.
        gw.clock.advance(SMS_POLICY.resendIntervalMs);
        const again = await callAs(gw, 'POST', '/v1/factors/sms', alice, { phone: '+14155550188' });
        const third = (json(again) as { factorId: string }).factorId;
        const thirdCode = await lastSmsCode(gw);
        const confirmThird = () =>
          callAs(gw, 'POST', `/v1/factors/${third}/confirm`, alice, { code: thirdCode });
        expect((await confirmThird()).statusCode).toBe(200);
      });
    });

    it('refuses another user’s code and a wrong one', async () => {
      await withGateway(factory, async (gw) => {
        await enrolSms(gw, await loginAs(gw, ALICE));
        await enrolSms(gw, await loginAs(gw, BRUNO), '+14155550177');
        const brunoLogin = await openLogin(gw, BRUNO);
        const brunoCode = await textLogin(gw, brunoLogin);
        const aliceLogin = await openLogin(gw);
        expect(refused(await submitSms(gw, aliceLogin, brunoCode))).toBe('INVALID_CREDENTIALS');

        gw.clock.advance(1_000); // the simulator's outbox orders by time: Bruno's text stays behind
        const code = await textLogin(gw, aliceLogin);
        const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
        expect(refused(await submitSms(gw, aliceLogin, wrong))).toBe('INVALID_CREDENTIALS');
        expect((await submitSms(gw, aliceLogin, code)).statusCode).toBe(200);
        expect((await submitSms(gw, brunoLogin, brunoCode)).statusCode).toBe(200);
      });
    });

    it('refuses a step-up code after its 5 minutes', async () => {
      await withGateway(factory, async (gw) => {
        const alice = await loginAs(gw, ALICE);
        await enrolSms(gw, alice);
        const code = await textStepUp(gw, alice);
        gw.clock.advance(SMS_POLICY.ttlMs);
        expect(refused(await stepUpSms(gw, alice, code))).toBe('INVALID_CREDENTIALS');
      });
    });
  },
);
