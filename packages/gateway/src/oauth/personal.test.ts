/**
 * Programs with personal clients: a user registers a bot's key from an AAL2 session; the bot authenticates with
 * private_key_jwt and client credentials, its tokens are DPoP-bound, and it acts only on the granted accounts and
 * scopes. Every bad DPoP proof and bad client assertion gets its standard error and changes nothing.
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
import { es256Key, ISSUER, TestProgram } from '../test-support/program.js';

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

async function registered(scopes = ['read', 'trade', 'marketdata'], accounts = ['DU1000001']) {
  const alice = await loginAs(gw, ALICE);
  const bot = new TestProgram(gw);
  const created = await callAs(gw, 'POST', '/v1/oauth/clients', alice, {
    name: 'my bot',
    keys: [bot.clientKey.publicJwk],
    accounts,
    scopes,
  });
  expect(created.statusCode).toBe(201);
  bot.clientId = json(created).clientId as string;
  return { alice, bot };
}

async function tokenFor(bot: TestProgram): Promise<string> {
  const response = await bot.form('/oauth2/token', { grant_type: 'client_credentials' });
  expect(response.statusCode).toBe(200);
  const body = json(response);
  expect(body).toMatchObject({ token_type: 'DPoP', expires_in: 900 });
  expect(body.refresh_token).toBeUndefined();
  return body.access_token as string;
}

const oauthError = (response: { json(): unknown }) => (response.json() as { error: string }).error;

describe.each(testDatabases())('authorization server metadata on %s', (_name, makeDatabase) => {
  it('publishes RFC 8414 metadata with FAPI 2.0 choices and a JWKS', async () => {
    gw = await gatewayOn(makeDatabase);
    const metadata = json(
      await gw.app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server' }),
    );
    expect(metadata).toMatchObject({
      issuer: ISSUER,
      token_endpoint: `${ISSUER}/oauth2/token`,
      require_pushed_authorization_requests: true,
      response_types_supported: ['code'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      authorization_response_iss_parameter_supported: true,
    });
    expect(metadata.grant_types_supported).not.toContain('implicit');
    expect(metadata.grant_types_supported).not.toContain('password');
    const jwks = json(await gw.app.inject({ method: 'GET', url: '/oauth2/jwks' })) as {
      keys: { kty: string; d?: string }[];
    };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' });
    expect(jwks.keys[0]?.d).toBeUndefined();
  });
});

describe.each(testDatabases())('personal clients on %s', (_name, makeDatabase) => {
  it('lets a bot act for its user with a DPoP-bound token, on the granted accounts and scopes only', async () => {
    gw = await gatewayOn(makeDatabase);
    const { alice, bot } = await registered(['read', 'trade']);
    const token = await tokenFor(bot);

    const whoami = await bot.call('GET', '/v1/session', token);
    expect(whoami.statusCode).toBe(200);
    expect(json(whoami)).toMatchObject({ session: { channel: 'api' } });

    // Programs are sessions too: the bot takes the brokerage capability and trades the granted account.
    expect((await bot.call('POST', '/v1/session/brokerage', token, { compete: true })).statusCode).toBe(200);
    const order = {
      clientOrderId: 'bot-1',
      instrumentId: 265598,
      side: 'BUY',
      type: 'MKT',
      quantity: 1,
      tif: 'DAY',
    };
    const placed = await bot.call('POST', '/v1/accounts/DU1000001/orders', token, order);
    expect(placed.statusCode).toBe(201);
    // Not the user's other accounts, which the grant does not name.
    const other = await bot.call('POST', '/v1/accounts/U1000001/orders', token, {
      ...order,
      clientOrderId: 'bot-2',
    });
    expect(errorCode(other)).toBe('ACCOUNT_NOT_FOUND');
    // Not a scope it was not granted.
    const quotes = await bot.call('GET', '/v1/marketdata/snapshot?instruments=265598', token);
    expect(quotes.statusCode).toBe(403);
    expect(errorCode(quotes)).toBe('SCOPE_REQUIRED');
    // Not the calls that are for people.
    for (const [method, url] of [
      ['GET', '/v1/sessions'],
      ['GET', '/v1/oauth/clients'],
      ['POST', '/v1/auth/logout'],
    ] as const) {
      expect(errorCode(await bot.call(method, url, token))).toBe('API_NOT_ALLOWED');
    }
    // A phone (here: the web) login takes trading over: the bot is now competing.
    await callAs(gw, 'POST', '/v1/session/brokerage', await loginAs(gw, ALICE), { compete: true });
    const late = await bot.call('POST', '/v1/accounts/DU1000001/orders', token, {
      ...order,
      clientOrderId: 'bot-3',
    });
    expect(errorCode(late)).toBe('SESSION_COMPETING');
    const listed = json(await callAs(gw, 'GET', '/v1/oauth/clients', alice)) as {
      clients: { clientId: string }[];
    };
    expect(listed.clients.map((c) => c.clientId)).toEqual([bot.clientId]);
  });

  it('refuses to register keys FAPI 2.0 does not allow, accounts of others, or from a session without AAL2 checks', async () => {
    gw = await gatewayOn(makeDatabase);
    const alice = await loginAs(gw, ALICE);
    const base = { name: 'b', accounts: ['DU1000001'], scopes: ['read'] };
    const bad = [
      { ...base, keys: [{ kty: 'oct', k: 'c2VjcmV0' }] },
      { ...base, keys: [{ ...es256Key().publicJwk, d: 'private' }] },
      { ...base, keys: [es256Key().publicJwk], accounts: ['U2000002'] },
      { ...base, keys: [es256Key().publicJwk], scopes: ['admin'] },
    ];
    const codes = [];
    for (const body of bad) codes.push(errorCode(await callAs(gw, 'POST', '/v1/oauth/clients', alice, body)));
    expect(codes).toEqual(['INVALID_REQUEST', 'INVALID_REQUEST', 'ACCOUNT_NOT_FOUND', 'INVALID_REQUEST']);
    // Issue 20, item 10: no account chosen is named as such, field by field, not as "wrongly typed fields".
    const none = await callAs(gw, 'POST', '/v1/oauth/clients', alice, {
      ...base,
      keys: [es256Key().publicJwk],
      accounts: [],
    });
    expect(errorCode(none)).toBe('INVALID_REQUEST');
    expect((json(none) as { error: { message: string; details: unknown } }).error).toMatchObject({
      message: 'accounts: choose at least one account',
      details: { issues: [{ path: 'accounts', message: 'choose at least one account' }] },
    });
    expect(await gw.ctx.store.db.selectFrom('oauth_clients').select('id').execute()).toEqual([]);
  });

  it('answers every bad DPoP proof with invalid_dpop_proof and a DPoP challenge', async () => {
    gw = await gatewayOn(makeDatabase);
    const { bot } = await registered();
    const token = await tokenFor(bot);
    const now = gw.clock.now();
    const stranger = es256Key();
    const replayed = await bot.proof('GET', '/v1/session', { accessToken: token, jti: 'used-once-jti' });
    const ok = await gw.app.inject({
      method: 'GET',
      url: '/v1/session',
      headers: { authorization: `DPoP ${token}`, dpop: replayed },
    });
    expect(ok.statusCode).toBe(200);
    const cases: [string, Record<string, string>][] = [
      ['no proof', { authorization: `DPoP ${token}` }],
      ['wrong method', { dpop: await bot.proof('POST', '/v1/session', { accessToken: token }) }],
      ['wrong URL', { dpop: await bot.proof('GET', '/v1/sessions', { accessToken: token }) }],
      [
        'too old',
        { dpop: await bot.proof('GET', '/v1/session', { accessToken: token, iatMs: now - 120_000 }) },
      ],
      [
        'from the future',
        { dpop: await bot.proof('GET', '/v1/session', { accessToken: token, iatMs: now + 60_000 }) },
      ],
      ['replayed', { dpop: replayed }],
      ['another key', { dpop: await bot.proof('GET', '/v1/session', { accessToken: token, key: stranger }) }],
      ['another token', { dpop: await bot.proof('GET', '/v1/session', { accessToken: 'not-the-token' }) }],
      ['wrong typ', { dpop: await bot.proof('GET', '/v1/session', { accessToken: token, typ: 'JWT' }) }],
    ];
    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'dpop+jwt', jwk: bot.dpopKey.publicJwk })).toString('base64url')}.${Buffer.from(JSON.stringify({ htm: 'GET', htu: `${ISSUER}/v1/session`, iat: Math.floor(now / 1000), jti: 'none-alg-proof' })).toString('base64url')}.`;
    cases.push(['alg none', { dpop: unsigned }]);
    for (const [name, headers] of cases) {
      const response = await gw.app.inject({
        method: 'GET',
        url: '/v1/session',
        headers: { authorization: `DPoP ${token}`, ...headers },
      });
      expect(response.statusCode, name).toBe(401);
      expect(errorCode(response), name).toBe('INVALID_DPOP_PROOF');
      expect(response.headers['www-authenticate'], name).toContain('error="invalid_dpop_proof"');
    }
    // The token itself must be known: a made-up one is invalid_token.
    const unknown = await bot.call('GET', '/v1/session', 'made-up-token');
    expect(errorCode(unknown)).toBe('INVALID_TOKEN');
    expect(unknown.headers['www-authenticate']).toContain('error="invalid_token"');
    // And it expires after 15 minutes.
    gw.clock.advance(15 * 60_000);
    expect(errorCode(await bot.call('GET', '/v1/session', token))).toBe('INVALID_TOKEN');
  });

  it('answers every bad client assertion with invalid_client, issuing nothing', async () => {
    gw = await gatewayOn(makeDatabase);
    const { bot } = await registered();
    const now = gw.clock.now();
    const used = await bot.assertion({ jti: 'assertion-once' });
    expect(
      (await bot.form('/oauth2/token', { grant_type: 'client_credentials' }, { assertion: used })).statusCode,
    ).toBe(200);
    const hs256 = await (async () => {
      const { SignJWT } = await import('jose');
      return new SignJWT({ jti: 'hmac' })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer(bot.clientId)
        .setSubject(bot.clientId)
        .setAudience(ISSUER)
        .setIssuedAt(Math.floor(now / 1000))
        .setExpirationTime(Math.floor(now / 1000) + 60)
        .sign(Buffer.alloc(32, 1));
    })();
    const signedAs = async (alg: 'PS256' | 'ES256', claims: Record<string, unknown>, kid?: string) => {
      const { SignJWT, generateKeyPair } = await import('jose');
      const key = alg === 'PS256' ? (await generateKeyPair('PS256')).privateKey : bot.clientKey.privateKey;
      return new SignJWT(claims)
        .setProtectedHeader({ alg, ...(kid === undefined ? {} : { kid }) })
        .setIssuer(bot.clientId)
        .setSubject(bot.clientId)
        .setAudience(ISSUER)
        .setIssuedAt(Math.floor(now / 1000))
        .setExpirationTime(Math.floor(now / 1000) + 60)
        .sign(key);
    };
    const other = new TestProgram(gw);
    other.clientId = bot.clientId;
    const unknown = new TestProgram(gw);
    unknown.clientId = 'cli_unknown';
    // Each description names the check that failed (and the issuer an audience must be), never a key.
    const cases: [string, string, string][] = [
      [
        'audience is the token endpoint, not the issuer',
        await bot.assertion({ aud: `${ISSUER}/oauth2/token` }),
        `the assertion's aud must be "${ISSUER}"`,
      ],
      [
        'expired',
        await bot.assertion({ iatMs: now - 120_000, expMs: now - 60_000 }),
        `the assertion expired (the server's time is ${new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z')})`,
      ],
      [
        'issued too long ago',
        await bot.assertion({ iatMs: now - 90_000, expMs: now + 60_000 }),
        "the assertion's iat is more than 60 s old",
      ],
      [
        'issued in the future',
        await bot.assertion({ iatMs: now + 60_000 }),
        "the assertion's iat is in the future",
      ],
      ['replayed', used, "the assertion's jti was used before"],
      ['HS256', hs256, 'the assertion must be signed with PS256, ES256 or EdDSA'],
      [
        'signed by an unregistered key',
        await other.assertion(),
        "the assertion's signature does not verify with a key registered for this client",
      ],
      [
        'lives too long',
        await bot.assertion({ expMs: now + 3_600_000 }),
        'the assertion may live at most 5 minutes',
      ],
      [
        'an unknown client',
        await unknown.assertion(),
        "the client the assertion's iss names is unknown or revoked",
      ],
      ['not a JWT', 'not-a-jwt', 'the client assertion is not a JWT'],
      // No key of the client fits the alg or the kid: the same words as a wrong signature (no oracle of its keys).
      [
        'an alg no registered key has',
        await signedAs('PS256', { jti: 'ps256' }),
        "the assertion's signature does not verify with a key registered for this client",
      ],
      [
        'a kid no registered key has',
        await signedAs('ES256', { jti: 'kid' }, 'no-such-kid'),
        "the assertion's signature does not verify with a key registered for this client",
      ],
      [
        'a jti that is not a string',
        await signedAs('ES256', { jti: { a: 1 } }),
        "the assertion's jti must be a non-empty string",
      ],
    ];
    for (const [name, assertion, description] of cases) {
      const response = await bot.form('/oauth2/token', { grant_type: 'client_credentials' }, { assertion });
      expect(response.statusCode, name).toBe(401);
      expect(oauthError(response), name).toBe('invalid_client');
      expect(json(response).error_description, name).toContain(description);
    }
    const named = await bot.form('/oauth2/token', {
      grant_type: 'client_credentials',
      client_id: 'cli_other',
    });
    expect(json(named).error_description).toBe("client_id is not the assertion's iss");
    const tokens = await gw.ctx.store.db.selectFrom('oauth_tokens').select('token_hash').execute();
    expect(tokens).toHaveLength(1);
    // No DPoP proof at the token endpoint: no token either.
    const bare = await bot.form('/oauth2/token', { grant_type: 'client_credentials' }, { dpop: null });
    expect(oauthError(bare)).toBe('invalid_dpop_proof');
    // Scopes beyond the grant.
    const wider = await bot.form('/oauth2/token', { grant_type: 'client_credentials', scope: 'read admin' });
    expect(oauthError(wider)).toBe('invalid_scope');
    expect(json(wider).error_description).toBe('scope "admin" is not available to this client');
    // A scope's text comes back bounded, with bidirectional overrides shown as ?.
    const odd = await bot.form('/oauth2/token', {
      grant_type: 'client_credentials',
      scope: `read \u202etrade${'x'.repeat(5_000)}`,
    });
    expect(oauthError(odd)).toBe('invalid_scope');
    const description = String(json(odd).error_description);
    expect(description).not.toContain('\u202e');
    expect(description.length).toBeLessThan(120);
  });

  it('demands the server nonce when configured, and tells the client the nonce to use', async () => {
    gw = await gatewayOn(makeDatabase, { config: { oauth: { dpopNonce: true } } });
    const { bot } = await registered();
    const first = await bot.form('/oauth2/token', { grant_type: 'client_credentials' });
    expect(oauthError(first)).toBe('use_dpop_nonce');
    const nonce = first.headers['dpop-nonce'] as string;
    expect(nonce).toMatch(/^[\w-]{22}$/);
    const second = await bot.form(
      '/oauth2/token',
      { grant_type: 'client_credentials' },
      { dpop: await bot.proof('POST', '/oauth2/token', { nonce }) },
    );
    expect(second.statusCode).toBe(200);
    const token = json(second).access_token as string;
    const withoutNonce = await bot.call('GET', '/v1/session', token);
    expect(errorCode(withoutNonce)).toBe('USE_DPOP_NONCE');
    expect(withoutNonce.headers['dpop-nonce']).toBe(nonce);
    expect((await bot.call('GET', '/v1/session', token, undefined, { nonce })).statusCode).toBe(200);
  });

  it("revokes a personal client: its tokens stop at once and its program session ends; another user's client is not found", async () => {
    gw = await gatewayOn(makeDatabase);
    const { alice, bot } = await registered();
    const token = await tokenFor(bot);
    const bruno: LoggedIn = await loginAs(gw, BRUNO);
    expect((await callAs(gw, 'DELETE', `/v1/oauth/clients/${bot.clientId}`, bruno)).statusCode).toBe(404);
    expect((await bot.call('GET', '/v1/session', token)).statusCode).toBe(200);
    expect((await callAs(gw, 'DELETE', `/v1/oauth/clients/${bot.clientId}`, alice)).statusCode).toBe(204);
    expect(errorCode(await bot.call('GET', '/v1/session', token))).toBe('INVALID_TOKEN');
    expect(oauthError(await bot.form('/oauth2/token', { grant_type: 'client_credentials' }))).toBe(
      'invalid_client',
    );
  });
});
