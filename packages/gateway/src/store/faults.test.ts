/**
 * Storage faults at the store (issue 23): which driver errors are faults, what the write probe finds, and what a
 * fault leaves in the database — on a real SQLite file, on every SQLite driver this runtime has. Injected with
 * `PRAGMA max_page_count` (the file may not grow: `SQLITE_FULL`) and `PRAGMA query_only` (`SQLITE_READONLY`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fillDisk, freeDisk, makeReadOnly, makeWritable } from '../test-support/storage-faults.js';
import { openDatabase, type Store } from './database.js';
import { probeSqliteWrites, storageError, storageFault } from './faults.js';
import { Journal, type JournalTx } from './journal.js';
import { nodeSqlite, type SqliteDriver } from './sqlite.js';

describe('storageFault', () => {
  it('classifies SQLite errors by name (better-sqlite3) and by number (node:sqlite), and PostgreSQL SQLSTATEs', () => {
    expect(storageFault({ code: 'SQLITE_FULL' })).toBe('full');
    expect(storageFault({ code: 'SQLITE_READONLY' })).toBe('read-only');
    expect(storageFault({ code: 'SQLITE_READONLY_DBMOVED' })).toBe('read-only');
    expect(storageFault({ code: 'SQLITE_IOERR_WRITE' })).toBe('io');
    expect(storageFault({ code: 'SQLITE_CANTOPEN' })).toBe('io');
    // node:sqlite: `errcode` is the extended code, whose low byte is the primary one.
    expect(storageFault({ code: 'ERR_SQLITE_ERROR', errcode: 13 })).toBe('full');
    expect(storageFault({ code: 'ERR_SQLITE_ERROR', errcode: 8 | (4 << 8) })).toBe('read-only');
    // node:sqlite without `errcode` (older 22.x): SQLite's words for the code.
    expect(
      storageFault(Object.assign(new Error('database or disk is full'), { code: 'ERR_SQLITE_ERROR' })),
    ).toBe('full');
    expect(
      storageFault(
        Object.assign(new Error('attempt to write a readonly database'), { code: 'ERR_SQLITE_ERROR' }),
      ),
    ).toBe('read-only');
    expect(storageFault({ code: '53100' })).toBe('full');
    expect(storageFault({ code: '25006' })).toBe('read-only');
    // Not storage faults: a constraint, a busy database, a syntax error, anything else.
    for (const other of [
      { code: 'SQLITE_CONSTRAINT_UNIQUE' },
      { code: 'SQLITE_BUSY' },
      { code: 'ERR_SQLITE_ERROR', errcode: 19 },
      Object.assign(new Error('UNIQUE constraint failed: notes.id'), { code: 'ERR_SQLITE_ERROR' }),
      { code: '23505' },
      new Error('boom'),
      null,
      'SQLITE_FULL',
    ])
      expect(storageFault(other)).toBeUndefined();
  });

  it('gives the client STORAGE_UNAVAILABLE with the fault and a retry time, naming no path', () => {
    const error = storageError('full');
    expect(error.code).toBe('STORAGE_UNAVAILABLE');
    expect(error.status).toBe(503);
    expect(error.details).toEqual({ fault: 'full', retryAfterMs: 5_000 });
    expect(error.message).toBe('The database’s disk is full: nothing was changed; retry later.');
  });
});

const drivers: SqliteDriver[] = [
  'better-sqlite3',
  ...(nodeSqlite() === undefined ? [] : ['node:sqlite' as const]),
];

describe.each(drivers)('storage faults on a SQLite file (%s)', (driver) => {
  let dir: string;
  let store: Store;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-store-faults-'));
    store = openDatabase(join(dir, 'faults.db'), { sqliteDriver: driver });
    await sql`create table notes (id integer primary key, body text not null)`.execute(store.db);
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const big = (id: number) => async (tx: JournalTx) => {
    // Several pages' worth: it needs new pages, which a full file does not have.
    await tx.run('INSERT INTO notes (id, body) VALUES (?, ?)', [id, 'x'.repeat(20_000)]);
    return id;
  };
  const small = (id: number) => async (tx: JournalTx) => {
    await tx.run('INSERT INTO notes (id, body) VALUES (?, ?)', [id, `n${id}`]);
    return id;
  };
  const ids = async () =>
    (await sql<{ id: number }>`select id from notes order by id`.execute(store.db)).rows.map((r) => r.id);

  it('a journal batch failing part way (one entry meets SQLITE_FULL): the others commit, the failing one stores nothing and rejects with SQLITE_FULL', async () => {
    const journal = new Journal(store);
    await journal.write(small(1));
    fillDisk(store);
    // One batch: two small entries around one that needs new pages.
    const results = await Promise.allSettled([
      journal.write(small(2)),
      journal.write(big(3)),
      journal.write(small(4)),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(storageFault((results[1] as PromiseRejectedResult).reason)).toBe('full');
    expect(await ids()).toEqual([1, 2, 4]);
    expect(store.health.fault).toBe('full');
    expect(await store.probeWrites()).toBe('full');
    // Room again: the same entry commits; the health clears with the next probe.
    freeDisk(store);
    await journal.write(big(3));
    expect(await ids()).toEqual([1, 2, 3, 4]);
    expect(await store.probeWrites()).toBeNull();
    expect(store.health.fault).toBeNull();
  });

  it('a Kysely transaction meeting SQLITE_FULL rejects with SQLITE_FULL, not with its rollback ("no transaction is active"), and leaves nothing', async () => {
    fillDisk(store);
    const attempt = store.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('notes' as never)
        .values({ id: 1, body: 'kept?' } as never)
        .execute();
      await trx
        .insertInto('notes' as never)
        .values({ id: 2, body: 'x'.repeat(20_000) } as never)
        .execute();
    });
    const error = await attempt.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(storageFault(error)).toBe('full');
    expect(await ids()).toEqual([]);
    // The connection is usable again at once: a read, then (room again) a write.
    freeDisk(store);
    await store.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('notes' as never)
        .values({ id: 1, body: 'now' } as never)
        .execute();
    });
    expect(await ids()).toEqual([1]);
  });

  it('probes writes without changing anything: null when writable, read-only under query_only, full under max_page_count or too little free space', async () => {
    const schema = async () =>
      (await sql<{ name: string }>`select name from sqlite_schema order by name`.execute(store.db)).rows;
    const before = await schema();
    expect(await store.probeWrites()).toBeNull();
    makeReadOnly(store);
    expect(await store.probeWrites()).toBe('read-only');
    expect(store.health.fault).toBe('read-only');
    makeWritable(store);
    fillDisk(store);
    expect(await store.probeWrites()).toBe('full');
    freeDisk(store);
    expect(await store.probeWrites()).toBeNull();
    expect(store.health.fault).toBeNull();
    expect(await schema()).toEqual(before);
    // The folder's free space: a disk with less than the margin left is full before any write fails.
    const run = (text: string) => {
      store.sqlite?.prepare(text).run([]);
    };
    expect(
      await probeSqliteWrites(run, join(dir, 'faults.db'), { minFreeBytes: Number.MAX_SAFE_INTEGER }),
    ).toBe('full');
    expect(await probeSqliteWrites(run, join(dir, 'faults.db'), { minFreeBytes: 0 })).toBeNull();
  });
});
