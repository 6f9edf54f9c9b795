/**
 * @module store/database
 * Opens the system of record: SQLite (the default, one file, WAL; through `node:sqlite` or better-sqlite3, see
 * store/sqlite.ts) or PostgreSQL through `pg` when the URL starts with `postgres://`. All sit behind Kysely, so
 * every store works on each.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Kysely, type LogEvent, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { probeSqliteWrites, type StorageFaultKind, StorageHealth } from './faults.js';
import {
  defaultSqliteDriver,
  openSqlite,
  type SqliteConnection,
  type SqliteDriver,
  type SqliteStatement,
} from './sqlite.js';
import type { Database } from './tables.js';

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
  readonly sqlite?: SqliteConnection;
  /** Round trip to the database; used by `/readyz`. */
  ping(): Promise<void>;
  /** The storage fault the last failed statement met, until writes succeed again (`store/faults`). */
  readonly health: StorageHealth;
  /**
   * Whether the database takes writes now, changing nothing (SQLite: a rolled-back write and the folder's free
   * space; PostgreSQL: a round trip). Clears `health` when it does; returns the fault found, or null.
   */
  probeWrites(): Promise<StorageFaultKind | null>;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** SQLite `synchronous` pragma (see `database.sqliteSynchronous`). */
  sqliteSynchronous?: 'FULL' | 'NORMAL';
  /** SQLite driver (see `database.sqliteDriver`); `auto` by default. */
  sqliteDriver?: SqliteDriver | 'auto';
  /** PostgreSQL pool size. */
  poolSize?: number;
  /**
   * How long a query waits for a PostgreSQL connection — a free one from the pool, or a new one from the server —
   * before failing (`database.acquireTimeoutMs`); 0 waits for ever.
   */
  acquireTimeoutMs?: number;
  /** PostgreSQL schema to use instead of `public` (tests isolate themselves this way). */
  pgSchema?: string;
  /**
   * PostgreSQL ends a session left idle inside a transaction this long (`idle_in_transaction_session_timeout`). With
   * several nodes it is the account lease: a node frozen mid-transaction (paused, swapped out) would otherwise hold
   * its row locks — the lease row's among them — and no other node could take its accounts over until it woke.
   */
  pgIdleInTransactionMs?: number;
  /**
   * Called after every query that succeeded, with its SQL (tests use it to prove a path makes no database round
   * trip; one that throws makes the query fail after the database ran it, as a reply lost on the way would).
   */
  onQuery?: (sql: string) => void;
  /**
   * A pooled PostgreSQL connection the server ended (a restart, a failover, `pg_terminate_backend`, a proxy closing
   * idle sockets): told with its code and message only (the error itself carries the connection's parameters).
   */
  onConnectionLost?: (lost: { code: string | undefined; message: string }) => void;
}

export function isPostgresUrl(url: string): boolean {
  return url.startsWith('postgres://') || url.startsWith('postgresql://');
}

/** The URL without its secrets: the password of the user part, and libpq's secret parameters in the query. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    for (const name of [...parsed.searchParams.keys()])
      if (/pass|secret|key|token/i.test(name)) parsed.searchParams.set(name, '***');
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

function queryLog(options: OpenDatabaseOptions): { log?: (event: LogEvent) => void } {
  const { onQuery } = options;
  return onQuery === undefined ? {} : { log: (event) => onQuery(event.query.sql) };
}

export function openDatabase(url: string, options: OpenDatabaseOptions = {}): Store {
  if (isPostgresUrl(url)) {
    const pool = new pg.Pool({
      connectionString: url,
      max: options.poolSize ?? 10,
      // pg-pool bounds both the wait in its queue for a free client and the connection to the server with it
      // (pg-pool/index.js `connect`): with every connection held, or the server gone, a query fails instead of
      // hanging, and the request is answered 503 (store/unavailable).
      connectionTimeoutMillis: options.acquireTimeoutMs ?? 5_000,
      types: pgTypes as pg.CustomTypesConfig,
      ...(options.pgSchema === undefined ? {} : { options: `-c search_path=${options.pgSchema}` }),
      ...(options.pgIdleInTransactionMs === undefined
        ? {}
        : { idle_in_transaction_session_timeout: options.pgIdleInTransactionMs }),
    });
    // A connection the server ends is an 'error' event on its client, and an event emitter with no listener throws:
    // without these the process would end (pool.end() resolves before its clients' sockets close, so even a clean
    // shutdown can meet one). pg-pool discards a failed client, and a checked-out client's next query rejects, so
    // callers still see the error; here it is only told. (node-postgres docs, Pool "error" event.)
    let ending = false;
    const lost = (error: Error & { code?: string }) => {
      if (!ending) options.onConnectionLost?.({ code: error.code, message: error.message });
    };
    pool.on('error', lost);
    pool.on('connect', (client) => client.on('error', lost));
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), ...queryLog(options) });
    const health = new StorageHealth();
    const ping = async () => {
      await sql`select 1`.execute(db);
    };
    return {
      db,
      dialect: 'postgres',
      schema: options.pgSchema ?? 'public',
      description: redactUrl(url),
      ping,
      health,
      probeWrites: async () => {
        try {
          await ping();
        } catch (error) {
          return health.failed(error) ?? null;
        }
        health.wrote();
        return null;
      },
      close: async () => {
        ending = true;
        await db.destroy();
      },
    };
  }

  const file = url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : url;
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const driver =
    options.sqliteDriver === undefined || options.sqliteDriver === 'auto'
      ? defaultSqliteDriver()
      : options.sqliteDriver;
  const health = new StorageHealth();
  const sqlite = watchedConnection(
    openSqlite(driver, file, { synchronous: options.sqliteSynchronous ?? 'NORMAL' }),
    health,
  );
  const db = new Kysely<Database>({
    dialect: new SqliteDialect({ database: sqlite }),
    ...queryLog(options),
  });
  return {
    db,
    dialect: 'sqlite',
    sqlite,
    description: `sqlite:${file} (${driver})`,
    ping: async () => {
      await sql`select 1`.execute(db);
    },
    health,
    // On the connection every query waits for (Kysely's), so the probe's transaction is the only one.
    probeWrites: () =>
      db.connection().execute(async () => {
        const fault = await probeSqliteWrites(
          (text) => sqlite.prepare(text).run([]),
          file === ':memory:' ? undefined : file,
        );
        if (fault === null) health.wrote();
        else health.mark(fault);
        return fault;
      }),
    close: () => db.destroy(),
  };
}

const ROLLBACK = /^\s*rollback\s*;?\s*$/i;

/**
 * The connection, telling `health` of every statement that fails with a storage fault (a probe says when writes
 * succeed again: `probeWrites`).
 * A `ROLLBACK` after SQLite already ended the transaction (it does on `SQLITE_FULL` and `SQLITE_IOERR`) does
 * nothing, rather than fail with "no transaction is active" in place of the error that caused it (Kysely rolls
 * back on any error and would throw the rollback's).
 */
function watchedConnection(connection: SqliteConnection, health: StorageHealth): SqliteConnection {
  const watched = new Map<string, SqliteStatement>();
  return {
    prepare(text) {
      const known = watched.get(text);
      if (known !== undefined) return known;
      const statement = connection.prepare(text);
      const rollback = ROLLBACK.test(text);
      const watch = <T>(call: () => T): T => {
        try {
          return call();
        } catch (error) {
          health.failed(error);
          throw error;
        }
      };
      const wrapped: SqliteStatement = {
        reader: statement.reader,
        all: (parameters) => watch(() => statement.all(parameters)),
        iterate: (parameters) => statement.iterate(parameters),
        run: (parameters) => {
          if (!rollback) return watch(() => statement.run(parameters));
          try {
            return statement.run(parameters);
          } catch (error) {
            if (/no transaction is active/i.test(String((error as Error).message))) {
              return { changes: 0, lastInsertRowid: 0 };
            }
            throw error;
          }
        },
      };
      // Bounded as the driver's own cache is: the query shapes of the code, not of the data.
      if (watched.size >= 1_000) watched.clear();
      watched.set(text, wrapped);
      return wrapped;
    },
    close: () => connection.close(),
  };
}
