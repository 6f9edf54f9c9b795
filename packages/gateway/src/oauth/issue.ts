/**
 * @module oauth/issue
 * What every grant type ends in: the grant's program session, then the tokens.
 * - Programs are sessions too: a grant's tokens act through one session on the `api` channel, created with its
 *   first token, which takes part in the brokerage tier like anyone's. A refresh needs that session still live
 *   (24 h idle, 7 days absolute); a disabled user's programs get no tokens.
 * - Tokens are opaque (only their SHA-256 is stored) and bound to the DPoP key that asked for them: access tokens
 *   live 15 min; a refresh token lives as long as its grant's session, checked at use.
 */
import type { Scope, TokenResponse } from '@gatehouse/protocol';
import { randomToken, sha256 } from '../core/index.js';
import { getUser } from '../identity/index.js';
import type { OAuthGrantsTable, OAuthTokensTable } from '../store/index.js';
import type { OAuthContext } from './context.js';
import { OAuthError } from './errors.js';
import { findGrant, insertTokens, setGrantSession } from './store.js';

/** The grant a token stands for; `invalid_grant` when there is none. */
export async function grantOrInvalid(ctx: OAuthContext, id: string): Promise<OAuthGrantsTable> {
  const grant = await findGrant(ctx.db, id);
  if (grant === undefined) throw new OAuthError('invalid_grant', 'unknown grant');
  return grant;
}

/**
 * The grant's program session: its live one, or (`create`) a new one when it has none. A refresh with no live
 * session fails: the grant's session expired (24 h idle, 7 days absolute) or was ended.
 */
export async function liveSession(
  ctx: OAuthContext,
  grant: OAuthGrantsTable,
  create: boolean,
): Promise<void> {
  const { db, clock, sessions } = ctx;
  // A disabled user's programs get no tokens (their sessions were ended when the user was disabled).
  const user = await getUser(db, grant.user_id);
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
  await setGrantSession(db, grant.id, session.id);
  grant.session_id = session.id;
}

/**
 * Issues an access token under the grant, bound to `jkt`, and with `refresh`: a new refresh token (`true`), none
 * (`false`), or the one given (the successor of a rotated refresh token).
 */
export async function issueTokens(
  ctx: OAuthContext,
  grant: OAuthGrantsTable,
  jkt: string,
  scopes: Scope[],
  refresh: boolean | string,
): Promise<TokenResponse> {
  const now = ctx.clock.now();
  const access = randomToken(32);
  const rows: OAuthTokensTable[] = [
    {
      token_hash: sha256(access),
      kind: 'access',
      grant_id: grant.id,
      jkt,
      scopes: JSON.stringify(scopes),
      created_at: now,
      expires_at: now + ctx.options.accessTokenTtlMs,
      last_used_at: null,
      spent_at: null,
      successor_sealed: null,
      revoked_at: null,
    },
  ];
  const refreshToken = refresh === true ? randomToken(32) : refresh === false ? undefined : refresh;
  if (refreshToken !== undefined) {
    rows.push({
      ...(rows[0] as OAuthTokensTable),
      token_hash: sha256(refreshToken),
      kind: 'refresh',
      // A refresh token lives as long as its grant's session may: that is checked at use.
      expires_at: Number.MAX_SAFE_INTEGER,
    });
  }
  await insertTokens(ctx.db, rows);
  return {
    access_token: access,
    token_type: 'DPoP',
    expires_in: Math.floor(ctx.options.accessTokenTtlMs / 1000),
    scope: scopes.join(' '),
    ...(refreshToken === undefined ? {} : { refresh_token: refreshToken }),
  };
}
