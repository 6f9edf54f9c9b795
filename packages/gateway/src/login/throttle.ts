/**
 * @module login/throttle
 * Per-user exponential backoff (ASVS 2.2.1, NIST 800-63B §3.2.2: at most 100 consecutive failures). After
 * `freeFailures` failures each further one doubles the wait, up to `maxDelayMs`: a soft delay, never a permanent
 * lock-out that a stranger could use to keep the owner out (Keycloak's brute-force docs warn of exactly that).
 * Keyed by the normalised username whether or not the user exists, so unknown names behave like real ones.
 * Counters live in the database so every node sees the same count.
 */
import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import type { Database } from '../store/index.js';

export interface BackoffPolicy {
  freeFailures: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Failures are forgotten after this long without a new one. */
  failureResetMs: number;
}

/** The wait imposed after the `failures`-th consecutive failure. */
export function backoffDelayMs(failures: number, policy: BackoffPolicy): number {
  if (failures < policy.freeFailures) return 0;
  const exponent = Math.min(failures - policy.freeFailures, 30);
  return Math.min(policy.baseDelayMs * 2 ** exponent, policy.maxDelayMs);
}

/** Milliseconds the subject must still wait, or 0. */
export async function throttleWaitMs(db: Kysely<Database>, subject: string, now: number): Promise<number> {
  const row = await db
    .selectFrom('login_throttle')
    .select('blocked_until')
    .where('subject', '=', subject)
    .executeTakeFirst();
  return row === undefined ? 0 : Math.max(0, row.blocked_until - now);
}

/** Counts one failure atomically and returns the resulting failure count and wait. */
export async function recordFailure(
  db: Kysely<Database>,
  subject: string,
  now: number,
  policy: BackoffPolicy,
): Promise<{ failures: number; waitMs: number }> {
  const stale = now - policy.failureResetMs;
  const row = await db
    .insertInto('login_throttle')
    .values({ subject, failures: 1, last_failure_at: now, blocked_until: 0 })
    .onConflict((oc) =>
      oc.column('subject').doUpdateSet({
        failures: sql<number>`case when login_throttle.last_failure_at < ${stale} then 1 else login_throttle.failures + 1 end`,
        last_failure_at: now,
      }),
    )
    .returning('failures')
    .executeTakeFirstOrThrow();
  const waitMs = backoffDelayMs(row.failures, policy);
  if (waitMs > 0) {
    await db
      .updateTable('login_throttle')
      .set({ blocked_until: now + waitMs })
      .where('subject', '=', subject)
      .where('blocked_until', '<', now + waitMs)
      .execute();
  }
  return { failures: row.failures, waitMs };
}

export async function clearFailures(db: Kysely<Database>, subject: string): Promise<void> {
  await db.deleteFrom('login_throttle').where('subject', '=', subject).execute();
}
