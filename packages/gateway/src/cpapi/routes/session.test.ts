import { afterEach, describe, expect, it } from 'vitest';
import { type CpapiTest, startCpapiTest } from '../../test-support/cpapi.js';
import { authStatusResponseSchema, ssoValidateResponseSchema, tickleResponseSchema } from '../wire/index.js';

let t: CpapiTest | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('cpapi session endpoints', () => {
  it('answers tickle, auth status and sso/validate in IBKR shapes once a headless login holds brokerage', async () => {
    t = await startCpapiTest();
    for (const method of ['GET', 'POST'] as const) {
      const tickle = await t.call(method, '/tickle');
      expect(tickle.statusCode).toBe(200);
      const body = tickleResponseSchema.parse(tickle.json());
      expect(body.iserver.authStatus).toMatchObject({
        authenticated: true,
        connected: true,
        competing: false,
      });
      expect(body.session).toMatch(/^[0-9a-f]{32}$/);
    }
    const status = authStatusResponseSchema.parse((await t.call('POST', '/iserver/auth/status')).json());
    expect(status.authenticated).toBe(true);
    const portal = await t.listener.app.inject({
      method: 'POST',
      url: '/v1/portal/iserver/auth/status',
      payload: {},
    });
    expect(portal.json()).toMatchObject({ authenticated: true });
    const validate = ssoValidateResponseSchema.parse((await t.call('GET', '/sso/validate')).json());
    // Alice has live-style accounts (U…) beside her paper one: IBKR's live login type, as `isPaper: false` says.
    expect(validate).toMatchObject({ USER_NAME: 'alice', RESULT: true, LOGIN_TYPE: 1 });
    const logout = await t.call('POST', '/logout');
    expect(logout.body).toBe('{"status":true}');
    expect((await t.call('POST', '/tickle')).statusCode).toBe(401);
    expect((await t.call('POST', '/iserver/auth/status')).json()).toMatchObject({
      authenticated: false,
      connected: false,
    });
  });
});
