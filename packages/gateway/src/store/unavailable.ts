/**
 * @module store/unavailable
 * Tells a database that cannot be reached from one that answered: a PostgreSQL server restarting, killed or not yet
 * accepting connections, a connection it ended, a pool with no connection free within `database.acquireTimeoutMs`.
 * Such an error is the database's absence, not the request's fault nor a bug: the client is answered
 * `SERVICE_UNAVAILABLE` (503) with `Retry-After`, and the pool reconnects by itself once the server is back.
 *
 * The codes are PostgreSQL's (Appendix A, "PostgreSQL Error Codes"): class 08 (connection exception), 57P01
 * `admin_shutdown` (a fast shutdown or restart ends every session), 57P02 `crash_shutdown` (another backend
 * crashed, or the postmaster was killed), 57P03 `cannot_connect_now` (starting up or shutting down), 53300
 * `too_many_connections`. The messages are node-postgres' own (`pg/lib/client.js`, `pg-pool/index.js`): it raises
 * plain `Error`s without a code for a socket that closed or a pool that timed out.
 */
import { GatehouseError } from '../core/index.js';

const PG_CODES = new Set(['57P01', '57P02', '57P03', '53300']);
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);
const PG_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable',
  'Connection ended unexpectedly',
];

/** How long a client is told to wait (`Retry-After`) before trying again: a fast restart takes about a second. */
export const DATABASE_RETRY_AFTER_MS = 1_000;

/** Whether `error` says the database could not be reached (no answer from it), rather than that it refused. */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as { code?: unknown; message?: unknown; errors?: unknown };
  if (
    typeof e.code === 'string' &&
    (e.code.startsWith('08') || PG_CODES.has(e.code) || SOCKET_CODES.has(e.code))
  )
    return true;
  // Node's AggregateError when every address of a host refused (127.0.0.1 and ::1 for localhost).
  if (Array.isArray(e.errors) && e.errors.length > 0 && e.errors.every(isDatabaseUnavailable)) return true;
  return typeof e.message === 'string' && PG_MESSAGES.some((m) => (e.message as string).startsWith(m));
}

/** The coded answer for a database that cannot be reached: 503 `SERVICE_UNAVAILABLE` with `Retry-After`. */
export function databaseUnavailable(): GatehouseError {
  return new GatehouseError(
    'SERVICE_UNAVAILABLE',
    'The database cannot be reached right now; retry shortly.',
    { retryAfterMs: DATABASE_RETRY_AFTER_MS },
  );
}
