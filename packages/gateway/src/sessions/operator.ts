/**
 * @module sessions/operator
 * What an operator does to sessions and users (ASVS 5.0 7.4.2, 7.4.5): end one user's sessions, or everyone's,
 * and disable a user — which ends every session of theirs at once and keeps any from being made until the user is
 * enabled again (logins answer as for a wrong password, programs' token requests are refused). Each session ended
 * is audited with its user, and every node drops it through the bus (a node that missed it re-reads within
 * `sessions.cacheRevalidateMs`).
 */
import type { Kysely } from 'kysely';
import { appendAudit } from '../audit/index.js';
import { type Clock, type EventBus, GatehouseError } from '../core/index.js';
import { findUserByUsername, setUserStatus } from '../identity/index.js';
import type { Database } from '../store/index.js';
import type { RevokeReason, SessionService } from './service.js';

export interface OperatorDeps {
  db: Kysely<Database>;
  clock: Clock;
  bus: EventBus;
  sessions: SessionService;
}

/** Ends every live session of one user (`userId`), or of every user; returns how many it ended. */
export async function revokeLiveSessions(
  deps: OperatorDeps,
  scope: { userId: string } | 'everyone',
  reason: Extract<RevokeReason, 'revoked_by_operator' | 'user_disabled'>,
  via: 'cli' | 'admin_api',
): Promise<number> {
  let query = deps.db
    .selectFrom('sessions')
    .select(['id', 'user_id'])
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', deps.clock.now());
  if (scope !== 'everyone') query = query.where('user_id', '=', scope.userId);
  let count = 0;
  for (const session of await query.execute()) {
    if (!(await deps.sessions.revoke(session.id, reason))) continue;
    count += 1;
    await appendAudit(deps.db, deps.clock, {
      type: 'session.revoked',
      userId: session.user_id,
      sessionId: session.id,
      data: { by: 'operator', reason, via },
    });
  }
  return count;
}

/**
 * Disables (or enables) a user: status, audit, the user's caches on every node, and, when disabling, every live
 * session of theirs. Returns the sessions ended. The user's OAuth grants and personal clients are left as they are:
 * disabling is undone by enabling, and while the user is disabled no grant of theirs gets a token (oauth/issue.ts
 * `#liveSession`). A password reset, which answers a takeover, revokes them (passwords/service.ts).
 */
export async function setUserEnabled(
  deps: OperatorDeps,
  username: string,
  enabled: boolean,
  via: 'cli' | 'admin_api',
): Promise<{ userId: string; endedSessions: number }> {
  const user = await findUserByUsername(deps.db, username);
  if (user === undefined) throw new GatehouseError('USER_NOT_FOUND');
  await setUserStatus(deps.db, deps.clock, user.id, enabled ? 'active' : 'disabled');
  await appendAudit(deps.db, deps.clock, {
    type: enabled ? 'user.enabled' : 'user.disabled',
    userId: user.id,
    data: { via },
  });
  await deps.bus.publish('user.changed', { userId: user.id });
  const endedSessions = enabled
    ? 0
    : await revokeLiveSessions(deps, { userId: user.id }, 'user_disabled', via);
  return { userId: user.id, endedSessions };
}
