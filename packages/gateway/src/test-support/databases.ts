/**
 * Test databases: SQLite always (on better-sqlite3, and on `node:sqlite` too where asked and the runtime has it);
 * PostgreSQL whenever GATEHOUSE_TEST_DATABASE_URL is set (CI sets it, so a PostgreSQL that cannot be reached fails
 * the run instead of being skipped; `none` marks, on purpose, a CI run whose PostgreSQL half runs in another run,
 * and GATEHOUSE_TEST_SQLITE=none one whose SQLite half does).
 * Each PostgreSQL test database is a fresh database, dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Dialect, OpenDatabaseOptions } from '../store/index.js';
import { nodeSqlite } from '../store/sqlite.js';

export const TEST_PG_URL = process.env.GATEHOUSE_TEST_DATABASE_URL;
const TEST_SQLITE = process.env.GATEHOUSE_TEST_SQLITE;

export interface TestDatabase {
  dialect: Dialect;
  url: string;
  options: OpenDatabaseOptions;
  drop(): Promise<void>;
}

export type TestDatabaseFactory = () => Promise<TestDatabase>;

/**
 * A fresh PostgreSQL database for one test, dropped afterwards. A database rather than a schema: the migrator's
 * existence check reads the catalogue of every schema in its database, and a schema another test file drops at that
 * moment made it fail; a database's catalogue holds only its own schemas.
 */
async function pgDatabase(url: string): Promise<TestDatabase> {
  const name = `gh_test_${randomBytes(6).toString('hex')}`;
  const admin = async (statement: string) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  await admin(`create database ${name}`);
  const own = new URL(url);
  own.pathname = `/${name}`;
  return {
    dialect: 'postgres',
    url: own.toString(),
    options: {},
    drop: () => admin(`drop database if exists ${name} with (force)`),
  };
}

/**
 * The databases a store-touching test runs on, by name: SQLite (the default driver, better-sqlite3) and PostgreSQL.
 * `everySqliteDriver` adds SQLite on `node:sqlite` where the runtime has it: the store contract suite and the
 * journal, which hold the SQL itself to one behaviour, run on every driver the gateway may take; the tests above
 * them run on the default one, so the suite's time does not grow with each driver. `sqliteWithRedis` marks a test
 * whose SQLite half needs Redis too (kept where GATEHOUSE_TEST_SQLITE=none drops the others').
 */
export function testDatabases(
  options: { everySqliteDriver?: boolean; sqliteWithRedis?: boolean } = {},
): [string, TestDatabaseFactory][] {
  const list: [string, TestDatabaseFactory][] = [
    [
      'sqlite',
      async () => ({
        dialect: 'sqlite',
        url: ':memory:',
        options: { sqliteDriver: 'better-sqlite3' },
        drop: async () => {},
      }),
    ],
  ];
  if (options.everySqliteDriver === true && nodeSqlite() !== undefined) {
    list.push([
      'node:sqlite',
      async () => ({
        dialect: 'sqlite',
        url: ':memory:',
        options: { sqliteDriver: 'node:sqlite' },
        drop: async () => {},
      }),
    ]);
  }
  // `none` says so on purpose: a run whose PostgreSQL half runs in another run of the same CI (.ci/run).
  if (TEST_PG_URL !== undefined && TEST_PG_URL !== '' && TEST_PG_URL !== 'none') {
    list.push(['postgres', () => pgDatabase(TEST_PG_URL)]);
    // GATEHOUSE_TEST_SQLITE=none: a run whose SQLite half runs in another run of the same CI (.ci/run). Kept by the
    // store contract suite (each runtime's drivers held to one behaviour) and by tests whose SQLite half needs Redis,
    // which that other run lacks.
    if (TEST_SQLITE === 'none' && options.everySqliteDriver !== true && options.sqliteWithRedis !== true)
      return list.filter(([name]) => name !== 'sqlite');
  } else if (process.env.CI === 'true' && TEST_PG_URL !== 'none') {
    throw new Error(
      'CI must set GATEHOUSE_TEST_DATABASE_URL: the store contract suite runs on PostgreSQL too ' +
        '(`none` only where another run of the same CI covers PostgreSQL)',
    );
  }
  return list;
}
