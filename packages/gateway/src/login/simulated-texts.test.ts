/**
 * Issue 20, item 10: on a demo instance the login page offers "View simulated texts" at the SMS step. The person
 * logging in reads the text the SMS simulator stored for their own login — the login id proves it, as for the
 * login's other steps — and never a text of another login: not another user's, not another login of the same user,
 * not once the login has ended. Without `development.exposeOutboxes` the route does not exist.
 */
import { describe, expect, it } from 'vitest';
import { SMS_POLICY } from '../factors/index.js';
import { testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  BRUNO,
  callAs,
  errorCode,
  json,
  type LoggedIn,
  lastSmsCode,
  loginAs,
  startLogin,
  startTestGateway,
  type TestGateway,
} from '../test-support/gateway.js';

async function enrolSms(gw: TestGateway, as: LoggedIn, phone: string): Promise<void> {
  const enrol = await callAs(gw, 'POST', '/v1/factors/sms', as, { phone });
  expect(enrol.statusCode).toBe(200);
  const { factorId } = json(enrol) as { factorId: string };
  const confirmed = await callAs(gw, 'POST', `/v1/factors/${factorId}/confirm`, as, {
    code: await lastSmsCode(gw),
  });
  expect(confirmed.statusCode).toBe(200);
  gw.clock.advance(SMS_POLICY.resendIntervalMs + 1_000);
}

async function textedLogin(gw: TestGateway, user: typeof ALICE): Promise<{ loginId: string; code: string }> {
  const started = await startLogin(gw, user.username, user.password);
  const { loginId } = json(started) as { loginId: string };
  const sent = await gw.app.inject({ method: 'POST', url: `/v1/auth/login/${loginId}/sms` });
  expect(sent.statusCode).toBe(200);
  expect(json(sent).simulatedTexts).toBe(true);
  const code = await lastSmsCode(gw);
  gw.clock.advance(SMS_POLICY.resendIntervalMs + 1_000);
  return { loginId, code };
}

function texts(gw: TestGateway, loginId: string) {
  return gw.app.inject({ method: 'GET', url: `/v1/auth/login/${loginId}/simulated-texts` });
}

describe.each(testDatabases())('simulated texts of a login on %s', (_name, factory) => {
  it('shows the login’s holder the text of that login, and no other', async () => {
    const database = await factory();
    const gw = await startTestGateway({ database, config: { development: { exposeOutboxes: true } } });
    try {
      await enrolSms(gw, await loginAs(gw, ALICE), '+14155550100');
      await enrolSms(gw, await loginAs(gw, BRUNO), '+14155550199');
      const first = await textedLogin(gw, ALICE);
      const second = await textedLogin(gw, ALICE);
      const bruno = await textedLogin(gw, BRUNO);

      const read = async (loginId: string) => {
        const answer = await texts(gw, loginId);
        expect(answer.statusCode).toBe(200);
        return (json(answer) as { messages: { to: string; body: string }[] }).messages;
      };
      const mine = await read(first.loginId);
      expect(mine).toHaveLength(1);
      expect(mine[0]?.body).toContain(first.code);
      expect(mine[0]?.to).toBe('+14•••••••00');
      const all = JSON.stringify([mine, await read(second.loginId)]);
      expect(all).not.toContain(bruno.code);
      expect(JSON.stringify(mine)).not.toContain(second.code);
      expect(JSON.stringify(await read(bruno.loginId))).not.toContain(first.code);

      // An unknown login id, and a login that has ended, show nothing.
      expect(errorCode(await texts(gw, 'x'.repeat(43)))).toBe('LOGIN_INVALID');
      const done = await gw.app.inject({
        method: 'POST',
        url: `/v1/auth/login/${second.loginId}/factor`,
        payload: { type: 'sms', code: second.code },
      });
      expect(done.statusCode).toBe(200);
      expect(errorCode(await texts(gw, second.loginId))).toBe('LOGIN_INVALID');
      gw.clock.advance(gw.ctx.config.login.transactionTtlMs + 1);
      expect(errorCode(await texts(gw, first.loginId))).toBe('LOGIN_INVALID');
    } finally {
      await gw.close();
      await database.drop();
    }
  });

  it('does not exist unless the instance exposes its simulators', async () => {
    const database = await factory();
    const gw = await startTestGateway({ database });
    try {
      await enrolSms(gw, await loginAs(gw, ALICE), '+14155550100');
      const started = await startLogin(gw, ALICE.username, ALICE.password);
      const { loginId } = json(started) as { loginId: string };
      const sent = await gw.app.inject({ method: 'POST', url: `/v1/auth/login/${loginId}/sms` });
      expect(json(sent).simulatedTexts).toBeUndefined();
      expect((await texts(gw, loginId)).statusCode).toBe(404);
    } finally {
      await gw.close();
      await database.drop();
    }
  });
});
