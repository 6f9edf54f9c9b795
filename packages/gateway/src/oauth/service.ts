/**
 * @module oauth/service
 * The authorization server and the resource side of API access (FAPI 2.0 Security Profile where it applies:
 * research/identity-anchors.md), as one object the gateway wires and routes call. Each endpoint's work is in its own
 * module; this one holds the node's state (the token cache and its bus subscription), the metadata, and the token
 * endpoint's choice of grant.
 *
 * - Personal clients: a user registers a bot's public key from an AAL2 session with a second factor from the last
 *   5 minutes, not SMS (oauth/routes.ts), choosing accounts and scopes, and is notified of it; the bot
 *   authenticates with `private_key_jwt` and the client-credentials grant and acts for that user only
 *   (oauth/clients.ts, oauth/grants/client-credentials.ts).
 * - Third-party apps: registered by an operator; authorization code with PKCE (S256) pushed first (PAR, required;
 *   `request_uri` single use, 60 s), consent by the user (AAL2, and a strong factor from the last 5 minutes to
 *   approve; notified), a code of at most 60 s used once and bound to the DPoP key named at PAR, `iss` in the
 *   response (oauth/par-consent.ts, oauth/grants/authorization-code.ts).
 * - Everything a user gave programs is revoked by an operator's password reset (`revokeAllForUser`,
 *   oauth/revocation.ts).
 * - Tokens are opaque (only their SHA-256 is stored) and DPoP-bound: access tokens 15 min; refresh tokens (code
 *   grants) live as long as the grant's session (24 h idle, 7 days absolute), are not rotated by default — FAPI 2.0:
 *   rotation strands a client whose response is lost, and the DPoP binding already protects a copied token — and
 *   with rotation on, a spent token presented again revokes the grant, except from the same key within the leeway,
 *   which gets the same successor again (oauth/issue.ts, oauth/grants/refresh.ts).
 * - Programs are sessions too, on the `api` channel, taking part in the brokerage tier like anyone's: one session per
 *   instance (DPoP key) of a personal client — copies of a bot with different keys compete for trading like any two
 *   sessions; copies sharing one key share one session — and one per app grant (oauth/issue.ts). Access tokens are
 *   validated from memory (one signature check for the proof) once seen; revocation reaches every node's cache
 *   through the bus (oauth/resource.ts).
 */
import {
  type ApiClientView,
  type AuthorizationRequestView,
  SCOPES,
  type Scope,
  type SessionLossPolicy,
  type TokenResponse,
} from '@gatehouse/protocol';
import { BusCacheGate, type FaultSubject, LruCache } from '../core/index.js';
import type { Principal } from '../sessions/index.js';
import { authenticateClient } from './client-auth.js';
import * as clients from './clients.js';
import type { CachedToken, OAuthContext, OAuthDeps } from './context.js';
import { OAuthError } from './errors.js';
import * as faults from './faults.js';
import { authorizationCode } from './grants/authorization-code.js';
import { clientCredentials } from './grants/client-credentials.js';
import { refresh } from './grants/refresh.js';
import { introspect } from './introspection.js';
import * as parConsent from './par-consent.js';
import { authenticate } from './resource.js';
import * as revocation from './revocation.js';
import { deleteExpired } from './store.js';

export type { OAuthDeps, OAuthOptions } from './context.js';
export { grantProfile } from './resource.js';
export { SCOPES, type Scope, type SessionLossPolicy, type TokenResponse };

/** Token requests between two purges of what has expired. */
const PURGE_EVERY_REQUESTS = 256;
const DAY_MS = 24 * 3_600_000;

export class OAuthService {
  readonly #ctx: OAuthContext;
  readonly #unsubscribe: (() => void)[];
  #requests = 0;

  constructor(deps: OAuthDeps) {
    const tokens = new LruCache<string, CachedToken>(deps.options.tokenCacheMaxEntries);
    // Degraded (the bus down) or back: every node's tokens are read from the database again.
    const tokensGate = new BusCacheGate(deps.bus, () => tokens.clear());
    this.#ctx = { ...deps, tokens, tokensGate };
    const drop = (m: { grantId: string }) => {
      tokens.deleteWhere((t) => t.grantId === m.grantId);
    };
    this.#unsubscribe = [
      deps.bus.subscribe('oauth.revoked', drop),
      deps.bus.subscribe('oauth.tokens_expired', drop),
    ];
  }

  close(): void {
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    this.#ctx.tokensGate.close();
  }

  /** The issuer identifier: `oauth.issuer`, or `server.publicUrl`. */
  issuer(): string {
    return this.#ctx.urls.issuer;
  }

  /** RFC 8414 metadata: the issuer, and the endpoints under the gateway's public URL. */
  metadata() {
    const { issuer, base } = this.#ctx.urls;
    return {
      issuer,
      token_endpoint: `${base}/oauth2/token`,
      pushed_authorization_request_endpoint: `${base}/oauth2/par`,
      authorization_endpoint: `${base}/oauth2/authorize`,
      revocation_endpoint: `${base}/oauth2/revoke`,
      introspection_endpoint: `${base}/oauth2/introspect`,
      jwks_uri: `${base}/oauth2/jwks`,
      require_pushed_authorization_requests: true,
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: ['PS256', 'ES256', 'EdDSA'],
      revocation_endpoint_auth_methods_supported: ['private_key_jwt'],
      introspection_endpoint_auth_methods_supported: ['private_key_jwt'],
      dpop_signing_alg_values_supported: ['PS256', 'ES256', 'EdDSA'],
      authorization_response_iss_parameter_supported: true,
      scopes_supported: [...SCOPES],
    };
  }

  // ---- clients (oauth/clients.ts) -------------------------------------------------------------------------------

  /**
   * A user's personal client for their own bot: its public key(s), the accounts (among the user's, with a trading
   * role for `trade`) and scopes it may use. The grant is made at once; the bot then uses client credentials.
   */
  async registerPersonalClient(
    principal: Principal,
    input: {
      name: string;
      keys: unknown[];
      accounts: string[];
      scopes: Scope[];
      sessionLossPolicy: SessionLossPolicy;
    },
  ): Promise<ApiClientView> {
    return clients.registerPersonalClient(this.#ctx, principal, input);
  }

  /** An operator's third-party app: its keys, exact redirect URIs, the scopes it may ask for. */
  async registerApp(input: {
    name: string;
    keys: unknown[];
    redirectUris: string[];
    scopes: Scope[];
    rotateRefreshTokens: boolean;
    sessionLossPolicy: SessionLossPolicy;
  }): Promise<ApiClientView> {
    return clients.registerApp(this.#ctx, input);
  }

  /** The user's personal clients and the grants they made to apps. */
  async listForUser(userId: string): Promise<ApiClientView[]> {
    return clients.listForUser(this.#ctx, userId);
  }

  // ---- revocation (oauth/revocation.ts) -------------------------------------------------------------------------

  /** Revokes the user's grants to a client (and, for a personal client, the client itself). */
  async revokeForUser(principal: Principal, clientId: string): Promise<void> {
    return revocation.revokeForUser(this.#ctx, principal, clientId);
  }

  /**
   * Ends everything a user has given programs: every personal client of theirs and every live grant (its tokens and
   * its program sessions, on every node at once), each audited with `cause`. An operator's password reset calls it.
   * Returns what it ended (`sessions`: programs' sessions).
   */
  async revokeAllForUser(
    userId: string,
    cause: 'password_reset',
  ): Promise<{ clients: number; grants: number; sessions: number }> {
    return revocation.revokeAllForUser(this.#ctx, userId, cause);
  }

  /** Ends a grant: its tokens stop working on every node at once, its program sessions end. */
  async revokeGrant(
    grantId: string,
    reason: 'grant_revoked' | 'refresh_token_reused',
    bySessionId: string | null = null,
  ): Promise<boolean> {
    return revocation.revokeGrant(this.#ctx, grantId, reason, bySessionId);
  }

  /** RFC 7009: always 200 for the client's own or unknown tokens; a refresh token takes its grant's tokens along. */
  async revoke(form: Record<string, string | undefined>, issuer: string): Promise<void> {
    return revocation.revoke(this.#ctx, form, issuer);
  }

  // ---- authorization of apps (oauth/par-consent.ts) -------------------------------------------------------------

  /** RFC 9126: the app pushes its authorization request; PKCE S256 and an exact redirect URI are required. */
  async pushAuthorizationRequest(
    form: Record<string, string | undefined>,
    issuer: string,
    dpopJkt: string | null,
  ): Promise<{ request_uri: string; expires_in: number }> {
    return parConsent.pushAuthorizationRequest(this.#ctx, form, issuer, dpopJkt);
  }

  /** What the consent page shows: the app, the scopes it asks for, the user's accounts to choose from. */
  async authorizationRequest(
    principal: Principal,
    clientId: string,
    requestUri: string,
  ): Promise<AuthorizationRequestView> {
    return parConsent.authorizationRequest(this.#ctx, principal, clientId, requestUri);
  }

  /**
   * The user's answer (AAL2 session; approving also needs a recent strong factor, checked by the route): approve with
   * the accounts the app may use, or deny. Either way the pushed request is spent, and the answer is a redirect to
   * the app's exact URI with `iss` (RFC 9207).
   */
  async consent(
    principal: Principal,
    input: { clientId: string; requestUri: string; approve: boolean; accounts: string[] },
    issuer: string,
  ): Promise<{ redirectTo: string }> {
    return parConsent.consent(this.#ctx, principal, input, issuer);
  }

  // ---- the token endpoint (oauth/grants/) -----------------------------------------------------------------------

  /** The token endpoint: the client authenticates, then its grant type decides (oauth/grants/). */
  async token(form: Record<string, string | undefined>, issuer: string, jkt: string): Promise<TokenResponse> {
    this.#requests += 1;
    if (this.#requests % PURGE_EVERY_REQUESTS === 0) await this.purgeExpired();
    const client = await authenticateClient(this.#ctx, form, issuer);
    switch (form.grant_type) {
      case 'client_credentials':
        return clientCredentials(this.#ctx, client, form, jkt);
      case 'authorization_code':
        return authorizationCode(this.#ctx, client, form, jkt);
      case 'refresh_token':
        return refresh(this.#ctx, client, form, jkt);
      default:
        throw new OAuthError(
          'unsupported_grant_type',
          'client_credentials, authorization_code or refresh_token',
        );
    }
  }

  /**
   * Deletes what can no longer be used: assertion ids past their expiry, pushed requests and codes past theirs, and
   * access tokens expired longer ago than a program session may live (7 days by default; at least a day, for
   * introspection's `active: false` and for audits), so a live session's tokens are all kept. Runs every 256 token
   * requests.
   */
  async purgeExpired(): Promise<void> {
    const { absoluteLifetimeMs } = this.#ctx.grantLifetime;
    const now = this.#ctx.clock.now();
    // The cache of access tokens seen (oauth/resource.ts) drops expired ones as it takes new ones; this sweeps the
    // rest, so refreshed-away tokens never fill it up to `tokenCacheMaxEntries`.
    this.#ctx.tokens.deleteWhere((token) => now >= token.expiresAt);
    await deleteExpired(this.#ctx.db, now, Math.max(DAY_MS, absoluteLifetimeMs));
  }

  /** How many access tokens this node holds in memory (oauth/resource.ts), live or expired since the last purge. */
  get cachedTokens(): number {
    return this.#ctx.tokens.size;
  }

  // ---- the failure sandbox (oauth/faults.ts) --------------------------------------------------------------------

  /** The program sessions of a client's live grants (the sandbox's `client` target). */
  async clientSessionIds(clientId: string): Promise<string[]> {
    return faults.clientSessionIds(this.#ctx, clientId);
  }

  /** The live access tokens acting through these sessions expire now (`token.expired_early`); resolves to how many. */
  async expireSessionTokens(sessionIds: readonly string[]): Promise<number> {
    return faults.expireSessionTokens(this.#ctx, sessionIds);
  }

  /** The live access tokens acting through these sessions are revoked as RFC 7009 revokes one (`token.revoked`). */
  async revokeSessionTokens(sessionIds: readonly string[]): Promise<number> {
    return faults.revokeSessionTokens(this.#ctx, sessionIds);
  }

  /** Whom a token request renewing access is for, as the token endpoint's faults match it; undefined for others. */
  async tokenFaultSubject(form: Record<string, string | undefined>): Promise<FaultSubject | undefined> {
    return faults.tokenFaultSubject(this.#ctx, form);
  }

  /** The sandbox cut a committed token request's answer (`refresh.response_lost`): recorded for readiness. */
  async responseLost(subject: FaultSubject): Promise<void> {
    return faults.responseLost(this.#ctx, subject);
  }

  // ---- introspection and the resource side ----------------------------------------------------------------------

  /** RFC 7662, for the client's own tokens: active, scope, client, user, expiry, and the DPoP binding. */
  async introspect(
    form: Record<string, string | undefined>,
    issuer: string,
  ): Promise<{ clientId: string; result: Record<string, unknown> }> {
    return introspect(this.#ctx, form, issuer);
  }

  /**
   * Resolves `Authorization: DPoP <token>` with its proof to the grant's principal: the program's session, its
   * accounts narrowed to the grant's, its scopes. A token seen before is answered from memory.
   */
  async authenticate(
    token: string,
    proof: string | undefined,
    method: string,
    url: string,
  ): Promise<Principal> {
    return authenticate(this.#ctx, token, proof, method, url);
  }
}
