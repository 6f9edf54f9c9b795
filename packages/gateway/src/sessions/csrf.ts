/**
 * @module sessions/csrf
 * CSRF tokens for cookie sessions: HMAC-SHA256 of the session id under a key derived from the server secret.
 * Stateless (any node can check it), bound to one session, and never stored. Every unsafe method on a cookie
 * session must echo it in `x-csrf-token`; SameSite=Lax cookies are the second line of defence.
 */
import { constantTimeEqual, currentKey, hmacSha256, type KeySource, verifyingKeys } from '../core/index.js';

export const CSRF_HEADER = 'x-csrf-token';

/** The session's token under the ring's current key (a lone key: that key). */
export function csrfTokenFor(key: KeySource, sessionId: string): string {
  return hmacSha256(currentKey(key), `csrf:${sessionId}`);
}

/** Checks a presented token against every key the ring holds now (a token made before a rotation, in its grace). */
export function isValidCsrfToken(keys: KeySource, sessionId: string, presented: string | undefined): boolean {
  if (presented === undefined || presented.length === 0) return false;
  let valid = false;
  // Every key is tried (no early exit), so the time taken does not tell which one matched.
  for (const key of verifyingKeys(keys))
    valid = constantTimeEqual(presented, csrfTokenFor(key, sessionId)) || valid;
  return valid;
}
