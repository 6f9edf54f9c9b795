/**
 * @module oauth/introspection
 * Token introspection (RFC 7662) for a client's own tokens: whether the token is active, and then its scope, client,
 * user, issue and (access tokens) expiry times, and its DPoP binding (`cnf.jkt`). A token of another client, revoked,
 * expired, spent under rotation, or whose session ended (an access token's, a refresh token's grant's) or whose user
 * was disabled, is `active: false` and nothing more.
 * The route may sign the answer as a JWT (RFC 9701, oauth/signing.ts).
 */
import { sha256 } from '../core/index.js';
import type { OAuthClientsTable } from '../store/index.js';
import { authenticateClient } from './client-auth.js';
import type { OAuthContext, OAuthForm } from './context.js';
import { OAuthError } from './errors.js';
import { grantOrInvalid, sessionServes } from './issue.js';
import { findTokenOfClient, json } from './store.js';

/** RFC 7662, for the client's own tokens: active, scope, client, user, expiry, and the DPoP binding. */
export async function introspect(
  ctx: OAuthContext,
  form: OAuthForm,
  issuer: string,
): Promise<{ clientId: string; result: Record<string, unknown> }> {
  const client = await authenticateClient(ctx, form, issuer);
  return { clientId: client.id, result: await introspectToken(ctx, client, form, issuer) };
}

async function introspectToken(
  ctx: OAuthContext,
  client: OAuthClientsTable,
  form: OAuthForm,
  issuer: string,
): Promise<Record<string, unknown>> {
  if (form.token === undefined) throw new OAuthError('invalid_request', 'token is required');
  const row = await findTokenOfClient(ctx.db, sha256(form.token), client.id);
  const now = ctx.clock.now();
  if (
    row === undefined ||
    row.revoked_at !== null ||
    row.grant_revoked_at !== null ||
    now >= Number(row.expires_at) ||
    row.spent_at !== null
  )
    return { active: false };
  // The session the token acts through: ended (or its user disabled), the token serves nothing.
  if (!(await sessionServes(ctx, await grantOrInvalid(ctx, row.grant_id), row.session_id)))
    return { active: false };
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
