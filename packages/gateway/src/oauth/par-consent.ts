/**
 * @module oauth/par-consent
 * How a user grants a third-party app access (FAPI 2.0):
 * - the app pushes its authorization request first (PAR, RFC 9126, required): PKCE S256, an exact registered
 *   redirect URI, and optionally the DPoP key its code will be bound to; the `request_uri` it gets is single use and
 *   lives 60 s;
 * - the consent page shows the request to the user (AAL2), who approves with the accounts the app may use (and a
 *   strong factor from the last 5 minutes, checked by the route) or denies;
 * - the answer spends the request and redirects to the app's exact URI with `iss` (RFC 9207), and on approval a code
 *   of at most 60 s, used once, for a new grant the user is notified of.
 */
import type { AuthorizationRequestView, Scope } from '@gatehouse/protocol';
import { accountsFor } from '../access/index.js';
import { appendAudit } from '../audit/index.js';
import { GatehouseError, randomToken, sha256 } from '../core/index.js';
import type { Principal } from '../sessions/index.js';
import { authenticateClient } from './client-auth.js';
import { grantableAccounts, newGrant, parseScopes } from './clients.js';
import type { OAuthContext, OAuthForm } from './context.js';
import { OAuthError } from './errors.js';
import {
  claimParRequest,
  findLiveClient,
  findParRequest,
  insertCode,
  insertGrant,
  insertParRequest,
  json,
} from './store.js';

/** A pushed authorization request, as validated and stored. */
interface ParParams {
  redirect_uri: string;
  scope: Scope[];
  state?: string;
  code_challenge: string;
  dpop_jkt: string | null;
}

const CODE_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

/** RFC 9126: the app pushes its authorization request; PKCE S256 and an exact redirect URI are required. */
export async function pushAuthorizationRequest(
  ctx: OAuthContext,
  form: OAuthForm,
  issuer: string,
  dpopJkt: string | null,
): Promise<{ request_uri: string; expires_in: number }> {
  const client = await authenticateClient(ctx, form, issuer);
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
  const now = ctx.clock.now();
  await insertParRequest(ctx.db, {
    request_uri_hash: sha256(requestUri),
    client_id: client.id,
    params: JSON.stringify(params),
    expires_at: now + ctx.options.parTtlMs,
    used_at: null,
  });
  return { request_uri: requestUri, expires_in: Math.floor(ctx.options.parTtlMs / 1000) };
}

/** A pushed request of the client that is not used or expired, with the (live) client and its parameters. */
async function pushedRequest(ctx: OAuthContext, clientId: string, requestUri: string) {
  const row = await findParRequest(ctx.db, sha256(requestUri));
  if (
    row === undefined ||
    row.client_id !== clientId ||
    row.used_at !== null ||
    ctx.clock.now() >= Number(row.expires_at)
  )
    throw new OAuthError('invalid_request_uri', 'the request_uri is unknown, used or expired');
  const client = await findLiveClient(ctx.db, clientId);
  if (client === undefined) throw new OAuthError('invalid_request_uri', 'unknown client');
  return { row, client, params: json<ParParams>(row.params) };
}

/** What the consent page shows: the app, the scopes it asks for, the user's accounts to choose from. */
export async function authorizationRequest(
  ctx: OAuthContext,
  principal: Principal,
  clientId: string,
  requestUri: string,
): Promise<AuthorizationRequestView> {
  const { client, params } = await pushedRequest(ctx, clientId, requestUri);
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
    lifetime: ctx.grantLifetime,
  };
}

/**
 * The user's answer (AAL2 session; approving also needs a recent strong factor, checked by the route): approve with
 * the accounts the app may use, or deny. An approval is notified to the user. Either way the pushed request is
 * spent, and the answer is a redirect to the app's exact URI with `iss` (RFC 9207).
 */
export async function consent(
  ctx: OAuthContext,
  principal: Principal,
  input: { clientId: string; requestUri: string; approve: boolean; accounts: string[] },
  issuer: string,
): Promise<{ redirectTo: string }> {
  if (principal.session.aal < 2) throw new GatehouseError('STEP_UP_REQUIRED', undefined, { reason: 'aal2' });
  const { row, client, params } = await pushedRequest(ctx, input.clientId, input.requestUri);
  // Checked before the request is spent: a wrong answer changes nothing.
  const accounts = input.approve ? grantableAccounts(principal, input.accounts, params.scope) : [];
  if (input.approve && accounts.length === 0)
    throw new GatehouseError('INVALID_REQUEST', 'Choose at least one account.');
  const now = ctx.clock.now();
  if (!(await claimParRequest(ctx.db, row.request_uri_hash, now)))
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
  await ctx.db.transaction().execute(async (trx) => {
    await insertGrant(trx, grant);
    await insertCode(trx, {
      code_hash: sha256(code),
      client_id: client.id,
      grant_id: grant.id,
      redirect_uri: params.redirect_uri,
      code_challenge: params.code_challenge,
      dpop_jkt: params.dpop_jkt,
      expires_at: now + ctx.options.authorizationCodeTtlMs,
      used_at: null,
    });
    await appendAudit(trx, ctx.clock, {
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
  await ctx.notifier.notify(principal.session.userId, 'app_authorized', {
    clientId: client.id,
    name: client.name,
    grantId: grant.id,
    scopes: params.scope,
    accounts: accounts.map((a) => a.id),
  });
  redirect.searchParams.set('code', code);
  return { redirectTo: redirect.toString() };
}
