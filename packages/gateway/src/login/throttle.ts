/**
 * @module login/throttle
 * Failure buckets with exponential backoff (ASVS 2.2.1; NIST 800-63B §3.2.2: at most 100 consecutive failures).
 * A bucket counts consecutive failures under one key; after `freeFailures` each further failure doubles the wait,
 * up to `maxDelayMs`, and at `maxFailures` the bucket refuses every attempt until its count is forgotten
 * (`failureResetMs` after the last failure). Which buckets an attempt draws on is decided in `login/limits`.
 *
 * An attempt is counted *before* its secret is verified: `claimAttempt` is one conditional upsert per bucket
 * ("count this failure unless the bucket is waiting"), so however many requests arrive at once, each bucket lets
 * exactly as many through as its policy allows, on SQLite and PostgreSQL alike. Reading the count first and
 * recording the failure after a slow check (argon2id runs off the event loop; PostgreSQL runs transactions side by
 * side) let a burst through whole. A right secret gives its claim back (`releaseAttempt`); a completed login
 * clears the buckets it drew on (`clearBuckets`). Counters live in the database so every node sees the same count.
 */
import type { Kysely, RawBuilder } from 'kysely';
import { sql } from 'kysely';
import type { Database } from '../store/index.js';

export interface BackoffPolicy {
  /** Failures that cost no wait; each further one doubles it. */
  freeFailures: number;
  /** The wait after the `freeFailures`-th failure, in ms. */
  baseDelayMs: number;
  /** The longest backoff wait, in ms. */
  maxDelayMs: number;
  /** Failures are forgotten this long (ms) after the last one. */
  failureResetMs: number;
  /** At this many consecutive failures the bucket holds every attempt until its failures are forgotten. */
  maxFailures: number;
}

/** A counter of consecutive failures under one key (see `login/limits` for the keys). */
export interface Bucket {
  subject: string;
  policy: BackoffPolicy;
}

/** The wait imposed after the `failures`-th consecutive failure, in ms. */
export function backoffDelayMs(failures: number, policy: BackoffPolicy): number {
  if (failures >= policy.maxFailures) return policy.failureResetMs;
  if (failures < policy.freeFailures) return 0;
  const exponent = Math.min(failures - policy.freeFailures, 30);
  return Math.min(policy.baseDelayMs * 2 ** exponent, policy.maxDelayMs);
}

/**
 * `backoffDelayMs(count)` as one SQL CASE over `count`, generated from the policy (no `pow()`, which SQLite may
 * lack). The waits rise to a plateau, so the CASE lists the counts up to it and leaves the plateau to ELSE.
 */
export function backoffDelaySql(count: RawBuilder<number>, policy: BackoffPolicy): RawBuilder<number> {
  const lit = (n: number) => sql.lit(n);
  const whens: RawBuilder<unknown>[] = [
    sql`when ${count} >= ${lit(policy.maxFailures)} then ${lit(policy.failureResetMs)}`,
    sql`when ${count} < ${lit(policy.freeFailures)} then 0`,
  ];
  let n = policy.freeFailures;
  while (n + 1 < policy.maxFailures && backoffDelayMs(n + 1, policy) !== backoffDelayMs(n, policy)) {
    whens.push(sql`when ${count} = ${lit(n)} then ${lit(backoffDelayMs(n, policy))}`);
    n += 1;
  }
  return sql<number>`(case ${sql.join(whens, sql` `)} else ${lit(backoffDelayMs(n, policy))} end)`;
}

/** One bucket's share of a granted attempt: the failure count including this attempt. */
export interface BucketClaim {
  subject: string;
  failures: number;
  policy: BackoffPolicy;
  at: number;
}

export type AttemptClaim = { ok: true; claims: BucketClaim[] } | { ok: false; waitMs: number };

/** Rolls the claims of a refused attempt back. */
class Waiting extends Error {}

/**
 * Counts this attempt as a failure in each bucket before its secret is checked, or refuses it (with the longest
 * remaining wait) if any bucket is waiting; then nothing is counted. Each bucket's claim is one conditional upsert;
 * the buckets are claimed in one transaction in the order given, so they are taken all or none.
 */
export async function claimAttempt(
  db: Kysely<Database>,
  buckets: Bucket[],
  now: number,
): Promise<AttemptClaim> {
  try {
    const claims = await db.transaction().execute(async (trx) => {
      const out: BucketClaim[] = [];
      for (const bucket of buckets) {
        const failures = await claimBucket(trx, bucket, now);
        if (failures === undefined) throw new Waiting();
        out.push({ subject: bucket.subject, failures, policy: bucket.policy, at: now });
      }
      return out;
    });
    return { ok: true, claims };
  } catch (error) {
    if (!(error instanceof Waiting)) throw error;
    return { ok: false, waitMs: Math.max(1, await throttleWaitMs(db, buckets, now)) };
  }
}

async function claimBucket(db: Kysely<Database>, bucket: Bucket, now: number): Promise<number | undefined> {
  const { subject, policy } = bucket;
  const stale = now - policy.failureResetMs;
  const forgotten = sql<boolean>`login_throttle.last_failure_at <= ${stale}`;
  const firstUntil = now + backoffDelayMs(1, policy);
  const nextWait = backoffDelaySql(sql`(login_throttle.failures + 1)`, policy);
  const row = await db
    .insertInto('login_throttle')
    .values({ subject, failures: 1, last_failure_at: now, blocked_until: firstUntil })
    .onConflict((oc) =>
      oc
        .column('subject')
        .doUpdateSet({
          failures: sql<number>`case when ${forgotten} then 1 else login_throttle.failures + 1 end`,
          last_failure_at: now,
          // bigint: PostgreSQL would otherwise take the parameter for an integer and overflow.
          blocked_until: sql<number>`case when ${forgotten} then ${firstUntil} else cast(${now} as bigint) + ${nextWait} end`,
        })
        // Waiting: no row comes back, and nothing is counted.
        .where('login_throttle.blocked_until', '<=', now),
    )
    .returning('failures')
    .executeTakeFirst();
  return row?.failures;
}

/**
 * Gives back the claims of an attempt whose secret was right: as if it had not been made. The count drops by one;
 * the wait the claim started (if any) is lifted when no later claim came after it, and always when the count falls
 * below the free failures. (Its time stays as the bucket's last failure, so earlier failures are remembered up to
 * `failureResetMs` longer: the only trace it leaves.)
 */
export async function releaseAttempt(db: Kysely<Database>, claims: BucketClaim[]): Promise<void> {
  for (const claim of claims) {
    const free = sql.lit(Math.min(claim.policy.freeFailures, claim.policy.maxFailures));
    const unchangedSince = sql`failures = ${claim.failures} and last_failure_at = ${claim.at}`;
    await db
      .updateTable('login_throttle')
      .set({
        failures: sql<number>`failures - 1`,
        blocked_until: sql<number>`case when failures - 1 < ${free} then 0 when ${unchangedSince} then ${claim.at} else blocked_until end`,
      })
      .where('subject', '=', claim.subject)
      .where('failures', '>', 0)
      .execute();
  }
}

/** Milliseconds the longest-waiting of the buckets must still wait, or 0. Read only: a quick refusal. */
export async function throttleWaitMs(db: Kysely<Database>, buckets: Bucket[], now: number): Promise<number> {
  if (buckets.length === 0) return 0;
  const rows = await db
    .selectFrom('login_throttle')
    .select('blocked_until')
    .where(
      'subject',
      'in',
      buckets.map((b) => b.subject),
    )
    .execute();
  return Math.max(0, ...rows.map((r) => r.blocked_until - now));
}

/** Forgets the failures of the buckets (a completed login or step-up). */
export async function clearBuckets(db: Kysely<Database>, buckets: Bucket[]): Promise<void> {
  if (buckets.length === 0) return;
  await db
    .deleteFrom('login_throttle')
    .where(
      'subject',
      'in',
      buckets.map((b) => b.subject),
    )
    .execute();
}
