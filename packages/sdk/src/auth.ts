/**
 * @module auth
 * How a program gets its tokens: `private_key_jwt` assertions signed by its client key (WebCrypto), sent with a
 * DPoP proof so the tokens are bound to its DPoP key.
 * - `PersonalClientAuth`: a user's own bot, client credentials; "refreshing" is authenticating again.
 * - `AppAuth`: a third-party app, authorization code with PKCE pushed through PAR (`pushAuthorization`,
 *   `exchangeCode`), then the refresh-token grant.
 */
import type { OAuthErrorCode, TokenResponse } from '@gatehouse/protocol';
import { AuthorizationResponseError, OAuthApiError } from './errors.js';
import { base64url, sha256, signJws } from './jose.js';
import type { StoredTokens } from './token-store.js';
import type { Transport } from './transport.js';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** What identifies a registered client to the authorization server (`gatehouse client create` prints them). */
export interface ClientCredentials {
  clientId: string;
  /** The client key registered with the gateway (ES256). */
  clientKey: CryptoKey;
  /** The gateway's issuer identifier (its metadata's `issuer`); assertions name it as their only audience. */
  issuer: string;
}

async function assertion(c: ClientCredentials, now: number): Promise<Record<string, string>> {
  const iat = Math.floor(now / 1000);
  return {
    client_assertion_type: ASSERTION_TYPE,
    client_assertion: await signJws(
      c.clientKey,
      {},
      { iss: c.clientId, sub: c.clientId, aud: c.issuer, iat, exp: iat + 60, jti: crypto.randomUUID() },
    ),
  };
}

/** How a supervisor gets a token set from nothing and renews it: `PersonalClientAuth` or `AppAuth`. */
export interface AuthStrategy {
  /** A new token set from nothing (first start, or after the refresh token died). */
  authenticate(transport: Transport): Promise<TokenResponse>;
  /** A new access token for the current set. */
  refresh(transport: Transport, tokens: StoredTokens): Promise<TokenResponse>;
}

/**
 * A user's own bot (a personal client): client credentials with a `private_key_jwt` assertion; "refreshing" is
 * authenticating again (RFC 6749 §4.4.3 gives client credentials no refresh token).
 */
export class PersonalClientAuth implements AuthStrategy {
  constructor(readonly credentials: ClientCredentials) {}

  async authenticate(transport: Transport): Promise<TokenResponse> {
    return transport.send<TokenResponse>({
      method: 'POST',
      path: '/oauth2/token',
      form: async () => ({
        grant_type: 'client_credentials',
        ...(await assertion(this.credentials, transport.clock.now())),
      }),
    });
  }

  refresh(transport: Transport): Promise<TokenResponse> {
    return this.authenticate(transport);
  }
}

/**
 * A third-party app: the authorization code with PKCE pushed through PAR (`pushAuthorization`, `readRedirect`,
 * `exchangeCode`), then the refresh-token grant.
 */
export class AppAuth implements AuthStrategy {
  constructor(readonly credentials: ClientCredentials) {}

  /**
   * Step 1: push the authorization request (PKCE S256); send the user to `authorizeUrl`. Keep `codeVerifier` and
   * `state` with the user's session (never in the URL): `readRedirect` checks the answer against them. `state` is
   * 256 random bits unless given.
   */
  async pushAuthorization(
    transport: Transport,
    input: { redirectUri: string; scope: string; state?: string },
  ): Promise<{ requestUri: string; codeVerifier: string; state: string; authorizeUrl: string }> {
    const codeVerifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
    const state = input.state ?? base64url(crypto.getRandomValues(new Uint8Array(32)));
    const pushed = await transport.send<{ request_uri: string }>({
      method: 'POST',
      path: '/oauth2/par',
      form: async () => ({
        ...(await assertion(this.credentials, transport.clock.now())),
        response_type: 'code',
        redirect_uri: input.redirectUri,
        scope: input.scope,
        code_challenge: await sha256(codeVerifier),
        code_challenge_method: 'S256',
        state,
      }),
    });
    const authorizeUrl = `${transport.baseUrl}/oauth2/authorize?client_id=${encodeURIComponent(this.credentials.clientId)}&request_uri=${encodeURIComponent(pushed.request_uri)}`;
    return { requestUri: pushed.request_uri, codeVerifier, state, authorizeUrl };
  }

  /**
   * The code from the redirect to `redirectUri`, once it is shown to answer this user's own request: `iss` is this
   * gateway's issuer (RFC 9207, against mix-up with another server) and `state` the one `pushAuthorization` gave
   * for this user's session (against a code injected from someone else's flow). A denial or an error is thrown as
   * an `OAuthApiError`; a mismatch as `AuthorizationResponseError`, and the code is never returned.
   */
  readRedirect(redirectUrl: string, expected: { state: string }): string {
    const params = new URL(redirectUrl).searchParams;
    if (params.get('iss') !== this.credentials.issuer)
      throw new AuthorizationResponseError('the response names another issuer (or none)');
    if (params.get('state') !== expected.state)
      throw new AuthorizationResponseError('the response answers another authorization request');
    const error = params.get('error');
    if (error !== null)
      throw new OAuthApiError(400, error as OAuthErrorCode, params.get('error_description') ?? error);
    const code = params.get('code');
    if (code === null || code === '') throw new AuthorizationResponseError('the response carries no code');
    return code;
  }

  /** Step 2: the code from the redirect (check its `iss` first) for DPoP-bound tokens. */
  async exchangeCode(
    transport: Transport,
    input: { code: string; codeVerifier: string; redirectUri: string },
  ): Promise<TokenResponse> {
    return transport.send<TokenResponse>({
      method: 'POST',
      path: '/oauth2/token',
      form: async () => ({
        ...(await assertion(this.credentials, transport.clock.now())),
        grant_type: 'authorization_code',
        code: input.code,
        code_verifier: input.codeVerifier,
        redirect_uri: input.redirectUri,
      }),
    });
  }

  async authenticate(): Promise<TokenResponse> {
    throw new Error(
      'an app needs the user: run pushAuthorization and exchangeCode, then start with those tokens',
    );
  }

  async refresh(transport: Transport, tokens: StoredTokens): Promise<TokenResponse> {
    if (tokens.refreshToken === undefined) return this.authenticate();
    const response = await transport.send<TokenResponse>({
      method: 'POST',
      path: '/oauth2/token',
      form: async () => ({
        ...(await assertion(this.credentials, transport.clock.now())),
        grant_type: 'refresh_token',
        refresh_token: tokens.refreshToken as string,
      }),
    });
    // Without rotation the server sends no new refresh token: the current one stays.
    return {
      ...response,
      ...(response.refresh_token === undefined ? { refresh_token: tokens.refreshToken } : {}),
    };
  }
}
