/** The enrolled device logging in on its own (`channel: "mobile"`): key signature + PIN, bearer token, PIN lockout. */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type DeviceIdentity,
  deviceProof,
  enrolDevice,
  generateDeviceKey,
  signWithDevice,
} from '../authenticator/index.js';
import { MAX_PIN_FAILURES } from '../devices/index.js';
import { type TestDatabase, type TestDatabaseFactory, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  errorCode,
  json,
  loginAs,
  startTestGateway,
  type TestGateway,
} from '../test-support/gateway.js';
import { mobileLoginMessage } from './mobile.js';

let gw: TestGateway;
const databases: TestDatabase[] = [];
let base: string;
let phone: DeviceIdentity;

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

function mobileLogin(pin: string, options: { ts?: number; nonce?: string; identity?: DeviceIdentity } = {}) {
  const identity = options.identity ?? phone;
  const ts = options.ts ?? gw.clock.now();
  const nonce = options.nonce ?? randomBytes(16).toString('base64url');
  return gw.app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    payload: {
      channel: 'mobile',
      deviceId: identity.deviceId,
      pin,
      ts,
      nonce,
      signature: signWithDevice(identity.privateKey, mobileLoginMessage(identity.deviceId, ts, nonce)),
    },
  });
}

describe.each(testDatabases())('mobile channel login on %s', (_name, makeDatabase) => {
  beforeEach(async () => {
    gw = await startTestGateway({
      database: await fresh(makeDatabase),
      config: { server: { port: 0, host: '127.0.0.1' } },
    });
    base = await gw.listen();
    const session = await loginAs(gw, ALICE);
    const enroll = await gw.app.inject({
      method: 'POST',
      url: '/v1/devices/mobile/enroll',
      headers: { cookie: session.cookie, 'x-csrf-token': session.csrf, host: new URL(base).host },
    });
    phone = await enrolDevice((json(enroll) as { activationUri: string }).activationUri, {
      name: 'iPhone',
      platform: 'ios',
      pin: '2468',
    });
  });

  it('issues an AAL2 bearer session for the device key plus its PIN', async () => {
    const response = await mobileLogin('2468');
    expect(response.statusCode).toBe(200);
    const body = json(response) as {
      token: string;
      tokenType: string;
      session: { channel: string; aal: number; amr: string[] };
    };
    expect(body).toMatchObject({
      tokenType: 'Bearer',
      session: { channel: 'mobile', aal: 2, amr: ['swk', 'pin'] },
    });
    expect(response.headers['set-cookie']).toBeUndefined();
    const whoami = await gw.app.inject({
      method: 'GET',
      url: '/v1/session',
      headers: {
        authorization: `Bearer ${body.token}`,
        'x-device-proof': deviceProof(phone, 'GET', `${base}/v1/session`, body.token, gw.clock.now()),
      },
    });
    expect(whoami.body).toContain('"user"');
    expect(whoami.statusCode).toBe(200);
    // A mobile token is never accepted as a cookie (and a web cookie never as a bearer token).
    const asCookie = await gw.app.inject({
      method: 'GET',
      url: '/v1/session',
      headers: { cookie: `gh_session=${body.token}` },
    });
    expect(errorCode(asCookie)).toBe('UNAUTHENTICATED');
    const web = await loginAs(gw, ALICE);
    const webAsBearer = await gw.app.inject({
      method: 'GET',
      url: '/v1/session',
      headers: { authorization: `Bearer ${web.cookie.split('=')[1]}` },
    });
    expect(errorCode(webAsBearer)).toBe('UNAUTHENTICATED');
  });

  it('binds the bearer token to the device key: every request needs a fresh proof for exactly that request', async () => {
    const { token } = json(await mobileLogin('2468')) as { token: string };
    const url = `${base}/v1/session/tickle`;
    const send = (proof?: string, method: 'POST' | 'GET' = 'POST', path = '/v1/session/tickle') =>
      gw.app.inject({
        method,
        url: path,
        headers: {
          authorization: `Bearer ${token}`,
          ...(proof === undefined ? {} : { 'x-device-proof': proof }),
        },
      });
    expect(errorCode(await send())).toBe('PROOF_REQUIRED');
    const proof = deviceProof(phone, 'POST', url, token, gw.clock.now());
    expect((await send(proof)).statusCode).toBe(200);
    expect(errorCode(await send(proof))).toBe('PROOF_REPLAYED');
    expect(errorCode(await send(deviceProof(phone, 'GET', url, token, gw.clock.now())))).toBe(
      'PROOF_INVALID',
    );
    expect(
      errorCode(await send(deviceProof(phone, 'POST', `${base}/v1/sessions`, token, gw.clock.now()))),
    ).toBe('PROOF_INVALID');
    expect(errorCode(await send(deviceProof(phone, 'POST', url, 'another-token', gw.clock.now())))).toBe(
      'PROOF_INVALID',
    );
    expect(errorCode(await send(deviceProof(phone, 'POST', url, token, gw.clock.now() - 120_000)))).toBe(
      'PROOF_INVALID',
    );
    const thief = { privateKey: generateDeviceKey().privateKey };
    expect(errorCode(await send(deviceProof(thief, 'POST', url, token, gw.clock.now())))).toBe(
      'PROOF_INVALID',
    );
    expect(errorCode(await send('not.a.proof'))).toBe('PROOF_INVALID');
  });

  it('refuses a replayed, stale or forged login statement', async () => {
    const nonce = randomBytes(16).toString('base64url');
    expect((await mobileLogin('2468', { nonce })).statusCode).toBe(200);
    expect(errorCode(await mobileLogin('2468', { nonce }))).toBe('SIGNATURE_INVALID');
    expect(errorCode(await mobileLogin('2468', { ts: gw.clock.now() - 120_000 }))).toBe('SIGNATURE_INVALID');
    const forged = await gw.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: {
        channel: 'mobile',
        deviceId: phone.deviceId,
        pin: '2468',
        ts: gw.clock.now(),
        nonce: randomBytes(16).toString('base64url'),
        signature: 'A'.repeat(86),
      },
    });
    expect(errorCode(forged)).toBe('SIGNATURE_INVALID');
  });

  it('disables the device after 5 wrong PINs until it is enrolled again', async () => {
    for (let i = 1; i < MAX_PIN_FAILURES; i += 1)
      expect(errorCode(await mobileLogin('0000'))).toBe('INVALID_CREDENTIALS');
    expect(errorCode(await mobileLogin('0000'))).toBe('DEVICE_REVOKED');
    expect(errorCode(await mobileLogin('2468'))).toBe('DEVICE_REVOKED');
    const row = await gw.ctx.store.db
      .selectFrom('devices')
      .select(['login_disabled', 'pin_failures'])
      .where('id', '=', phone.deviceId)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ login_disabled: 1, pin_failures: MAX_PIN_FAILURES });
    const notes = await gw.ctx.store.db.selectFrom('notifications').select('kind').execute();
    expect(notes.map((n) => n.kind)).toContain('factor_removed');
  });

  it('resets the PIN failure count after a correct PIN', async () => {
    for (let i = 0; i < 3; i += 1) await mobileLogin('0000');
    expect((await mobileLogin('2468')).statusCode).toBe(200);
    for (let i = 0; i < 3; i += 1) expect(errorCode(await mobileLogin('0000'))).toBe('INVALID_CREDENTIALS');
  });
});
