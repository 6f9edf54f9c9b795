/**
 * @module oauth/grants/refresh
 * The refresh-token grant (RFC 6749 §6) for apps, from the DPoP key the token is bound to, while the grant's
 * session lives (24 h idle, 7 days absolute). Refresh tokens are not rotated by default — FAPI 2.0: rotation
 * strands a client whose response is lost, and the DPoP binding already protects a copied token. With rotation on
 * (per app), a spent token presented again revokes the grant, except from the same client and key within the
 * leeway while its successor is unused — a response lost after the rotation committed — which gets the same
 * successor again.
 */
import type { Scope, TokenResponse } from '@gatehouse/protocol';
import { randomToken, sha256 } from '../../core/index.js';
import type { OAuthClientsTable } from '../../store/index.js';
import { atomically } from '../atomic.js';
import { parseScopes } from '../clients.js';
import type { OAuthContext, OAuthForm } from '../context.js';
import { OAuthError } from '../errors.js';
import { grantOrInvalid, grantSession, issueTokens } from '../issue.js';
import { noteRefresh } from '../refresh-record.js';
import { revokeGrant } from '../revocation.js';
import { findRefreshToken, findRefreshTokenRow, json, spendRefreshToken, touchToken } from '../store.js';

function openOrNull(ctx: OAuthContext, sealed: string): string | null {
  try {
    return ctx.box.open(sealed);
  } catch {
    return null;
  }
}

export async function refresh(
  ctx: OAuthContext,
  client: OAuthClientsTable,
  form: OAuthForm,
  jkt: string,
): Promise<TokenResponse> {
  const { db, clock, options } = ctx;
  const now = clock.now();
  if (form.refresh_token === undefined) throw new OAuthError('invalid_request', 'refresh_token is required');
  const hashValue = sha256(form.refresh_token);
  const row = await findRefreshToken(db, hashValue);
  // A refresh token of another client is as unknown as a made-up one (and changes nothing).
  if (row === undefined || row.client_id !== client.id)
    throw new OAuthError('invalid_grant', 'unknown refresh token');
  if (row.revoked_at !== null || row.grant_revoked_at !== null)
    throw new OAuthError('invalid_grant', 'the grant was revoked');
  if (row.jkt !== jkt)
    throw new OAuthError('invalid_dpop_proof', 'the refresh token is bound to another DPoP key');
  if (row.spent_at !== null) {
    // Rotation: a spent token again. The same client and key (both checked above) within the leeway, while its
    // successor has not been used, is a lost response retried: the same successor again (a same-response replay, as
    // better-auth's `refreshTokenReuseInterval`; Hydra's `rotation_grace_period` likewise forgives a retry:
    // research/identity-servers.md §1, §4). Once the successor was used the client had the response: reuse.
    // A successor no key of the ring opens (sealed under a secret since dropped) is as if none was recorded.
    const successor = row.successor_sealed === null ? null : openOrNull(ctx, row.successor_sealed);
    // A racing refresh that spent the token may not have recorded the successor yet: unused, then.
    const next = successor === null ? undefined : await findRefreshTokenRow(db, sha256(successor));
    if (
      successor !== null &&
      now - Number(row.spent_at) <= options.refreshReuseLeewayMs &&
      (next === undefined || next.spent_at === null)
    ) {
      const grant = await grantOrInvalid(ctx, row.grant_id);
      const session = await grantSession(ctx, grant, false);
      return atomically(ctx, async (tx) => {
        const issued = await issueTokens(tx, grant, session, jkt, json<Scope[]>(row.scopes), false);
        await noteRefresh(tx.db, client.id, grant.user_id, now);
        return { ...issued, refresh_token: successor };
      });
    }
    await revokeGrant(ctx, row.grant_id, 'refresh_token_reused');
    throw new OAuthError('invalid_grant', 'the refresh token was already used; the grant is revoked');
  }
  const grant = await grantOrInvalid(ctx, row.grant_id);
  const session = await grantSession(ctx, grant, false);
  const scopes =
    form.scope === undefined
      ? json<Scope[]>(row.scopes)
      : parseScopes(form.scope, json<string[]>(row.scopes));
  // The token's spending or use, the new tokens and the refresh record commit together (oauth/atomic.ts): a refused
  // refresh leaves the token unspent, so its retry is not taken for a reuse.
  if (client.rotate_refresh_tokens !== 1)
    return atomically(ctx, async (tx) => {
      await touchToken(tx.db, hashValue, now);
      const issued = await issueTokens(tx, grant, session, jkt, scopes, false);
      await noteRefresh(tx.db, client.id, grant.user_id, now);
      return issued;
    });
  const successor = randomToken(32);
  const issued = await atomically(ctx, async (tx) => {
    if (!(await spendRefreshToken(tx.db, hashValue, now, ctx.box.seal(successor)))) return undefined;
    const issued = await issueTokens(tx, grant, session, jkt, scopes, successor);
    // The readiness checklist's record of the refresh path (oauth/refresh-record.ts).
    await noteRefresh(tx.db, client.id, grant.user_id, now);
    return issued;
  });
  // A concurrent refresh with the same token spent it first: answer as its retry (the leeway path, same successor).
  return issued ?? refresh(ctx, client, form, jkt);
}
