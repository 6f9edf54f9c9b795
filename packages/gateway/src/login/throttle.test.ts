/**
 * The failure buckets on both engines: the SQL form of the backoff equals `backoffDelayMs` for every count, a claim
 * is refused while the bucket waits, a right secret gives its claim back without a trace on the wait, and a hold
 * ends once the failures are forgotten.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatest, openDatabase, type Store } from '../store/index.js';
import { testDatabases } from '../test-support/databases.js';
import {
  type BackoffPolicy,
  backoffDelayMs,
  backoffDelaySql,
  claimAttempt,
  releaseAttempt,
  throttleWaitMs,
} from './throttle.js';

const POLICY: BackoffPolicy = {
  freeFailures: 5,
  baseDelayMs: 1_000,
  maxDelayMs: 900_000,
  failureResetMs: 43_200_000,
  maxFailures: 100,
};

describe('backoffDelayMs', () => {
  it('waits nothing, then doubles from the base up to the maximum, and holds at maxFailures', () => {
    expect([4, 5, 6, 7, 14, 15, 99].map((n) => backoffDelayMs(n, POLICY))).toEqual([
      0, 1_000, 2_000, 4_000, 512_000, 900_000, 900_000,
    ]);
    expect(backoffDelayMs(100, POLICY)).toBe(POLICY.failureResetMs);
  });
});

describe.each(testDatabases())('failure buckets on %s', (_name, factory) => {
  let store: Store;
  let drop: () => Promise<void>;
  let counter = 0;
  const bucket = (policy = POLICY) => ({ subject: `test ${++counter}`, policy });

  beforeAll(async () => {
    const database = await factory();
    drop = database.drop;
    store = openDatabase(database.url, database.options);
    await migrateToLatest(store);
  });
  afterAll(async () => {
    await store.close();
    await drop();
  });

  it('computes in SQL the same wait as backoffDelayMs for every count', async () => {
    const policies: BackoffPolicy[] = [
      POLICY,
      { ...POLICY, freeFailures: 1, baseDelayMs: 100, maxDelayMs: 1_000, maxFailures: 10 },
      { ...POLICY, freeFailures: 20, maxFailures: 30 },
      { ...POLICY, freeFailures: 8, maxFailures: 3 },
      { ...POLICY, baseDelayMs: 1_000, maxDelayMs: 1e15 },
    ];
    const counts = Array.from({ length: 121 }, (_, i) => i);
    for (const policy of policies) {
      const rows = await sql<{
        n: number;
        wait: number;
      }>`select n, ${backoffDelaySql(sql`n`, policy)} as wait from (${sql.join(
        counts.map((n) => sql`select ${sql.lit(n)} as n`),
        sql` union all `,
      )}) as counts order by n`.execute(store.db);
      expect(rows.rows.map((r) => Number(r.wait))).toEqual(counts.map((n) => backoffDelayMs(n, policy)));
    }
  });

  it('refuses a claim while the bucket waits and counts nothing for it', async () => {
    const b = bucket();
    const now = 1_000_000;
    for (let i = 1; i <= 5; i += 1) {
      expect(await claimAttempt(store.db, [b], now)).toMatchObject({ ok: true, claims: [{ failures: i }] });
    }
    expect(await claimAttempt(store.db, [b], now + 999)).toEqual({ ok: false, waitMs: 1 });
    expect(await claimAttempt(store.db, [b], now + 1_000)).toMatchObject({
      ok: true,
      claims: [{ failures: 6 }],
    });
    expect(await throttleWaitMs(store.db, [b], now + 1_000)).toBe(2_000);
  });

  it('takes several buckets all or none', async () => {
    const own = bucket();
    const shared = bucket({ ...POLICY, freeFailures: 1 });
    expect(await claimAttempt(store.db, [own, shared], 0)).toMatchObject({ ok: true });
    // The shared bucket now waits: the own bucket's claim is rolled back with it.
    expect(await claimAttempt(store.db, [own, shared], 1)).toEqual({ ok: false, waitMs: 999 });
    const rows = await store.db
      .selectFrom('login_throttle')
      .select(['subject', 'failures'])
      .where('subject', 'in', [own.subject, shared.subject])
      .orderBy('subject')
      .execute();
    expect(rows.map((r) => r.failures)).toEqual([1, 1]);
  });

  it('gives back a right secret’s claim: the count drops and the wait it started is lifted', async () => {
    const b = bucket();
    for (let i = 0; i < 4; i += 1) await claimAttempt(store.db, [b], 0);
    const right = await claimAttempt(store.db, [b], 10);
    expect(right).toMatchObject({ ok: true, claims: [{ failures: 5 }] });
    expect(await throttleWaitMs(store.db, [b], 10)).toBe(1_000);
    if (right.ok) await releaseAttempt(store.db, right.claims);
    expect(await throttleWaitMs(store.db, [b], 10)).toBe(0);
    // The next wrong guess is the fifth failure, as if the right secret had never been tried.
    expect(await claimAttempt(store.db, [b], 11)).toMatchObject({ ok: true, claims: [{ failures: 5 }] });
    expect(await throttleWaitMs(store.db, [b], 11)).toBe(1_000);
  });

  it('gives back a claim past the free failures without lifting a later claim’s wait', async () => {
    const b = bucket();
    for (let i = 0; i < 5; i += 1) await claimAttempt(store.db, [b], 0);
    const right = await claimAttempt(store.db, [b], 1_000); // 6th: waits 2 s from 1 000
    if (!right.ok) throw new Error('refused');
    await releaseAttempt(store.db, right.claims);
    // Back to five failures, not waiting (the fifth's wait had ended at 1 000).
    expect(await throttleWaitMs(store.db, [b], 1_000)).toBe(0);
    const later = await claimAttempt(store.db, [b], 1_000);
    expect(later).toMatchObject({ ok: true, claims: [{ failures: 6 }] });
    expect(await throttleWaitMs(store.db, [b], 1_000)).toBe(2_000);
  });

  it('holds at maxFailures until the failures are forgotten, counting nothing meanwhile', async () => {
    const b = bucket({ ...POLICY, maxFailures: 3 });
    for (let i = 0; i < 3; i += 1) await claimAttempt(store.db, [b], 0);
    expect(await claimAttempt(store.db, [b], POLICY.failureResetMs - 1)).toEqual({ ok: false, waitMs: 1 });
    expect(await claimAttempt(store.db, [b], POLICY.failureResetMs)).toMatchObject({
      ok: true,
      claims: [{ failures: 1 }],
    });
  });
});
