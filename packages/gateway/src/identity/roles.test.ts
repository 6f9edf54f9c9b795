/**
 * Roles on accounts are real only if they can be given and taken (issue 14): an operator grants and revokes
 * `owner`, `trader` and `viewer` through the admin API (the CLI runs the same function: e2e/cli.test.ts), audited,
 * and every session and program of the user sees the change at once. A grant to a program goes through the same
 * policy (issue 14, finding 7): on the code before the fix a viewer registered a personal client with `trade` on an
 * account they only look at, and consented to an app's `trade` for it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type TestDatabase, type TestDatabaseFactory, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  callAs,
  errorCode,
  json,
  type LoggedIn,
  loginAs,
  startTestGateway,
  type TestGateway,
  type TestGatewayOptions,
  VIKTOR,
} from '../test-support/gateway.js';
import { ADMIN_TOKEN, botToken, pushRequest, registerApp, TestProgram } from '../test-support/program.js';

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

const admin = (method: 'PUT' | 'DELETE', url: string, payload?: unknown, token = ADMIN_TOKEN) =>
  gw.app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${token}` },
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });

const register = (as: LoggedIn, scopes: string[], accounts = ['U1000001']) => {
  const bot = new TestProgram(gw);
  return {
    bot,
    response: callAs(gw, 'POST', '/v1/oauth/clients', as, {
      name: 'adviser bot',
      keys: [bot.clientKey.publicJwk],
      accounts,
      scopes,
    }),
  };
};

const counts = async () => ({
  clients: (await gw.ctx.store.db.selectFrom('oauth_clients').select('id').execute()).length,
  grants: (await gw.ctx.store.db.selectFrom('oauth_grants').select('id').execute()).length,
});

describe.each(testDatabases())(
  'grants to programs go through the account-access policy (finding 7) on %s',
  (_name, makeDatabase) => {
    it('refuses a viewer a personal client with trade on the account, and allows read', async () => {
      gw = await gatewayOn(makeDatabase);
      const viktor = await loginAs(gw, VIKTOR);
      const before = await counts();
      const trading = await register(viktor, ['read', 'trade']).response;
      expect(trading.statusCode).toBe(403);
      expect(json(trading)).toMatchObject({
        error: { code: 'ROLE_NOT_ALLOWED', details: { role: 'viewer' } },
      });
      expect(await counts()).toEqual(before);
      // Another user's account is unknown, whatever the scopes.
      expect(errorCode(await register(viktor, ['read'], ['U2000002']).response)).toBe('ACCOUNT_NOT_FOUND');

      const { bot, response } = register(viktor, ['read']);
      expect((await response).statusCode).toBe(201);
      bot.clientId = json(await response).clientId as string;
      const token = await botToken(bot);
      expect((await bot.call('GET', '/v1/accounts/U1000001/portfolio', token)).statusCode).toBe(200);
      const order = await bot.call('POST', '/v1/accounts/U1000001/orders', token, {
        clientOrderId: 'viewer-bot',
        instrumentId: 265598,
        side: 'BUY',
        type: 'MKT',
        quantity: 1,
        tif: 'DAY',
      });
      expect(errorCode(order)).toBe('SCOPE_REQUIRED');
    });

    it('refuses a viewer’s consent to an app’s trade scope for the account, leaving the request unspent', async () => {
      gw = await gatewayOn(makeDatabase, { config: { secrets: { adminApiToken: ADMIN_TOKEN } } });
      const program = await registerApp(gw);
      const viktor = await loginAs(gw, VIKTOR);
      const { response } = await pushRequest(program, { scope: 'read trade' });
      // The consent page is told the account cannot carry this grant, so it does not offer it.
      const shown = await callAs(
        gw,
        'GET',
        `/oauth2/authorize?client_id=${program.clientId}&request_uri=${encodeURIComponent(json(response).request_uri as string)}`,
        viktor,
      );
      expect(json(shown).accounts).toEqual([
        { id: 'U1000001', title: 'Alice – US margin', role: 'viewer', grantable: false },
      ]);
      const consent = await callAs(gw, 'POST', '/oauth2/authorize/consent', viktor, {
        clientId: program.clientId,
        requestUri: json(response).request_uri,
        approve: true,
        accounts: ['U1000001'],
      });
      expect(errorCode(consent)).toBe('ROLE_NOT_ALLOWED');
      expect(await gw.ctx.store.db.selectFrom('oauth_par_requests').select('used_at').execute()).toEqual([
        { used_at: null },
      ]);
      expect((await counts()).grants).toBe(0);
    });
  },
);

describe.each(testDatabases())('operators give and take account roles on %s', (_name, makeDatabase) => {
  it('grants, changes and revokes roles through the admin API, audited, seen at once by sessions and programs', async () => {
    gw = await gatewayOn(makeDatabase, { config: { secrets: { adminApiToken: ADMIN_TOKEN } } });
    const viktor = await loginAs(gw, VIKTOR);
    const { bot, response } = register(viktor, ['read']);
    bot.clientId = json(await response).clientId as string;
    const token = await botToken(bot);

    // Viewer → trader: his live session may now trade the account, without logging in again.
    const granted = await admin('PUT', '/v1/admin/accounts/U1000001/roles/viktor', { role: 'trader' });
    expect(granted.statusCode).toBe(200);
    expect(json(granted)).toMatchObject({ accountId: 'U1000001', role: 'trader', previous: 'viewer' });
    expect(json(await callAs(gw, 'GET', '/v1/session', viktor))).toMatchObject({
      accounts: [expect.objectContaining({ id: 'U1000001', role: 'trader' })],
    });
    expect((await register(viktor, ['read', 'trade']).response).statusCode).toBe(201);

    // Revoked: the account is gone for the session and for the program at once.
    const revoked = await admin('DELETE', '/v1/admin/accounts/U1000001/roles/viktor');
    expect(json(revoked)).toMatchObject({ role: null, previous: 'trader' });
    expect(errorCode(await callAs(gw, 'GET', '/v1/accounts/U1000001/portfolio', viktor))).toBe(
      'ACCOUNT_NOT_FOUND',
    );
    expect(errorCode(await bot.call('GET', '/v1/accounts/U1000001/portfolio', token))).toBe(
      'ACCOUNT_NOT_FOUND',
    );
    // Taking away a role he no longer holds changes nothing.
    expect(json(await admin('DELETE', '/v1/admin/accounts/U1000001/roles/viktor'))).toMatchObject({
      role: null,
      previous: null,
    });

    const audit = await gw.ctx.store.db
      .selectFrom('audit_log')
      .select(['type', 'data'])
      .where('type', 'in', ['account.role_granted', 'account.role_revoked'])
      .orderBy('seq')
      .execute();
    expect(audit.map((a) => [a.type, JSON.parse(a.data)])).toEqual([
      [
        'account.role_granted',
        { accountId: 'U1000001', role: 'trader', previous: 'viewer', via: 'admin_api' },
      ],
      ['account.role_revoked', { accountId: 'U1000001', role: null, previous: 'trader', via: 'admin_api' }],
    ]);
  });

  it('keeps an owner on every account and refuses bad input, changing nothing', async () => {
    gw = await gatewayOn(makeDatabase, { config: { secrets: { adminApiToken: ADMIN_TOKEN } } });
    const roles = () =>
      gw.ctx.store.db
        .selectFrom('account_roles')
        .selectAll()
        .orderBy('account_id')
        .orderBy('user_id')
        .execute();
    const before = await roles();
    expect(errorCode(await admin('DELETE', '/v1/admin/accounts/U1000001/roles/alice'))).toBe('LAST_OWNER');
    expect(errorCode(await admin('PUT', '/v1/admin/accounts/U1000001/roles/alice', { role: 'viewer' }))).toBe(
      'LAST_OWNER',
    );
    expect(
      errorCode(await admin('PUT', '/v1/admin/accounts/U9999999/roles/viktor', { role: 'viewer' })),
    ).toBe('ACCOUNT_NOT_FOUND');
    expect(
      errorCode(await admin('PUT', '/v1/admin/accounts/U1000001/roles/nobody', { role: 'viewer' })),
    ).toBe('USER_NOT_FOUND');
    expect(errorCode(await admin('PUT', '/v1/admin/accounts/U1000001/roles/viktor', { role: 'admin' }))).toBe(
      'INVALID_REQUEST',
    );
    expect(
      errorCode(
        await admin('PUT', '/v1/admin/accounts/U1000001/roles/viktor', { role: 'owner' }, 'x'.repeat(40)),
      ),
    ).toBe('UNAUTHENTICATED');
    expect(await roles()).toEqual(before);
    // A second owner makes the first one's role changeable.
    expect(
      (await admin('PUT', '/v1/admin/accounts/U1000001/roles/viktor', { role: 'owner' })).statusCode,
    ).toBe(200);
    expect(
      (await admin('PUT', '/v1/admin/accounts/U1000001/roles/alice', { role: 'trader' })).statusCode,
    ).toBe(200);
    const alice = await loginAs(gw, ALICE);
    const policy = await callAs(gw, 'PUT', '/v1/accounts/U1000001/session-loss-policy', alice, {
      policy: 'cancel_all',
    });
    expect(errorCode(policy)).toBe('ROLE_NOT_ALLOWED');
  });
});
