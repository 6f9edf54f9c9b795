/**
 * The user's devices over HTTP: renaming, trusting and revoking need a recent strong factor as factor changes do,
 * and a user's last mobile device cannot be revoked while it is their last second factor — also when two removals
 * race, on SQLite and PostgreSQL.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { generateDeviceKey } from '../authenticator/index.js';
import { totpCode } from '../factors/index.js';
import { insertFactor, removeFactor, requireAnotherFactor } from '../factors/registry.js';
import { testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  BRUNO,
  callAs,
  errorCode,
  json,
  type LoggedIn,
  loginAs,
  loginWithSms,
  renewed,
  startTestGateway,
  type TestGateway,
  type TestGatewayOptions,
} from '../test-support/gateway.js';
import { revokeDevice } from './registry.js';

const open: { gw: TestGateway; drop?: () => Promise<void> }[] = [];
afterEach(async () => {
  for (const { gw, drop } of open.splice(0)) {
    await gw.close();
    await drop?.();
  }
});

async function gateway(options: TestGatewayOptions = {}) {
  const gw = await startTestGateway(options);
  open.push({ gw, ...(options.database === undefined ? {} : { drop: options.database.drop }) });
  return gw;
}

/** Enrols a mobile device for the session's user through the real routes; returns its id. */
async function enrolPhone(gw: TestGateway, as: LoggedIn, name = 'Phone'): Promise<string> {
  const enrol = await callAs(gw, 'POST', '/v1/devices/mobile/enroll', as);
  expect(enrol.statusCode).toBe(200);
  const code = new URL((json(enrol) as { activationUri: string }).activationUri).searchParams.get('code');
  const activated = await gw.app.inject({
    method: 'POST',
    url: '/v1/devices/mobile/activate',
    payload: { activationCode: code, publicKey: generateDeviceKey().publicKey, name, platform: 'test' },
  });
  expect(activated.statusCode).toBe(200);
  return (json(activated) as { deviceId: string }).deviceId;
}

async function totpFactorId(gw: TestGateway, as: LoggedIn): Promise<string> {
  const { factors } = json(await callAs(gw, 'GET', '/v1/factors', as)) as {
    factors: { id: string; type: string }[];
  };
  return factors.find((f) => f.type === 'totp')?.id as string;
}

async function deviceStatus(gw: TestGateway, id: string) {
  const row = await gw.ctx.store.db
    .selectFrom('devices')
    .select(['status', 'name', 'trusted'])
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
  return row;
}

/** The changes a device takes (rename, distrust, revoke), each as the session `as`, from `remoteAddress`. */
const changes = (gw: TestGateway, as: LoggedIn, id: string, remoteAddress = '127.0.0.1') =>
  (
    [
      ['PATCH', { name: 'Renamed' }],
      ['PATCH', { trusted: false }],
      ['DELETE', undefined],
    ] as const
  ).map(
    ([method, payload]) =>
      () =>
        gw.app.inject({
          method,
          url: `/v1/devices/${id}`,
          headers: { cookie: as.cookie, 'x-csrf-token': as.csrf },
          remoteAddress,
          ...(payload === undefined ? {} : { payload }),
        }),
  );

const UNCHANGED = { status: 'active', name: 'Phone', trusted: 1 };

describe.each(testDatabases())('device changes need a recent strong factor on %s', (_name, factory) => {
  it('refuses rename, trust and revoke once the second factor is over 5 minutes old, and accepts them after step-up', async () => {
    // Issue 14, finding 5: PATCH and DELETE /v1/devices/{id} needed no recent second factor: a session whose
    // factor was hours old (a stolen cookie) renamed, distrusted and revoked the owner's phone.
    const gw = await gateway({ database: await factory() });
    const alice = await loginAs(gw, ALICE);
    const phone = await enrolPhone(gw, alice);
    gw.clock.advance(5 * 60_000 + 1);
    for (const change of changes(gw, alice, phone)) {
      const response = await change();
      expect(response.statusCode).toBe(403);
      expect(errorCode(response)).toBe('STEP_UP_REQUIRED');
      expect((json(response).error as { details: { reason: string } }).details.reason).toBe(
        'stale_second_factor',
      );
    }
    expect(await deviceStatus(gw, phone)).toEqual(UNCHANGED);

    gw.clock.advance(30_000);
    const stepUp = await callAs(gw, 'POST', '/v1/session/step-up', alice, {
      type: 'totp',
      code: totpCode(ALICE.totpSecret, gw.clock.now()),
    });
    expect(stepUp.statusCode).toBe(200);
    for (const change of changes(gw, renewed(alice, stepUp), phone))
      expect((await change()).statusCode).toBe(200);
    expect(await deviceStatus(gw, phone)).toEqual({ status: 'revoked', name: 'Renamed', trusted: 0 });
  });

  it('refuses every change from a session whose step-up is pending (another network)', async () => {
    const gw = await gateway({ database: await factory() });
    const alice = await loginAs(gw, ALICE);
    const phone = await enrolPhone(gw, alice);
    // The cookie used from another network: the session must step up before any sensitive action.
    for (const change of changes(gw, alice, phone, '203.0.113.5')) {
      const response = await change();
      expect(response.statusCode).toBe(403);
      expect(errorCode(response)).toBe('STEP_UP_REQUIRED');
      expect((json(response).error as { details: { reason: string } }).details.reason).toBe(
        'network_changed',
      );
    }
    expect(await deviceStatus(gw, phone)).toEqual(UNCHANGED);
  });

  it('refuses every change from a session authenticated by SMS', async () => {
    const gw = await gateway({ database: await factory() });
    const alice = await loginAs(gw, ALICE);
    const phone = await enrolPhone(gw, alice);
    const sms = await loginWithSms(gw, ALICE, alice);
    for (const change of changes(gw, sms, phone)) {
      const response = await change();
      expect(response.statusCode).toBe(403);
      expect(errorCode(response)).toBe('FACTOR_TOO_WEAK');
    }
    expect(await deviceStatus(gw, phone)).toEqual(UNCHANGED);
  });

  it('cannot change another user’s device', async () => {
    const gw = await gateway({ database: await factory() });
    const alice = await loginAs(gw, ALICE);
    const phone = await enrolPhone(gw, alice);
    const bruno = await loginAs(gw, BRUNO);
    for (const change of changes(gw, bruno, phone)) {
      const response = await change();
      expect(response.statusCode).toBe(404);
      expect(errorCode(response)).toBe('DEVICE_NOT_FOUND');
    }
    expect(await deviceStatus(gw, phone)).toEqual(UNCHANGED);
  });
});

describe.each(testDatabases())('the last-factor rule covers mobile devices on %s', (_name, factory) => {
  it('refuses to revoke the last mobile device while it is the user’s last second factor', async () => {
    // Issue 14, finding 5: DELETE /v1/devices/{id} revoked a user's only phone after their authenticator app had
    // been removed (the phone counting as the remaining factor), leaving no second factor at all.
    const gw = await gateway({ database: await factory() });
    const alice = await loginAs(gw, ALICE);
    const phone = await enrolPhone(gw, alice);
    const removed = await callAs(gw, 'DELETE', `/v1/factors/${await totpFactorId(gw, alice)}`, alice);
    expect(removed.statusCode).toBe(200);
    const last = await callAs(gw, 'DELETE', `/v1/devices/${phone}`, alice);
    expect(last.statusCode).toBe(409);
    expect(errorCode(last)).toBe('LAST_FACTOR');
    expect((await deviceStatus(gw, phone)).status).toBe('active');

    // With another phone enrolled, the first one can go.
    const second = await enrolPhone(gw, alice, 'Second phone');
    expect((await callAs(gw, 'DELETE', `/v1/devices/${phone}`, alice)).statusCode).toBe(200);
    expect(errorCode(await callAs(gw, 'DELETE', `/v1/devices/${second}`, alice))).toBe('LAST_FACTOR');
  });

  it('does not count a device whose PIN lock disabled it as a factor', async () => {
    const gw = await gateway({ database: await factory() });
    const alice = await loginAs(gw, ALICE);
    const phone = await enrolPhone(gw, alice);
    await gw.ctx.store.db.updateTable('devices').set({ login_disabled: 1 }).where('id', '=', phone).execute();
    const totp = await callAs(gw, 'DELETE', `/v1/factors/${await totpFactorId(gw, alice)}`, alice);
    expect(errorCode(totp)).toBe('LAST_FACTOR');
    // The disabled phone itself is no factor: revoking it leaves the authenticator app.
    expect((await callAs(gw, 'DELETE', `/v1/devices/${phone}`, alice)).statusCode).toBe(200);
  });
});

describe.each(testDatabases())('concurrent removals of the last two factors on %s', (_name, factory) => {
  it('never both succeed', async () => {
    // Issue 14, finding 5: removing a user's authenticator app and revoking their phone at the same moment could
    // both succeed (each transaction counted the other's factor; on PostgreSQL's read committed that is write
    // skew), leaving the user with no second factor.
    const gw = await gateway({ database: await factory() });
    const alice = await loginAs(gw, ALICE);
    const { db } = gw.ctx.store;
    const userId = (
      await db
        .selectFrom('users')
        .select('id')
        .where('username', '=', ALICE.username)
        .executeTakeFirstOrThrow()
    ).id;
    for (let round = 0; round < 8; round += 1) {
      // Two factors: a TOTP app and a phone; remove both at once.
      const totp = await totpFactorId(gw, alice);
      const phone = await enrolPhone(gw, alice, `Phone ${round}`);
      const outcomes = await Promise.allSettled([
        removeFactor(db, userId, totp),
        revokeDevice(db, userId, phone, (trx, user, device) =>
          requireAnotherFactor(trx, user, { deviceId: device }),
        ),
      ]);
      const succeeded = outcomes.filter((o) => o.status === 'fulfilled').length;
      expect(succeeded, `round ${round}`).toBe(1);
      const refused = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
      expect(refused.reason).toMatchObject({ code: 'LAST_FACTOR' });
      // Restore: a TOTP factor again, and no active phone.
      if (outcomes[0]?.status === 'fulfilled') {
        await insertFactor(db, gw.clock, {
          id: `fac_round_${round}`,
          user_id: userId,
          type: 'totp',
          label: 'Authenticator app',
          status: 'active',
        });
      }
      await db.updateTable('devices').set({ status: 'revoked' }).where('id', '=', phone).execute();
    }
  }, 30_000);
});
