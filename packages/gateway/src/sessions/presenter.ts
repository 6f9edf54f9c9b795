/**
 * @module sessions/presenter
 * The wire form of a session. Times are ISO 8601 UTC strings; nothing secret (token, token hash) is included.
 */
import type { SessionRecord } from './store.js';

export interface SessionView {
  id: string;
  channel: string;
  aal: number;
  amr: string[];
  createdAt: string;
  lastSeenAt: string;
  idleExpiresAt: string;
  expiresAt: string;
  ip: string;
  userAgent: string;
  current: boolean;
}

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
