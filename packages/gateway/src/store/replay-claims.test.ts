/** The database's replay guard (used while Redis is down): one claim per key until it expires, on every node. */
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.js';
import { testDatabases } from '../test-support/databases.js';
import { type OpenDatabaseOptions, openDatabase, type Store } from './database.js';
import { migrateToLatest } from './migrate.js';
import { DatabaseReplayGuard } from './replay-claims.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function open(url: string, options: OpenDatabaseOptions): Promise<Store> {
  const store = openDatabase(url, options);
  cleanups.push(() => store.close());
  await migrateToLatest(store);
  return store;
}

describe.each(testDatabases())('DatabaseReplayGuard on %s', (_name, makeDatabase) => {
  it('claims a key once until it expires, across two nodes’ guards, and sweeps expired rows', async () => {
    const database = await makeDatabase();
    cleanups.push(() => database.drop());
    const store = await open(database.url, database.options);
    const clock = new ManualClock();
    const a = new DatabaseReplayGuard(store.db, clock);
    // A second node: its own connection where the database allows one (an in-memory SQLite is one connection).
    const other = database.dialect === 'postgres' ? await open(database.url, database.options) : store;
    const b = new DatabaseReplayGuard(other.db, clock);

    expect(await a.hasLiveClaims()).toBe(false);
    expect(await a.claim('proof', 'dev:jti', 70_000)).toBe(true);
    expect(await b.hasLiveClaims()).toBe(true);
    expect(await b.claim('proof', 'dev:jti', 70_000)).toBe(false);
    expect(await a.claim('proof', 'dev:jti', 70_000)).toBe(false);
    expect(await b.claim('dpop', 'dev:jti', 70_000)).toBe(true);
    // Claimed at once by both: one wins.
    const raced = await Promise.all([a.claim('n', 'race', 1_000), b.claim('n', 'race', 1_000)]);
    expect(raced.filter(Boolean)).toHaveLength(1);

    clock.advance(70_000);
    expect(await b.claim('proof', 'dev:jti', 70_000)).toBe(true);
    expect(await a.claim('proof', 'dev:jti', 70_000)).toBe(false);
    // The claim after a minute swept the expired rows ("race", "dpop:dev:jti") before taking its own.
    const rows = await store.db.selectFrom('replay_claims').select('key').execute();
    expect(rows.map((r) => r.key)).toEqual(['proof:dev:jti']);
    clock.advance(70_001);
    await a.claim('proof', 'other', 1_000);
    const left = await store.db.selectFrom('replay_claims').select('key').execute();
    expect(left.map((r) => r.key)).toEqual(['proof:other']);
    clock.advance(1_000);
    expect(await b.hasLiveClaims()).toBe(false);
  });
});
