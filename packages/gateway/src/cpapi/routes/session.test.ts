import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type CpapiTest, startCpapiTest } from '../../test-support/cpapi.js';
import { browserRefusal } from '../face.js';
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

describe('what reaches the listener', () => {
  it('refuses what a web page could send: a foreign Origin (simple requests too) and a DNS-rebound Host', async () => {
    t = await startCpapiTest();
    const order = JSON.stringify({
      orders: [{ conid: 265598, orderType: 'MKT', side: 'BUY', tif: 'DAY', quantity: 1, cOID: 'csrf-1' }],
    });
    // A cross-site form or no-cors fetch: text/plain, the page's origin.
    const forged = await t.listener.app.inject({
      method: 'POST',
      url: '/v1/api/iserver/account/U1000001/orders',
      headers: { origin: 'https://evil.example', 'content-type': 'text/plain' },
      payload: order,
    });
    expect(forged.statusCode).toBe(403);
    expect(forged.json()).toEqual({ error: 'Forbidden: cross-site request', statusCode: 403 });
    for (const origin of ['null', 'http://localhost:5001', 'not a url']) {
      const refused = await t.listener.app.inject({
        method: 'GET',
        url: '/v1/api/tickle',
        headers: { origin, host: 'localhost:5000' },
      });
      expect(refused.statusCode, origin).toBe(403);
    }
    // A name rebound to 127.0.0.1: the page would be same-origin with it, so the Host itself is refused — any DNS
    // name but localhost, those that look like an address included.
    for (const host of [
      'evil.example:5000',
      '127.0.0.1.evil.example:5000',
      '127.evil.example:5000',
      '127.0.0.1@evil.example',
    ]) {
      const rebound = await t.listener.app.inject({
        method: 'GET',
        url: '/v1/api/tickle',
        headers: { host, origin: `http://${host}` },
      });
      expect(rebound.statusCode, host).toBe(403);
    }
    // An image or no-cors request sends no Origin, but its browser says where it comes from.
    for (const site of ['cross-site', 'same-site']) {
      const img = await t.listener.app.inject({
        method: 'GET',
        url: '/v1/api/iserver/reauthenticate',
        headers: { 'sec-fetch-site': site, 'sec-fetch-mode': 'no-cors' },
      });
      expect(img.statusCode, site).toBe(403);
    }
    const upgrade = await t.listener.app.inject({
      method: 'GET',
      url: '/v1/api/ws',
      headers: { origin: 'https://evil.example', connection: 'upgrade', upgrade: 'websocket' },
    });
    expect(upgrade.statusCode).toBe(403);
    // Nothing was placed; the listener's own origin, and no origin at all (a bot), are served.
    const principal = await t.listener.held.principal();
    expect(await t.gw.ctx.trading.list(principal, 'U1000001', {})).toEqual([]);
    const own = await t.listener.app.inject({
      method: 'POST',
      url: '/v1/api/tickle',
      headers: { origin: 'http://127.0.0.1:5000', host: '127.0.0.1:5000' },
      payload: {},
    });
    expect(own.statusCode).toBe(200);
    expect((await t.call('POST', '/tickle')).statusCode).toBe(200);
  });

  it('paces as IBKR does: a second tickle within a second is 429, repeat offenders sit in the penalty box', async () => {
    t = await startCpapiTest({ pacing: true });
    expect((await t.call('POST', '/tickle')).statusCode).toBe(200);
    // Pacing counts the route a request matched: a percent-encoded path is the same tickle.
    const encoded = await t.listener.app.inject({ method: 'POST', url: '/v1/ap%69/%74ickle', payload: {} });
    expect(encoded.statusCode).toBe(429);
    t.gw.clock.advance(1_000);
    expect((await t.call('POST', '/tickle')).statusCode).toBe(200);
    const second = await t.call('POST', '/tickle');
    expect(second.statusCode).toBe(429);
    expect(second.headers['retry-after']).toBe('1');
    expect(second.json()).toEqual({ error: 'Too Many Requests (/tickle)', statusCode: 429 });
    // Other endpoints still answer until the third refusal within a minute boxes the address for 10 minutes.
    expect((await t.call('POST', '/iserver/auth/status')).statusCode).toBe(200);
    await t.call('POST', '/tickle');
    const boxed = await t.call('POST', '/tickle');
    expect(boxed.json()).toEqual({ error: 'Too Many Requests (penalty_box)', statusCode: 429 });
    const around = await t.listener.app.inject({
      method: 'POST',
      url: '/v1/ap%69/iserver/auth/status',
      payload: {},
    });
    expect(around.statusCode).toBe(429);
    expect(boxed.headers['retry-after']).toBe('600');
    expect((await t.call('POST', '/iserver/auth/status')).statusCode).toBe(429);
    t.gw.clock.advance(10 * 60_000);
    expect((await t.call('POST', '/iserver/auth/status')).statusCode).toBe(200);
  });
});

describe('the request guard', () => {
  it('takes a DNS name but localhost for a rebinding, on any listener, and a loopback listener only loopback addresses', () => {
    expect(browserRefusal({ host: 'localhost:5000' }, true)).toBeNull();
    expect(browserRefusal({ host: '127.0.0.2:5000' }, true)).toBeNull();
    expect(browserRefusal({ host: '[::1]:5000' }, true)).toBeNull();
    expect(browserRefusal({ host: '192.168.1.5:5000' }, true)).toBe(
      'this listener answers to loopback addresses only',
    );
    expect(browserRefusal({ host: '192.168.1.5:5000' }, false)).toBeNull();
    expect(browserRefusal({ host: 'gateway.example:5000' }, false)).toBe(
      'this listener answers to localhost and IP addresses only',
    );
    expect(browserRefusal({ host: '127.0.0.1.nip.io' }, false)).not.toBeNull();
    expect(browserRefusal({}, true)).not.toBeNull();
  });

  it('closes the socket of a refused WebSocket upgrade', async () => {
    t = await startCpapiTest();
    const url = new URL(await t.listener.listen());
    const closed = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(url.port), '127.0.0.1');
      let answer = '';
      const timer = setTimeout(() => reject(new Error(`socket still open after: ${answer}`)), 5_000);
      socket.on('data', (chunk) => {
        answer += chunk.toString();
      });
      socket.on('close', () => {
        clearTimeout(timer);
        resolve(answer);
      });
      socket.write(
        `GET /v1/api/ws HTTP/1.1\r\nHost: ${url.host}\r\nOrigin: https://evil.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
      );
    });
    expect(closed).toMatch(/^HTTP\/1\.1 403/);
  });

  it('stops within seconds when a WebSocket peer never answers the close frame', async () => {
    t = await startCpapiTest();
    const url = new URL(await t.listener.listen());
    const session = (JSON.parse((await t.call('POST', '/tickle')).body) as { session: string }).session;
    const socket = connect(Number(url.port), '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no 101')), 5_000);
      socket.on('data', (chunk) => {
        if (chunk.toString().startsWith('HTTP/1.1 101')) {
          clearTimeout(timer);
          resolve();
        }
      });
      socket.write(
        `GET /v1/api/ws HTTP/1.1\r\nHost: ${url.host}\r\nCookie: api=${session}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
      );
    });
    // The peer reads nothing more and answers nothing: the listener still stops.
    const started = Date.now();
    await t.listener.close();
    expect(Date.now() - started).toBeLessThan(5_000);
    socket.destroy();
  });

  it('takes its pacing figures from the configuration', async () => {
    t = await startCpapiTest({
      pacing: true,
      config: {
        cpapi: {
          pacingLimits: {
            global: { limit: 100, perMs: 1_000 },
            endpoints: [{ path: '/tickle', limit: 3, perMs: 1_000 }],
            offencesForPenalty: 50,
            offenceWindowMs: 60_000,
            penaltyMs: 1_000,
          },
        },
      },
    });
    const codes = [];
    for (let i = 0; i < 4; i += 1) codes.push((await t.call('POST', '/tickle')).statusCode);
    expect(codes).toEqual([200, 200, 200, 429]);
  });
});
