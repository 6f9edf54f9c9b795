/**
 * Issue 14, finding 4: a stranger cannot keep the owner out. The backoff is kept per (username, network) for
 * unknown devices and per device for a browser or workstation that already completed a login for the user; an
 * account-wide bucket of unknown devices caps guessing spread over many networks and never holds a known device.
 *
 * Before the fix the backoff was keyed by the username alone: a few wrong passwords from anywhere made the owner
 * wait on every network, with every browser and workstation, and even inside a live session for step-up.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deviceProof, generateDeviceKey, signWithDevice } from '../authenticator/index.js';
import { totpCode } from '../factors/index.js';
import { type TestDatabaseFactory, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  callAs,
  errorCode,
  json,
  loginAs,
  startTestGateway,
  type TestGateway,
} from '../test-support/gateway.js';
import { SoftwareAuthenticator } from '../test-support/webauthn.js';
import { deviceLoginMessage } from './device-login.js';

const OWNER_IP = '127.0.0.1';
const NEIGHBOUR_IP = '127.0.0.66'; // the owner's network (/24)
const STRANGER_IP = '198.51.100.7';

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

function password(
  gw: TestGateway,
  input: { username?: string; password: string; ip?: string; deviceCookie?: string },
) {
  return gw.app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    payload: { username: input.username ?? ALICE.username, password: input.password, channel: 'web' },
    remoteAddress: input.ip ?? OWNER_IP,
    ...(input.deviceCookie === undefined ? {} : { headers: { cookie: `gh_device=${input.deviceCookie}` } }),
  });
}

/**
 * Both steps of a web login; returns the browser's device cookie. It moves the clock one TOTP step on first, or,
 * with `now`, stays at the present and uses the next step's code (accepted within the ±1 window).
 */
async function webLogin(gw: TestGateway, input: { ip?: string; deviceCookie?: string; now?: boolean } = {}) {
  if (input.now !== true) gw.clock.advance(30_000);
  const started = await password(gw, { ...input, password: ALICE.password });
  expect(started.statusCode).toBe(200);
  const { loginId } = json(started) as { loginId: string };
  const done = await gw.app.inject({
    method: 'POST',
    url: `/v1/auth/login/${loginId}/factor`,
    payload: { type: 'totp', code: totpCode(ALICE.totpSecret, gw.clock.now() + (input.now ? 30_000 : 0)) },
    remoteAddress: input.ip ?? OWNER_IP,
    ...(input.deviceCookie === undefined ? {} : { headers: { cookie: `gh_device=${input.deviceCookie}` } }),
  });
  expect(done.statusCode).toBe(200);
  const cookie = done.cookies.find((c) => c.name === 'gh_device')?.value;
  if (cookie === undefined) throw new Error('no device cookie');
  return { deviceCookie: cookie, sessionId: (json(done) as { session: { id: string } }).session.id };
}

async function strangerFails(gw: TestGateway, times: number, ip = STRANGER_IP): Promise<void> {
  for (let i = 0; i < times; i += 1) await password(gw, { password: `guess-${i}`, ip });
}

function retryAfterMs(response: { json(): unknown }): number {
  return (response.json() as { error: { details: { retryAfterMs: number } } }).error.details.retryAfterMs;
}

describe.each(testDatabases())('backoff a stranger cannot turn against the owner on %s', (_name, factory) => {
  it('keeps a stranger’s failures on their network: the owner logs in from theirs', async () => {
    await withGateway(factory, async (gw) => {
      await strangerFails(gw, 10);
      const stranger = await password(gw, { password: ALICE.password, ip: STRANGER_IP });
      expect(errorCode(stranger)).toBe('TOO_MANY_ATTEMPTS');
      expect(retryAfterMs(stranger)).toBeGreaterThan(0);
      expect((await password(gw, { password: ALICE.password })).statusCode).toBe(200);
    });
  });

  it('lets a known browser log in while its user is backed off on the browser’s own network', async () => {
    await withGateway(factory, async (gw) => {
      const { deviceCookie } = await webLogin(gw);
      await strangerFails(gw, 10, NEIGHBOUR_IP);
      // Without its cookie the owner's browser is just another device on that network.
      expect(errorCode(await password(gw, { password: ALICE.password }))).toBe('TOO_MANY_ATTEMPTS');
      const known = await webLogin(gw, { deviceCookie, now: true });
      expect(known.deviceCookie.split('.')[0]).toBe(deviceCookie.split('.')[0]);
    });
  });

  it('gives a known browser its own bucket: limited, and kept apart from strangers', async () => {
    await withGateway(factory, async (gw) => {
      const { deviceCookie } = await webLogin(gw);
      const free = gw.ctx.config.login.backoffFreeFailures;
      for (let i = 0; i < free; i += 1) {
        expect(errorCode(await password(gw, { password: `typo-${i}`, deviceCookie }))).toBe(
          'INVALID_CREDENTIALS',
        );
      }
      expect(errorCode(await password(gw, { password: ALICE.password, deviceCookie }))).toBe(
        'TOO_MANY_ATTEMPTS',
      );
      // The browser's failures are its own: the network's unknown-device bucket is untouched.
      expect((await password(gw, { password: ALICE.password, ip: NEIGHBOUR_IP })).statusCode).toBe(200);
      gw.clock.advance(gw.ctx.config.login.backoffBaseMs);
      expect((await password(gw, { password: ALICE.password, deviceCookie })).statusCode).toBe(200);
    });
  });

  it('does not let a stranger block step-up inside the owner’s live session', async () => {
    await withGateway(factory, async (gw) => {
      const alice = await loginAs(gw, ALICE);
      await strangerFails(gw, 10);
      await strangerFails(gw, 10, NEIGHBOUR_IP);
      const stepUp = await callAs(gw, 'POST', '/v1/session/step-up', alice, {
        type: 'totp',
        code: totpCode(ALICE.totpSecret, gw.clock.now() + 30_000),
      });
      expect(stepUp.statusCode).toBe(200);
    });
  });

  it('lets a pre-validated workstation log in with its device key while its network is backed off', async () => {
    await withGateway(factory, async (gw) => {
      const host = 'localhost:8080';
      const post = (url: string, payload: unknown) =>
        gw.app.inject({
          method: 'POST',
          url,
          headers: { host },
          payload: payload as Record<string, unknown>,
        });
      const key = new SoftwareAuthenticator({ origin: `http://${host}`, rpId: 'localhost' });
      const web = await loginAs(gw, ALICE);
      const options = json(await callAs(gw, 'POST', '/v1/factors/webauthn/options', web));
      const enrolled = await callAs(gw, 'POST', '/v1/factors/webauthn', web, {
        label: 'YubiKey',
        response: key.create(options as { challenge: string }),
      });
      expect(enrolled.statusCode).toBe(200);
      const started = json(
        await post('/v1/auth/login', {
          channel: 'desktop',
          username: ALICE.username,
          password: ALICE.password,
        }),
      ) as { loginId: string };
      const assertion = json(await post(`/v1/auth/login/${started.loginId}/webauthn/options`, {}));
      const first = json(
        await post(`/v1/auth/login/${started.loginId}/factor`, {
          type: 'webauthn',
          response: key.get(assertion as { challenge: string; allowCredentials: unknown[] }),
        }),
      ) as { token: string };
      const station = generateDeviceKey();
      const registered = await gw.app.inject({
        method: 'POST',
        url: '/v1/devices/desktop',
        headers: {
          host,
          authorization: `Bearer ${first.token}`,
          'x-device-proof': deviceProof(
            station,
            'POST',
            `http://${host}/v1/devices/desktop`,
            first.token,
            gw.clock.now(),
          ),
        },
        payload: { publicKey: station.publicKey, name: 'Trading desk', platform: 'linux' },
      });
      expect(registered.statusCode).toBe(200);
      const deviceId = (json(registered) as { deviceId: string }).deviceId;
      const signed = () => {
        const ts = gw.clock.now();
        const nonce = randomBytes(16).toString('base64url');
        const message = deviceLoginMessage('desktop', deviceId, ts, nonce);
        return { deviceId, ts, nonce, signature: signWithDevice(station.privateKey, message) };
      };

      await strangerFails(gw, 10, NEIGHBOUR_IP);
      const desktop = { channel: 'desktop', username: ALICE.username, password: ALICE.password };
      expect(errorCode(await post('/v1/auth/login', desktop))).toBe('TOO_MANY_ATTEMPTS');
      const withKey = await post('/v1/auth/login', { ...desktop, device: signed() });
      expect(withKey.statusCode).toBe(200);
      expect(json(withKey)).toMatchObject({ status: 'authenticated', session: { amr: ['pwd', 'swk'] } });
    });
  });

  it('caps failures spread over many networks with an account-wide bucket that never holds a known device', async () => {
    await withGateway(
      factory,
      async (gw) => {
        const { login } = gw.ctx.config;
        const { deviceCookie } = await webLogin(gw);
        const network = (i: number) => `10.${Math.floor(i / 250)}.${i % 250}.1`;
        let n = 0;
        for (; n < 10; n += 1) {
          expect(errorCode(await password(gw, { password: `spread-${n}`, ip: network(n) }))).toBe(
            'INVALID_CREDENTIALS',
          );
        }
        // An eleventh network, fresh to the per-network backoff, waits for the account-wide one.
        const spread = await password(gw, { password: ALICE.password, ip: network(n) });
        expect(errorCode(spread)).toBe('TOO_MANY_ATTEMPTS');
        expect(retryAfterMs(spread)).toBe(login.backoffBaseMs);
        expect((await password(gw, { password: ALICE.password, deviceCookie })).statusCode).toBe(200);

        // Each wait over, a new network tries again, until the account reaches maxConsecutiveFailures.
        for (; n < 30; n += 1) {
          gw.clock.advance(login.backoffMaxMs);
          expect(errorCode(await password(gw, { password: `spread-${n}`, ip: network(n) }))).toBe(
            'INVALID_CREDENTIALS',
          );
        }
        gw.clock.advance(login.backoffMaxMs);
        const held = await password(gw, { password: ALICE.password, ip: network(n + 1) });
        expect(errorCode(held)).toBe('TOO_MANY_ATTEMPTS');
        expect(retryAfterMs(held)).toBe(login.failureResetMs - login.backoffMaxMs);
        const failures = await gw.ctx.store.db
          .selectFrom('audit_log')
          .select('seq')
          .where('type', '=', 'login.password_failed')
          .execute();
        expect(failures).toHaveLength(30);
        // The known browser is never held by it, and its completed login forgets the account's failures.
        await webLogin(gw, { deviceCookie });
        expect((await password(gw, { password: ALICE.password, ip: network(n + 2) })).statusCode).toBe(200);
      },
      { config: { login: { accountBackoffFreeFailures: 10, maxConsecutiveFailures: 30 } } },
    );
  });

  it('releases the account-wide hold after failureResetMs without a counted failure', async () => {
    await withGateway(
      factory,
      async (gw) => {
        const { login } = gw.ctx.config;
        for (let n = 0; n < 3; n += 1) await password(gw, { password: `spread-${n}`, ip: `10.9.${n}.1` });
        const held = await password(gw, { password: ALICE.password, ip: '10.9.200.1' });
        expect(retryAfterMs(held)).toBe(login.failureResetMs);
        gw.clock.advance(login.failureResetMs - 1);
        expect(errorCode(await password(gw, { password: ALICE.password, ip: '10.9.201.1' }))).toBe(
          'TOO_MANY_ATTEMPTS',
        );
        gw.clock.advance(1);
        expect((await password(gw, { password: ALICE.password, ip: '10.9.202.1' })).statusCode).toBe(200);
      },
      { config: { login: { accountBackoffFreeFailures: 3, maxConsecutiveFailures: 3 } } },
    );
  });

  it('answers an unknown user with a device cookie exactly like a known user’s wrong password', async () => {
    await withGateway(factory, async (gw) => {
      const { deviceCookie } = await webLogin(gw);
      const ghost = await password(gw, { username: 'ghost', password: 'wrong-password', deviceCookie });
      const wrong = await password(gw, { password: 'wrong-password', deviceCookie });
      expect(ghost.statusCode).toBe(401);
      expect(ghost.body).toBe(wrong.body);
      // The cookie is not the ghost's device: its failures fall in the network's unknown-device bucket.
      for (let i = 0; i < 4; i += 1) await password(gw, { username: 'ghost', password: 'x', deviceCookie });
      expect(errorCode(await password(gw, { username: 'ghost', password: 'x', ip: NEIGHBOUR_IP }))).toBe(
        'TOO_MANY_ATTEMPTS',
      );
    });
  });
});
