/**
 * @module oauth/service
 * The authorization server and the resource side of API access (FAPI 2.0 Security Profile where it applies:
 * research/identity-anchors.md).
 *
 * - Personal clients: a user registers a bot's public key from an AAL2 session with a second factor from the last
 *   5 minutes, not SMS (oauth/routes.ts), choosing accounts and scopes, and is notified of it; the bot
 *   authenticates with `private_key_jwt` and the client-credentials grant and acts for that user only.
 * - Third-party apps: registered by an operator; authorization code with PKCE (S256) pushed first (PAR, required;
 *   `request_uri` single use, 60 s), consent by the user (AAL2, and a strong factor from the last 5 minutes to
 *   approve; notified), a code of at most 60 s used once and bound to the DPoP key named at PAR, `iss` in the
 *   response.
 * - Everything a user gave programs is revoked by an operator's password reset (`revokeAllForUser`).
 * - Tokens are opaque (only their SHA-256 is stored) and DPoP-bound: access tokens 15 min; refresh tokens (code
 *   grants) live as long as the grant's session (24 h idle, 7 days absolute), are not rotated by default — FAPI 2.0:
 *   rotation strands a client whose response is lost, and the DPoP binding already protects a copied token — and
 *   with rotation on, a spent token presented again revokes the grant, except from the same key within the leeway,
 *   which gets the same successor again.
 * - Programs are sessions too: a grant's tokens act through one session on the `api` channel, created with its first
 *   token, which takes part in the brokerage tier like anyone's. Access tokens are validated from memory (one
 *   signature check for the proof) once seen; revocation reaches every node's cache through the bus.
 */
import {
  type ApiClientView,
  type AuthorizationRequestView,
  SCOPES,
  type Scope,
  type SessionLossPolicy,
  type TokenResponse,
} from '@gatehouse/protocol';
import type { JWK } from 'jose';
import type { Kysely } from 'kysely';
import { accountAccess, accountsFor } from '../access/index.js';
import { appendAudit } from '../audit/index.js';
import {
  type Clock,
  type EventBus,
  GatehouseError,
  LruCache,
  newId,
  randomToken,
  type SecretBox,
  sha256,
} from '../core/index.js';
import type { UserAccount } from '../identity/index.js';
import type { Notifier } from '../notifications/index.js';
import type { Principal, SessionProfile, SessionService } from '../sessions/index.js';
import type { Database, OAuthClientsTable, OAuthGrantsTable } from '../store/index.js';
import { validateClientKeys, verifyClientAssertion } from './client-auth.js';
import type { DpopVerifier } from './dpop.js';
import { OAuthError } from './errors.js';

export { SCOPES, type Scope, type SessionLossPolicy, type TokenResponse };

export interface OAuthOptions {
  accessTokenTtlMs: number;
  authorizationCodeTtlMs: number;
  parTtlMs: number;
  refreshReuseLeewayMs: number;
  tokenCacheMaxEntries: number;
}

export interface OAuthDeps {
  db: Kysely<Database>;
  clock: Clock;
  bus: EventBus;
  box: SecretBox;
  sessions: SessionService;
  notifier: Notifier;
  dpop: DpopVerifier;
  /** The issuer identifier and the URL the endpoints are served at (configured; never a request's Host). */
  urls: { readonly issuer: string; readonly base: string };
  options: OAuthOptions;
  /** How long a grant's session (and so its refresh token) lives: shown on the consent page. */
  grantLifetime: { idleTimeoutMs: number; absoluteLifetimeMs: number };
}

/** What a validated access token stands for, cached per node. */
interface CachedToken {
  grantId: string;
  clientId: string;
  userId: string;
  sessionId: string;
  sessionTokenHash: string;
  jkt: string;
  scopes: readonly Scope[];
  accounts: readonly string[];
  expiresAt: number;
}

interface ParParams {
  redirect_uri: string;
  scope: Scope[];
  state?: string;
  code_challenge: string;
  dpop_jkt: string | null;
}

/** Why a user's clients and grants were revoked, as the audit log records it. */
type RevocationCause = 'revoked_by_user' | 'password_reset';

const PKCE_VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;
const CODE_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

function parseScopes(value: string | undefined, allowed: readonly string[]): Scope[] {
  const wanted = (value ?? '').split(' ').filter((s) => s.length > 0);
  if (wanted.length === 0) throw new OAuthError('invalid_scope', 'ask for at least one scope');
  for (const scope of wanted) {
    if (!(SCOPES as readonly string[]).includes(scope) || !allowed.includes(scope))
      throw new OAuthError('invalid_scope', `scope ${scope} is not available to this client`);
  }
  return [...new Set(wanted)] as Scope[];
}

const json = <T>(text: string): T => JSON.parse(text) as T;

/**
 * A program's view of its user's profile: the user's accounts (with today's roles) that its grant names, none else.
 * The user losing a role loses it for the program too; the user gaining one gives the program nothing.
 */
export function grantProfile(profile: SessionProfile, accounts: readonly string[]): SessionProfile {
  return { ...profile, accounts: profile.accounts.filter((a) => accounts.includes(a.id)) };
}

/** A client acting for a user on some accounts with some scopes; its program session comes with its first token. */
function newGrant(
  clientId: string,
  userId: string,
  scopes: readonly Scope[],
  accounts: readonly UserAccount[],
  now: number,
): OAuthGrantsTable {
  return {
    id: newId('grt'),
    client_id: clientId,
    user_id: userId,
    scopes: JSON.stringify(scopes),
    accounts: JSON.stringify(accounts.map((a) => a.id)),
    session_id: null,
    created_at: now,
    revoked_at: null,
    revoke_reason: null,
  };
}

export class OAuthService {
  readonly #d: OAuthDeps;
  readonly #tokens: LruCache<string, CachedToken>;
  readonly #unsubscribe: () => void;
  #requests = 0;

  constructor(deps: OAuthDeps) {
    this.#d = deps;
    this.#tokens = new LruCache(deps.options.tokenCacheMaxEntries);
    this.#unsubscribe = deps.bus.subscribe('oauth.revoked', (m) => {
      this.#tokens.deleteWhere((t) => t.grantId === m.grantId);
    });
  }

  close(): void {
    this.#unsubscribe();
  }

  /** The issuer identifier: `oauth.issuer`, or `server.publicUrl`. */
  issuer(): string {
    return this.#d.urls.issuer;
  }

  /** RFC 8414 metadata: the issuer, and the endpoints under the gateway's public URL. */
  metadata() {
    const { issuer, base } = this.#d.urls;
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

  // ---- clients -------------------------------------------------------------------------------------------------

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
  ) {
    if (principal.session.aal < 2)
      throw new GatehouseError('STEP_UP_REQUIRED', undefined, { reason: 'aal2' });
    const jwks = this.#keysOrInvalid(input.keys);
    const accounts = this.#grantableAccounts(principal, input.accounts, input.scopes);
    const now = this.#d.clock.now();
    const client: OAuthClientsTable = {
      id: newId('cli'),
      kind: 'personal',
      user_id: principal.session.userId,
      name: input.name,
      jwks: JSON.stringify(jwks),
      redirect_uris: '[]',
      scopes: JSON.stringify(input.scopes),
      rotate_refresh_tokens: 0,
      session_loss_policy: input.sessionLossPolicy,
      created_at: now,
      revoked_at: null,
    };
    const grant = newGrant(client.id, principal.session.userId, input.scopes, accounts, now);
    await this.#d.db.transaction().execute(async (trx) => {
      await trx.insertInto('oauth_clients').values(client).execute();
      await trx.insertInto('oauth_grants').values(grant).execute();
      await appendAudit(trx, this.#d.clock, {
        type: 'oauth.client_registered',
        userId: principal.session.userId,
        sessionId: principal.session.id,
        data: {
          clientId: client.id,
          kind: 'personal',
          scopes: input.scopes,
          accounts: JSON.parse(grant.accounts),
        },
      });
    });
    // Like a factor added: the user hears of it, so a registration they did not make does not go unseen.
    await this.#d.notifier.notify(principal.session.userId, 'api_client_registered', {
      clientId: client.id,
      name: client.name,
      scopes: input.scopes,
      accounts: accounts.map((a) => a.id),
    });
    return this.#presentClient(client, [grant]);
  }

  /** An operator's third-party app: its keys, exact redirect URIs, the scopes it may ask for. */
  async registerApp(input: {
    name: string;
    keys: unknown[];
    redirectUris: string[];
    scopes: Scope[];
    rotateRefreshTokens: boolean;
    sessionLossPolicy: SessionLossPolicy;
  }) {
    const jwks = this.#keysOrInvalid(input.keys);
    for (const uri of input.redirectUris) {
      const url = new URL(uri);
      if (
        url.hash !== '' ||
        (url.protocol !== 'https:' && url.hostname !== 'localhost' && url.hostname !== '127.0.0.1')
      )
        throw new GatehouseError(
          'INVALID_REQUEST',
          'Redirect URIs must be https (or loopback) without a fragment.',
        );
    }
    const client: OAuthClientsTable = {
      id: newId('cli'),
      kind: 'app',
      user_id: null,
      name: input.name,
      jwks: JSON.stringify(jwks),
      redirect_uris: JSON.stringify(input.redirectUris),
      scopes: JSON.stringify(input.scopes),
      rotate_refresh_tokens: input.rotateRefreshTokens ? 1 : 0,
      session_loss_policy: input.sessionLossPolicy,
      created_at: this.#d.clock.now(),
      revoked_at: null,
    };
    await this.#d.db.transaction().execute(async (trx) => {
      await trx.insertInto('oauth_clients').values(client).execute();
      await appendAudit(trx, this.#d.clock, {
        type: 'oauth.client_registered',
        data: { clientId: client.id, kind: 'app', scopes: input.scopes },
      });
    });
    return this.#presentClient(client, []);
  }

  #keysOrInvalid(keys: unknown[]): { keys: JWK[] } {
    try {
      return validateClientKeys(keys);
    } catch (error) {
      throw new GatehouseError('INVALID_REQUEST', (error as Error).message);
    }
  }

  /**
   * The accounts a grant may name: each through the account-access policy, with `trade` when the grant carries the
   * `trade` scope (a viewer cannot hand a program more than they may do), `view` otherwise.
   */
  #grantableAccounts(principal: Principal, ids: readonly string[], scopes: readonly Scope[]): UserAccount[] {
    const need = scopes.includes('trade') ? 'trade' : 'view';
    return [...new Set(ids)].map((id) => accountAccess(principal, id, need));
  }

  #presentClient(client: OAuthClientsTable, grants: OAuthGrantsTable[]): ApiClientView {
    return {
      clientId: client.id,
      kind: client.kind as ApiClientView['kind'],
      name: client.name,
      scopes: json<string[]>(client.scopes),
      redirectUris: json<string[]>(client.redirect_uris),
      rotateRefreshTokens: client.rotate_refresh_tokens === 1,
      sessionLossPolicy: client.session_loss_policy as SessionLossPolicy,
      createdAt: new Date(Number(client.created_at)).toISOString(),
      grants: grants
        .filter((g) => g.revoked_at === null)
        .map((g) => ({
          grantId: g.id,
          scopes: json<string[]>(g.scopes),
          accounts: json<string[]>(g.accounts),
          sessionId: g.session_id,
          createdAt: new Date(Number(g.created_at)).toISOString(),
        })),
    };
  }

  /** The user's personal clients and the grants they made to apps. */
  async listForUser(userId: string) {
    const grants = await this.#d.db
      .selectFrom('oauth_grants')
      .selectAll()
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .execute();
    const clientIds = [...new Set(grants.map((g) => g.client_id))];
    const clients =
      clientIds.length === 0
        ? []
        : await this.#d.db
            .selectFrom('oauth_clients')
            .selectAll()
            .where('id', 'in', clientIds)
            .where('revoked_at', 'is', null)
            .execute();
    return clients.map((c) =>
      this.#presentClient(
        c,
        grants.filter((g) => g.client_id === c.id),
      ),
    );
  }

  /** Revokes the user's grants to a client (and, for a personal client, the client itself). */
  async revokeForUser(principal: Principal, clientId: string): Promise<void> {
    const ended = await this.#revokeOfUser(principal.session.userId, {
      clientId,
      bySessionId: principal.session.id,
      cause: 'revoked_by_user',
    });
    if (ended.grants === 0) throw new GatehouseError('NOT_FOUND');
  }

  /**
   * Ends everything a user has given programs: every personal client of theirs (so client credentials cannot start
   * a new program session) and every live grant, to personal clients and apps alike (its tokens and its program
   * session, on every node at once). Each is audited with `cause`. An operator's password reset calls it: a reset
   * answers a suspected takeover, and access given to a program by whoever held the account must not outlive it.
   * Operators' apps stay registered for other users. Returns what it ended (`sessions`: programs' sessions).
   */
  async revokeAllForUser(
    userId: string,
    cause: 'password_reset',
  ): Promise<{ clients: number; grants: number; sessions: number }> {
    return this.#revokeOfUser(userId, { clientId: null, bySessionId: null, cause });
  }

  /** The user's personal clients (one, or all) revoked first, then their grants (to that client, or all). */
  async #revokeOfUser(
    userId: string,
    scope: { clientId: string | null; bySessionId: string | null; cause: RevocationCause },
  ): Promise<{ clients: number; grants: number; sessions: number }> {
    const { db, clock } = this.#d;
    let grantQuery = db
      .selectFrom('oauth_grants')
      .select('id')
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null);
    if (scope.clientId !== null) grantQuery = grantQuery.where('client_id', '=', scope.clientId);
    const grants = await grantQuery.orderBy('created_at').orderBy('id').execute();
    if (grants.length === 0 && scope.clientId !== null) return { clients: 0, grants: 0, sessions: 0 };
    const clients = await db.transaction().execute(async (trx) => {
      let query = trx
        .updateTable('oauth_clients')
        .set({ revoked_at: clock.now() })
        .where('kind', '=', 'personal')
        .where('user_id', '=', userId)
        .where('revoked_at', 'is', null);
      if (scope.clientId !== null) query = query.where('id', '=', scope.clientId);
      const revoked = await query.returning('id').execute();
      for (const client of revoked)
        await appendAudit(trx, clock, {
          type: 'oauth.client_revoked',
          userId,
          sessionId: scope.bySessionId,
          data: { clientId: client.id, cause: scope.cause },
        });
      return revoked.length;
    });
    let ended = 0;
    let sessions = 0;
    for (const g of grants) {
      const result = await this.#endGrant(g.id, 'grant_revoked', scope.bySessionId, scope.cause);
      if (result.changed) ended += 1;
      if (result.sessionEnded) sessions += 1;
    }
    return { clients, grants: ended, sessions };
  }

  /** Ends a grant: its tokens stop working on every node at once, its program session ends. */
  async revokeGrant(
    grantId: string,
    reason: 'grant_revoked' | 'refresh_token_reused',
    bySessionId: string | null = null,
  ): Promise<boolean> {
    return (await this.#endGrant(grantId, reason, bySessionId, null)).changed;
  }

  async #endGrant(
    grantId: string,
    reason: 'grant_revoked' | 'refresh_token_reused',
    bySessionId: string | null,
    cause: RevocationCause | null,
  ): Promise<{ changed: boolean; sessionEnded: boolean }> {
    const now = this.#d.clock.now();
    const grant = await this.#findGrant(grantId);
    if (grant === undefined) return { changed: false, sessionEnded: false };
    const changed = await this.#d.db.transaction().execute(async (trx) => {
      const result = await trx
        .updateTable('oauth_grants')
        .set({ revoked_at: now, revoke_reason: reason })
        .where('id', '=', grantId)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      if (result.numUpdatedRows === 0n) return false;
      await trx
        .updateTable('oauth_tokens')
        .set({ revoked_at: now })
        .where('grant_id', '=', grantId)
        .where('revoked_at', 'is', null)
        .execute();
      await appendAudit(trx, this.#d.clock, {
        type: reason === 'refresh_token_reused' ? 'oauth.refresh_token_reused' : 'oauth.grant_revoked',
        userId: grant.user_id,
        sessionId: bySessionId,
        data: { grantId, clientId: grant.client_id, ...(cause === null ? {} : { cause }) },
      });
      return true;
    });
    this.#tokens.deleteWhere((t) => t.grantId === grantId);
    await this.#d.bus.publish('oauth.revoked', { grantId });
    if (!changed) return { changed: false, sessionEnded: false };
    const sessionEnded =
      grant.session_id !== null && (await this.#d.sessions.revoke(grant.session_id, reason));
    if (reason === 'refresh_token_reused')
      await this.#d.notifier.notify(grant.user_id, 'api_grant_revoked', {
        clientId: grant.client_id,
        reason,
      });
    return { changed: true, sessionEnded };
  }

  #findGrant(id: string): Promise<OAuthGrantsTable | undefined> {
    return this.#d.db.selectFrom('oauth_grants').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async #grant(id: string): Promise<OAuthGrantsTable> {
    const grant = await this.#findGrant(id);
    if (grant === undefined) throw new OAuthError('invalid_grant', 'unknown grant');
    return grant;
  }

  #liveClient(id: string): Promise<OAuthClientsTable | undefined> {
    return this.#d.db
      .selectFrom('oauth_clients')
      .selectAll()
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
  }

  // ---- authorization (apps) ------------------------------------------------------------------------------------

  async #authenticateClient(
    form: Record<string, string | undefined>,
    issuer: string,
  ): Promise<OAuthClientsTable> {
    const { db, clock } = this.#d;
    let client: OAuthClientsTable | undefined;
    await verifyClientAssertion({ db, issuer, now: clock.now() }, form, async (clientId) => {
      client = await this.#liveClient(clientId);
      return client === undefined ? undefined : json<{ keys: JWK[] }>(client.jwks);
    });
    return client as unknown as OAuthClientsTable;
  }

  /** RFC 9126: the app pushes its authorization request; PKCE S256 and an exact redirect URI are required. */
  async pushAuthorizationRequest(
    form: Record<string, string | undefined>,
    issuer: string,
    dpopJkt: string | null,
  ): Promise<{ request_uri: string; expires_in: number }> {
    const client = await this.#authenticateClient(form, issuer);
    if (client.kind !== 'app')
      throw new OAuthError('unauthorized_client', 'personal clients use client credentials');
    if (form.request_uri !== undefined)
      throw new OAuthError('invalid_request', 'request_uri is not allowed here');
    if (form.response_type !== 'code')
      throw new OAuthError('unsupported_response_type', 'only response_type=code');
    if (
      form.code_challenge_method !== 'S256' ||
      form.code_challenge === undefined ||
      !CODE_CHALLENGE.test(form.code_challenge)
    )
      throw new OAuthError('invalid_request', 'PKCE with S256 is required');
    const redirectUris = json<string[]>(client.redirect_uris);
    if (form.redirect_uri === undefined || !redirectUris.includes(form.redirect_uri))
      throw new OAuthError('invalid_request', 'redirect_uri must match a registered one exactly');
    if (form.state !== undefined && form.state.length > 512)
      throw new OAuthError('invalid_request', 'state may have at most 512 characters');
    if (form.dpop_jkt !== undefined && dpopJkt !== null && form.dpop_jkt !== dpopJkt)
      throw new OAuthError('invalid_dpop_proof', 'dpop_jkt does not match the DPoP proof');
    const params: ParParams = {
      redirect_uri: form.redirect_uri,
      scope: parseScopes(form.scope, json<string[]>(client.scopes)),
      ...(form.state === undefined ? {} : { state: form.state }),
      code_challenge: form.code_challenge,
      dpop_jkt: form.dpop_jkt ?? dpopJkt,
    };
    const requestUri = `urn:ietf:params:oauth:request_uri:${randomToken(24)}`;
    const now = this.#d.clock.now();
    await this.#d.db
      .insertInto('oauth_par_requests')
      .values({
        request_uri_hash: sha256(requestUri),
        client_id: client.id,
        params: JSON.stringify(params),
        expires_at: now + this.#d.options.parTtlMs,
        used_at: null,
      })
      .execute();
    return { request_uri: requestUri, expires_in: Math.floor(this.#d.options.parTtlMs / 1000) };
  }

  async #pushedRequest(clientId: string, requestUri: string) {
    const row = await this.#d.db
      .selectFrom('oauth_par_requests')
      .selectAll()
      .where('request_uri_hash', '=', sha256(requestUri))
      .executeTakeFirst();
    if (
      row === undefined ||
      row.client_id !== clientId ||
      row.used_at !== null ||
      this.#d.clock.now() >= Number(row.expires_at)
    )
      throw new OAuthError('invalid_request_uri', 'the request_uri is unknown, used or expired');
    const client = await this.#liveClient(clientId);
    if (client === undefined) throw new OAuthError('invalid_request_uri', 'unknown client');
    return { row, client, params: json<ParParams>(row.params) };
  }

  /** What the consent page shows: the app, the scopes it asks for, the user's accounts to choose from. */
  async authorizationRequest(
    principal: Principal,
    clientId: string,
    requestUri: string,
  ): Promise<AuthorizationRequestView> {
    const { client, params } = await this.#pushedRequest(clientId, requestUri);
    return {
      client: { clientId: client.id, name: client.name },
      scopes: params.scope,
      redirectUri: params.redirect_uri,
      // Every account the user holds, and whether this request's scopes may be granted on it (a viewer's may not
      // carry `trade`): the page offers only what the consent would accept.
      accounts: principal.profile.accounts.map((a) => ({
        id: a.id,
        title: a.title,
        role: a.role,
        grantable: accountsFor(principal, params.scope.includes('trade') ? 'trade' : 'view').some(
          (g) => g.id === a.id,
        ),
      })),
      lifetime: this.#d.grantLifetime,
    };
  }

  /**
   * The user's answer (AAL2 session; approving also needs a recent strong factor, checked by the route): approve with
   * the accounts the app may use, or deny. An approval is notified to the user. Either way the pushed request is
   * spent, and the answer is a redirect to the app's exact URI with `iss` (RFC 9207).
   */
  async consent(
    principal: Principal,
    input: { clientId: string; requestUri: string; approve: boolean; accounts: string[] },
    issuer: string,
  ): Promise<{ redirectTo: string }> {
    if (principal.session.aal < 2)
      throw new GatehouseError('STEP_UP_REQUIRED', undefined, { reason: 'aal2' });
    const { row, client, params } = await this.#pushedRequest(input.clientId, input.requestUri);
    // Checked before the request is spent: a wrong answer changes nothing.
    const accounts = input.approve ? this.#grantableAccounts(principal, input.accounts, params.scope) : [];
    if (input.approve && accounts.length === 0)
      throw new GatehouseError('INVALID_REQUEST', 'Choose at least one account.');
    const now = this.#d.clock.now();
    const claimed = await this.#d.db
      .updateTable('oauth_par_requests')
      .set({ used_at: now })
      .where('request_uri_hash', '=', row.request_uri_hash)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    if (claimed.numUpdatedRows === 0n)
      throw new OAuthError('invalid_request_uri', 'the request_uri was used');
    const redirect = new URL(params.redirect_uri);
    if (params.state !== undefined) redirect.searchParams.set('state', params.state);
    redirect.searchParams.set('iss', issuer);
    if (!input.approve) {
      redirect.searchParams.set('error', 'access_denied');
      return { redirectTo: redirect.toString() };
    }
    const grant = newGrant(client.id, principal.session.userId, params.scope, accounts, now);
    const code = randomToken(32);
    await this.#d.db.transaction().execute(async (trx) => {
      await trx.insertInto('oauth_grants').values(grant).execute();
      await trx
        .insertInto('oauth_codes')
        .values({
          code_hash: sha256(code),
          client_id: client.id,
          grant_id: grant.id,
          redirect_uri: params.redirect_uri,
          code_challenge: params.code_challenge,
          dpop_jkt: params.dpop_jkt,
          expires_at: now + this.#d.options.authorizationCodeTtlMs,
          used_at: null,
        })
        .execute();
      await appendAudit(trx, this.#d.clock, {
        type: 'oauth.consent_granted',
        userId: principal.session.userId,
        sessionId: principal.session.id,
        data: {
          clientId: client.id,
          grantId: grant.id,
          scopes: params.scope,
          accounts: JSON.parse(grant.accounts),
        },
      });
    });
    await this.#d.notifier.notify(principal.session.userId, 'app_authorized', {
      clientId: client.id,
      name: client.name,
      grantId: grant.id,
      scopes: params.scope,
      accounts: accounts.map((a) => a.id),
    });
    redirect.searchParams.set('code', code);
    return { redirectTo: redirect.toString() };
  }

  // ---- the token endpoint --------------------------------------------------------------------------------------

  async token(form: Record<string, string | undefined>, issuer: string, jkt: string): Promise<TokenResponse> {
    this.#requests += 1;
    if (this.#requests % 256 === 0) await this.purgeExpired();
    const client = await this.#authenticateClient(form, issuer);
    switch (form.grant_type) {
      case 'client_credentials':
        return this.#clientCredentials(client, form, jkt);
      case 'authorization_code':
        return this.#authorizationCode(client, form, jkt);
      case 'refresh_token':
        return this.#refresh(client, form, jkt);
      default:
        throw new OAuthError(
          'unsupported_grant_type',
          'client_credentials, authorization_code or refresh_token',
        );
    }
  }

  async #clientCredentials(client: OAuthClientsTable, form: Record<string, string | undefined>, jkt: string) {
    if (client.kind !== 'personal')
      throw new OAuthError('unauthorized_client', 'apps use the authorization code');
    const grant = await this.#d.db
      .selectFrom('oauth_grants')
      .selectAll()
      .where('client_id', '=', client.id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (grant === undefined) throw new OAuthError('invalid_grant', 'the grant was revoked');
    const granted = json<Scope[]>(grant.scopes);
    const scopes = form.scope === undefined ? granted : parseScopes(form.scope, granted);
    await this.#liveSession(grant, true);
    // RFC 6749 §4.4.3: no refresh token with client credentials; the client authenticates again instead.
    return this.#issue(grant, jkt, scopes, false);
  }

  async #authorizationCode(client: OAuthClientsTable, form: Record<string, string | undefined>, jkt: string) {
    const { db, clock } = this.#d;
    const now = clock.now();
    const row =
      form.code === undefined
        ? undefined
        : await db
            .selectFrom('oauth_codes')
            .selectAll()
            .where('code_hash', '=', sha256(form.code))
            .executeTakeFirst();
    if (row === undefined || row.client_id !== client.id)
      throw new OAuthError('invalid_grant', 'unknown code');
    if (row.used_at !== null) {
      // RFC 6749 §4.1.2: a code used twice revokes what it granted.
      await this.revokeGrant(row.grant_id, 'grant_revoked');
      throw new OAuthError('invalid_grant', 'the code was already used');
    }
    const claimed = await db
      .updateTable('oauth_codes')
      .set({ used_at: now })
      .where('code_hash', '=', row.code_hash)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    if (claimed.numUpdatedRows === 0n) throw new OAuthError('invalid_grant', 'the code was already used');
    if (now >= Number(row.expires_at)) throw new OAuthError('invalid_grant', 'the code expired');
    if (form.redirect_uri !== row.redirect_uri)
      throw new OAuthError('invalid_grant', 'redirect_uri does not match');
    if (
      form.code_verifier === undefined ||
      !PKCE_VERIFIER.test(form.code_verifier) ||
      sha256(form.code_verifier) !== row.code_challenge
    )
      throw new OAuthError('invalid_grant', 'the PKCE code_verifier does not match');
    if (row.dpop_jkt !== null && row.dpop_jkt !== jkt)
      throw new OAuthError('invalid_dpop_proof', 'the code is bound to another DPoP key');
    const grant = await this.#findGrant(row.grant_id);
    if (grant === undefined || grant.revoked_at !== null)
      throw new OAuthError('invalid_grant', 'the grant was revoked');
    await this.#liveSession(grant, true);
    return this.#issue(grant, jkt, json<Scope[]>(grant.scopes), true);
  }

  async #refresh(
    client: OAuthClientsTable,
    form: Record<string, string | undefined>,
    jkt: string,
  ): Promise<TokenResponse> {
    const { db, clock, options } = this.#d;
    const now = clock.now();
    if (form.refresh_token === undefined)
      throw new OAuthError('invalid_request', 'refresh_token is required');
    const hashValue = sha256(form.refresh_token);
    const row = await db
      .selectFrom('oauth_tokens')
      .innerJoin('oauth_grants', 'oauth_grants.id', 'oauth_tokens.grant_id')
      .selectAll('oauth_tokens')
      .select(['oauth_grants.client_id', 'oauth_grants.revoked_at as grant_revoked_at'])
      .where('oauth_tokens.token_hash', '=', hashValue)
      .where('oauth_tokens.kind', '=', 'refresh')
      .executeTakeFirst();
    // A refresh token of another client is as unknown as a made-up one (and changes nothing).
    if (row === undefined || row.client_id !== client.id)
      throw new OAuthError('invalid_grant', 'unknown refresh token');
    if (row.revoked_at !== null || row.grant_revoked_at !== null)
      throw new OAuthError('invalid_grant', 'the grant was revoked');
    if (row.jkt !== jkt)
      throw new OAuthError('invalid_dpop_proof', 'the refresh token is bound to another DPoP key');
    if (row.spent_at !== null) {
      // Rotation: a spent token again. The same key within the leeway is a lost response retried: the same successor.
      if (now - Number(row.spent_at) <= options.refreshReuseLeewayMs && row.successor_sealed !== null) {
        const successor = this.#d.box.open(row.successor_sealed);
        const grant = await this.#grant(row.grant_id);
        await this.#liveSession(grant, false);
        return {
          ...(await this.#issue(grant, jkt, json<Scope[]>(row.scopes), false)),
          refresh_token: successor,
        };
      }
      await this.revokeGrant(row.grant_id, 'refresh_token_reused');
      throw new OAuthError('invalid_grant', 'the refresh token was already used; the grant is revoked');
    }
    const grant = await this.#grant(row.grant_id);
    await this.#liveSession(grant, false);
    const scopes =
      form.scope === undefined
        ? json<Scope[]>(row.scopes)
        : parseScopes(form.scope, json<string[]>(row.scopes));
    if (client.rotate_refresh_tokens !== 1) {
      await db
        .updateTable('oauth_tokens')
        .set({ last_used_at: now })
        .where('token_hash', '=', hashValue)
        .execute();
      return this.#issue(grant, jkt, scopes, false);
    }
    const successor = randomToken(32);
    const spent = await db
      .updateTable('oauth_tokens')
      .set({ spent_at: now, last_used_at: now, successor_sealed: this.#d.box.seal(successor) })
      .where('token_hash', '=', hashValue)
      .where('spent_at', 'is', null)
      .executeTakeFirst();
    // A concurrent refresh with the same token spent it first: answer as its retry (the leeway path, same successor).
    if (spent.numUpdatedRows === 0n) return this.#refresh(client, form, jkt);
    return this.#issue(grant, jkt, scopes, successor);
  }

  /**
   * The grant's program session: its live one, or (`create`) a new one when it has none. A refresh with no live
   * session fails: the grant's session expired (24 h idle, 7 days absolute) or was ended.
   */
  async #liveSession(grant: OAuthGrantsTable, create: boolean): Promise<void> {
    const { db, clock, sessions } = this.#d;
    // A disabled user's programs get no tokens (their sessions were ended when the user was disabled).
    const user = await db
      .selectFrom('users')
      .select('status')
      .where('id', '=', grant.user_id)
      .executeTakeFirst();
    if (user?.status !== 'active') throw new OAuthError('invalid_grant', 'the user is disabled');
    if (grant.session_id !== null) {
      const now = clock.now();
      const session = await sessions.findById(grant.session_id);
      // Activity not yet written behind counts too.
      const seen = Math.max(session?.lastSeenAt ?? 0, sessions.pendingLastSeen(grant.session_id) ?? 0);
      if (
        session !== undefined &&
        session.revokedAt === null &&
        now < session.expiresAt &&
        now < seen + session.idleTimeoutMs
      )
        return;
      if (!create) throw new OAuthError('invalid_grant', 'the grant’s session ended; authorize again');
    }
    const { session } = await sessions.create({
      userId: grant.user_id,
      channel: 'api',
      aal: 2,
      amr: ['pop'],
      ip: '',
      userAgent: `oauth:${grant.client_id}`,
      secondFactorAt: null,
      lastFactor: null,
    });
    await db.updateTable('oauth_grants').set({ session_id: session.id }).where('id', '=', grant.id).execute();
    grant.session_id = session.id;
  }

  async #issue(
    grant: OAuthGrantsTable,
    jkt: string,
    scopes: Scope[],
    refresh: boolean | string,
  ): Promise<TokenResponse> {
    const now = this.#d.clock.now();
    const access = randomToken(32);
    const rows = [
      {
        token_hash: sha256(access),
        kind: 'access',
        grant_id: grant.id,
        jkt,
        scopes: JSON.stringify(scopes),
        created_at: now,
        expires_at: now + this.#d.options.accessTokenTtlMs,
        last_used_at: null,
        spent_at: null,
        successor_sealed: null,
        revoked_at: null,
      },
    ];
    const refreshToken = refresh === true ? randomToken(32) : refresh === false ? undefined : refresh;
    if (refreshToken !== undefined) {
      rows.push({
        ...(rows[0] as (typeof rows)[number]),
        token_hash: sha256(refreshToken),
        kind: 'refresh',
        // A refresh token lives as long as its grant's session may: that is checked at use.
        expires_at: Number.MAX_SAFE_INTEGER,
      });
    }
    await this.#d.db.insertInto('oauth_tokens').values(rows).execute();
    return {
      access_token: access,
      token_type: 'DPoP',
      expires_in: Math.floor(this.#d.options.accessTokenTtlMs / 1000),
      scope: scopes.join(' '),
      ...(refreshToken === undefined ? {} : { refresh_token: refreshToken }),
    };
  }

  /**
   * Deletes what can no longer be used: assertion ids past their expiry, pushed requests and codes past theirs, and
   * access tokens expired a day ago (kept that long for introspection's `active: false` and for audits). Runs every
   * 256 token requests.
   */
  async purgeExpired(): Promise<void> {
    const { db, clock } = this.#d;
    const now = clock.now();
    await db.deleteFrom('oauth_assertions').where('expires_at', '<', now).execute();
    await db.deleteFrom('oauth_par_requests').where('expires_at', '<', now).execute();
    await db
      .deleteFrom('oauth_codes')
      .where('expires_at', '<', now - 3_600_000)
      .execute();
    await db
      .deleteFrom('oauth_tokens')
      .where('kind', '=', 'access')
      .where('expires_at', '<', now - 24 * 3_600_000)
      .execute();
  }

  // ---- revocation and introspection ---------------------------------------------------------------------------

  /** RFC 7009: always 200 for the client's own or unknown tokens; a refresh token takes its grant's tokens along. */
  async revoke(form: Record<string, string | undefined>, issuer: string): Promise<void> {
    const client = await this.#authenticateClient(form, issuer);
    if (form.token === undefined) throw new OAuthError('invalid_request', 'token is required');
    const row = await this.#tokenOfClient(form.token, client.id);
    if (row === undefined) return;
    if (row.kind === 'refresh') {
      await this.revokeGrant(row.grant_id, 'grant_revoked');
      return;
    }
    await this.#d.db
      .updateTable('oauth_tokens')
      .set({ revoked_at: this.#d.clock.now() })
      .where('token_hash', '=', row.token_hash)
      .execute();
    this.#tokens.delete(row.token_hash);
    await this.#d.bus.publish('oauth.revoked', { grantId: row.grant_id });
  }

  /** RFC 7662, for the client's own tokens: active, scope, client, user, expiry, and the DPoP binding. */
  async introspect(
    form: Record<string, string | undefined>,
    issuer: string,
  ): Promise<{ clientId: string; result: Record<string, unknown> }> {
    const client = await this.#authenticateClient(form, issuer);
    return { clientId: client.id, result: await this.#introspect(client, form, issuer) };
  }

  async #introspect(client: OAuthClientsTable, form: Record<string, string | undefined>, issuer: string) {
    if (form.token === undefined) throw new OAuthError('invalid_request', 'token is required');
    const row = await this.#tokenOfClient(form.token, client.id);
    const now = this.#d.clock.now();
    if (
      row === undefined ||
      row.revoked_at !== null ||
      row.grant_revoked_at !== null ||
      now >= Number(row.expires_at) ||
      row.spent_at !== null
    )
      return { active: false };
    if (row.kind === 'refresh') {
      const grant = await this.#grant(row.grant_id);
      try {
        await this.#liveSession(grant, false);
      } catch {
        return { active: false };
      }
    }
    return {
      active: true,
      scope: json<string[]>(row.scopes).join(' '),
      client_id: client.id,
      sub: row.user_id,
      token_type: row.kind === 'access' ? 'DPoP' : 'refresh_token',
      iat: Math.floor(Number(row.created_at) / 1000),
      ...(row.kind === 'access' ? { exp: Math.floor(Number(row.expires_at) / 1000) } : {}),
      iss: issuer,
      cnf: { jkt: row.jkt },
    };
  }

  #tokenOfClient(token: string, clientId: string) {
    return this.#d.db
      .selectFrom('oauth_tokens')
      .innerJoin('oauth_grants', 'oauth_grants.id', 'oauth_tokens.grant_id')
      .selectAll('oauth_tokens')
      .select(['oauth_grants.user_id', 'oauth_grants.revoked_at as grant_revoked_at'])
      .where('oauth_tokens.token_hash', '=', sha256(token))
      .where('oauth_grants.client_id', '=', clientId)
      .executeTakeFirst();
  }

  // ---- the resource side --------------------------------------------------------------------------------------

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
    const now = this.#d.clock.now();
    const tokenHash = sha256(token);
    let cached = this.#tokens.get(tokenHash);
    if (cached === undefined) {
      cached = await this.#loadToken(tokenHash);
      if (cached !== undefined) this.#tokens.set(tokenHash, cached);
    }
    if (cached === undefined || now >= cached.expiresAt) throw new GatehouseError('INVALID_TOKEN');
    let jkt: string;
    try {
      jkt = this.#d.dpop.verify({ proof, method, url, accessToken: token, now });
    } catch (error) {
      if (error instanceof OAuthError && error.error === 'use_dpop_nonce')
        throw new GatehouseError('USE_DPOP_NONCE', undefined, { dpopNonce: this.#d.dpop.nonce(now) });
      throw new GatehouseError('INVALID_DPOP_PROOF', (error as Error).message);
    }
    if (jkt !== cached.jkt)
      throw new GatehouseError('INVALID_DPOP_PROOF', 'The proof is signed by another key.');
    const principal =
      this.#d.sessions.authenticateCachedHash(cached.sessionTokenHash) ??
      (await this.#d.sessions.authenticateHash(cached.sessionTokenHash));
    return {
      session: principal.session,
      profile: grantProfile(principal.profile, cached.accounts),
      memo: principal.memo,
      api: {
        clientId: cached.clientId,
        grantId: cached.grantId,
        scopes: cached.scopes,
        accounts: cached.accounts,
        jkt,
      },
    };
  }

  async #loadToken(tokenHash: string): Promise<CachedToken | undefined> {
    const row = await this.#d.db
      .selectFrom('oauth_tokens')
      .innerJoin('oauth_grants', 'oauth_grants.id', 'oauth_tokens.grant_id')
      .innerJoin('sessions', 'sessions.id', 'oauth_grants.session_id')
      .select([
        'oauth_tokens.grant_id',
        'oauth_tokens.jkt',
        'oauth_tokens.scopes',
        'oauth_tokens.expires_at',
        'oauth_tokens.revoked_at',
        'oauth_grants.client_id',
        'oauth_grants.user_id',
        'oauth_grants.accounts',
        'oauth_grants.revoked_at as grant_revoked_at',
        'sessions.id as session_id',
        'sessions.token_hash as session_token_hash',
      ])
      .where('oauth_tokens.token_hash', '=', tokenHash)
      .where('oauth_tokens.kind', '=', 'access')
      .executeTakeFirst();
    if (row === undefined || row.revoked_at !== null || row.grant_revoked_at !== null) return undefined;
    return {
      grantId: row.grant_id,
      clientId: row.client_id,
      userId: row.user_id,
      sessionId: row.session_id,
      sessionTokenHash: row.session_token_hash,
      jkt: row.jkt,
      scopes: json<Scope[]>(row.scopes),
      accounts: json<string[]>(row.accounts),
      expiresAt: Number(row.expires_at),
    };
  }
}
