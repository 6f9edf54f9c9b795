/**
 * ASVS 5.0 7.2.4: a new session token at every authentication, re-authentication included, and the current one
 * ended. A step-up (`POST /v1/session/step-up`) verifies a second factor again inside a session; it now gives the
 * session a new token — a new cookie on the web, a new bearer token in the body on the device-bound channels — and
 * the old token stops working on every node, its open streams included. The session itself stays: its id and CSRF
 * token, its brokerage tier, its device binding. On SQLite and PostgreSQL.
 *
 * Before, a step-up kept the token: a cookie copied before it (the reason a move to another network asks for a
 * step-up) went on working after the owner's step-up.
 */
import type { LightMyRequestResponse } from 'fastify';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { deviceProof, generateDeviceKey } from '../authenticator/index.js';
import { totpCode } from '../factors/index.js';
import { channelPolicies, type SessionProfile, SessionService } from '../sessions/index.js';
import { type TestDatabaseFactory, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  callAs,
  errorCode,
  json,
  type LoggedIn,
  loginAs,
  renewed,
  startTestGateway,
  type TestGateway,
  type TestGatewayOptions,
} from '../test-support/gateway.js';
import { SoftwareAuthenticator } from '../test-support/webauthn.js';

const ELSEWHERE = '203.0.113.5';

async function withGateway(
  factory: TestDatabaseFactory,
  run: (gw: TestGateway) => Promise<void>,
  options: TestGatewayOptions = {},
) {
  const database = await factory();
  const gw = await startTestGateway({ ...options, database });
  try {
    await run(gw);
  } finally {
    await gw.close();
    await database.drop();
  }
}

function from(gw: TestGateway, as: LoggedIn, method: 'GET' | 'POST', url: string, payload?: unknown) {
  return gw.app.inject({
    method,
    url,
    headers: { cookie: as.cookie, 'x-csrf-token': as.csrf },
    remoteAddress: ELSEWHERE,
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
}

/** The next TOTP code (the login spent the current step). */
function nextTotp(gw: TestGateway) {
  gw.clock.advance(30_000);
  return { type: 'totp', code: totpCode(ALICE.totpSecret, gw.clock.now()) };
}

async function tickle(gw: TestGateway, as: LoggedIn) {
  return from(gw, as, 'POST', '/v1/session/tickle');
}

describe.each(testDatabases())('ASVS 7.2.4: a new session token at step-up, on %s', (_name, factory) => {
  it('web: sets a new cookie and ends the old one; the session keeps its id, CSRF token and trading tier', async () => {
    await withGateway(factory, async (gw) => {
      const alice = await loginAs(gw, ALICE);
      expect((await callAs(gw, 'POST', '/v1/session/brokerage', alice, { compete: false })).statusCode).toBe(
        200,
      );
      // A request from another network: the session must step up before sensitive actions.
      expect(json(await tickle(gw, alice))).toMatchObject({ tier: 'brokerage', stepUpRequired: true });

      const stepped = await from(gw, alice, 'POST', '/v1/session/step-up', nextTotp(gw));
      expect(stepped.statusCode).toBe(200);
      expect(json(stepped)).toMatchObject({ status: 'stepped_up', session: { id: alice.sessionId } });
      expect(json(stepped)).not.toHaveProperty('token');
      const cookie = stepped.cookies.find((c) => c.name === 'gh_session');
      expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' });
      const now = renewed(alice, stepped);
      expect(now.cookie).not.toBe(alice.cookie);

      // The old token names no session any more, on reads and writes alike.
      expect(errorCode(await from(gw, alice, 'GET', '/v1/session'))).toBe('UNAUTHENTICATED');
      expect(errorCode(await tickle(gw, alice))).toBe('UNAUTHENTICATED');
      // The new one is the same session, with the same CSRF token, still trading, the step-up done.
      const me = await from(gw, now, 'GET', '/v1/session');
      expect(json(me)).toMatchObject({ session: { id: alice.sessionId } });
      expect(json(await tickle(gw, now))).toMatchObject({ tier: 'brokerage', stepUpRequired: false });
      expect((await from(gw, now, 'POST', '/v1/factors/recovery-codes')).statusCode).toBe(200);
      // Stored: the new token's hash only.
      const rows = await gw.ctx.store.db.selectFrom('sessions').select(['id', 'token_hash']).execute();
      const cookieValue = now.cookie.split('=')[1] as string;
      expect(rows.filter((r) => r.id === alice.sessionId)).toHaveLength(1);
      expect(JSON.stringify(rows)).not.toContain(cookieValue);
    });
  });

  it('keeps the token when the step-up fails: a wrong code, a replayed code, an unavailable factor', async () => {
    await withGateway(factory, async (gw) => {
      const alice = await loginAs(gw, ALICE);
      const wrong = await from(gw, alice, 'POST', '/v1/session/step-up', { type: 'totp', code: '000000' });
      expect(errorCode(wrong)).toBe('INVALID_CREDENTIALS');
      // The login's own code: already used.
      const replayed = { type: 'totp', code: totpCode(ALICE.totpSecret, gw.clock.now()) };
      expect(errorCode(await from(gw, alice, 'POST', '/v1/session/step-up', replayed))).toBe(
        'INVALID_CREDENTIALS',
      );
      const sms = await from(gw, alice, 'POST', '/v1/session/step-up', { type: 'sms', code: '123456' });
      expect(errorCode(sms)).toBe('FACTOR_NOT_AVAILABLE');
      for (const response of [wrong, sms]) expect(renewed(alice, response)).toBe(alice);
      expect((await from(gw, alice, 'GET', '/v1/session')).statusCode).toBe(200);
    });
  });

  it('ends the old token in the cache of every node', async () => {
    await withGateway(factory, async (gw) => {
      const alice = await loginAs(gw, ALICE);
      const oldToken = decodeURIComponent(alice.cookie.split('=')[1] as string);
      // A second node: its own cache, the same database and bus.
      const user = await gw.ctx.store.db
        .selectFrom('users')
        .selectAll()
        .where('username', '=', ALICE.username)
        .executeTakeFirstOrThrow();
      const other = new SessionService({
        db: gw.ctx.store.db,
        clock: gw.clock,
        bus: gw.ctx.bus,
        policies: channelPolicies(gw.ctx.config),
        cacheMaxEntries: 100,
        revalidateAfterMs: 3_600_000,
        maxLivePerUser: 50,
        loadProfile: async () =>
          ({
            user: {
              id: user.id,
              username: user.username,
              displayName: user.display_name,
              status: 'active',
              createdAt: 0,
            },
            accounts: [],
          }) as unknown as SessionProfile,
      });
      try {
        await other.authenticate(oldToken);
        expect(other.authenticateCached(oldToken)).toBeDefined();
        const stepped = await callAs(gw, 'POST', '/v1/session/step-up', alice, nextTotp(gw));
        expect(stepped.statusCode).toBe(200);
        const newToken = decodeURIComponent(renewed(alice, stepped).cookie.split('=')[1] as string);
        expect(other.authenticateCached(oldToken)).toBeUndefined();
        await expect(other.authenticate(oldToken)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
        expect((await other.authenticate(newToken)).session.id).toBe(alice.sessionId);
      } finally {
        other.close();
      }
    });
  });

  it('of two step-ups sent at once with one token, one replaces it; the old token is ended either way', async () => {
    await withGateway(factory, async (gw) => {
      const alice = await loginAs(gw, ALICE);
      const codes = json(await callAs(gw, 'POST', '/v1/factors/recovery-codes', alice)) as {
        codes: string[];
      };
      const answers = await Promise.all([
        callAs(gw, 'POST', '/v1/session/step-up', alice, nextTotp(gw)),
        callAs(gw, 'POST', '/v1/session/step-up', alice, { type: 'recovery_code', code: codes.codes[0] }),
      ]);
      const ok = answers.filter((a) => a.statusCode === 200);
      expect(ok).toHaveLength(1);
      expect(answers.map((a) => errorCode(a) ?? 'ok').sort()).toEqual(['UNAUTHENTICATED', 'ok']);
      expect(errorCode(await callAs(gw, 'GET', '/v1/session', alice))).toBe('UNAUTHENTICATED');
      const now = renewed(alice, ok[0] as LightMyRequestResponse);
      expect((await callAs(gw, 'GET', '/v1/session', now)).statusCode).toBe(200);
    });
  });

  it('desktop: returns a new bearer token in the body; the old one fails even with a valid device proof', async () => {
    const host = 'localhost:8080';
    await withGateway(
      factory,
      async (gw) => {
        const station = generateDeviceKey();
        const bearer = (method: 'GET' | 'POST', path: string, token: string, payload?: unknown) =>
          gw.app.inject({
            method,
            url: path,
            headers: {
              host,
              authorization: `Bearer ${token}`,
              'x-device-proof': deviceProof(station, method, `http://${host}${path}`, token, gw.clock.now()),
            },
            ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
          });
        // Password plus a security key, then the workstation's key binds the session (login/desktop.test.ts).
        const key = new SoftwareAuthenticator({ origin: 'http://localhost:8080', rpId: 'localhost' });
        const web = await loginAs(gw, ALICE);
        const options = json(await callAs(gw, 'POST', '/v1/factors/webauthn/options', web));
        const enrolled = await callAs(gw, 'POST', '/v1/factors/webauthn', web, {
          label: 'YubiKey',
          response: key.create(options as { challenge: string }),
        });
        expect(enrolled.statusCode).toBe(200);
        const started = await gw.app.inject({
          method: 'POST',
          url: '/v1/auth/login',
          headers: { host },
          payload: { channel: 'desktop', username: ALICE.username, password: ALICE.password },
        });
        const { loginId } = json(started) as { loginId: string };
        const assertion = json(
          await gw.app.inject({
            method: 'POST',
            url: `/v1/auth/login/${loginId}/webauthn/options`,
            headers: { host },
          }),
        );
        const done = await gw.app.inject({
          method: 'POST',
          url: `/v1/auth/login/${loginId}/factor`,
          headers: { host },
          payload: {
            type: 'webauthn',
            response: key.get(assertion as { challenge: string; allowCredentials: unknown[] }),
          },
        });
        const { token, session } = json(done) as { token: string; session: { id: string } };
        const registered = await bearer('POST', '/v1/devices/desktop', token, {
          publicKey: station.publicKey,
          name: 'Trading desk',
          platform: 'linux',
        });
        expect(registered.statusCode).toBe(200);
        expect((await bearer('POST', '/v1/session/brokerage', token, { compete: false })).statusCode).toBe(
          200,
        );

        const stepped = await bearer('POST', '/v1/session/step-up', token, nextTotp(gw));
        expect(stepped.statusCode).toBe(200);
        expect(stepped.cookies).toEqual([]);
        const body = json(stepped) as { token: string; tokenType: string; session: { id: string } };
        expect(body).toMatchObject({
          status: 'stepped_up',
          tokenType: 'Bearer',
          session: { id: session.id },
        });
        expect(body.token).not.toBe(token);

        expect(errorCode(await bearer('GET', '/v1/session', token))).toBe('UNAUTHENTICATED');
        expect(json(await bearer('POST', '/v1/session/tickle', body.token))).toMatchObject({
          tier: 'brokerage',
        });
        // Still bound to the workstation's key: the new token without a proof, or with one for the old token, fails.
        const unproven = await gw.app.inject({
          method: 'GET',
          url: '/v1/session',
          headers: { host, authorization: `Bearer ${body.token}` },
        });
        expect(errorCode(unproven)).toBe('PROOF_REQUIRED');
        const mismatched = await gw.app.inject({
          method: 'GET',
          url: '/v1/session',
          headers: {
            host,
            authorization: `Bearer ${body.token}`,
            'x-device-proof': deviceProof(station, 'GET', `http://${host}/v1/session`, token, gw.clock.now()),
          },
        });
        expect(errorCode(mismatched)).toBe('PROOF_INVALID');
      },
      { config: { sessions: { desktop: { allowedFactors: ['webauthn', 'totp'] } } } },
    );
  });
});

describe.each(testDatabases())('ASVS 7.2.4: streams opened with the old token on %s', (_name, factory) => {
  it('end with token_replaced (close code 4003); the new token opens a stream', async () => {
    const database = await factory();
    const gw = await startTestGateway({ database, config: { server: { port: 0, host: '127.0.0.1' } } });
    const sockets: WebSocket[] = [];
    try {
      const base = await gw.listen();
      const open = (as: LoggedIn) =>
        new Promise<{ messages: { type: string }[]; closed: Promise<number> }>((resolve, reject) => {
          const socket = new WebSocket(`${base.replace('http', 'ws')}/v1/stream`, {
            headers: { cookie: as.cookie, origin: base },
          });
          sockets.push(socket);
          const messages: { type: string }[] = [];
          const closed = new Promise<number>((r) => socket.once('close', (code) => r(code)));
          socket.on('message', (raw: Buffer) => {
            messages.push(JSON.parse(raw.toString()) as { type: string });
            if (messages.length === 1) resolve({ messages, closed });
          });
          socket.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
        });
      const alice = await loginAs(gw, ALICE);
      const other = await loginAs(gw, ALICE);
      const stream = await open(alice);
      const untouched = await open(other);
      const stepped = await callAs(gw, 'POST', '/v1/session/step-up', alice, nextTotp(gw));
      expect(stepped.statusCode).toBe(200);
      expect(await stream.closed).toBe(4003);
      expect(stream.messages.map((m) => m.type)).toContain('token_replaced');
      await expect(open(alice)).rejects.toThrow('HTTP 401');
      const again = await open(renewed(alice, stepped));
      expect(again.messages[0]).toMatchObject({ type: 'hello' });
      // Another session's stream is not touched.
      expect(untouched.messages.map((m) => m.type)).not.toContain('token_replaced');
    } finally {
      for (const s of sockets) if (s.readyState === WebSocket.OPEN) s.close();
      await gw.close();
      await database.drop();
    }
  });
});
