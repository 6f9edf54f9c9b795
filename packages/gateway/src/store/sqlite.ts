/**
 * @module store/sqlite
 * The embedded SQLite connection, on one of two drivers behind one small interface (the one Kysely's SqliteDialect
 * expects, which the journal also runs its batches on):
 *
 * - `better-sqlite3`: a native addon, built (or downloaded) at install; works on every Node.js line Gatehouse
 *   supports, and is the faster of the two (`npm run bench -- sqlite` on Node 24: order entry 1.25× the orders per
 *   second, a point read 14% quicker; node:sqlite materialises rows more slowly).
 * - `node:sqlite`: built into Node.js (unflagged from 22.13), nothing to build. An optional dependency that could
 *   not be built, or an addon built for another Node.js version, leaves the gateway working on it.
 *
 * `auto` takes better-sqlite3 when its addon loads, otherwise node:sqlite. Both run the same pragmas, cache
 * prepared statements by their text and pass the same store contract suite.
 */
import { createRequire } from 'node:module';

/** A prepared statement; parameters are passed as one array. */
export interface SqliteStatement {
  /** True when the statement returns rows. */
  readonly reader: boolean;
  all(parameters: readonly unknown[]): unknown[];
  run(parameters: readonly unknown[]): { changes: number | bigint; lastInsertRowid: number | bigint };
  iterate(parameters: readonly unknown[]): IterableIterator<unknown>;
}

/** An open SQLite database (the shape Kysely's `SqliteDialect` takes). */
export interface SqliteConnection {
  prepare(sql: string): SqliteStatement;
  close(): void;
}

export type SqliteDriver = 'better-sqlite3' | 'node:sqlite';

export interface SqliteOptions {
  /** `synchronous` pragma under WAL (see `database.sqliteSynchronous`). */
  synchronous: 'FULL' | 'NORMAL';
}

const require = createRequire(import.meta.url);

/** The parts of `node:sqlite` used here (the machines' Node 20 types do not describe it). */
interface NodeSqliteModule {
  DatabaseSync: new (
    location: string,
  ) => {
    exec(sql: string): void;
    prepare(sql: string): NodeSqliteStatement;
    close(): void;
  };
}
interface NodeSqliteStatement {
  columns(): unknown[];
  all(...parameters: unknown[]): unknown[];
  run(...parameters: unknown[]): { changes: number | bigint; lastInsertRowid: number | bigint };
  iterate(...parameters: unknown[]): IterableIterator<unknown>;
}

/** `node:sqlite`, or undefined when this runtime does not have it (Node 20, or 22 before 22.13 without a flag). */
export function nodeSqlite(): NodeSqliteModule | undefined {
  try {
    return process.getBuiltinModule?.('node:sqlite') as NodeSqliteModule | undefined;
  } catch {
    return undefined;
  }
}

type BetterSqlite3 = typeof import('better-sqlite3');
let betterSqlite3Probe: { module: BetterSqlite3 } | { error: string } | undefined;

/**
 * better-sqlite3, once its native addon has loaded (it loads at the first open), or why it did not: not installed
 * (an optional dependency whose build failed) or built for another Node.js version.
 */
function betterSqlite3(): { module: BetterSqlite3 } | { error: string } {
  if (betterSqlite3Probe === undefined) {
    try {
      const module = require('better-sqlite3') as BetterSqlite3;
      new module(':memory:').close();
      betterSqlite3Probe = { module };
    } catch (error) {
      betterSqlite3Probe = {
        error: error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error),
      };
    }
  }
  return betterSqlite3Probe;
}

/** The driver `auto` resolves to on this runtime and install. */
export function defaultSqliteDriver(): SqliteDriver {
  const better = betterSqlite3();
  if ('module' in better) return 'better-sqlite3';
  if (nodeSqlite() !== undefined) return 'node:sqlite';
  throw new Error(
    `No SQLite driver: better-sqlite3 did not load (${better.error}) and node:sqlite needs Node.js 22.13 or ` +
      `later (this is ${process.version}). Run \`npm rebuild better-sqlite3\` (it needs python3, make and a C++ ` +
      'compiler) or use Node.js 22.13 or later.',
  );
}

/** Prepared statements kept by their text: Kysely emits the same text for the same query shape. */
function statementCache(prepare: (sql: string) => SqliteStatement): (sql: string) => SqliteStatement {
  const cache = new Map<string, SqliteStatement>();
  return (sql) => {
    let statement = cache.get(sql);
    if (statement === undefined) {
      statement = prepare(sql);
      // Bounded: the query shapes of the code, not of the data.
      if (cache.size >= 1_000) cache.clear();
      cache.set(sql, statement);
    }
    return statement;
  };
}

/** `PRAGMA cache_size` of every connection: 16,000 KiB. */
export const SQLITE_CACHE_KIB = -16_000;

function pragmas(options: SqliteOptions): string[] {
  return [
    'journal_mode = WAL',
    `synchronous = ${options.synchronous}`,
    'foreign_keys = ON',
    'busy_timeout = 5000',
    // The page cache, per connection, in KiB (negative: a size, not a page count). Set here so that both drivers
    // hold the same and memory is bounded by a figure of the gateway's own: SQLite's built-in default is 2 MB, the
    // better-sqlite3 build's 16 MB (SQLITE_DEFAULT_CACHE_SIZE=-16000), which this keeps. It fills with the pages
    // read and written, up to this size (docs/reliability.md "Hours of running: the soak").
    `cache_size = ${SQLITE_CACHE_KIB}`,
  ];
}

function openBetterSqlite3(file: string, options: SqliteOptions): SqliteConnection {
  const better = betterSqlite3();
  if (!('module' in better)) {
    throw new Error(`database.sqliteDriver better-sqlite3 did not load: ${better.error}`);
  }
  const sqlite = new better.module(file);
  for (const pragma of pragmas(options)) sqlite.pragma(pragma);
  // better-sqlite3 binds an array argument as the list of anonymous parameters.
  const prepare = statementCache((sql) => sqlite.prepare(sql) as unknown as SqliteStatement);
  return { prepare, close: () => sqlite.close() };
}

function openNodeSqlite(file: string, options: SqliteOptions): SqliteConnection {
  const module = nodeSqlite();
  if (module === undefined) {
    throw new Error(
      `database.sqliteDriver node:sqlite needs Node.js 22.13 or later; this is ${process.version} (use better-sqlite3)`,
    );
  }
  const sqlite = new module.DatabaseSync(file);
  for (const pragma of pragmas(options)) sqlite.exec(`PRAGMA ${pragma}`);
  const prepare = statementCache((sql) => {
    const statement = sqlite.prepare(sql);
    return {
      reader: statement.columns().length > 0,
      all: (parameters) => statement.all(...parameters),
      run: (parameters) => statement.run(...parameters),
      iterate: (parameters) => statement.iterate(...parameters),
    };
  });
  return { prepare, close: () => sqlite.close() };
}

export function openSqlite(driver: SqliteDriver, file: string, options: SqliteOptions): SqliteConnection {
  return driver === 'node:sqlite' ? openNodeSqlite(file, options) : openBetterSqlite3(file, options);
}
