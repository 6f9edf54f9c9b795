/**
 * Security review F4: giving a program access is a change like adding a factor. Before the fix a session logged in
 * with SMS (a restricted factor, refused for adding a TOTP, ending other sessions or enrolling a phone) registered a
 * personal client with `read trade marketdata` (201) and approved an app's `trade` consent, and no notification was
 * sent for either. Now both need a second factor verified in the last 5 minutes, not SMS, and no step-up pending —
 * checked before anything is made or spent — and each is notified to the user. Runs on every database.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { sha256 } from '../core/index.js';
import { totpCode } from '../factors/index.js';
import { findUserByUsername } from '../identity/index.js';
import { listNotifications } from '../notifications/index.js';
import { testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  callAs,
  errorCode,
  json,
  type LoggedIn,
  loginAs,
  loginWithSms,
  renewed,
  startTestGateway,
  type TestGateway,
} from '../test-support/gateway.js';
import {
  ADMIN_TOKEN,
  es256Key,
  pushRequest,
  registerApp,
  type TestProgram,
} from '../test-support/program.js';

let gw: TestGateway | undefined;
let drop: (() => Promise<void>) | undefined;
afterEach(async () => {
  await gw?.close();
  await drop?.();
  gw = undefined;
  drop = undefined;
});

describe.each(testDatabases())('security review F4 on %s', (_name, makeDatabase) => {
  async function gateway() {
    const database = await makeDatabase();
    drop = () => database.drop();
    gw = await startTestGateway({ database, config: { secrets: { adminApiToken: ADMIN_TOKEN } } });
    return gw;
  }
  const counts = async (g: TestGateway) => ({
    clients: (await g.ctx.store.db.selectFrom('oauth_clients').select('id').execute()).length,
    grants: (await g.ctx.store.db.selectFrom('oauth_grants').select('id').execute()).length,
    audited: (
      await g.ctx.store.db
        .selectFrom('audit_log')
        .select('seq')
        .where('type', 'in', ['oauth.client_registered', 'oauth.consent_granted'])
        .execute()
    ).length,
  });
  const notified = async (g: TestGateway) => {
    const user = await findUserByUsername(g.ctx.store.db, 'alice');
    return (await listNotifications(g.ctx.store.db, user?.id ?? '')).filter(
      (n) => n.kind === 'api_client_registered' || n.kind === 'app_authorized',
    );
  };
  const register = (g: TestGateway, as: LoggedIn) =>
    callAs(g, 'POST', '/v1/oauth/clients', as, {
      name: 'my bot',
      keys: [es256Key().publicJwk],
      accounts: ['DU1000001'],
      scopes: ['read', 'trade', 'marketdata'],
    });
  /** A step-up with the authenticator app: a strong factor, now. */
  const stepUp = async (g: TestGateway, as: LoggedIn) => {
    g.clock.advance(30_000);
    const stepped = await callAs(g, 'POST', '/v1/session/step-up', as, {
      type: 'totp',
      code: totpCode(ALICE.totpSecret, g.clock.now()),
    });
    expect(stepped.statusCode).toBe(200);
    return renewed(as, stepped);
  };

  it('registering a personal client needs a strong second factor from the last 5 minutes, checked before anything is made, and is notified', async () => {
    const g = await gateway();
    const alice = await loginAs(g, ALICE);
    const bySms = await loginWithSms(g, ALICE, alice);
    const before = await counts(g);

    const weak = await register(g, bySms);
    expect(weak.statusCode).toBe(403);
    expect(errorCode(weak)).toBe('FACTOR_TOO_WEAK');
    const old = await loginAs(g, ALICE);
    g.clock.advance(5 * 60_000 + 1_000);
    expect(json(await register(g, old))).toMatchObject({
      error: { code: 'STEP_UP_REQUIRED', details: { reason: 'stale_second_factor' } },
    });
    expect(await counts(g)).toEqual(before);
    expect(await notified(g)).toEqual([]);

    // A step-up with the authenticator app lets the same session register; the user is told.
    const registered = await register(g, await stepUp(g, old));
    expect(registered.statusCode).toBe(201);
    expect(await notified(g)).toEqual([
      expect.objectContaining({
        kind: 'api_client_registered',
        data: {
          clientId: json(registered).clientId,
          name: 'my bot',
          scopes: ['read', 'trade', 'marketdata'],
          accounts: ['DU1000001'],
        },
      }),
    ]);
  });

  it('approving an app needs a strong second factor from the last 5 minutes, checked before the request is spent, and is notified; denying does not', async () => {
    const g = await gateway();
    const program = await registerApp(g);
    const alice = await loginAs(g, ALICE);
    const bySms = await loginWithSms(g, ALICE, alice);
    const answer = async (as: LoggedIn, requestUri: string, approve: boolean) =>
      callAs(g, 'POST', '/oauth2/authorize/consent', as, {
        clientId: program.clientId,
        requestUri,
        approve,
        accounts: approve ? ['DU1000001'] : [],
      });
    const pushed = async (p: TestProgram) => json((await pushRequest(p)).response).request_uri as string;
    const unspent = async (requestUri: string) =>
      (
        await g.ctx.store.db
          .selectFrom('oauth_par_requests')
          .select('used_at')
          .where('request_uri_hash', '=', sha256(requestUri))
          .executeTakeFirstOrThrow()
      ).used_at === null;
    const before = await counts(g);

    const first = await pushed(program);
    expect(errorCode(await answer(bySms, first, true))).toBe('FACTOR_TOO_WEAK');
    expect(await unspent(first)).toBe(true);
    const old = await loginAs(g, ALICE);
    g.clock.advance(5 * 60_000 + 1_000);
    const second = await pushed(program);
    expect(json(await answer(old, second, true))).toMatchObject({
      error: { code: 'STEP_UP_REQUIRED', details: { reason: 'stale_second_factor' } },
    });
    expect(await unspent(second)).toBe(true);
    expect(await counts(g)).toEqual(before);
    expect(await notified(g)).toEqual([]);

    // Saying no gives nothing away: any session of the user may, and the request is spent.
    const denied = await answer(bySms, second, false);
    expect(denied.statusCode).toBe(200);
    expect(new URL(json(denied).redirectTo as string).searchParams.get('error')).toBe('access_denied');

    const third = await pushed(program);
    const approved = await answer(await stepUp(g, old), third, true);
    expect(approved.statusCode).toBe(200);
    const grants = await g.ctx.store.db.selectFrom('oauth_grants').select('id').execute();
    expect(grants).toHaveLength(1);
    expect(await notified(g)).toEqual([
      expect.objectContaining({
        kind: 'app_authorized',
        data: {
          clientId: program.clientId,
          name: 'Charting app',
          grantId: grants[0]?.id,
          scopes: ['read', 'trade'],
          accounts: ['DU1000001'],
        },
      }),
    ]);
  });
});
