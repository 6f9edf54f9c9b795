/**
 * A rolling upgrade's assumption, held: every node of a deployment runs on one schema version. A release started on
 * a database that a newer release has migrated (a rollback, or an old node restarted mid-roll) refuses to start,
 * naming the migration it does not know, and changes nothing (docs/deployment.md, "Rolling upgrade").
 */
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { testDatabases } from '../test-support/databases.js';
import { openDatabase, type Store } from './database.js';
import { migrateToLatest } from './migrate.js';

describe.each(testDatabases())('schema version on %s', (_name, factory) => {
  let store: Store | undefined;
  let drop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await store?.close();
    await drop?.();
    store = undefined;
  });

  it('refuses to start a release on a database migrated by a newer one (injected: a migration row this release does not know)', async () => {
    const database = await factory();
    drop = database.drop;
    store = openDatabase(database.url, database.options);
    const applied = await migrateToLatest(store);
    expect(applied.length).toBeGreaterThan(0);
    await sql`insert into kysely_migration (name, timestamp) values (${'9999-from-a-newer-release'}, ${new Date().toISOString()})`.execute(
      store.db,
    );
    await expect(migrateToLatest(store)).rejects.toThrow(
      /previously executed migration 9999-from-a-newer-release is missing/,
    );
    // Nothing was undone: the newer release's record is still there, and so is every migration of this one.
    const names = (await sql<{ name: string }>`select name from kysely_migration`.execute(store.db)).rows.map(
      (r) => r.name,
    );
    expect(names).toContain('9999-from-a-newer-release');
    expect(names).toEqual(expect.arrayContaining(applied));
  });
});
