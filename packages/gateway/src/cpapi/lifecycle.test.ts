/**
 * The held session's life as an IBKR bot sees it, on a frozen clock: the login page, read-only until `ssodh/init`,
 * tickle keeping it, the 6-minute idle end, a portal login taking trading, the daily reset, `reauthenticate` and
 * `logout`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { buildOne } from '../app/cpapi.js';
import { ManualClock } from '../core/index.js';
import { totpCode } from '../factors/index.js';
import { type CpapiTest, startCpapiTest } from '../test-support/cpapi.js';
import { ALICE, BRUNO, callAs, loginTrading } from '../test-support/gateway.js';
import { LOGIN_SUCCESS_TEXT } from './login-page.js';
import { authStatusResponseSchema, ssodhInitResponseSchema, tickleResponseSchema } from './wire/index.js';

let t: CpapiTest | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

/** Logs in at the listener's own page, as a person in a browser does, with Alice's authenticator code. */
async function pageLogin(test: CpapiTest): Promise<void> {
  const page = await test.listener.app.inject({
    method: 'GET',
    url: '/sso/Login?forwardTo=22&RL=1&ip2loc=on',
  });
  expect(page.statusCode).toBe(200);
  expect(page.headers['content-security-policy']).toContain("default-src 'none'");
  expect(page.body).toContain('name="password"');
  test.gw.clock.advance(30_000);
  const started = await test.listener.app.inject({
    method: 'POST',
    url: '/sso/Login',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: `username=alice&password=${encodeURIComponent(ALICE.password)}`,
  });
  expect(started.statusCode).toBe(200);
  expect(started.body).toContain('name="type" value="totp"');
  const cookie = started.cookies.find((c) => c.name === 'gh_cpapi_login');
  expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/sso' });
  const done = await test.listener.app.inject({
    method: 'POST',
    url: '/sso/Login/factor',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      cookie: `gh_cpapi_login=${cookie?.value}`,
    },
    payload: `type=totp&code=${totpCode(ALICE.totpSecret, test.gw.clock.now())}`,
  });
  expect(done.statusCode).toBe(200);
  expect(done.body).toContain(LOGIN_SUCCESS_TEXT);
}

async function status(test: CpapiTest) {
  return authStatusResponseSchema.parse((await test.call('POST', '/iserver/auth/status')).json());
}

describe('the CPAPI session lifecycle', () => {
  it('logs in at /sso/Login, is read-only while the portal trades, takes brokerage, keeps it by tickle, ends idle', async () => {
    // 23:40 in New York: the daily reset (00:00 America/New_York) is 20 minutes away.
    t = await startCpapiTest({ user: null, clock: new ManualClock(Date.UTC(2026, 0, 6, 4, 40)) });
    expect((await t.call('POST', '/tickle')).statusCode).toBe(401);
    expect(await status(t)).toMatchObject({ authenticated: false, connected: false });
    expect((await t.call('GET', '/iserver/accounts')).statusCode).toBe(401);

    // The portal holds trading: the face's login is read-only (IBKR: connected, not authenticated).
    const web = await loginTrading(t.gw, ALICE);
    await pageLogin(t);
    expect(await status(t)).toMatchObject({
      authenticated: false,
      connected: true,
      competing: false,
      message: 'brokerage session not initialized',
    });
    for (const path of ['/iserver/accounts', '/iserver/account/orders', '/iserver/account/trades']) {
      const noBridge = await t.call('GET', path);
      expect(noBridge.json()).toEqual({ error: 'Bad Request: no bridge', statusCode: 400 });
    }
    const order = await t.call('POST', '/iserver/account/U1000001/orders', {
      orders: [{ conid: 265598, orderType: 'MKT', side: 'BUY', tif: 'DAY', quantity: 1 }],
    });
    expect((order.json() as { error: string }).error).toMatch(
      /^Bad Request: no bridge: .*BROKERAGE_REQUIRED/,
    );

    // ssodh/init without compete leaves it read-only; with compete it takes brokerage and the portal competes.
    const polite = ssodhInitResponseSchema.parse(
      (await t.call('POST', '/iserver/auth/ssodh/init', { publish: true, compete: false })).json(),
    );
    expect(polite).toMatchObject({ authenticated: false, established: false });
    expect(
      (await t.call('POST', '/iserver/auth/ssodh/init', { publish: false, compete: true })).statusCode,
    ).toBe(500);
    const taken = ssodhInitResponseSchema.parse(
      (await t.call('POST', '/iserver/auth/ssodh/init', { publish: true, compete: true })).json(),
    );
    expect(taken).toMatchObject({ authenticated: true, competing: false, established: true });
    const portal = await callAs(t.gw, 'POST', '/v1/session/tickle', web);
    expect(portal.json()).toMatchObject({ competing: true });

    // Tickling every 5 minutes keeps it; ssoExpires counts down the idle time left.
    for (let i = 0; i < 4; i += 1) {
      t.gw.clock.advance(5 * 60_000 - 1);
      const tickle = tickleResponseSchema.parse((await t.call('POST', '/tickle')).json());
      expect(tickle.iserver.authStatus.authenticated).toBe(i < 3); // the fourth crosses the daily reset
      expect(tickle.ssoExpires).toBe(6 * 60_000);
    }
    // 00:00 New York passed: brokerage ended for the day; the login stays; ssodh/init takes it again.
    expect(await status(t)).toMatchObject({ authenticated: false, connected: true, competing: false });
    expect(
      (await t.call('POST', '/iserver/auth/ssodh/init', { publish: true, compete: true })).json(),
    ).toMatchObject({
      authenticated: true,
    });

    // A portal login taking trading over: competing, as IBKR's status says, and the order gate agrees.
    await loginTrading(t.gw, ALICE);
    expect(await status(t)).toMatchObject({
      authenticated: false,
      competing: true,
      message: 'competing session',
    });
    expect((await t.call('POST', '/tickle')).json()).toMatchObject({ collission: true });

    // reauthenticate (asynchronous at IBKR) asks for the tier again without competing: still competing.
    expect((await t.call('POST', '/iserver/reauthenticate')).json()).toEqual({ message: 'triggered' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await status(t)).toMatchObject({ competing: true });

    // Six minutes without a request: the login ends (IBKR: connected, not authenticated), tickle finds no session.
    t.gw.clock.advance(6 * 60_000 + 1);
    expect(await status(t)).toMatchObject({
      authenticated: false,
      connected: true,
      message: 'session expired',
    });
    expect((await t.call('POST', '/tickle')).json()).toEqual({ error: 'no session' });
    // A person logs in again at the page; logout ends it.
    await pageLogin(t);
    expect((await status(t)).connected).toBe(true);
    expect((await t.call('POST', '/logout')).body).toBe('{"status":true}');
    expect(await status(t)).toMatchObject({ authenticated: false, connected: false });
    const sessions = await t.gw.ctx.sessions.listForUser(t.listener.held.userId ?? '');
    expect(sessions.filter((s) => s.channel === 'cpapi' && s.revokedAt === null)).toEqual([]);
  });

  it('logs in again by itself when headless: reauthenticate after the idle end, and ssodh/init after logout', async () => {
    t = await startCpapiTest();
    expect((await status(t)).authenticated).toBe(true);
    t.gw.clock.advance(6 * 60_000 + 1);
    expect((await status(t)).message).toBe('session expired');
    expect((await t.call('GET', '/iserver/reauthenticate')).json()).toEqual({ message: 'triggered' });
    for (let i = 0; i < 50 && !(await status(t)).authenticated; i += 1)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await status(t)).toMatchObject({ authenticated: true, connected: true });
    await t.call('POST', '/logout');
    expect((await status(t)).connected).toBe(false);
    const again = await t.call('POST', '/iserver/auth/ssodh/init', { publish: true, compete: true });
    expect(again.json()).toMatchObject({ authenticated: true });
  });

  it('refuses wrong credentials and codes on the login page with coded errors, and a cross-site POST', async () => {
    t = await startCpapiTest({ user: null });
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const wrong = await t.listener.app.inject({
      method: 'POST',
      url: '/sso/Login',
      headers: form,
      payload: 'username=alice&password=wrong',
    });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.body).toContain('INVALID_CREDENTIALS');
    const crossSite = await t.listener.app.inject({
      method: 'POST',
      url: '/sso/Login',
      headers: { ...form, origin: 'https://evil.example', host: 'localhost:5000' },
      payload: `username=alice&password=${ALICE.password}`,
    });
    expect(crossSite.statusCode).toBe(403);
    const started = await t.listener.app.inject({
      method: 'POST',
      url: '/sso/Login',
      headers: form,
      payload: `username=alice&password=${ALICE.password}`,
    });
    const cookie = `gh_cpapi_login=${started.cookies.find((c) => c.name === 'gh_cpapi_login')?.value}`;
    const badCode = await t.listener.app.inject({
      method: 'POST',
      url: '/sso/Login/factor',
      headers: { ...form, cookie },
      payload: 'type=totp&code=000000',
    });
    expect(badCode.statusCode).toBe(401);
    expect(badCode.body).not.toContain(LOGIN_SUCCESS_TEXT);
    const noCookie = await t.listener.app.inject({
      method: 'POST',
      url: '/sso/Login/factor',
      headers: form,
      payload: `type=totp&code=${totpCode(ALICE.totpSecret, t.gw.clock.now())}`,
    });
    expect(noCookie.statusCode).toBe(400);
    expect(await status(t)).toMatchObject({ connected: false });
  });

  it('logs no other user in at the page of a listener configured for one', async () => {
    t = await startCpapiTest();
    const before = t.listener.held.wsSession;
    const other = await t.listener.app.inject({
      method: 'POST',
      url: '/sso/Login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'username=bruno&password=bruno-demo-password',
    });
    expect(other.statusCode).toBe(403);
    expect(other.body).toContain('This listener logs in alice only.');
    expect(other.cookies.find((c) => c.name === 'gh_cpapi_login')).toBeUndefined();
    expect(t.listener.held.wsSession).toBe(before);
    expect(await status(t)).toMatchObject({ authenticated: true });
  });

  it('finishes no login of another user at a listener configured for one, whatever listener it began at', async () => {
    t = await startCpapiTest();
    const open = await buildOne(t.gw.ctx, { host: '127.0.0.1', port: 0, tls: 'off' }, undefined);
    try {
      const form = { 'content-type': 'application/x-www-form-urlencoded' };
      const started = await open.app.inject({
        method: 'POST',
        url: '/sso/Login',
        headers: form,
        payload: `username=bruno&password=${BRUNO.password}`,
      });
      const cookie = `gh_cpapi_login=${started.cookies.find((c) => c.name === 'gh_cpapi_login')?.value}`;
      // Cookies are the host's, whatever the port: the browser sends it to alice's listener too.
      const finished = await t.listener.app.inject({
        method: 'POST',
        url: '/sso/Login/factor',
        headers: { ...form, cookie },
        payload: `type=totp&code=${totpCode(BRUNO.totpSecret, t.gw.clock.now())}`,
      });
      expect(finished.statusCode).toBe(401);
      expect(finished.body).toContain('LOGIN_INVALID');
      expect(await status(t)).toMatchObject({ authenticated: true });
      const validate = await t.call('GET', '/sso/validate');
      expect(validate.json()).toMatchObject({ USER_NAME: 'alice' });
      // Bruno's session was ended, not kept: the one live cpapi session is alice's.
      const live = await t.gw.ctx.store.db
        .selectFrom('sessions')
        .select('user_id')
        .where('channel', '=', 'cpapi')
        .where('revoked_at', 'is', null)
        .execute();
      expect(live.map((r) => r.user_id)).toEqual([t.listener.held.userId]);
    } finally {
      await open.close();
    }
  });

  it('trades whichever local address the bot calls from: the held session is not bound to the caller’s network', async () => {
    t = await startCpapiTest();
    for (const remoteAddress of ['::1', '127.0.8.1', '127.0.0.1']) {
      const placed = await t.listener.app.inject({
        method: 'POST',
        url: '/v1/api/iserver/account/U1000001/orders',
        remoteAddress,
        payload: { orders: [{ conid: 265598, orderType: 'MKT', side: 'BUY', tif: 'DAY', quantity: 1 }] },
      });
      expect(placed.statusCode, remoteAddress).toBe(200);
    }
    expect(await status(t)).toMatchObject({ authenticated: true, message: '' });
  });
});
