/**
 * The journal's group commit on both engines: entries of one turn share one transaction and commit in the order
 * written; a promise resolves only once its entry is committed; an entry that throws fails alone (the others are
 * committed by the entry-by-entry retry); entries can report outcomes without failing.
 */
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { testDatabases } from '../test-support/databases.js';
import { openDatabase, type Store } from './database.js';
import { Journal, type JournalTx } from './journal.js';

describe.each(testDatabases({ everySqliteDriver: true }))('journal on %s', (_name, factory) => {
  let store: Store | undefined;
  let drop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await store?.close();
    await drop?.();
    store = undefined;
  });

  async function open(): Promise<{ store: Store; journal: Journal }> {
    const database = await factory();
    drop = database.drop;
    store = openDatabase(database.url, database.options);
    await sql`create table notes (id integer primary key, body text not null unique)`.execute(store.db);
    return { store, journal: new Journal(store) };
  }

  const note = (id: number, body: string) => async (tx: JournalTx) => {
    await tx.run('INSERT INTO notes (id, body) VALUES (?, ?)', [id, body]);
    return id;
  };

  const bodies = async (s: Store) =>
    (await sql<{ body: string }>`select body from notes order by id`.execute(s.db)).rows.map((r) => r.body);

  it('counts the entries not yet committed, queued and in the running batch (a cut shutdown logs it)', async () => {
    const { journal } = await open();
    expect(journal.pending).toBe(0);
    const written = Promise.all(Array.from({ length: 5 }, (_, i) => journal.write(note(i + 1, `p${i + 1}`))));
    expect(journal.pending).toBe(5);
    await written;
    expect(journal.pending).toBe(0);
  });

  it('commits the entries of one turn in one transaction, in the order written', async () => {
    const { store, journal } = await open();
    const written = await Promise.all(
      Array.from({ length: 40 }, (_, i) => journal.write(note(i + 1, `n${i + 1}`))),
    );
    expect(written).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(journal.stats).toEqual({ batches: 1, entries: 40, largestBatch: 40 });
    expect(await bodies(store)).toHaveLength(40);
    // Order matters: a later entry sees what an earlier one in the same batch wrote.
    const seen = journal.write(async (tx) => (await tx.run('SELECT COUNT(*) AS n FROM notes')).rows[0]?.n);
    const after = journal.write(note(41, 'n41'));
    expect(Number(await seen)).toBe(40);
    await after;
    expect(journal.stats.batches).toBe(2);
  });

  it('runs an entry under a guard only if the guard holds in its transaction, checked once per key', async () => {
    const { store, journal } = await open();
    const checks: string[] = [];
    const guard = (key: string, holds: boolean) => ({
      key,
      check: async (tx: JournalTx) => {
        checks.push(key);
        // The check runs inside the batch's transaction: it sees what earlier entries wrote.
        await tx.run('SELECT COUNT(*) AS n FROM notes');
        return holds;
      },
      refused: () => new Error(`refused ${key}`),
    });
    const results = await Promise.allSettled([
      journal.write(note(1, 'free')),
      journal.write(note(2, 'held'), guard('lease:A:1', true)),
      journal.write(note(3, 'moved'), guard('lease:B:4', false)),
      journal.write(note(4, 'held again'), guard('lease:A:1', true)),
      journal.write(note(5, 'moved again'), guard('lease:B:4', false)),
    ]);
    expect(results.map((r) => r.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
      'rejected',
    ]);
    expect((results[2] as PromiseRejectedResult).reason).toEqual(new Error('refused lease:B:4'));
    // The refused entries wrote nothing; the others committed in the same transaction.
    expect(await bodies(store)).toEqual(['free', 'held', 'held again']);
    expect(journal.stats).toMatchObject({ batches: 1, entries: 5 });
    expect(checks).toEqual(['lease:A:1', 'lease:B:4']);
  });

  it('resolves a write only once it is committed', async () => {
    const { store, journal } = await open();
    let committedFirst = false;
    const write = journal.write(note(1, 'one')).then(async () => {
      committedFirst = (await bodies(store)).includes('one');
    });
    await write;
    expect(committedFirst).toBe(true);
  });

  it('fails an entry that throws alone: the rest of its batch commits', async () => {
    const { store, journal } = await open();
    const results = await Promise.allSettled([
      journal.write(note(1, 'a')),
      journal.write(async (tx) => {
        await tx.run('INSERT INTO notes (id, body) VALUES (?, ?)', [2, 'b']);
        await tx.run('INSERT INTO notes (id, body) VALUES (?, ?)', [3, 'a']); // duplicate body: throws
        return 2;
      }),
      journal.write(note(4, 'c')),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    // Nothing of the failed entry stays, not even its first statement.
    expect(await bodies(store)).toEqual(['a', 'c']);
  });

  it('lets an entry report an outcome without failing, having written nothing', async () => {
    const { store, journal } = await open();
    await journal.write(note(1, 'taken'));
    const insertIfNew = (id: number, body: string) => async (tx: JournalTx) =>
      (await tx.run('INSERT INTO notes (id, body) VALUES (?, ?) ON CONFLICT (body) DO NOTHING', [id, body]))
        .changes === 1;
    expect(
      await Promise.all([journal.write(insertIfNew(2, 'taken')), journal.write(insertIfNew(3, 'new'))]),
    ).toEqual([false, true]);
    expect(await bodies(store)).toEqual(['taken', 'new']);
  });

  it('drains: every entry written before is settled', async () => {
    const { store, journal } = await open();
    const writes = Array.from({ length: 5 }, (_, i) => journal.write(note(i + 1, `d${i}`)));
    await journal.drain();
    expect(await bodies(store)).toHaveLength(5);
    await Promise.all(writes);
  });
});
