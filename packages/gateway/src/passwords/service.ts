/**
 * @module passwords/service
 * The password lifecycle after an account exists:
 *
 * - **Change** (ASVS 5.0 6.2.2, 6.2.3, 7.4.3): from a person's session, with the current password and the new one.
 *   The session must have no step-up pending and a second factor verified in the last 5 minutes (any factor: a
 *   password is changed by someone who proved both again, never by a stolen cookie plus a phished password alone).
 *   The new password must pass the policy and differ from the current one — so an operator's initial password can
 *   never become the long-term one (6.4.1). The current password is checked exactly as a login's, under the same
 *   brute-force claim (`login.checkSessionPassword`). The change is conditional on the hash it replaces, audited
 *   in the same transaction, reaches every node's session cache, is notified to the user, and may end the user's
 *   other sessions.
 * - **Reset by an operator** (6.4.3): after the broker's support has proved the caller's identity, a new initial
 *   password (generated, or given), which stops working after `password.initialLifetimeMs` unless the user changes
 *   it; every OAuth grant and personal client of the user is revoked and every session ends. Second factors are left
 *   as they are: the next login still needs one, so a reset never bypasses MFA.
 *
 * Neither the audit log nor a notification ever holds a password.
 */
import { randomBytes } from 'node:crypto';
import type { PasswordChanged } from '@gatehouse/protocol';
import type { Kysely } from 'kysely';
import { appendAudit } from '../audit/index.js';
import { type Clock, type EventBus, GatehouseError } from '../core/index.js';
import {
  assertPasswordAllowed,
  findUserByUsername,
  type PasswordHasher,
  type PasswordOwner,
  type PasswordPolicy,
  passwordPolicyError,
  setPasswordHash,
} from '../identity/index.js';
import {
  type ClientInfo,
  checkSessionPassword,
  type LoginLimits,
  type PasswordChecks,
} from '../login/index.js';
import type { Notifier } from '../notifications/index.js';
import type { OAuthService } from '../oauth/index.js';
import {
  type Principal,
  requireSensitive,
  revokeLiveSessions,
  type SessionService,
} from '../sessions/index.js';
import type { Database } from '../store/index.js';
import type { ChangePasswordInput } from './schema.js';

/** What a change and a reset both use: the store, the hasher, the policy, the user's sessions, the bus, the notifier. */
export interface PasswordDeps {
  db: Kysely<Database>;
  clock: Clock;
  hasher: PasswordHasher;
  policy: PasswordPolicy;
  sessions: SessionService;
  /** Tells every node's session cache that the user changed. */
  bus: EventBus;
  notifier: Notifier;
}

/** A user's change also checks the current password as a login does: under the brute-force limits. */
export interface PasswordChangeDeps extends PasswordDeps, LoginLimits, PasswordChecks {}

/** An operator's reset also sets the initial password's lifetime and revokes the programs' access. */
export interface PasswordResetDeps extends PasswordDeps {
  /** `password.initialLifetimeMs`. */
  initialLifetimeMs: number;
  /** Programs' access, which an operator's reset revokes. */
  oauth: Pick<OAuthService, 'revokeAllForUser'>;
}

/** A user changes their own password from a session. */
export async function changePassword(
  deps: PasswordChangeDeps,
  principal: Principal,
  input: ChangePasswordInput,
  client: ClientInfo,
): Promise<PasswordChanged> {
  const { db, clock, hasher, sessions, notifier, bus } = deps;
  const { session, profile } = principal;
  await requireSensitive(db, clock, principal, { recentSecondFactor: true });
  // Both checks look only at what the caller sent, so they come before the costly check of the current password.
  if (input.newPassword.normalize('NFKC') === input.currentPassword.normalize('NFKC'))
    throw passwordPolicyError('unchanged', deps.policy);
  assertPasswordAllowed(deps.policy, input.newPassword, profile.user);
  const current = await checkSessionPassword(deps, principal, input.currentPassword, client);

  const hash = await hasher.hash(input.newPassword);
  const wasInitial = profile.initialPasswordExpiresAt !== null;
  await db.transaction().execute(async (trx) => {
    const replaced = await setPasswordHash(trx, clock, session.userId, {
      hash,
      initialPasswordExpiresAt: null,
      replacing: current.passwordHash,
    });
    // Another change committed since the current password was checked: that one is no longer current.
    if (!replaced) throw new GatehouseError('INVALID_CREDENTIALS');
    await appendAudit(trx, clock, {
      type: 'password.changed',
      userId: session.userId,
      sessionId: session.id,
      ip: client.ip,
      data: { by: 'user', wasInitial, endOtherSessions: input.endOtherSessions },
    });
  });
  // Every node reloads the user's profile: the portal stops asking for a new password.
  await bus.publish('user.changed', { userId: session.userId });

  let endedSessions = 0;
  if (input.endOtherSessions) {
    for (const other of await sessions.listForUser(session.userId)) {
      if (other.id === session.id || !(await sessions.revoke(other.id, 'revoked_by_user'))) continue;
      endedSessions += 1;
      await appendAudit(db, clock, {
        type: 'session.revoked',
        userId: session.userId,
        sessionId: other.id,
        ip: client.ip,
        data: { by: session.id, reason: 'revoked_by_user', cause: 'password_changed' },
      });
    }
  }
  await notifier.notify(session.userId, 'password_changed', {
    ip: client.ip,
    channel: session.channel,
    endedSessions,
  });
  return { status: 'changed', endedSessions };
}

/**
 * A random initial password that passes the policy: 24 characters of base64url (144 bits). An operator hands it
 * to the user, who must replace it within `password.initialLifetimeMs`.
 */
export function generateInitialPassword(policy: PasswordPolicy, owner: PasswordOwner): string {
  for (;;) {
    const candidate = randomBytes(18).toString('base64url');
    // A random string contains a context word or a listed password with negligible probability; draw again if so.
    if (policy.check(candidate, owner) === null) return candidate;
  }
}

export interface PasswordReset {
  userId: string;
  username: string;
  /** The new initial password when it was generated (shown once, to the operator); absent when given. */
  generatedPassword?: string;
  /** When the initial password stops working unless the user changes it (epoch ms). */
  expiresAt: number;
  /** Sessions ended, programs' included. */
  endedSessions: number;
  /** OAuth grants revoked (personal clients' and apps'). */
  revokedGrants: number;
}

/**
 * An operator resets a user's password (ASVS 5.0 6.4.3, after the broker's support has proved the user's identity):
 * a new initial password (`password`, checked against the policy, or a generated one), every OAuth grant and
 * personal client of the user revoked, every session ended, audited and notified. Second factors are untouched.
 *
 * A reset answers a lost password or a suspected takeover: a bot's key registered, or an app authorized, by whoever
 * held the account must not keep making tokens afterwards, so the programs' access goes first (no new program
 * session can be made once it has), then the sessions. The user registers their bots and authorizes their apps again.
 */
export async function resetPassword(
  deps: PasswordResetDeps,
  username: string,
  options: { password?: string; via: 'cli' },
): Promise<PasswordReset> {
  const { db, clock, hasher, sessions, notifier, bus } = deps;
  const user = await findUserByUsername(db, username);
  if (user === undefined) throw new GatehouseError('USER_NOT_FOUND');
  const given = options.password;
  if (given !== undefined) assertPasswordAllowed(deps.policy, given, user);
  const password = given ?? generateInitialPassword(deps.policy, user);
  const hash = await hasher.hash(password);
  const expiresAt = clock.now() + deps.initialLifetimeMs;
  await db.transaction().execute(async (trx) => {
    if (!(await setPasswordHash(trx, clock, user.id, { hash, initialPasswordExpiresAt: expiresAt })))
      throw new GatehouseError('USER_NOT_FOUND');
    await appendAudit(trx, clock, {
      type: 'password.reset',
      userId: user.id,
      data: {
        via: options.via,
        generated: given === undefined,
        expiresAt: new Date(expiresAt).toISOString(),
      },
    });
  });
  await bus.publish('user.changed', { userId: user.id });
  const programs = await deps.oauth.revokeAllForUser(user.id, 'password_reset');
  const endedSessions =
    programs.sessions +
    (await revokeLiveSessions(
      { db, clock, bus, sessions },
      { userId: user.id },
      'revoked_by_operator',
      options.via,
    ));
  await notifier.notify(user.id, 'password_reset', {
    via: options.via,
    endedSessions,
    revokedGrants: programs.grants,
  });
  return {
    userId: user.id,
    username: user.username,
    ...(given === undefined ? { generatedPassword: password } : {}),
    expiresAt,
    endedSessions,
    revokedGrants: programs.grants,
  };
}
