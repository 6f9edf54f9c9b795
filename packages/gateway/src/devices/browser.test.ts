/** Browser device validation: the device cookie, new-device notifications, cleared cookies, revoked devices. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { totpCode } from '../factors/index.js';
import { type TestDatabase, type TestDatabaseFactory, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  errorCode,
  json,
  startLogin,
  startTestGateway,
  submitTotp,
  type TestGateway,
} from '../test-support/gateway.js';
import { describeUserAgent, parseDeviceCookie } from './index.js';

let gw: TestGateway;
const databases: TestDatabase[] = [];
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

const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0';

async function browserLogin(deviceCookie?: string) {
  gw.clock.advance(30_000);
  const headers = {
    'user-agent': FIREFOX,
    ...(deviceCookie === undefined ? {} : { cookie: `gh_device=${deviceCookie}` }),
  };
  const started = await gw.app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    headers,
    payload: { username: ALICE.username, password: ALICE.password, channel: 'web' },
  });
  const { loginId } = json(started) as { loginId: string };
  return gw.app.inject({
    method: 'POST',
    url: `/v1/auth/login/${loginId}/factor`,
    headers,
    payload: { type: 'totp', code: totpCode(ALICE.totpSecret, gw.clock.now()) },
  });
}

async function notifications(): Promise<string[]> {
  return (await gw.ctx.store.db.selectFrom('notifications').select('kind').execute()).map((n) => n.kind);
}

describe.each(testDatabases())('browser devices on %s', (_name, makeDatabase) => {
  beforeEach(async () => {
    gw = await startTestGateway({ database: await fresh(makeDatabase) });
  });

  it('records a new browser, notifies the user once, and recognises it by its signed cookie', async () => {
    const first = await browserLogin();
    expect(first.statusCode).toBe(200);
    const cookie = first.cookies.find((c) => c.name === 'gh_device');
    expect(cookie?.httpOnly).toBe(true);
    expect(cookie?.maxAge).toBeGreaterThan(300 * 24 * 3600);
    expect(await notifications()).toEqual(['new_device_login']);
    const devices = await gw.ctx.store.db.selectFrom('devices').selectAll().execute();
    expect(devices).toHaveLength(1);
    expect(devices[0]).toMatchObject({ kind: 'browser', name: 'Firefox on Linux', trusted: 0 });
    expect(JSON.parse(devices[0]?.networks ?? '[]')).toEqual(['127.0.0.0/24']);

    const again = await browserLogin(cookie?.value);
    expect(again.statusCode).toBe(200);
    expect(await notifications()).toEqual(['new_device_login']);
    expect(await gw.ctx.store.db.selectFrom('devices').select('id').execute()).toHaveLength(1);
    const session = json(again) as { session: { id: string } };
    const row = await gw.ctx.store.db
      .selectFrom('sessions')
      .select('device_id')
      .where('id', '=', session.session.id)
      .executeTakeFirstOrThrow();
    expect(row.device_id).toBe(devices[0]?.id);
  });

  it('treats cleared cookies and forged cookies as an unknown device', async () => {
    const first = await browserLogin();
    const cookie = first.cookies.find((c) => c.name === 'gh_device')?.value as string;
    await browserLogin(); // cookies cleared
    const [id] = cookie.split('.');
    await browserLogin(`${id}.forged-signature`);
    expect(await notifications()).toEqual(['new_device_login', 'new_device_login', 'new_device_login']);
    expect(parseDeviceCookie(Buffer.alloc(32), cookie)).toBeNull();
  });

  it('denies a login from a browser the user revoked', async () => {
    const first = await browserLogin();
    const cookie = first.cookies.find((c) => c.name === 'gh_device')?.value as string;
    const session = first.cookies.find((c) => c.name === 'gh_session')?.value as string;
    const { csrfToken } = json(first) as { csrfToken: string };
    const deviceId = cookie.split('.')[0] as string;
    const revoked = await gw.app.inject({
      method: 'DELETE',
      url: `/v1/devices/${deviceId}`,
      headers: { cookie: `gh_session=${session}`, 'x-csrf-token': csrfToken },
    });
    expect(revoked.statusCode).toBe(200);
    const denied = await browserLogin(cookie);
    expect(denied.statusCode).toBe(401);
    expect(errorCode(denied)).toBe('DEVICE_REVOKED');
  });

  it('names browsers from their user agent', () => {
    expect(describeUserAgent(FIREFOX)).toBe('Firefox on Linux');
    expect(
      describeUserAgent('Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/140.0 Safari/537.36'),
    ).toBe('Chrome on Windows');
    expect(describeUserAgent('curl/8.1')).toBe('curl');
    expect(describeUserAgent('')).toBe('Browser');
  });

  it('keeps working for clients that send no device cookie at all', async () => {
    const { loginId } = json(await startLogin(gw, ALICE.username, ALICE.password)) as { loginId: string };
    expect((await submitTotp(gw, loginId, totpCode(ALICE.totpSecret, gw.clock.now()))).statusCode).toBe(200);
  });
});
