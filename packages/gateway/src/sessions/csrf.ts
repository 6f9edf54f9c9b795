/**
 * @module sessions/csrf
 * CSRF tokens for cookie sessions: HMAC-SHA256 of the session id under a key derived from the server secret.
 * Stateless (any node can check it), bound to one session, and never stored. Every unsafe method on a cookie
 * session must echo it in `x-csrf-token`; SameSite=Lax cookies are the second line of defence.
 */
import { constantTimeEqual, hmacSha256 } from '../core/index.js';

export const CSRF_HEADER = 'x-csrf-token';

export function csrfTokenFor(key: Buffer, sessionId: string): string {
  return hmacSha256(key, `csrf:${sessionId}`);
}

export function isValidCsrfToken(key: Buffer, sessionId: string, presented: string | undefined): boolean {
  if (presented === undefined || presented.length === 0) return false;
  return constantTimeEqual(presented, csrfTokenFor(key, sessionId));
}
