/**
 * @module oauth/grants/authorization-code
 * The authorization-code grant (RFC 6749 §4.1) for apps: a code from the user's consent, used once within 60 s by
 * the client it was issued to, with the same redirect URI, the PKCE verifier of the pushed request's S256 challenge,
 * and the DPoP key named at PAR if one was. It yields an access token and a refresh token.
 */
import type { Scope, TokenResponse } from '@gatehouse/protocol';
import { sha256 } from '../../core/index.js';
import type { OAuthClientsTable } from '../../store/index.js';
import { atomically } from '../atomic.js';
import type { OAuthContext, OAuthForm } from '../context.js';
import { OAuthError } from '../errors.js';
import { grantSession, issueTokens } from '../issue.js';
import { revokeGrant } from '../revocation.js';
import { claimCode, findCode, findGrant, json } from '../store.js';

/** RFC 7636: 43 to 128 unreserved characters. */
const PKCE_VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

/** The exchange's claim found the code already spent by a concurrent exchange. */
const REUSED = Symbol('reused');

export async function authorizationCode(
  ctx: OAuthContext,
  client: OAuthClientsTable,
  form: OAuthForm,
  jkt: string,
): Promise<TokenResponse> {
  const now = ctx.clock.now();
  const row = form.code === undefined ? undefined : await findCode(ctx.db, sha256(form.code));
  if (row === undefined || row.client_id !== client.id) throw new OAuthError('invalid_grant', 'unknown code');
  if (row.used_at !== null) {
    // RFC 6749 §4.1.2: a code used twice revokes what it granted.
    await revokeGrant(ctx, row.grant_id, 'grant_revoked');
    throw new OAuthError('invalid_grant', 'the code was already used');
  }
  // The code's spending, the grant's session and the tokens commit together (oauth/atomic.ts): an exchange refused
  // by a storage fault leaves the code unused. A code presented with a wrong verifier, URI or key is spent all the
  // same (the refusal is returned from the transaction, which commits, and thrown after it).
  const outcome = await atomically(ctx, async (tx): Promise<TokenResponse | OAuthError | typeof REUSED> => {
    // A claim that finds the code spent lost to a concurrent exchange of the same code (on PostgreSQL it waited on
    // that exchange's row lock): a replay, answered below once this transaction has ended.
    if (!(await claimCode(tx.db, row.code_hash, now))) return REUSED;
    if (now >= Number(row.expires_at)) return new OAuthError('invalid_grant', 'the code expired');
    if (form.redirect_uri !== row.redirect_uri)
      return new OAuthError('invalid_grant', 'redirect_uri does not match');
    if (
      form.code_verifier === undefined ||
      !PKCE_VERIFIER.test(form.code_verifier) ||
      sha256(form.code_verifier) !== row.code_challenge
    )
      return new OAuthError('invalid_grant', 'the PKCE code_verifier does not match');
    if (row.dpop_jkt !== null && row.dpop_jkt !== jkt)
      return new OAuthError('invalid_dpop_proof', 'the code is bound to another DPoP key');
    const grant = await findGrant(tx.db, row.grant_id);
    if (grant === undefined || grant.revoked_at !== null)
      return new OAuthError('invalid_grant', 'the grant was revoked');
    const session = await grantSession(tx, grant, true);
    return issueTokens(tx, grant, session, jkt, json<Scope[]>(grant.scopes), true);
  });
  if (outcome === REUSED) {
    // RFC 6749 §4.1.2, as for a code seen spent above: the revocation commits on its own, after the exchange that
    // lost the claim ended, so it also revokes the tokens the winning exchange issued.
    await revokeGrant(ctx, row.grant_id, 'grant_revoked');
    throw new OAuthError('invalid_grant', 'the code was already used');
  }
  if (outcome instanceof OAuthError) throw outcome;
  return outcome;
}
