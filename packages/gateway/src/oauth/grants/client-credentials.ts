/**
 * @module oauth/grants/client-credentials
 * The client-credentials grant (RFC 6749 §4.4), for personal clients only: a user's bot acts under the grant made
 * when the user registered it, for that user only, on the accounts and scopes it names (or fewer scopes, if asked),
 * through its instance's session: one per DPoP key (oauth/issue.ts). A token answered was issued while neither the
 * grant nor the client was revoked, and its session outlives neither.
 */
import type { Scope, TokenResponse } from '@gatehouse/protocol';
import type { OAuthClientsTable } from '../../store/index.js';
import { atomically } from '../atomic.js';
import { parseScopes } from '../clients.js';
import type { OAuthContext, OAuthForm } from '../context.js';
import { OAuthError } from '../errors.js';
import { confirmGrantLive, endBeyondCap, instanceSession, issueTokens } from '../issue.js';
import { noteRefresh } from '../refresh-record.js';
import { findLiveGrantOfClient, json } from '../store.js';

export async function clientCredentials(
  ctx: OAuthContext,
  client: OAuthClientsTable,
  form: OAuthForm,
  jkt: string,
): Promise<TokenResponse> {
  if (client.kind !== 'personal')
    throw new OAuthError('unauthorized_client', 'apps use the authorization code');
  const grant = await findLiveGrantOfClient(ctx.db, client.id);
  if (grant === undefined) throw new OAuthError('invalid_grant', 'the grant was revoked');
  const granted = json<Scope[]>(grant.scopes);
  const scopes = form.scope === undefined ? granted : parseScopes(form.scope, granted);
  // The instance's session, the tokens and the refresh record commit together (oauth/atomic.ts): a request refused
  // by a storage fault opened no session. Other sessions it puts beyond the cap end after the commit.
  const { chosen, issued } = await atomically(ctx, async (tx) => {
    const chosen = await instanceSession(tx, grant, jkt);
    // RFC 6749 §4.4.3: no refresh token with client credentials; the client authenticates again instead.
    const issued = await issueTokens(tx, grant, chosen.sessionId, jkt, scopes, false);
    // A personal client's way of refreshing succeeded (the readiness checklist reads it: oauth/refresh-record.ts).
    await noteRefresh(tx.db, client.id, grant.user_id, tx.clock.now());
    return { chosen, issued };
  });
  await endBeyondCap(ctx, grant, chosen);
  // A revocation of the grant or client may have read its sessions before this one was recorded.
  return confirmGrantLive(ctx, grant, chosen.sessionId, issued);
}
