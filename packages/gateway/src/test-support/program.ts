/**
 * A program (an OAuth client) for tests: its client key signs `private_key_jwt` assertions, its DPoP key signs
 * proofs; both are made here, in memory. Assertions name the gateway's issuer and proofs URLs under its public URL,
 * as a real program learns them from discovery. Every claim can be overridden to build the bad inputs the tests need.
 */
import { generateKeyPairSync, type KeyObject, randomBytes, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { sha256 } from '../core/index.js';
import { CLIENT_ASSERTION_TYPE } from '../oauth/index.js';
import { TEST_PUBLIC_URL, type TestGateway } from './gateway.js';

export interface KeyPair {
  privateKey: KeyObject;
  publicJwk: Record<string, unknown>;
}

export function es256Key(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, publicJwk: publicKey.export({ format: 'jwk' }) as Record<string, unknown> };
}

/** The issuer of test gateways driven with `app.inject`: their configured public URL. */
export const ISSUER = TEST_PUBLIC_URL;

export interface ProofOptions {
  htm?: string;
  htu?: string;
  iatMs?: number;
  jti?: string;
  accessToken?: string;
  nonce?: string;
  key?: KeyPair;
  alg?: string;
  typ?: string;
}

export class TestProgram {
  readonly clientKey = es256Key();
  dpopKey = es256Key();
  clientId = '';

  constructor(readonly gw: TestGateway) {}

  async assertion(
    overrides: { aud?: string; iatMs?: number; expMs?: number; jti?: string; iss?: string } = {},
  ) {
    const now = overrides.iatMs ?? this.gw.clock.now();
    return new SignJWT({ jti: overrides.jti ?? randomUUID() })
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer(overrides.iss ?? this.clientId)
      .setSubject(overrides.iss ?? this.clientId)
      .setAudience(overrides.aud ?? this.gw.ctx.urls.issuer)
      .setIssuedAt(Math.floor(now / 1000))
      .setExpirationTime(Math.floor((overrides.expMs ?? now + 60_000) / 1000))
      .sign(this.clientKey.privateKey);
  }

  async proof(method: string, path: string, options: ProofOptions = {}) {
    const key = options.key ?? this.dpopKey;
    return new SignJWT({
      htm: options.htm ?? method,
      htu: options.htu ?? `${this.gw.ctx.urls.base}${path}`,
      jti: options.jti ?? randomUUID(),
      iat: Math.floor((options.iatMs ?? this.gw.clock.now()) / 1000),
      ...(options.accessToken === undefined ? {} : { ath: sha256(options.accessToken) }),
      ...(options.nonce === undefined ? {} : { nonce: options.nonce }),
    })
      .setProtectedHeader({
        alg: options.alg ?? 'ES256',
        typ: options.typ ?? 'dpop+jwt',
        jwk: key.publicJwk as never,
      })
      .sign(key.privateKey);
  }

  /** POSTs a form to an authorization-server endpoint with a fresh assertion (and a DPoP proof unless `dpop: null`). */
  async form(
    path: string,
    params: Record<string, string>,
    options: { dpop?: string | null; assertion?: string; headers?: Record<string, string> } = {},
  ) {
    const body = new URLSearchParams({
      client_assertion_type: CLIENT_ASSERTION_TYPE,
      client_assertion: options.assertion ?? (await this.assertion()),
      ...params,
    });
    const dpop = options.dpop === undefined ? await this.proof('POST', path) : options.dpop;
    return this.gw.app.inject({
      method: 'POST',
      url: path,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        ...(dpop === null ? {} : { dpop }),
        ...options.headers,
      },
      payload: body.toString(),
    });
  }

  /** A resource request with `Authorization: DPoP <token>` and a fresh proof. */
  async call(
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT',
    url: string,
    token: string,
    payload?: unknown,
    proof?: ProofOptions,
  ) {
    const path = url.split('?')[0] as string;
    return this.gw.app.inject({
      method,
      url,
      headers: {
        authorization: `DPoP ${token}`,
        dpop: await this.proof(method, path, { accessToken: token, ...proof }),
      },
      ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
    });
  }
}

export const ADMIN_TOKEN = 'a'.repeat(40);
export const REDIRECT_URI = 'https://app.example/callback';

/** An operator registers a third-party app (the gateway needs `secrets.adminApiToken: ADMIN_TOKEN`). */
export async function registerApp(
  gw: TestGateway,
  options: { rotate?: boolean; sessionLossPolicy?: string } = {},
): Promise<TestProgram> {
  const program = new TestProgram(gw);
  const created = await gw.app.inject({
    method: 'POST',
    url: '/v1/admin/oauth/clients',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    payload: {
      name: 'Charting app',
      keys: [program.clientKey.publicJwk],
      redirectUris: [REDIRECT_URI],
      scopes: ['read', 'trade', 'marketdata'],
      rotateRefreshTokens: options.rotate === true,
      ...(options.sessionLossPolicy === undefined ? {} : { sessionLossPolicy: options.sessionLossPolicy }),
    },
  });
  if (created.statusCode !== 201) throw new Error(`app registration: ${created.body}`);
  program.clientId = (created.json() as { clientId: string }).clientId;
  return program;
}

/** A user registers a personal client (a bot) for some of their accounts. */
export async function registerBot(
  gw: TestGateway,
  as: { cookie: string; csrf: string },
  options: { accounts?: string[]; scopes?: string[]; sessionLossPolicy?: string } = {},
): Promise<TestProgram> {
  const bot = new TestProgram(gw);
  const created = await gw.app.inject({
    method: 'POST',
    url: '/v1/oauth/clients',
    headers: { cookie: as.cookie, 'x-csrf-token': as.csrf },
    payload: {
      name: 'my bot',
      keys: [bot.clientKey.publicJwk],
      accounts: options.accounts ?? ['DU1000001'],
      scopes: options.scopes ?? ['read', 'trade', 'marketdata'],
      ...(options.sessionLossPolicy === undefined ? {} : { sessionLossPolicy: options.sessionLossPolicy }),
    },
  });
  if (created.statusCode !== 201) throw new Error(`client registration: ${created.body}`);
  bot.clientId = (created.json() as { clientId: string }).clientId;
  return bot;
}

/** Client credentials: a DPoP-bound access token for a bot. */
/** Another copy of the same bot: the same client key (so the same client), a DPoP key of its own. */
export function copyOf(bot: TestProgram): TestProgram {
  return Object.assign(Object.create(bot) as TestProgram, { dpopKey: es256Key() });
}

export async function botToken(bot: TestProgram): Promise<string> {
  const response = await bot.form('/oauth2/token', { grant_type: 'client_credentials' });
  if (response.statusCode !== 200) throw new Error(`token: ${response.body}`);
  return (response.json() as { access_token: string }).access_token;
}

export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: sha256(verifier) };
}

/** PAR with PKCE; `overrides` replace any parameter (the bad inputs). */
export async function pushRequest(program: TestProgram, overrides: Record<string, string> = {}) {
  const { verifier, challenge } = pkce();
  const response = await program.form('/oauth2/par', {
    response_type: 'code',
    redirect_uri: REDIRECT_URI,
    scope: 'read trade',
    state: 'xyz',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...overrides,
  });
  return { response, verifier };
}

/** PAR, then the user's consent for `accounts`; returns the code from the redirect. */
export async function authorizeApp(
  program: TestProgram,
  as: { cookie: string; csrf: string },
  accounts: string[] = ['DU1000001'],
) {
  const { gw } = program;
  const { response, verifier } = await pushRequest(program);
  if (response.statusCode !== 201) throw new Error(`par: ${response.body}`);
  const { request_uri: requestUri } = response.json() as { request_uri: string };
  const headers = { cookie: as.cookie, 'x-csrf-token': as.csrf };
  const shown = await gw.app.inject({
    method: 'GET',
    url: `/oauth2/authorize?client_id=${program.clientId}&request_uri=${encodeURIComponent(requestUri)}`,
    headers,
  });
  const consent = await gw.app.inject({
    method: 'POST',
    url: '/oauth2/authorize/consent',
    headers,
    payload: { clientId: program.clientId, requestUri, approve: true, accounts },
  });
  if (consent.statusCode !== 200) throw new Error(`consent: ${consent.body}`);
  const redirect = new URL((consent.json() as { redirectTo: string }).redirectTo);
  return { code: redirect.searchParams.get('code') as string, verifier, requestUri, redirect, shown };
}

export function exchangeCode(
  program: TestProgram,
  code: string,
  verifier: string,
  redirectUri = REDIRECT_URI,
) {
  return program.form('/oauth2/token', {
    grant_type: 'authorization_code',
    code,
    code_verifier: verifier,
    redirect_uri: redirectUri,
  });
}
