/**
 * @module store/database
 * Opens the system of record: SQLite through better-sqlite3 (the default, one file, WAL) or PostgreSQL through
 * `pg` when the URL starts with `postgres://`. Both sit behind Kysely, so every store works on either.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import type { Database } from './tables.js';

/**
 * Kysely's SQLite driver prepares every statement it runs; preparing costs more than running a small one. Kysely
 * emits the same SQL text for the same query shape, so prepared statements are kept by text (bounded: the query
 * shapes of the code, not of the data) and reused.
 */
function withStatementCache(sqlite: SqliteDatabase.Database): SqliteDatabase.Database {
  const cache = new Map<string, SqliteDatabase.Statement>();
  const prepare = sqlite.prepare.bind(sqlite);
  return new Proxy(sqlite, {
    get(target, property, receiver) {
      if (property !== 'prepare') {
        const value: unknown = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      }
      return (source: string) => {
        let statement = cache.get(source);
        if (statement === undefined) {
          statement = prepare(source);
          if (cache.size >= 1_000) cache.clear();
          cache.set(source, statement);
        }
        return statement;
      };
    },
  });
}

export type Dialect = 'sqlite' | 'postgres';

export interface Store {
  readonly db: Kysely<Database>;
  readonly dialect: Dialect;
  /** A description safe to log (no password). */
  readonly description: string;
  /** PostgreSQL schema holding the tables (undefined on SQLite). */
  readonly schema?: string;
  /**
   * The SQLite connection itself (undefined on PostgreSQL), for the journal's batches, which run on it directly
   * while they hold Kysely's connection; statements prepared on it are cached by their text.
   */
  readonly sqlite?: SqliteDatabase.Database;
  /** Round trip to the database; used by `/readyz`. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** SQLite `synchronous` pragma (see `database.sqliteSynchronous`). */
  sqliteSynchronous?: 'FULL' | 'NORMAL';
  /** PostgreSQL pool size. */
  poolSize?: number;
  /** PostgreSQL schema to use instead of `public` (tests isolate themselves this way). */
  pgSchema?: string;
  /** Called after every query (tests use it to prove a path makes no database round trip). */
  onQuery?: () => void;
}

export function isPostgresUrl(url: string): boolean {
  return url.startsWith('postgres://') || url.startsWith('postgresql://');
}

function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'postgres://(unparseable url)';
  }
}

/** pg returns BIGINT as a string by default; our BIGINTs are epoch milliseconds and sequence numbers. */
const pgTypes = {
  getTypeParser(oid: number, format?: string) {
    if (oid === 20) return (value: string) => Number.parseInt(value, 10);
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

function queryLog(options: OpenDatabaseOptions): { log?: () => void } {
  const { onQuery } = options;
  return onQuery === undefined ? {} : { log: () => onQuery() };
}

export function openDatabase(url: string, options: OpenDatabaseOptions = {}): Store {
  if (isPostgresUrl(url)) {
    const pool = new pg.Pool({
      connectionString: url,
      max: options.poolSize ?? 10,
      types: pgTypes as pg.CustomTypesConfig,
      ...(options.pgSchema === undefined ? {} : { options: `-c search_path=${options.pgSchema}` }),
    });
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), ...queryLog(options) });
    return {
      db,
      dialect: 'postgres',
      schema: options.pgSchema ?? 'public',
      description: redactUrl(url),
      ping: async () => {
        await sql`select 1`.execute(db);
      },
      close: () => db.destroy(),
    };
  }

  const file = url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : url;
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const sqlite = new SqliteDatabase(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma(`synchronous = ${options.sqliteSynchronous ?? 'NORMAL'}`);
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const cached = withStatementCache(sqlite);
  const db = new Kysely<Database>({
    dialect: new SqliteDialect({ database: cached }),
    ...queryLog(options),
  });
  return {
    db,
    dialect: 'sqlite',
    sqlite: cached,
    description: `sqlite:${file}`,
    ping: async () => {
      await sql`select 1`.execute(db);
    },
    close: () => db.destroy(),
  };
}
