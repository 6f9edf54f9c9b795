/**
 * A pooled PostgreSQL connection the server ends — a restart, a failover, `pg_terminate_backend`, a database dropped
 * while the pool shuts down — is told, never thrown: an 'error' event with no listener would end the process. The
 * next query takes a new connection. (On SQLite there is no server to end one: nothing to show.)
 */
import { sql } from 'kysely';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { TEST_PG_URL } from '../test-support/databases.js';
import { openDatabase, type Store } from './database.js';

const pgUrl = TEST_PG_URL !== undefined && TEST_PG_URL !== 'none' ? TEST_PG_URL : undefined;

let store: Store | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

describe.skipIf(pgUrl === undefined)('a PostgreSQL connection the server ends', () => {
  it('is told with its code, and the next query is served on a new connection', async () => {
    const lost: { code: string | undefined; message: string }[] = [];
    store = openDatabase(pgUrl as string, { poolSize: 2, onConnectionLost: (l) => lost.push(l) });
    const pid = async () => {
      const db = store?.db;
      if (db === undefined) throw new Error('no store');
      return (await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(db)).rows[0]?.pid;
    };
    const first = await pid();
    const admin = new pg.Client({ connectionString: pgUrl });
    await admin.connect();
    try {
      await admin.query('select pg_terminate_backend($1)', [first]);
    } finally {
      await admin.end();
    }
    const deadline = Date.now() + 3_000;
    while (lost.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(lost[0]?.code).toBe('57P01');
    expect(lost[0]?.message).not.toMatch(/password/i);
    const second = await pid();
    expect(second).not.toBe(first);
  });
});
