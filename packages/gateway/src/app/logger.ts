/**
 * @module app/logger
 * Structured logs with pino. Request logs carry the route pattern, never the raw URL (a login id sits in a path),
 * and never headers or bodies; the redaction list is a second guard for anything logged by hand.
 */
import pino, { type Logger } from 'pino';

export const REDACT_PATHS = [
  'password',
  '*.password',
  'code',
  '*.code',
  'token',
  '*.token',
  'secret',
  '*.secret',
  'csrfToken',
  '*.csrfToken',
  'loginId',
  '*.loginId',
  'req.headers.cookie',
  'req.headers.authorization',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'gatehouse' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}
