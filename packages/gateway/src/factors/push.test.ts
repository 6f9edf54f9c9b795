/**
 * Push approval end to end inside one process: a gateway listening on an ephemeral port, a device enrolled with a
 * real P-256 key, its authenticated stream, signed decisions, and every way a push can go wrong.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  connectDevice,
  type DeviceIdentity,
  type DeviceStream,
  enrolDevice,
  generateDeviceKey,
  signWithDevice,
  streamUrl,
} from '../authenticator/index.js';
import { decisionMessage, streamAuthMessage } from '../devices/index.js';
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
  startLogin,
  startTestGateway,
  type TestGateway,
} from '../test-support/gateway.js';
import { totpCode } from './index.js';
import type { PushMessage } from './push.js';

let gw: TestGateway;
const databases: TestDatabase[] = [];
let base: string;
const streams: DeviceStream[] = [];

afterEach(async () => {
  for (const s of streams.splice(0)) s.close();
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
  callAs(gw, method, url, as, payload, { host: new URL(base).host });

async function enrol(user = ALICE): Promise<DeviceIdentity> {
  const session = await loginAs(gw, user);
  const response = await call('POST', '/v1/devices/mobile/enroll', session);
  expect(response.statusCode).toBe(200);
  const { activationUri } = json(response) as { activationUri: string };
  return enrolDevice(activationUri, { name: `${user.username}'s phone`, platform: 'test' });
}

async function connect(
  identity: DeviceIdentity,
  onPush: (p: PushMessage, s: DeviceStream) => void = () => {},
) {
  const stream = await connectDevice(identity, { onPush, now: gw.clock.now() });
  streams.push(stream);
  return stream;
}

async function pushLogin(user = ALICE) {
  gw.clock.advance(30_000);
  const { loginId } = json(await startLogin(gw, user.username, user.password)) as { loginId: string };
  const started = await gw.app.inject({
    method: 'POST',
    url: `/v1/auth/login/${loginId}/factor`,
    payload: { type: 'push' },
    headers: { 'user-agent': 'Mozilla/5.0 (test browser)' },
  });
  expect(started.statusCode).toBe(200);
  return { loginId, ...(json(started) as { challengeId: string; number: string; fallbackAfterMs: number }) };
}

function poll(loginId: string, waitMs = 2_000) {
  return gw.app.inject({ method: 'GET', url: `/v1/auth/login/${loginId}?waitMs=${waitMs}` });
}

function nextPush(): { promise: Promise<PushMessage>; onPush: (p: PushMessage) => void } {
  let resolve: (p: PushMessage) => void = () => {};
  const promise = new Promise<PushMessage>((r) => {
    resolve = r;
  });
  return { promise, onPush: (p) => resolve(p) };
}

describe.each(testDatabases())('push on %s', (_name, makeDatabase) => {
  beforeEach(async () => {
    gw = await startTestGateway({
      database: await fresh(makeDatabase),
      config: { server: { port: 0, host: '127.0.0.1' } },
    });
    base = await gw.listen();
  });

  describe('mobile enrolment', () => {
    it('enrols a device with a single-use activation code and lists it', async () => {
      const session = await loginAs(gw, ALICE);
      const { activationUri, activationCode } = json(
        await call('POST', '/v1/devices/mobile/enroll', session),
      ) as {
        activationUri: string;
        activationCode: string;
      };
      expect(activationUri).toContain('gatehouse://activate?');
      const identity = await enrolDevice(activationUri, { name: 'Pixel', platform: 'android' });
      const devices = (
        json(await call('GET', '/v1/devices', session)) as { devices: { id: string; name: string }[] }
      ).devices;
      expect(devices.filter((d) => (d as { kind?: string }).kind === 'mobile')).toEqual([
        expect.objectContaining({ id: identity.deviceId, name: 'Pixel', kind: 'mobile' }),
      ]);
      // The code is single use.
      const { publicKey } = generateDeviceKey();
      const again = await gw.app.inject({
        method: 'POST',
        url: '/v1/devices/mobile/activate',
        payload: { activationCode, publicKey, name: 'Thief', platform: 'x' },
      });
      expect(errorCode(again)).toBe('ACTIVATION_INVALID');
      expect(
        JSON.stringify(await gw.ctx.store.db.selectFrom('device_activations').selectAll().execute()),
      ).not.toContain(activationCode);
    });

    it('renames and trusts a device, and never another user’s', async () => {
      const identity = await enrol();
      const session = await loginAs(gw, ALICE);
      const renamed = await call('PATCH', `/v1/devices/${identity.deviceId}`, session, {
        name: 'Work phone',
        trusted: false,
      });
      expect(json(renamed)).toMatchObject({ id: identity.deviceId, name: 'Work phone', trusted: false });
      expect(errorCode(await call('PATCH', `/v1/devices/${identity.deviceId}`, session, {}))).toBe(
        'INVALID_REQUEST',
      );
      const bruno = await loginAs(gw, BRUNO);
      expect(
        errorCode(await call('PATCH', `/v1/devices/${identity.deviceId}`, bruno, { name: 'mine' })),
      ).toBe('DEVICE_NOT_FOUND');
      expect(errorCode(await call('DELETE', `/v1/devices/${identity.deviceId}`, bruno))).toBe(
        'DEVICE_NOT_FOUND',
      );
    });

    it('refuses an expired code, a malformed key and a private key', async () => {
      const session = await loginAs(gw, ALICE);
      const { activationCode } = json(await call('POST', '/v1/devices/mobile/enroll', session)) as {
        activationCode: string;
      };
      const { publicKey, privateKey } = generateDeviceKey();
      for (const key of [
        { kty: 'EC', crv: 'P-384', x: publicKey.x, y: publicKey.y },
        { ...privateKey },
        { kty: 'EC' },
      ]) {
        const bad = await gw.app.inject({
          method: 'POST',
          url: '/v1/devices/mobile/activate',
          payload: { activationCode, publicKey: key, name: 'x', platform: 'x' },
        });
        expect(bad.statusCode).toBe(400);
      }
      gw.clock.advance(10 * 60_000);
      const expired = await gw.app.inject({
        method: 'POST',
        url: '/v1/devices/mobile/activate',
        payload: { activationCode, publicKey, name: 'x', platform: 'x' },
      });
      expect(errorCode(expired)).toBe('ACTIVATION_INVALID');
      expect(
        await gw.ctx.store.db.selectFrom('devices').select('id').where('kind', '=', 'mobile').execute(),
      ).toEqual([]);
    });
  });

  describe('push approval', () => {
    it('delivers the request with its context and number, and an approval issues the session', async () => {
      const identity = await enrol();
      const next = nextPush();
      await connect(identity, next.onPush);
      const login = await pushLogin();
      expect(login.number).toMatch(/^\d{2}$/);
      const push = await next.promise;
      expect(push).toMatchObject({ challengeId: login.challengeId, number: login.number });
      expect(push.context).toMatchObject({
        channel: 'web',
        // Readable, from the user agent (devices/browser.ts), never the raw string.
        requestingDevice: 'Browser',
        ip: '127.0.0.1',
        network: '127.0.0.0/24',
      });
      const waiting = poll(login.loginId, 5_000);
      streams[0]?.decide(push, 'approve');
      const done = await waiting;
      expect(done.statusCode).toBe(200);
      expect(json(done)).toMatchObject({ status: 'authenticated', session: { aal: 2, amr: ['pwd', 'mca'] } });
      expect(done.cookies.find((c) => c.name === 'gh_session')?.value).toBeTruthy();
      const row = await gw.ctx.store.db.selectFrom('push_challenges').selectAll().executeTakeFirstOrThrow();
      expect(row).toMatchObject({ status: 'approved', device_id: identity.deviceId });
      expect(row.delivered_at).not.toBeNull();
    });

    it('a denial is final: no further push for the login, its other factors stay open, and the user is notified', async () => {
      const identity = await enrol();
      const next = nextPush();
      await connect(identity, next.onPush);
      const login = await pushLogin();
      streams[0]?.decide(await next.promise, 'deny');
      const done = await poll(login.loginId, 5_000);
      expect(errorCode(done)).toBe('PUSH_DENIED');
      expect(errorCode(await poll(login.loginId, 0))).toBe('PUSH_DENIED');
      const again = await gw.app.inject({
        method: 'POST',
        url: `/v1/auth/login/${login.loginId}/factor`,
        payload: { type: 'push' },
      });
      expect(errorCode(again)).toBe('PUSH_DENIED');
      const after = await gw.app.inject({
        method: 'POST',
        url: `/v1/auth/login/${login.loginId}/factor`,
        payload: { type: 'totp', code: totpCode(ALICE.totpSecret, gw.clock.now()) },
      });
      expect(after.statusCode).toBe(200);
      // The login sees the denial as soon as it is committed; the notification follows it (bounded wait).
      let kinds: string[] = [];
      for (let i = 0; i < 100 && !kinds.includes('push_denied'); i += 1) {
        if (i > 0) await new Promise((resolve) => setTimeout(resolve, 50));
        kinds = (await gw.ctx.store.db.selectFrom('notifications').select('kind').execute()).map(
          (n) => n.kind,
        );
      }
      expect(kinds).toContain('push_denied');
    });

    // A wrong number denies the challenge: factors/push-number.test.ts.
    it('refuses a forged signature, a replay and another user’s challenge', async () => {
      const alicePhone = await enrol(ALICE);
      const brunoPhone = await enrol(BRUNO);
      const login = await pushLogin(ALICE);
      const decide = (identity: DeviceIdentity, number: string, signer = identity) =>
        gw.app.inject({
          method: 'POST',
          url: `/v1/devices/push/${login.challengeId}/decision`,
          payload: {
            deviceId: identity.deviceId,
            decision: 'approve',
            number,
            signature: signWithDevice(
              signer.privateKey,
              decisionMessage(login.challengeId, 'approve', number),
            ),
          },
        });
      expect(errorCode(await decide(alicePhone, login.number, brunoPhone))).toBe('SIGNATURE_INVALID');
      expect(errorCode(await decide(brunoPhone, login.number))).toBe('PUSH_CHALLENGE_INVALID');
      const unsigned = await gw.app.inject({
        method: 'POST',
        url: `/v1/devices/push/${login.challengeId}/decision`,
        payload: {
          deviceId: alicePhone.deviceId,
          decision: 'approve',
          number: login.number,
          signature: 'AAAA',
        },
      });
      expect(errorCode(unsigned)).toBe('SIGNATURE_INVALID');
      expect((json(await poll(login.loginId, 0)) as { status: string }).status).toBe('push_pending');

      expect((await decide(alicePhone, login.number)).statusCode).toBe(200);
      expect(errorCode(await decide(alicePhone, login.number))).toBe('PUSH_CHALLENGE_INVALID');
    });

    it('offers the fallback factors when the push is not delivered, and TOTP then completes the same login', async () => {
      await enrol();
      const login = await pushLogin();
      const early = json(await poll(login.loginId, 0)) as {
        status: string;
        delivered: boolean;
        fallbackFactors?: unknown;
      };
      expect(early).toMatchObject({ status: 'push_pending', delivered: false });
      expect(early.fallbackFactors).toBeUndefined();
      gw.clock.advance(login.fallbackAfterMs);
      const late = json(await poll(login.loginId, 0)) as { fallbackFactors: { type: string }[] };
      expect(late.fallbackFactors).toEqual([{ type: 'totp' }]);
      const done = await gw.app.inject({
        method: 'POST',
        url: `/v1/auth/login/${login.loginId}/factor`,
        payload: { type: 'totp', code: totpCode(ALICE.totpSecret, gw.clock.now()) },
      });
      expect(done.statusCode).toBe(200);
    });

    it('expires a push after 180 s; the login stays open for another factor', async () => {
      await enrol();
      const login = await pushLogin();
      gw.clock.advance(180_000);
      expect(errorCode(await poll(login.loginId, 0))).toBe('PUSH_EXPIRED');
      gw.clock.advance(-60_000); // still inside the 5-minute login window
      const done = await gw.app.inject({
        method: 'POST',
        url: `/v1/auth/login/${login.loginId}/factor`,
        payload: { type: 'totp', code: totpCode(ALICE.totpSecret, gw.clock.now()) },
      });
      expect(done.statusCode).toBe(200);
    });

    it('a revoked device can neither open its stream nor decide', async () => {
      const identity = await enrol();
      const login = await pushLogin();
      const session = await loginAs(gw, ALICE);
      expect((await call('DELETE', `/v1/devices/${identity.deviceId}`, session)).statusCode).toBe(200);
      await expect(connectDevice(identity, { onPush: () => {}, now: gw.clock.now() })).rejects.toThrow(/401/);
      const decided = await gw.app.inject({
        method: 'POST',
        url: `/v1/devices/push/${login.challengeId}/decision`,
        payload: {
          deviceId: identity.deviceId,
          decision: 'approve',
          number: login.number,
          signature: signWithDevice(
            identity.privateKey,
            decisionMessage(login.challengeId, 'approve', login.number),
          ),
        },
      });
      expect(errorCode(decided)).toBe('DEVICE_REVOKED');
    });
  });

  describe('the login screen stream', () => {
    function openLoginStream(
      loginId: string,
    ): Promise<{ socket: WebSocket; messages: Record<string, unknown>[] }> {
      return new Promise((resolve, reject) => {
        const socket = new WebSocket(`${base.replace('http', 'ws')}/v1/auth/login/${loginId}/stream`);
        const messages: Record<string, unknown>[] = [];
        socket.on('message', (raw: Buffer) => {
          const message = JSON.parse(raw.toString()) as Record<string, unknown>;
          messages.push(message);
          if (message.type === 'ready') resolve({ socket, messages });
        });
        socket.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      });
    }

    async function until(
      messages: Record<string, unknown>[],
      predicate: (m: Record<string, unknown>) => boolean,
    ) {
      for (let i = 0; i < 100; i += 1) {
        if (messages.some(predicate)) return;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(`no such message in ${JSON.stringify(messages)}`);
    }

    it('tells the waiting login screen of delivery and approval as they happen', async () => {
      const identity = await enrol();
      const next = nextPush();
      await connect(identity, next.onPush);
      gw.clock.advance(30_000);
      const { loginId } = json(await startLogin(gw, ALICE.username, ALICE.password)) as { loginId: string };
      const { socket, messages } = await openLoginStream(loginId);
      await gw.app.inject({
        method: 'POST',
        url: `/v1/auth/login/${loginId}/factor`,
        payload: { type: 'push' },
      });
      const push = await next.promise;
      await until(messages, (m) => m.type === 'login_state' && m.delivered === true);
      streams[0]?.decide(push, 'approve');
      await until(messages, (m) => m.type === 'login_state' && m.status === 'approved');
      socket.close();
      expect((json(await poll(loginId, 0)) as { status: string }).status).toBe('authenticated');
    });

    it('offers the fallback factors on the stream when the push is not delivered', async () => {
      await enrol();
      const login = await pushLogin();
      const { socket, messages } = await openLoginStream(login.loginId);
      gw.clock.advance(login.fallbackAfterMs);
      await until(messages, (m) => m.type === 'fallback');
      expect(messages.find((m) => m.type === 'fallback')).toMatchObject({ factors: [{ type: 'totp' }] });
      socket.close();
    });

    it('refuses an unknown login id before the socket opens', async () => {
      await expect(openLoginStream('x'.repeat(43))).rejects.toThrow('HTTP 401');
    });
  });

  describe('device stream authentication', () => {
    async function refused(url: string): Promise<number> {
      return new Promise((resolve) => {
        const socket = new WebSocket(url);
        socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        socket.once('open', () => {
          socket.close();
          resolve(101);
        });
        socket.once('error', () => resolve(-1));
      });
    }

    it('refuses a bad signature, a stale time and a replayed nonce before the socket opens', async () => {
      const identity = await enrol();
      const wsBase = base.replace('http', 'ws');
      const now = gw.clock.now();
      const nonce = randomBytes(16).toString('base64url');
      const signed = (ts: number, n: string, key = identity.privateKey) =>
        `${wsBase}/v1/devices/stream?${new URLSearchParams({
          deviceId: identity.deviceId,
          ts: String(ts),
          nonce: n,
          sig: signWithDevice(key, streamAuthMessage(identity.deviceId, ts, n)),
        })}`;
      const other = generateDeviceKey();
      expect(await refused(signed(now, nonce, other.privateKey))).toBe(401);
      expect(await refused(signed(now - 120_000, nonce))).toBe(401);
      expect(await refused(`${wsBase}/v1/devices/stream?deviceId=${identity.deviceId}`)).toBe(401);
      expect(await refused(signed(now, nonce))).toBe(101);
      expect(await refused(signed(now, nonce))).toBe(401);
      expect(await refused(streamUrl(identity, now))).toBe(101);
    });
  });
});
