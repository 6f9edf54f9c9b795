/**
 * Third-party apps: registered by an operator; the authorization code flow with PAR (required), PKCE S256, consent
 * by the user, a single-use code of at most 60 s bound to the DPoP key, `iss` in the response; refresh tokens with
 * and without rotation (reuse detection, and its leeway for a lost response); introspection and revocation.
 */
import { afterEach, describe, expect, it } from 'vitest';
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
  type TestGatewayOptions,
} from '../test-support/gateway.js';
import {
  ADMIN_TOKEN,
  authorizeApp,
  es256Key,
  exchangeCode,
  ISSUER,
  pkce,
  pushRequest,
  REDIRECT_URI,
  registerApp,
  TestProgram,
} from '../test-support/program.js';

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

const ADMIN = ADMIN_TOKEN;
const REDIRECT = REDIRECT_URI;
const oauthError = (response: { json(): unknown }) => (response.json() as { error: string }).error;
const app = (rotate = false) => registerApp(gw, { rotate });
const push = pushRequest;
const exchange = exchangeCode;

/** PAR → consent by Alice → the code in the redirect, checked on the way. */
async function authorize(program: TestProgram, alice: LoggedIn) {
  const flow = await authorizeApp(program, alice);
  // ASVS 5.0 10.7.2: the consent shows the app, what it may do, on which accounts, and for how long.
  expect(json(flow.shown)).toMatchObject({
    client: { name: 'Charting app' },
    scopes: ['read', 'trade'],
    accounts: expect.arrayContaining([expect.objectContaining({ id: 'DU1000001', grantable: true })]),
    lifetime: { idleTimeoutMs: 24 * 3_600_000, absoluteLifetimeMs: 7 * 24 * 3_600_000 },
  });
  expect(`${flow.redirect.origin}${flow.redirect.pathname}`).toBe(REDIRECT);
  expect(flow.redirect.searchParams.get('iss')).toBe(ISSUER);
  expect(flow.redirect.searchParams.get('state')).toBe('xyz');
  return flow;
}

describe.each(testDatabases())('third-party apps on %s', (_name, makeDatabase) => {
  it('runs PAR, consent and a single-use PKCE code to DPoP-bound tokens', async () => {
    gw = await gatewayOn(makeDatabase, { config: { secrets: { adminApiToken: ADMIN } } });
    const program = await app();
    const alice = await loginAs(gw, ALICE);
    const { code, verifier, requestUri } = await authorize(program, alice);
    const tokens = await exchange(program, code, verifier);
    expect(tokens.statusCode).toBe(200);
    expect(tokens.headers['cache-control']).toBe('no-store');
    const body = json(tokens) as { access_token: string; refresh_token: string; scope: string };
    expect(body.scope).toBe('read trade');
    expect(
      (await program.call('GET', '/v1/accounts/DU1000001/portfolio', body.access_token)).statusCode,
    ).toBe(200);
    // The pushed request is spent.
    const again = await callAs(gw, 'POST', '/oauth2/authorize/consent', alice, {
      clientId: program.clientId,
      requestUri,
      approve: true,
      accounts: ['DU1000001'],
    });
    expect(oauthError(again)).toBe('invalid_request_uri');
    // The code is single use: a second use fails and revokes what it granted.
    expect(oauthError(await exchange(program, code, verifier))).toBe('invalid_grant');
    expect(errorCode(await program.call('GET', '/v1/session', body.access_token))).toBe('INVALID_TOKEN');
  });

  it('refuses authorization requests not pushed, without PKCE S256, or with a redirect URI off by one character', async () => {
    gw = await gatewayOn(makeDatabase, { config: { secrets: { adminApiToken: ADMIN } } });
    const program = await app();
    const alice = await loginAs(gw, ALICE);
    const direct = await callAs(
      gw,
      'GET',
      `/oauth2/authorize?client_id=${program.clientId}&response_type=code&redirect_uri=${encodeURIComponent(REDIRECT)}`,
      alice,
    );
    expect(errorCode(direct)).toBe('INVALID_REQUEST');
    const cases: [Record<string, string>, string][] = [
      [{ code_challenge_method: 'plain' }, 'invalid_request'],
      [{ code_challenge: 'short' }, 'invalid_request'],
      [{ redirect_uri: `${REDIRECT}/` }, 'invalid_request'],
      [{ redirect_uri: 'https://app.example/callbacK' }, 'invalid_request'],
      [{ response_type: 'token' }, 'unsupported_response_type'],
      [{ scope: 'read admin' }, 'invalid_scope'],
      [{ state: 'x'.repeat(513) }, 'invalid_request'],
    ];
    for (const [overrides, expected] of cases) {
      expect(oauthError((await push(program, overrides)).response), JSON.stringify(overrides)).toBe(expected);
    }
    expect(await gw.ctx.store.db.selectFrom('oauth_par_requests').select('client_id').execute()).toEqual([]);
  });

  it('refuses a wrong PKCE verifier, a changed redirect URI, an expired code, another DPoP key, and denial', async () => {
    gw = await gatewayOn(makeDatabase, { config: { secrets: { adminApiToken: ADMIN } } });
    const program = await app();
    const alice = await loginAs(gw, ALICE);
    let flow = await authorize(program, alice);
    expect(oauthError(await exchange(program, flow.code, pkce().verifier))).toBe('invalid_grant');
    flow = await authorize(program, alice);
    expect(oauthError(await exchange(program, flow.code, flow.verifier, `${REDIRECT}x`))).toBe(
      'invalid_grant',
    );
    flow = await authorize(program, alice);
    gw.clock.advance(61_000);
    expect(oauthError(await exchange(program, flow.code, flow.verifier))).toBe('invalid_grant');
    // The code is bound to the DPoP key of the pushed request.
    flow = await authorize(program, alice);
    program.dpopKey = es256Key();
    expect(oauthError(await exchange(program, flow.code, flow.verifier))).toBe('invalid_dpop_proof');
    // Denied: the redirect says so, and no code exists.
    const { response } = await push(program);
    const denied = await callAs(gw, 'POST', '/oauth2/authorize/consent', alice, {
      clientId: program.clientId,
      requestUri: json(response).request_uri,
      approve: false,
    });
    expect(new URL(json(denied).redirectTo as string).searchParams.get('error')).toBe('access_denied');
    const live = await gw.ctx.store.db.selectFrom('oauth_tokens').select('token_hash').execute();
    expect(live).toEqual([]);
  });

  it('ends refreshing at the grant session’s absolute lifetime, however active the app is (ASVS 5.0 10.4.8)', async () => {
    gw = await gatewayOn(makeDatabase, { config: { secrets: { adminApiToken: ADMIN } } });
    const program = await app();
    const flow = await authorize(program, await loginAs(gw, ALICE));
    const { refresh_token } = json(await exchange(program, flow.code, flow.verifier)) as {
      refresh_token: string;
    };
    const refresh = () => program.form('/oauth2/token', { grant_type: 'refresh_token', refresh_token });
    // Every 20 h, well inside the 24 h idle timeout: fine for 7 days, then refused.
    for (let hours = 20; hours < 7 * 24; hours += 20) {
      gw.clock.advance(20 * 3_600_000);
      const refreshed = await refresh();
      expect(`${hours} h: ${refreshed.statusCode}`).toBe(`${hours} h: 200`);
      expect(
        (await program.call('GET', '/v1/session', json(refreshed).access_token as string)).statusCode,
      ).toBe(200);
    }
    gw.clock.advance(20 * 3_600_000);
    expect(oauthError(await refresh())).toBe('invalid_grant');
  });

  it('refreshes without rotation by default; refuses another client or another key', async () => {
    gw = await gatewayOn(makeDatabase, { config: { secrets: { adminApiToken: ADMIN } } });
    const program = await app();
    const alice = await loginAs(gw, ALICE);
    const flow = await authorize(program, alice);
    const first = json(await exchange(program, flow.code, flow.verifier)) as { refresh_token: string };
    for (let i = 0; i < 3; i += 1) {
      gw.clock.advance(10 * 60_000);
      const refreshed = await program.form('/oauth2/token', {
        grant_type: 'refresh_token',
        refresh_token: first.refresh_token,
      });
      expect(refreshed.statusCode).toBe(200);
      expect(json(refreshed).refresh_token).toBeUndefined();
      expect(
        (await program.call('GET', '/v1/session', json(refreshed).access_token as string)).statusCode,
      ).toBe(200);
    }
    const other = await app();
    expect(
      oauthError(
        await other.form('/oauth2/token', {
          grant_type: 'refresh_token',
          refresh_token: first.refresh_token,
        }),
      ),
    ).toBe('invalid_grant');
    const thief = new TestProgram(gw);
    thief.clientId = program.clientId;
    Object.assign(thief, { clientKey: program.clientKey });
    expect(
      oauthError(
        await thief.form('/oauth2/token', {
          grant_type: 'refresh_token',
          refresh_token: first.refresh_token,
        }),
      ),
    ).toBe('invalid_dpop_proof');
    // Neither attempt changed anything: the refresh token still works for its client and key.
    expect(
      (
        await program.form('/oauth2/token', {
          grant_type: 'refresh_token',
          refresh_token: first.refresh_token,
        })
      ).statusCode,
    ).toBe(200);
    // Past the grant session's idle limit (24 h without a request), the refresh token is dead.
    gw.clock.advance(25 * 3_600_000);
    expect(
      oauthError(
        await program.form('/oauth2/token', {
          grant_type: 'refresh_token',
          refresh_token: first.refresh_token,
        }),
      ),
    ).toBe('invalid_grant');
  });

  it('with rotation: returns the same successor to a retry within the leeway, and revokes the grant on later reuse', async () => {
    gw = await gatewayOn(makeDatabase, { config: { secrets: { adminApiToken: ADMIN } } });
    const program = await app(true);
    const alice = await loginAs(gw, ALICE);
    const flow = await authorize(program, alice);
    const first = json(await exchange(program, flow.code, flow.verifier)) as { refresh_token: string };
    const rotated = json(
      await program.form('/oauth2/token', {
        grant_type: 'refresh_token',
        refresh_token: first.refresh_token,
      }),
    );
    const successor = rotated.refresh_token as string;
    expect(successor).not.toBe(first.refresh_token);
    // The response was lost; the client retries with the spent token from the same key, 5 s later.
    gw.clock.advance(5_000);
    const retried = json(
      await program.form('/oauth2/token', {
        grant_type: 'refresh_token',
        refresh_token: first.refresh_token,
      }),
    );
    expect(retried.refresh_token).toBe(successor);
    const access = retried.access_token as string;
    expect((await program.call('GET', '/v1/session', access)).statusCode).toBe(200);
    // A spent token from another key is theft, even within the leeway... but the binding refuses it first.
    // Past the leeway, reuse from the same key revokes the whole family.
    gw.clock.advance(10_000);
    const reused = await program.form('/oauth2/token', {
      grant_type: 'refresh_token',
      refresh_token: first.refresh_token,
    });
    expect(oauthError(reused)).toBe('invalid_grant');
    expect(errorCode(await program.call('GET', '/v1/session', access))).toBe('INVALID_TOKEN');
    expect(
      oauthError(
        await program.form('/oauth2/token', { grant_type: 'refresh_token', refresh_token: successor }),
      ),
    ).toBe('invalid_grant');
    const audit = await gw.ctx.store.db
      .selectFrom('audit_log')
      .select('type')
      .where('type', '=', 'oauth.refresh_token_reused')
      .execute();
    expect(audit).toHaveLength(1);
    const notes = await gw.ctx.store.db
      .selectFrom('notifications')
      .select('kind')
      .where('kind', '=', 'api_grant_revoked')
      .execute();
    expect(notes).toHaveLength(1);
  });

  it('with rotation: two refreshes racing with one token both get the same successor', async () => {
    gw = await gatewayOn(makeDatabase, { config: { secrets: { adminApiToken: ADMIN } } });
    const program = await app(true);
    const flow = await authorize(program, await loginAs(gw, ALICE));
    const first = json(await exchange(program, flow.code, flow.verifier)) as { refresh_token: string };
    const [a, b] = await Promise.all(
      [1, 2].map(() =>
        program.form('/oauth2/token', { grant_type: 'refresh_token', refresh_token: first.refresh_token }),
      ),
    );
    expect([a?.statusCode, b?.statusCode]).toEqual([200, 200]);
    expect(json(a as never).refresh_token).toBe(json(b as never).refresh_token);
    // The expired leftovers are purged once no program session could still be using them (7 days); live ones stay.
    gw.clock.advance(6 * 24 * 3_600_000);
    await gw.ctx.oauth.purgeExpired();
    expect(await gw.ctx.store.db.selectFrom('oauth_tokens').select('kind').execute()).toHaveLength(5);
    gw.clock.advance(2 * 24 * 3_600_000);
    await gw.ctx.oauth.purgeExpired();
    const left = await gw.ctx.store.db.selectFrom('oauth_tokens').select('kind').execute();
    expect(left.map((t) => t.kind).sort()).toEqual(['refresh', 'refresh']);
    expect(await gw.ctx.store.db.selectFrom('oauth_assertions').select('jti').execute()).toEqual([]);
  });

  it('keeps only live access tokens in memory: refreshed-away tokens leave the cache once expired', async () => {
    gw = await gatewayOn(makeDatabase, { config: { secrets: { adminApiToken: ADMIN } } });
    const program = await app();
    const flow = await authorize(program, await loginAs(gw, ALICE));
    const first = json(await exchange(program, flow.code, flow.verifier)) as { refresh_token: string };
    /** A refresh, its access token used once so that this node caches it. */
    const refreshAndUse = async () => {
      const refreshed = await program.form('/oauth2/token', {
        grant_type: 'refresh_token',
        refresh_token: first.refresh_token,
      });
      const access = json(refreshed).access_token as string;
      expect((await program.call('GET', '/v1/session', access)).statusCode).toBe(200);
      return access;
    };
    const old: string[] = [];
    for (let i = 0; i < 10; i += 1) old.push(await refreshAndUse());
    expect(gw.ctx.oauth.cachedTokens).toBe(10);
    // A purge while they live keeps them all.
    await gw.ctx.oauth.purgeExpired();
    expect(gw.ctx.oauth.cachedTokens).toBe(10);
    // Past their 15 minutes: an expired token is refused (read from the database again) and not cached again...
    gw.clock.advance(15 * 60_000 + 1);
    expect(errorCode(await program.call('GET', '/v1/session', old[9] as string))).toBe('INVALID_TOKEN');
    expect(gw.ctx.oauth.cachedTokens).toBe(10);
    // ...each new token cached drops two expired ones, with no purge (as on a node that answers no token requests)...
    const live = await refreshAndUse();
    expect(gw.ctx.oauth.cachedTokens).toBe(9);
    // ...and a purge leaves the live token alone.
    await gw.ctx.oauth.purgeExpired();
    expect(gw.ctx.oauth.cachedTokens).toBe(1);
    expect((await program.call('GET', '/v1/session', live)).statusCode).toBe(200);
    expect(errorCode(await program.call('GET', '/v1/session', old[0] as string))).toBe('INVALID_TOKEN');
    expect(gw.ctx.oauth.cachedTokens).toBe(1);
  });

  it('introspects and revokes the client’s own tokens only', async () => {
    gw = await gatewayOn(makeDatabase, { config: { secrets: { adminApiToken: ADMIN } } });
    const program = await app();
    const other = await app();
    const alice = await loginAs(gw, ALICE);
    const flow = await authorize(program, alice);
    const tokens = json(await exchange(program, flow.code, flow.verifier)) as {
      access_token: string;
      refresh_token: string;
    };
    const introspected = json(
      await program.form('/oauth2/introspect', { token: tokens.access_token }, { dpop: null }),
    );
    expect(introspected).toMatchObject({
      active: true,
      scope: 'read trade',
      client_id: program.clientId,
      token_type: 'DPoP',
    });
    expect((introspected.cnf as { jkt: string }).jkt).toMatch(/^[\w-]{43}$/);
    const signed = await program.form(
      '/oauth2/introspect',
      { token: tokens.access_token },
      { dpop: null, headers: { accept: 'application/token-introspection+jwt' } },
    );
    expect(signed.headers['content-type']).toContain('application/token-introspection+jwt');
    const { jwtVerify, createLocalJWKSet } = await import('jose');
    const jwks = json(await gw.app.inject({ method: 'GET', url: '/oauth2/jwks' })) as never;
    const verified = await jwtVerify(signed.body, createLocalJWKSet(jwks), {
      issuer: ISSUER,
      audience: program.clientId,
      currentDate: new Date(gw.clock.now()),
    });
    expect(verified.payload.token_introspection).toMatchObject({ active: true });
    // Another client learns nothing about it, and cannot revoke it.
    expect(
      json(await other.form('/oauth2/introspect', { token: tokens.access_token }, { dpop: null })),
    ).toEqual({ active: false });
    expect(
      (await other.form('/oauth2/revoke', { token: tokens.refresh_token }, { dpop: null })).statusCode,
    ).toBe(200);
    expect((await program.call('GET', '/v1/session', tokens.access_token)).statusCode).toBe(200);
    // Its own client revokes the refresh token, and the grant's tokens go with it.
    expect(
      (await program.form('/oauth2/revoke', { token: tokens.refresh_token }, { dpop: null })).statusCode,
    ).toBe(200);
    expect(
      json(await program.form('/oauth2/introspect', { token: tokens.access_token }, { dpop: null })),
    ).toEqual({ active: false });
    expect(errorCode(await program.call('GET', '/v1/session', tokens.access_token))).toBe('INVALID_TOKEN');
  });

  it("keeps users apart: Bruno cannot consent for Alice's accounts, and the admin API needs the operator token", async () => {
    gw = await gatewayOn(makeDatabase, { config: { secrets: { adminApiToken: ADMIN } } });
    const program = await app();
    const bruno = await loginAs(gw, BRUNO);
    const { response } = await push(program);
    const consent = await callAs(gw, 'POST', '/oauth2/authorize/consent', bruno, {
      clientId: program.clientId,
      requestUri: json(response).request_uri,
      approve: true,
      accounts: ['DU1000001'],
    });
    expect(errorCode(consent)).toBe('ACCOUNT_NOT_FOUND');
    expect(await gw.ctx.store.db.selectFrom('oauth_par_requests').select('used_at').execute()).toEqual([
      { used_at: null },
    ]);
    const noAdmin = await gw.app.inject({
      method: 'POST',
      url: '/v1/admin/oauth/clients',
      headers: { authorization: 'Bearer wrong-token-wrong-token-wrong-token-x' },
      payload: { name: 'x', keys: [es256Key().publicJwk], redirectUris: [REDIRECT], scopes: ['read'] },
    });
    expect(errorCode(noAdmin)).toBe('UNAUTHENTICATED');
  });
});
