/**
 * A database that cannot be reached is told from one that refused (`store/unavailable`), and a journal batch that
 * lost its connection — even during its COMMIT, when it may have committed — is never retried entry by entry: every
 * entry fails, and the database decides what was written.
 */
import { type Kysely, sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { toGatehouseError } from '../http/errors.js';
import { testDatabases } from '../test-support/databases.js';
import { openDatabase, type Store } from './database.js';
import { Journal, type JournalTx } from './journal.js';
import type { Database } from './tables.js';
import { isDatabaseUnavailable } from './unavailable.js';

describe('a database that cannot be reached', () => {
  it.each([
    [
      'a fast shutdown ending the session (57P01)',
      Object.assign(new Error('terminating connection'), { code: '57P01' }),
    ],
    ['a crashed server (57P02)', Object.assign(new Error('terminating connection'), { code: '57P02' })],
    [
      'a server starting up (57P03)',
      Object.assign(new Error('the database system is starting up'), { code: '57P03' }),
    ],
    ['too many connections (53300)', Object.assign(new Error('sorry, too many clients'), { code: '53300' })],
    ['a connection exception (08006)', Object.assign(new Error('connection failure'), { code: '08006' })],
    [
      'a refused connection',
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
    ],
    ['a socket reset', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })],
    ['a socket closed under a query', new Error('Connection terminated unexpectedly')],
    ['no pooled connection in time', new Error('timeout exceeded when trying to connect')],
    [
      'every address refused',
      new AggregateError([Object.assign(new Error('x'), { code: 'ECONNREFUSED' })], 'connect failed'),
    ],
  ])('%s is answered 503 SERVICE_UNAVAILABLE with a retry delay', (_name, error) => {
    expect(isDatabaseUnavailable(error)).toBe(true);
    const mapped = toGatehouseError(error);
    expect(mapped.code).toBe('SERVICE_UNAVAILABLE');
    expect(mapped.status).toBe(503);
    expect(mapped.details?.retryAfterMs).toBe(1_000);
  });

  it.each([
    ['a unique violation (23505)', Object.assign(new Error('duplicate key'), { code: '23505' })],
    ['a syntax error (42601)', Object.assign(new Error('syntax error'), { code: '42601' })],
    ['a serialization failure (40001)', Object.assign(new Error('could not serialize'), { code: '40001' })],
    ['a plain bug', new TypeError('x is undefined')],
    ['not an error', 'Connection terminated'],
  ])('%s is not: it stays INTERNAL', (_name, error) => {
    expect(isDatabaseUnavailable(error)).toBe(false);
    expect(toGatehouseError(error).code).toBe('INTERNAL');
  });

  it('a full SQLite disk is not unreachable: it is the storage refusing writes (STORAGE_UNAVAILABLE, store/faults)', () => {
    const full = Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    expect(isDatabaseUnavailable(full)).toBe(false);
    expect(toGatehouseError(full).code).toBe('STORAGE_UNAVAILABLE');
  });
});

const postgres = testDatabases().find(([name]) => name === 'postgres')?.[1];

describe.skipIf(postgres === undefined)('a journal batch whose COMMIT reply is lost (PostgreSQL)', () => {
  let store: Store | undefined;
  let drop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await store?.close();
    await drop?.();
    store = undefined;
  });

  /**
   * The store, but the next COMMIT run through it is carried out by the server and then reported lost, as when the
   * connection drops between the server's commit and its reply.
   */
  function losingCommitReply(inner: Store): { store: Store; arm(): void } {
    let armed = false;
    const wrap = (conn: Kysely<Database>): Kysely<Database> =>
      new Proxy(conn, {
        get(target, property) {
          if (property === 'executeQuery')
            return async (query: { sql: string }) => {
              const result = await target.executeQuery(query as never);
              if (armed && query.sql === 'COMMIT') {
                armed = false;
                throw new Error('Connection terminated unexpectedly');
              }
              return result;
            };
          const value = Reflect.get(target, property);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    const db = new Proxy(inner.db, {
      get(target, property) {
        if (property === 'connection')
          return () => ({
            execute: <T>(fn: (conn: Kysely<Database>) => Promise<T>) =>
              target.connection().execute((conn) => fn(wrap(conn))),
          });
        const value = Reflect.get(target, property);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    return { store: { ...inner, db, ping: inner.ping, close: inner.close }, arm: () => (armed = true) };
  }

  it('fails every entry of the batch without running any again, and the database holds what committed', async () => {
    if (postgres === undefined) throw new Error('no PostgreSQL');
    const database = await postgres();
    drop = database.drop;
    store = openDatabase(database.url, database.options);
    await sql`create table notes (id integer primary key, body text not null)`.execute(store.db);
    const losing = losingCommitReply(store);
    const journal = new Journal(losing.store);
    const runs = new Map<number, number>();
    const note = (id: number) => async (tx: JournalTx) => {
      runs.set(id, (runs.get(id) ?? 0) + 1);
      await tx.run('INSERT INTO notes (id, body) VALUES (?, ?)', [id, `n${id}`]);
      return id;
    };
    losing.arm();
    const outcomes = await Promise.allSettled([1, 2, 3].map((id) => journal.write(note(id))));
    // None is acknowledged: the commit's outcome was not known to the writer.
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'rejected']);
    for (const o of outcomes) expect(isDatabaseUnavailable((o as PromiseRejectedResult).reason)).toBe(true);
    // No entry ran twice (an entry-by-entry retry would have written them again, or failed on their keys).
    expect([...runs.values()]).toEqual([1, 1, 1]);
    // The server did commit: the database, not a guess, says so.
    const rows = await sql<{ id: number }>`select id from notes order by id`.execute(store.db);
    expect(rows.rows.map((r) => r.id)).toEqual([1, 2, 3]);
    // The journal goes on.
    await expect(journal.write(note(4))).resolves.toBe(4);
  });
});
