/**
 * @module oauth/issue
 * What every grant type ends in: the program session the tokens act through, then the tokens.
 * - Programs are sessions too, on the `api` channel, and take part in the brokerage tier like anyone's:
 *   - one session per instance (DPoP key) of a personal client: a client-credentials token under key K acts through
 *     the live session the grant's earlier tokens under K acted through (a bot restarted with its key gets its
 *     session, and its trading, back), or a new one. Copies of a bot with different keys compete for trading like
 *     any two sessions; copies sharing one key share one session;
 *   - one session per app grant, created with its first token (its refresh tokens are bound to one key anyway); a
 *     refresh needs that session still live (24 h idle, 7 days absolute).
 *   A disabled user's programs get no tokens; ending a grant ends all its sessions (oauth/revocation.ts).
 * - Tokens are opaque (only their SHA-256 is stored), bound to the DPoP key that asked for them, and record the
 *   session they act through: access tokens live 15 min; a refresh token lives as long as its grant's session,
 *   checked at use.
 */
import type { Scope, TokenResponse } from '@gatehouse/protocol';
import { randomToken, sha256 } from '../core/index.js';
import { getUser } from '../identity/index.js';
import type { OAuthGrantsTable, OAuthTokensTable } from '../store/index.js';
import type { OAuthContext } from './context.js';
import { OAuthError } from './errors.js';
import { findGrant, findInstanceSessionId, insertTokens, setGrantSession } from './store.js';

/** The grant a token stands for; `invalid_grant` when there is none. */
export async function grantOrInvalid(ctx: OAuthContext, id: string): Promise<OAuthGrantsTable> {
  const grant = await findGrant(ctx.db, id);
  if (grant === undefined) throw new OAuthError('invalid_grant', 'unknown grant');
  return grant;
}

/** A disabled user's programs get no tokens (their sessions were ended when the user was disabled). */
async function userActive(ctx: OAuthContext, grant: OAuthGrantsTable): Promise<boolean> {
  return (await getUser(ctx.db, grant.user_id))?.status === 'active';
}

async function activeUserOrInvalid(ctx: OAuthContext, grant: OAuthGrantsTable): Promise<void> {
  if (!(await userActive(ctx, grant))) throw new OAuthError('invalid_grant', 'the user is disabled');
}

/** Whether a session is live now: not ended, within its lifetime and idle timeout (activity not yet written counts). */
async function isLive(ctx: OAuthContext, sessionId: string): Promise<boolean> {
  const { clock, sessions } = ctx;
  const session = await sessions.findById(sessionId);
  if (session === undefined || session.revokedAt !== null) return false;
  const now = clock.now();
  const seen = Math.max(session.lastSeenAt, sessions.pendingLastSeen(sessionId) ?? 0);
  return now < session.expiresAt && now < seen + session.idleTimeoutMs;
}

/** Whether a token's session still serves it: the session live and its user active (introspection). */
export async function sessionServes(
  ctx: OAuthContext,
  grant: OAuthGrantsTable,
  sessionId: string | null,
): Promise<boolean> {
  return sessionId !== null && (await userActive(ctx, grant)) && (await isLive(ctx, sessionId));
}

/** A new program session for the grant's user; `instance` names the DPoP key of a personal client's instance. */
async function newSession(ctx: OAuthContext, grant: OAuthGrantsTable, instance?: string): Promise<string> {
  const { session } = await ctx.sessions.create({
    userId: grant.user_id,
    channel: 'api',
    aal: 2,
    amr: ['pop'],
    ip: '',
    // What the user's session list shows: the client, and for an instance the start of its key's thumbprint.
    userAgent: `oauth:${grant.client_id}${instance === undefined ? '' : ` key ${instance.slice(0, 8)}`}`,
    secondFactorAt: null,
    lastFactor: null,
  });
  return session.id;
}

/**
 * An app grant's session: its live one, or (`create`) a new one when it has none. A refresh with no live session
 * fails: the grant's session expired (24 h idle, 7 days absolute) or was ended.
 */
export async function grantSession(
  ctx: OAuthContext,
  grant: OAuthGrantsTable,
  create: boolean,
): Promise<string> {
  await activeUserOrInvalid(ctx, grant);
  if (grant.session_id !== null) {
    if (await isLive(ctx, grant.session_id)) return grant.session_id;
    if (!create) throw new OAuthError('invalid_grant', 'the grant’s session ended; authorize again');
  }
  const id = await newSession(ctx, grant);
  await setGrantSession(ctx.db, grant.id, id);
  grant.session_id = id;
  return id;
}

/**
 * A personal client instance's session, the instance being its DPoP key `jkt`: the live session the grant's newest
 * token under that key acts through, or a new one (a new key, or its session ended).
 */
export async function instanceSession(
  ctx: OAuthContext,
  grant: OAuthGrantsTable,
  jkt: string,
): Promise<string> {
  await activeUserOrInvalid(ctx, grant);
  const known = await findInstanceSessionId(ctx.db, grant.id, jkt);
  if (known !== undefined && (await isLive(ctx, known))) return known;
  return newSession(ctx, grant, jkt);
}

/**
 * Issues an access token under the grant, bound to `jkt`, acting through `sessionId`, and with `refresh`: a new
 * refresh token (`true`), none (`false`), or the one given (the successor of a rotated refresh token).
 */
export async function issueTokens(
  ctx: OAuthContext,
  grant: OAuthGrantsTable,
  sessionId: string,
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
      session_id: sessionId,
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
