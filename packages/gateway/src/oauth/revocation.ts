/**
 * @module oauth/revocation
 * Ending what programs were given. A grant ends with its tokens, on every node at once (the bus carries
 * `oauth.revoked` to every token cache), and with every program session its tokens acted through (a personal
 * client's: one per instance).
 * - A client revokes its own tokens (RFC 7009); a refresh token takes its grant along.
 * - A user revokes a client: their grants to it and, for a personal client, the client itself.
 * - An operator's password reset revokes everything the user gave programs (`revokeAllForUser`).
 * - A code used twice, or a spent refresh token presented again, revokes its grant (oauth/grants/).
 */
import { appendAudit } from '../audit/index.js';
import { GatehouseError, sha256 } from '../core/index.js';
import type { Principal } from '../sessions/index.js';
import { authenticateClient } from './client-auth.js';
import type { OAuthContext, OAuthForm } from './context.js';
import { OAuthError } from './errors.js';
import {
  findGrant,
  findTokenOfClient,
  liveGrantIdsOfUser,
  programSessionIds,
  revokeGrantAndTokens,
  revokePersonalClients,
  revokeToken,
} from './store.js';

/** Why a user's clients and grants were revoked, as the audit log records it. */
type RevocationCause = 'revoked_by_user' | 'password_reset';

/** Why a grant ended, as its row and the audit log record it. */
export type GrantRevokeReason = 'grant_revoked' | 'refresh_token_reused';

/** RFC 7009: always 200 for the client's own or unknown tokens; a refresh token takes its grant's tokens along. */
export async function revoke(ctx: OAuthContext, form: OAuthForm, issuer: string): Promise<void> {
  const client = await authenticateClient(ctx, form, issuer);
  if (form.token === undefined) throw new OAuthError('invalid_request', 'token is required');
  const row = await findTokenOfClient(ctx.db, sha256(form.token), client.id);
  if (row === undefined) return;
  if (row.kind === 'refresh') {
    await revokeGrant(ctx, row.grant_id, 'grant_revoked');
    return;
  }
  await revokeToken(ctx.db, row.token_hash, ctx.clock.now());
  ctx.tokens.delete(row.token_hash);
  await ctx.bus.publish('oauth.revoked', { grantId: row.grant_id, jkt: row.jkt });
}

/** Revokes the user's grants to a client (and, for a personal client, the client itself). */
export async function revokeForUser(
  ctx: OAuthContext,
  principal: Principal,
  clientId: string,
): Promise<void> {
  const ended = await revokeOfUser(ctx, principal.session.userId, {
    clientId,
    bySessionId: principal.session.id,
    cause: 'revoked_by_user',
  });
  if (ended.grants === 0) throw new GatehouseError('NOT_FOUND');
}

/**
 * Ends everything a user has given programs: every personal client of theirs (so client credentials cannot start
 * a new program session) and every live grant, to personal clients and apps alike (its tokens and its program
 * sessions, on every node at once). Each is audited with `cause`. An operator's password reset calls it: a reset
 * answers a suspected takeover, and access given to a program by whoever held the account must not outlive it.
 * Operators' apps stay registered for other users. Returns what it ended (`sessions`: programs' sessions).
 */
export async function revokeAllForUser(
  ctx: OAuthContext,
  userId: string,
  cause: 'password_reset',
): Promise<{ clients: number; grants: number; sessions: number }> {
  return revokeOfUser(ctx, userId, { clientId: null, bySessionId: null, cause });
}

/** The user's personal clients (one, or all) revoked first, then their grants (to that client, or all). */
async function revokeOfUser(
  ctx: OAuthContext,
  userId: string,
  scope: { clientId: string | null; bySessionId: string | null; cause: RevocationCause },
): Promise<{ clients: number; grants: number; sessions: number }> {
  const { db, clock } = ctx;
  const grants = await liveGrantIdsOfUser(db, userId, scope.clientId);
  if (grants.length === 0 && scope.clientId !== null) return { clients: 0, grants: 0, sessions: 0 };
  const clients = await db.transaction().execute(async (trx) => {
    const revoked = await revokePersonalClients(trx, userId, scope.clientId, clock.now());
    for (const clientId of revoked)
      await appendAudit(trx, clock, {
        type: 'oauth.client_revoked',
        userId,
        sessionId: scope.bySessionId,
        data: { clientId, cause: scope.cause },
      });
    return revoked.length;
  });
  let ended = 0;
  let sessions = 0;
  for (const grantId of grants) {
    const result = await endGrant(ctx, grantId, 'grant_revoked', scope.bySessionId, scope.cause);
    if (result.changed) ended += 1;
    sessions += result.sessionsEnded;
  }
  return { clients, grants: ended, sessions };
}

/** Ends a grant: its tokens stop working on every node at once, its program sessions end. */
export async function revokeGrant(
  ctx: OAuthContext,
  grantId: string,
  reason: GrantRevokeReason,
  bySessionId: string | null = null,
): Promise<boolean> {
  return (await endGrant(ctx, grantId, reason, bySessionId, null)).changed;
}

/**
 * Ends a grant, audited with `cause` when a user's revocation ended it. Every node drops its cached tokens even when
 * the grant had ended already; its sessions end (every one its tokens acted through: one per instance of a personal
 * client), and a reused refresh token is notified, only on the first end.
 */
async function endGrant(
  ctx: OAuthContext,
  grantId: string,
  reason: GrantRevokeReason,
  bySessionId: string | null,
  cause: RevocationCause | null,
): Promise<{ changed: boolean; sessionsEnded: number }> {
  const now = ctx.clock.now();
  const grant = await findGrant(ctx.db, grantId);
  if (grant === undefined) return { changed: false, sessionsEnded: 0 };
  const changed = await ctx.db.transaction().execute(async (trx) => {
    if (!(await revokeGrantAndTokens(trx, grantId, now, reason))) return false;
    await appendAudit(trx, ctx.clock, {
      type: reason === 'refresh_token_reused' ? 'oauth.refresh_token_reused' : 'oauth.grant_revoked',
      userId: grant.user_id,
      sessionId: bySessionId,
      data: { grantId, clientId: grant.client_id, ...(cause === null ? {} : { cause }) },
    });
    return true;
  });
  ctx.tokens.deleteWhere((t) => t.grantId === grantId);
  await ctx.bus.publish('oauth.revoked', { grantId });
  if (!changed) return { changed: false, sessionsEnded: 0 };
  let sessionsEnded = 0;
  for (const sessionId of (await programSessionIds(ctx.db, [grant])).get(grant.id) ?? [])
    if (await ctx.sessions.revoke(sessionId, reason)) sessionsEnded += 1;
  if (reason === 'refresh_token_reused')
    await ctx.notifier.notify(grant.user_id, 'api_grant_revoked', {
      clientId: grant.client_id,
      reason,
    });
  return { changed: true, sessionsEnded };
}
