/**
 * @module audit/chain
 * The hash chain: each row's hash covers its own fields and the previous row's hash, so editing any row breaks
 * its own hash and deleting one breaks the next row's link. The head row records the newest hash, so deleting
 * the newest rows is detected as well.
 */
import { sha256Hex } from '../core/index.js';
import type { AuditLogTable } from '../store/index.js';

export const GENESIS_HASH = '0'.repeat(64);

/** The hash of one audit row given its fields and the previous row's hash. */
export function rowHash(row: Omit<AuditLogTable, 'hash'>): string {
  const canonical = JSON.stringify([
    row.seq,
    row.at,
    row.type,
    row.user_id,
    row.session_id,
    row.ip,
    row.data,
    row.prev_hash,
  ]);
  return sha256Hex(canonical);
}

/** Keys that must never appear in audit data: the log records that a secret was used, never the secret. */
const FORBIDDEN_KEYS = new Set([
  'password',
  'code',
  'token',
  'secret',
  'totp',
  'otp',
  'cookie',
  'csrftoken',
  'loginid',
  'accesstoken',
  'refreshtoken',
  'recoverycode',
]);

/** Throws if audit data carries a key that names a secret (a programming error, caught by tests). */
export function assertNoSecrets(data: Readonly<Record<string, unknown>>, path = ''): void {
  for (const [key, value] of Object.entries(data)) {
    if (FORBIDDEN_KEYS.has(key.toLowerCase())) {
      throw new Error(`audit data must not contain secrets (key ${path}${key})`);
    }
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      assertNoSecrets(value as Record<string, unknown>, `${path}${key}.`);
    }
  }
}
