/**
 * @module sandbox/session-actions
 * The sessions family's actions (expiry, token expiry and revocation, a competing login, a network change, a
 * revoked device, the daily reset), done through the session service, the brokerage tier and the token service, so
 * that what follows is what follows the real event:
 * - an expiry ends the session in its row as time would (`SESSION_EXPIRED` on the next request, every node's cache
 *   dropped on the bus, the session-loss policy's sweep finding it `idle` or `expired`);
 * - a token expired early or revoked is changed in the token service's own records (`INVALID_TOKEN` next; a refresh,
 *   or a personal client's new client-credentials request, works; a revoked token's instance streams close);
 * - a competing login is a real session on another channel, bound to a device the registry knows, that takes the
 *   brokerage tier with compete: the holder turns `competing` at once (`session.competing`), the takeover counted;
 * - a network change goes through the session service's own network check (step-up, `session.network_changed`);
 * - a device is revoked as its owner's revocation does it, ending the sessions bound to it;
 * - the daily reset ends the brokerage tier of the target's sessions as the reset instant does (`SESSION_RESET`).
 *
 * A fault's target names whose sessions: a session, a user's live ones, an API client's program sessions (one per
 * instance), the sessions of the users who may trade an account, or everyone's.
 */
import { FAULT_CATALOGUE, type FaultParams } from '@gatehouse/protocol';
import type { Kysely } from 'kysely';
import { appendAudit } from '../audit/index.js';
import type { Clock } from '../core/index.js';
import type { UserAccount } from '../identity/index.js';
import type { OAuthService } from '../oauth/index.js';
import {
  type BrokerageTier,
  type Channel,
  type SessionRecord,
  type SessionService,
  withinIdle,
} from '../sessions/index.js';
import type { Database } from '../store/index.js';
import type { ActionHandlers } from './actions.js';
import { targetOwners } from './targets.js';
import type { InjectedFault } from './types.js';

export interface SessionActionParts {
  /** Read only: whose sessions a target names. */
  db: Kysely<Database>;
  clock: Clock;
  sessions: SessionService;
  brokerage: BrokerageTier;
  oauth: OAuthService;
  /** The user's accounts (the daily reset of their region). */
  accountsOf(userId: string): Promise<readonly UserAccount[]>;
  /** A device of the user's that the registry knows, of this kind and name (registered if there is none). */
  sandboxDevice(userId: string, kind: 'browser' | 'mobile' | 'desktop', name: string): Promise<string>;
  /**
   * Revokes one of the user's devices as the user's own revocation does (the registry, the last-factor rule, the
   * sessions bound to it, audit, notice); resolves to the sessions it ended, undefined when it is not theirs.
   */
  revokeDevice(userId: string, deviceId: string, faultId: string): Promise<number | undefined>;
  /** Counts a login (the logins metric). */
  onLogin?(channel: Channel): void;
}

type SessionActionKind =
  | 'session.idle_expiry'
  | 'session.absolute_expiry'
  | 'token.expired_early'
  | 'token.revoked'
  | 'login.competing'
  | 'network.changed'
  | 'device.revoked'
  | 'reset.daily';

/** The address a scripted competing login comes from: TEST-NET-3 (RFC 5737), never a real client's. */
const COMPETING_LOGIN_IP = '203.0.113.10';

const LOGIN_SHAPE: Record<'web' | 'mobile' | 'desktop', { aal: number; amr: string[]; factor: string }> = {
  web: { aal: 2, amr: ['pwd', 'otp'], factor: 'totp' },
  mobile: { aal: 2, amr: ['swk', 'pin'], factor: 'device_pin' },
  desktop: { aal: 3, amr: ['pwd', 'hwk', 'swk'], factor: 'webauthn' },
};

function params<K extends SessionActionKind>(fault: InjectedFault, kind: K): FaultParams<K> {
  return FAULT_CATALOGUE[kind].params.parse(fault.params) as FaultParams<K>;
}

export function sessionActions(parts: SessionActionParts): Pick<ActionHandlers, SessionActionKind> {
  const { db, clock, sessions, brokerage, oauth } = parts;

  const live = (s: SessionRecord | undefined, now: number): s is SessionRecord =>
    s !== undefined &&
    s.revokedAt === null &&
    now < s.expiresAt &&
    withinIdle(Math.max(s.lastSeenAt, sessions.pendingLastSeen(s.id) ?? 0), s.idleTimeoutMs, now);

  const liveOf = async (ids: readonly string[]): Promise<SessionRecord[]> => {
    const now = clock.now();
    const found = await Promise.all(ids.map((id) => sessions.findById(id)));
    return found.filter((s) => live(s, now));
  };

  /** The live sessions a fault's target names. */
  const targetSessions = async (fault: InjectedFault): Promise<SessionRecord[]> => {
    const { target } = fault;
    const id = target.id ?? '';
    switch (target.type) {
      case 'session':
        return liveOf([id]);
      case 'user':
        return sessions.listForUser(id);
      case 'client':
        return liveOf(await oauth.clientSessionIds(id));
      case 'account': {
        const owners = await targetOwners(db, target);
        if (owners === undefined || owners === 'everyone') return [];
        return (await Promise.all([...owners].map((u) => sessions.listForUser(u)))).flat();
      }
      case 'all': {
        const rows = await db
          .selectFrom('sessions')
          .select('id')
          .where('revoked_at', 'is', null)
          .where('expires_at', '>', clock.now())
          .execute();
        return liveOf(rows.map((r) => r.id));
      }
      case 'instrument':
        return [];
    }
  };

  /** The users a fault's target names: a user, or the owners of the target's sessions. */
  const targetUsers = async (fault: InjectedFault): Promise<string[]> => {
    if (fault.target.type === 'user') return [fault.target.id ?? ''];
    return [...new Set((await targetSessions(fault)).map((s) => s.userId))];
  };

  const expire = (kind: 'idle' | 'absolute') => async (fault: InjectedFault) => {
    let ended = 0;
    for (const session of await targetSessions(fault))
      if (await sessions.expireNow(session.id, kind)) ended += 1;
    return ended;
  };

  const ids = async (fault: InjectedFault) => (await targetSessions(fault)).map((s) => s.id);

  return {
    'session.idle_expiry': expire('idle'),
    'session.absolute_expiry': expire('absolute'),
    'token.expired_early': async (fault) => oauth.expireSessionTokens(await ids(fault)),
    'token.revoked': async (fault) => oauth.revokeSessionTokens(await ids(fault)),

    'login.competing': async (fault) => {
      const { channel, device } = params(fault, 'login.competing');
      const shape = LOGIN_SHAPE[channel];
      let logins = 0;
      for (const userId of await targetUsers(fault)) {
        const profile = await sessions.loadProfile(userId);
        if (profile === undefined || profile.user.status !== 'active') continue;
        const deviceId = await parts.sandboxDevice(userId, channel === 'web' ? 'browser' : channel, device);
        const now = clock.now();
        const { session } = await sessions.create({
          userId,
          channel,
          aal: shape.aal,
          amr: shape.amr,
          ip: COMPETING_LOGIN_IP,
          userAgent: device,
          secondFactorAt: now,
          lastFactor: shape.factor,
          deviceId,
        });
        await appendAudit(db, clock, {
          type: 'login.succeeded',
          userId,
          sessionId: session.id,
          ip: COMPETING_LOGIN_IP,
          data: { channel, aal: shape.aal, device, sandboxFault: fault.id },
        });
        parts.onLogin?.(channel);
        // The login takes trading over, as a person pressing "trade here" does: the holder turns competing.
        await brokerage.acquire({ session, profile, memo: new Map() }, true);
        logins += 1;
      }
      return logins;
    },

    'network.changed': async (fault) => {
      const { address } = params(fault, 'network.changed');
      let changed = 0;
      for (const session of await targetSessions(fault))
        if (await sessions.observeAddress(session.id, address)) changed += 1;
      return changed;
    },

    'device.revoked': async (fault) => {
      const { deviceId } = params(fault, 'device.revoked');
      // The named device, as any of the target's users' (one that is none of theirs is left alone: a fault never
      // reaches past its target), or the devices the target's sessions are bound to.
      const candidates: [string, string][] =
        deviceId !== undefined
          ? (await targetUsers(fault)).map((userId) => [deviceId, userId])
          : (await targetSessions(fault)).flatMap((s) =>
              s.deviceId === null ? [] : [[s.deviceId, s.userId] as [string, string]],
            );
      const revoked = new Set<string>();
      for (const [id, userId] of candidates) {
        if (revoked.has(id)) continue;
        if ((await parts.revokeDevice(userId, id, fault.id)) !== undefined) revoked.add(id);
      }
      return revoked.size;
    },

    'reset.daily': async (fault) => brokerage.resetNow(await ids(fault), parts.accountsOf),
  };
}
