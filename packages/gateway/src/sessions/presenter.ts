/**
 * @module sessions/presenter
 * The wire form of a session. Times are ISO 8601 UTC strings; nothing secret (token, token hash) is included.
 */
import type { ProfileView, SessionView } from '@gatehouse/protocol';
import type { Principal, SessionProfile } from './service.js';
import type { SessionRecord } from './store.js';

const iso = (ms: number) => new Date(ms).toISOString();

export function presentSession(session: SessionRecord, currentSessionId: string | null): SessionView {
  return {
    id: session.id,
    channel: session.channel,
    aal: session.aal,
    amr: session.amr,
    createdAt: iso(session.createdAt),
    lastSeenAt: iso(session.lastSeenAt),
    idleExpiresAt: iso(Math.min(session.lastSeenAt + session.idleTimeoutMs, session.expiresAt)),
    expiresAt: iso(session.expiresAt),
    ip: session.ip,
    userAgent: session.userAgent,
    current: session.id === currentSessionId,
  };
}

export type { ProfileView, SessionView };

/**
 * The user and the accounts they may use, each with the legal entity that carries it, and whether the user must
 * choose a password of their own (their password is an operator's initial one: ASVS 5.0 6.4.1).
 */
export function presentProfile(profile: SessionProfile): ProfileView {
  const expiry = profile.initialPasswordExpiresAt;
  return {
    user: { id: profile.user.id, username: profile.user.username, displayName: profile.user.displayName },
    passwordChangeRequired: expiry !== null,
    passwordExpiresAt: expiry === null ? null : iso(expiry),
    accounts: profile.accounts.map((a) => ({
      id: a.id,
      title: a.title,
      paper: a.paper,
      type: a.type,
      baseCurrency: a.baseCurrency,
      clientCategory: a.clientCategory,
      frozen: a.frozen,
      closingOnly: a.closingOnly,
      role: a.role,
      entity: {
        code: a.entity.code,
        legalName: a.entity.legalName,
        regulator: a.entity.regulator,
      },
    })),
  };
}

/** A value derived from the principal, computed once per cached session (see `Principal.memo`). */
export function memoized(principal: Principal, key: string, compute: () => string): string {
  let value = principal.memo.get(key);
  if (value === undefined) {
    value = compute();
    principal.memo.set(key, value);
  }
  return value;
}

/** JSON with every non-ASCII character escaped: one-byte strings take Node's fastest write path. */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/**
 * The body of `GET /v1/session`: `{user, accounts, session, csrfToken}`. It is the hottest response in the gateway,
 * so everything but the two moving times (last seen, idle deadline) is serialised once per cached session. The
 * result parses to exactly `{...presentProfile, session: presentSession, csrfToken}` (a test holds it to that),
 * plus `sandbox: true` on a gateway whose failure sandbox is on (absent otherwise: a production body is unchanged).
 */
export function whoamiBody(principal: Principal, csrfToken: string, sandbox = false): string {
  const { session } = principal;
  const head = memoized(principal, 'whoami.head', () => {
    const { lastSeenAt: _seen, idleExpiresAt: _idle, ...fixed } = presentSession(session, session.id);
    return `${asciiJson(presentProfile(principal.profile)).slice(0, -1)},"session":${asciiJson(fixed).slice(0, -1)}`;
  });
  const idleExpiresAt = Math.min(session.lastSeenAt + session.idleTimeoutMs, session.expiresAt);
  return `${head},"lastSeenAt":"${iso(session.lastSeenAt)}","idleExpiresAt":"${iso(idleExpiresAt)}"},"csrfToken":${JSON.stringify(csrfToken)}${sandbox ? ',"sandbox":true' : ''}}`;
}
