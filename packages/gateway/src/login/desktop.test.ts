/**
 * The desktop channel: a first login with password + security key, device-key registration proven by the key,
 * later logins from the pre-validated device (password + signed statement, plus the security key when policy
 * says so), bearer tokens bound to the key, and the negative cases.
 */

import type { JsonWebKey } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { deviceProof, generateDeviceKey, signWithDevice } from '../authenticator/index.js';
import type { P256Jwk } from '../devices/index.js';
import { type TestDatabase, type TestDatabaseFactory, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  BRUNO,
  callAs,
  errorCode,
  json,
  type LoggedIn,
  loginAs,
  startTestGateway,
  type TestGateway,
} from '../test-support/gateway.js';
import { SoftwareAuthenticator } from '../test-support/webauthn.js';
import { deviceLoginMessage } from './device-login.js';

const ORIGIN = 'http://localhost:8080';
const HOST = 'localhost:8080';
let gw: TestGateway;
let database: TestDatabase | undefined;

afterEach(async () => {
  await gw?.close();
  await database?.drop();
  database = undefined;
});

interface Workstation {
  privateKey: JsonWebKey;
  publicKey: P256Jwk;
  deviceId?: string;
}

/** A gateway on a fresh database from `makeDatabase`, dropped after the test. */
async function gateway(
  makeDatabase: TestDatabaseFactory,
  validatedDeviceLogin?: 'password' | 'password_and_security_key',
) {
  database = await makeDatabase();
  gw = await startTestGateway({
    database,
    ...(validatedDeviceLogin === undefined
      ? {}
      : { config: { sessions: { desktop: { validatedDeviceLogin } } } }),
  });
  return gw;
}

/** Registers a security key for a user from a web session (TOTP login). */
async function enrolSecurityKey(user = ALICE): Promise<SoftwareAuthenticator> {
  const key = new SoftwareAuthenticator({ origin: ORIGIN, rpId: 'localhost' });
  const web = await loginAs(gw, user);
  const options = json(await callAs(gw, 'POST', '/v1/factors/webauthn/options', web));
  const registered = await callAs(gw, 'POST', '/v1/factors/webauthn', web, {
    label: 'YubiKey',
    response: key.create(options as { challenge: string }),
  });
  expect(registered.statusCode).toBe(200);
  return key;
}

function post(url: string, payload: unknown, headers: Record<string, string> = {}) {
  return gw.app.inject({
    method: 'POST',
    url,
    headers: { host: HOST, ...headers },
    payload: payload as Record<string, unknown>,
  });
}

/** The signed statement a pre-validated workstation sends with the password. */
function statement(station: Workstation, overrides: { ts?: number; nonce?: string } = {}) {
  const deviceId = station.deviceId as string;
  const ts = overrides.ts ?? gw.clock.now();
  const nonce = overrides.nonce ?? randomBytes(16).toString('base64url');
  return {
    deviceId,
    ts,
    nonce,
    signature: signWithDevice(station.privateKey, deviceLoginMessage('desktop', deviceId, ts, nonce)),
  };
}

function desktopLogin(user: { username: string; password: string }, device?: ReturnType<typeof statement>) {
  return post('/v1/auth/login', {
    channel: 'desktop',
    username: user.username,
    password: user.password,
    ...(device === undefined ? {} : { device }),
  });
}

async function securityKeyStep(loginId: string, key: SoftwareAuthenticator) {
  const options = json(await post(`/v1/auth/login/${loginId}/webauthn/options`, {}));
  return post(`/v1/auth/login/${loginId}/factor`, {
    type: 'webauthn',
    response: key.get(options as { challenge: string; allowCredentials: unknown[] }),
  });
}

/** A first desktop login: password, then the security key. Returns the bearer token. */
async function firstLogin(key: SoftwareAuthenticator, user = ALICE): Promise<string> {
  const started = await desktopLogin(user);
  expect(json(started)).toMatchObject({ status: 'second_factor_required', factors: [{ type: 'webauthn' }] });
  const done = await securityKeyStep((json(started) as { loginId: string }).loginId, key);
  expect(done.statusCode).toBe(200);
  return (json(done) as { token: string }).token;
}

/** A request with a bearer token, signed by the workstation's key when it has one. */
function bearer(
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  token: string,
  signer?: { privateKey: JsonWebKey },
  payload?: unknown,
) {
  return gw.app.inject({
    method,
    url: path,
    headers: {
      host: HOST,
      authorization: `Bearer ${token}`,
      ...(signer === undefined
        ? {}
        : { 'x-device-proof': deviceProof(signer, method, `http://${HOST}${path}`, token, gw.clock.now()) }),
    },
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
}

async function register(token: string, station: Workstation, signer: { privateKey: JsonWebKey } = station) {
  return bearer('POST', '/v1/devices/desktop', token, signer, {
    publicKey: station.publicKey,
    name: 'Trading desk',
    platform: 'linux',
  });
}

function newWorkstation(): Workstation {
  return generateDeviceKey();
}

/** First login with the security key and registration of a new workstation key. */
async function validatedWorkstation(key: SoftwareAuthenticator): Promise<Workstation> {
  const station = newWorkstation();
  const token = await firstLogin(key);
  const registered = await register(token, station);
  expect(registered.statusCode).toBe(200);
  station.deviceId = (json(registered) as { deviceId: string }).deviceId;
  return station;
}

describe.each(testDatabases())(
  'desktop channel: first login and device-key registration on %s',
  (_name, makeDatabase) => {
    it('allows only the security key after the password, and issues a bearer token', async () => {
      await gateway(makeDatabase);
      // Alice has TOTP only: the desktop channel has no factor for her yet.
      expect(errorCode(await desktopLogin(ALICE))).toBe('NO_SECOND_FACTOR');
      const key = await enrolSecurityKey();
      const started = json(await desktopLogin(ALICE)) as { loginId: string; factors: { type: string }[] };
      expect(started.factors).toEqual([{ type: 'webauthn' }]);
      const totp = await post(`/v1/auth/login/${started.loginId}/factor`, { type: 'totp', code: '123456' });
      expect(errorCode(totp)).toBe('FACTOR_NOT_AVAILABLE');
      const done = await securityKeyStep(started.loginId, key);
      expect(done.statusCode).toBe(200);
      expect(done.headers['set-cookie']).toBeUndefined();
      expect(json(done)).toMatchObject({
        status: 'authenticated',
        tokenType: 'Bearer',
        deviceKeyRegistration: 'available',
        session: { channel: 'desktop', aal: 3, amr: ['pwd', 'hwk'] },
      });
      expect(errorCode(await desktopLogin({ ...ALICE, password: 'wrong password!' }))).toBe(
        'INVALID_CREDENTIALS',
      );
    });

    it('keeps a desktop session without a device key read-only until it registers one', async () => {
      await gateway(makeDatabase);
      const key = await enrolSecurityKey();
      const token = await firstLogin(key);
      expect((await bearer('GET', '/v1/session', token)).statusCode).toBe(200);
      expect(
        errorCode(await bearer('POST', '/v1/session/brokerage', token, undefined, { compete: false })),
      ).toBe('DEVICE_KEY_REQUIRED');
      // Nor may it change what protects the account (here: start a mobile enrolment).
      expect(errorCode(await bearer('POST', '/v1/devices/mobile/enroll', token))).toBe('DEVICE_KEY_REQUIRED');
      // A desktop token never works as a cookie.
      const asCookie = await gw.app.inject({
        method: 'GET',
        url: '/v1/session',
        headers: { cookie: `gh_session=${token}` },
      });
      expect(errorCode(asCookie)).toBe('UNAUTHENTICATED');
    });

    it('registers the key only with a proof signed by that key, then binds the session to it', async () => {
      await gateway(makeDatabase);
      const key = await enrolSecurityKey();
      const token = await firstLogin(key);
      const station = newWorkstation();
      const unsigned = await bearer('POST', '/v1/devices/desktop', token, undefined, {
        publicKey: station.publicKey,
        name: 'Trading desk',
        platform: 'linux',
      });
      expect(errorCode(unsigned)).toBe('PROOF_REQUIRED');
      expect(errorCode(await register(token, station, newWorkstation()))).toBe('PROOF_INVALID');
      const bad = await register(token, { ...station, publicKey: { ...station.publicKey, x: 'AAAA' } });
      expect(errorCode(bad)).toBe('INVALID_REQUEST');
      expect(
        await gw.ctx.store.db.selectFrom('devices').where('kind', '=', 'desktop').select('id').execute(),
      ).toEqual([]);

      const registered = await register(token, station);
      expect(registered.statusCode).toBe(200);
      expect(json(registered)).toMatchObject({ kind: 'desktop', status: 'active' });
      // Bound: the token alone no longer works; each request needs a proof by the workstation's key.
      expect(errorCode(await bearer('GET', '/v1/session', token))).toBe('PROOF_REQUIRED');
      expect(errorCode(await bearer('GET', '/v1/session', token, newWorkstation()))).toBe('PROOF_INVALID');
      expect((await bearer('GET', '/v1/session', token, station)).statusCode).toBe(200);
      const trading = await bearer('POST', '/v1/session/brokerage', token, station, { compete: false });
      expect(json(trading)).toMatchObject({ tier: 'brokerage', competing: false });
      // Once is enough: another key cannot replace it, whichever key signs the request.
      expect(errorCode(await register(token, newWorkstation()))).toBe('PROOF_INVALID');
      expect(errorCode(await register(token, newWorkstation(), station))).toBe(
        'DEVICE_REGISTRATION_NOT_ALLOWED',
      );

      const devices = json(await bearer('GET', '/v1/devices', token, station)) as {
        devices: { kind: string; name: string; trusted: boolean }[];
      };
      expect(devices.devices.filter((d) => d.kind === 'desktop')).toEqual([
        expect.objectContaining({ name: 'Trading desk', trusted: true }),
      ]);
      const audit = await gw.ctx.store.db
        .selectFrom('audit_log')
        .select('data')
        .where('type', '=', 'device.enrolled')
        .execute();
      expect(audit.map((a) => JSON.parse(a.data).kind)).toContain('desktop');
    });

    it('refuses registration from a web session, or more than 10 minutes after the security key', async () => {
      await gateway(makeDatabase);
      const key = await enrolSecurityKey();
      const web: LoggedIn = await loginAs(gw, ALICE);
      const station = newWorkstation();
      const fromWeb = await callAs(gw, 'POST', '/v1/devices/desktop', web, {
        publicKey: station.publicKey,
        name: 'Trading desk',
        platform: 'linux',
      });
      expect(errorCode(fromWeb)).toBe('DEVICE_REGISTRATION_NOT_ALLOWED');
      const token = await firstLogin(key);
      gw.clock.advance(10 * 60_000 + 1);
      await bearer('GET', '/v1/session', token); // keep it from idling out at 15 min
      expect(errorCode(await register(token, station))).toBe('DEVICE_REGISTRATION_NOT_ALLOWED');
    });
  },
);

describe.each(testDatabases())(
  'desktop channel: logins from a pre-validated device on %s',
  (_name, makeDatabase) => {
    it('needs the password plus a statement signed by the device key (AAL2), bound to the key', async () => {
      await gateway(makeDatabase);
      const station = await validatedWorkstation(await enrolSecurityKey());
      gw.clock.advance(8 * 3_600_000); // the next morning, before the open
      const response = await desktopLogin(ALICE, statement(station));
      expect(response.statusCode).toBe(200);
      const body = json(response) as { token: string };
      expect(body).toMatchObject({
        status: 'authenticated',
        tokenType: 'Bearer',
        session: { channel: 'desktop', aal: 2, amr: ['pwd', 'swk'] },
      });
      expect(body).not.toHaveProperty('deviceKeyRegistration');
      expect(errorCode(await bearer('GET', '/v1/session', body.token))).toBe('PROOF_REQUIRED');
      const trading = await bearer('POST', '/v1/session/brokerage', body.token, station, { compete: true });
      expect(json(trading)).toMatchObject({ tier: 'brokerage' });
    });

    it('asks a workstation’s login from a country its user never signed in from to step up before trading', async () => {
      await gateway(makeDatabase);
      const station = await validatedWorkstation(await enrolSecurityKey());
      const from = (ip: string) => ({
        login: async () => {
          gw.clock.advance(60_000);
          const answer = await gw.app.inject({
            method: 'POST',
            url: '/v1/auth/login',
            remoteAddress: ip,
            headers: { host: HOST },
            payload: {
              channel: 'desktop',
              username: ALICE.username,
              password: ALICE.password,
              device: statement(station),
            },
          });
          expect(answer.statusCode).toBe(200);
          return (json(answer) as { token: string }).token;
        },
        trade: (token: string) =>
          gw.app.inject({
            method: 'POST',
            url: '/v1/session/brokerage',
            remoteAddress: ip,
            headers: {
              host: HOST,
              authorization: `Bearer ${token}`,
              'x-device-proof': deviceProof(
                station,
                'POST',
                `http://${HOST}/v1/session/brokerage`,
                token,
                gw.clock.now(),
              ),
            },
            payload: { compete: true },
          }),
      });
      const uk = from('81.2.69.160');
      expect(json(await uk.trade(await uk.login()))).toMatchObject({ tier: 'brokerage' });
      const germany = from('2a00:1450:4001::1');
      expect(json(await germany.trade(await germany.login()))).toMatchObject({
        error: { code: 'STEP_UP_REQUIRED', details: { reason: 'new_country', country: 'DE' } },
      });
      const told = await gw.ctx.store.db
        .selectFrom('notifications')
        .select('data')
        .where('kind', '=', 'new_country_login')
        .execute();
      expect(told.map((n) => JSON.parse(n.data))).toEqual([
        expect.objectContaining({ country: 'DE', channel: 'desktop', stepUpRequired: true }),
      ]);
    });

    it('refuses a wrong password, a replayed, stale or forged statement, and another user’s device', async () => {
      await gateway(makeDatabase);
      const station = await validatedWorkstation(await enrolSecurityKey());
      expect(
        errorCode(await desktopLogin({ ...ALICE, password: 'wrong password!' }, statement(station))),
      ).toBe('INVALID_CREDENTIALS');
      const once = statement(station);
      expect((await desktopLogin(ALICE, once)).statusCode).toBe(200);
      expect(errorCode(await desktopLogin(ALICE, once))).toBe('SIGNATURE_INVALID');
      expect(errorCode(await desktopLogin(ALICE, statement(station, { ts: gw.clock.now() - 120_000 })))).toBe(
        'SIGNATURE_INVALID',
      );
      const forged = { ...statement(station), signature: signWithDevice(newWorkstation().privateKey, 'x') };
      expect(errorCode(await desktopLogin(ALICE, forged))).toBe('SIGNATURE_INVALID');
      // Bruno's correct password with Alice's workstation opens nothing.
      expect(errorCode(await desktopLogin(BRUNO, statement(station)))).toBe('SIGNATURE_INVALID');
      const sessions = await gw.ctx.store.db
        .selectFrom('sessions')
        .select('user_id')
        .where('channel', '=', 'desktop')
        .execute();
      expect(new Set(sessions.map((s) => s.user_id)).size).toBe(1);
    });

    it('ends the bound sessions and refuses further logins when the device is revoked', async () => {
      await gateway(makeDatabase);
      const station = await validatedWorkstation(await enrolSecurityKey());
      const { token } = json(await desktopLogin(ALICE, statement(station))) as { token: string };
      const web = await loginAs(gw, ALICE);
      const revoked = await callAs(gw, 'DELETE', `/v1/devices/${station.deviceId}`, web);
      expect(revoked.statusCode).toBe(200);
      expect(errorCode(await bearer('GET', '/v1/session', token, station))).toBe('SESSION_REVOKED');
      expect(errorCode(await desktopLogin(ALICE, statement(station)))).toBe('DEVICE_REVOKED');
      const notes = await gw.ctx.store.db.selectFrom('notifications').select(['kind', 'data']).execute();
      expect(notes.filter((n) => n.kind === 'factor_removed').map((n) => JSON.parse(n.data).factor)).toEqual([
        'device_key',
      ]);
    });

    it('asks for the security key as well when policy says so, and binds the session to the device', async () => {
      await gateway(makeDatabase, 'password_and_security_key');
      const key = await enrolSecurityKey();
      const station = await validatedWorkstation(key);
      const started = await desktopLogin(ALICE, statement(station));
      expect(json(started)).toMatchObject({
        status: 'second_factor_required',
        factors: [{ type: 'webauthn' }],
      });
      const done = await securityKeyStep((json(started) as { loginId: string }).loginId, key);
      expect(done.statusCode).toBe(200);
      const body = json(done) as { token: string };
      expect(body).toMatchObject({ session: { channel: 'desktop', aal: 3, amr: ['pwd', 'swk', 'hwk'] } });
      expect(body).not.toHaveProperty('deviceKeyRegistration');
      expect(errorCode(await bearer('GET', '/v1/session', body.token))).toBe('PROOF_REQUIRED');
      expect((await bearer('GET', '/v1/session', body.token, station)).statusCode).toBe(200);
    });
  },
);
