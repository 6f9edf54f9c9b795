/**
 * Test databases: SQLite always; PostgreSQL whenever GATEHOUSE_TEST_DATABASE_URL is set (CI sets it, so a
 * PostgreSQL that cannot be reached fails the run instead of being skipped). Each PostgreSQL test database is a
 * fresh schema, dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Dialect, OpenDatabaseOptions } from '../store/index.js';

export const TEST_PG_URL = process.env.GATEHOUSE_TEST_DATABASE_URL;

export interface TestDatabase {
  dialect: Dialect;
  url: string;
  options: OpenDatabaseOptions;
  drop(): Promise<void>;
}

export type TestDatabaseFactory = () => Promise<TestDatabase>;

async function pgDatabase(url: string): Promise<TestDatabase> {
  const schema = `gh_test_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`create schema ${schema}`);
  } finally {
    await client.end();
  }
  return {
    dialect: 'postgres',
    url,
    options: { pgSchema: schema },
    async drop() {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query(`drop schema if exists ${schema} cascade`);
      } finally {
        await c.end();
      }
    },
  };
}

/** The dialects every store contract test runs on, by name. */
export function testDatabases(): [string, TestDatabaseFactory][] {
  const list: [string, TestDatabaseFactory][] = [
    ['sqlite', async () => ({ dialect: 'sqlite', url: ':memory:', options: {}, drop: async () => {} })],
  ];
  if (TEST_PG_URL !== undefined && TEST_PG_URL !== '') {
    list.push(['postgres', () => pgDatabase(TEST_PG_URL)]);
  } else if (process.env.CI === 'true') {
    throw new Error(
      'CI must set GATEHOUSE_TEST_DATABASE_URL: the store contract suite runs on PostgreSQL too',
    );
  }
  return list;
}
