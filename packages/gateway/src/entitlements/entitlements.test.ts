/**
 * Operators change entitlements through the admin API (bearer token, audited); the gate sees a change at once,
 * on this node through the bus. Wrong or missing tokens, bad input and unknown accounts change nothing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type TestDatabase, type TestDatabaseFactory, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  callAs,
  errorCode,
  json,
  loginAs,
  startTestGateway,
  type TestGateway,
  type TestGatewayOptions,
} from '../test-support/gateway.js';

const TOKEN = 'operator-token-0123456789abcdefghijklmnop';
let gw: TestGateway;
let database: TestDatabase | undefined;
afterEach(async () => {
  await gw?.close();
  await database?.drop();
  database = undefined;
});

/** A gateway on a fresh database from `makeDatabase`, dropped after the test. */
async function gatewayOn(makeDatabase: TestDatabaseFactory, options: TestGatewayOptions = {}) {
  database = await makeDatabase();
  return startTestGateway({ ...options, database });
}

const admin = (method: 'GET' | 'PATCH', accountId: string, payload?: unknown, token = TOKEN) =>
  gw.app.inject({
    method,
    url: `/v1/admin/accounts/${accountId}/entitlements`,
    headers: { authorization: `Bearer ${token}` },
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });

describe.each(testDatabases())('the admin API for entitlements on %s', (_name, makeDatabase) => {
  it('is off unless a token is configured', async () => {
    gw = await gatewayOn(makeDatabase);
    expect((await admin('GET', 'U1000001')).statusCode).toBe(404);
  });

  it('changes entitlements with an audit row, and the gate sees the change at once', async () => {
    gw = await gatewayOn(makeDatabase, { config: { secrets: { adminApiToken: TOKEN } } });
    const before = json(await admin('GET', 'U1000001')) as {
      permissions: string[];
      subscriptions: unknown[];
    };
    expect(before.permissions).toContain('OPT:US');
    const alice = await loginAs(gw, ALICE);
    await callAs(gw, 'POST', '/v1/session/brokerage', alice, { compete: true });
    const order = () =>
      callAs(gw, 'POST', '/v1/accounts/U1000001/orders', alice, {
        clientOrderId: `o-${Math.random()}`,
        instrumentId: 265598,
        side: 'BUY',
        type: 'MKT',
        quantity: 1,
        tif: 'DAY',
      });
    expect((await order()).statusCode).toBe(201);
    const frozen = await admin('PATCH', 'U1000001', {
      frozen: true,
      grantPermissions: [{ assetClass: 'STK', region: 'EU' }],
    });
    expect(frozen.statusCode).toBe(200);
    expect(json(frozen)).toMatchObject({ account: { frozen: true } });
    expect((json(frozen) as { permissions: string[] }).permissions).toContain('STK:EU');
    expect(errorCode(await order())).toBe('ACCOUNT_FROZEN');
    const audit = await gw.ctx.store.db
      .selectFrom('audit_log')
      .select('data')
      .where('type', '=', 'account.entitlements_changed')
      .execute();
    expect(audit.map((a) => JSON.parse(a.data).via)).toContain('admin_api');
  });

  it('refuses a wrong or missing token, bad input and unknown accounts, changing nothing', async () => {
    gw = await gatewayOn(makeDatabase, { config: { secrets: { adminApiToken: TOKEN } } });
    const before = json(await admin('GET', 'U1000001'));
    expect(errorCode(await admin('PATCH', 'U1000001', { frozen: true }, 'wrong-token'))).toBe(
      'UNAUTHENTICATED',
    );
    const missing = await gw.app.inject({ method: 'GET', url: '/v1/admin/accounts/U1000001/entitlements' });
    expect(errorCode(missing)).toBe('UNAUTHENTICATED');
    for (const bad of [
      { optionsLevel: 7 },
      { grantPermissions: [{ assetClass: 'STK', region: 'MARS' }] },
      { frozen: 'yes' },
      { extra: 1 },
    ])
      expect(errorCode(await admin('PATCH', 'U1000001', bad))).toBe('INVALID_REQUEST');
    expect(errorCode(await admin('PATCH', 'U9999999', { frozen: true }))).toBe('ACCOUNT_NOT_FOUND');
    expect(json(await admin('GET', 'U1000001'))).toEqual(before);
  });
});
