/**
 * @module store/faults
 * What a database error means for the clients: the storage faults the gateway answers with a coded 503 and
 * `Retry-After` (`STORAGE_UNAVAILABLE`) rather than `INTERNAL`, and the storage's health that `/readyz` reports.
 *
 * - `full`: no room to write (SQLite `SQLITE_FULL`: the disk, or `max_page_count`; PostgreSQL `53100 disk_full`).
 * - `read-only`: the database refuses writes (SQLite `SQLITE_READONLY`: a file or folder made read-only, a
 *   read-only mount, `query_only`; PostgreSQL `25006 read_only_sql_transaction`, a standby).
 * - `io`: the storage failed a read or write (SQLite `SQLITE_IOERR`, `SQLITE_CANTOPEN`).
 *
 * SQLite reports these by extended code (better-sqlite3's `code`, `SQLITE_READONLY_DBMOVED`…) or by number
 * (`node:sqlite`'s `errcode`, whose low byte is the primary code: https://sqlite.org/rescode.html). A fault leaves
 * nothing half-written: SQLite rolls a statement (for `SQLITE_FULL`, the whole transaction) back and the caller's
 * transaction ends (sqlite.org/lang_transaction.html, "Response To Errors Within A Transaction").
 *
 * Other kinds (a connection lost, a pool exhausted) belong here as well: `storageFault` is the one classifier the
 * error handler, the journal and `/readyz` ask.
 */
import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { GatehouseError } from '../core/index.js';

export type StorageFaultKind = 'full' | 'read-only' | 'io';

/** How long a client is told to wait before retrying a request a storage fault refused. */
export const STORAGE_RETRY_AFTER_MS = 5_000;

/** SQLite primary result codes (https://sqlite.org/rescode.html). */
const SQLITE_PRIMARY: Record<number, StorageFaultKind> = { 8: 'read-only', 10: 'io', 13: 'full', 14: 'io' };
const SQLITE_NAMED: Record<string, StorageFaultKind> = {
  SQLITE_READONLY: 'read-only',
  SQLITE_IOERR: 'io',
  SQLITE_FULL: 'full',
  SQLITE_CANTOPEN: 'io',
};
const SQLITE_WORDS: [string, StorageFaultKind][] = [
  ['database or disk is full', 'full'],
  ['attempt to write a readonly database', 'read-only'],
  ['disk I/O error', 'io'],
  ['unable to open database file', 'io'],
];
/** PostgreSQL SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html). */
const POSTGRES_STATES: Record<string, StorageFaultKind> = {
  '53100': 'full',
  '25006': 'read-only',
};

/** The storage fault a driver error stands for, or undefined for any other error. */
export function storageFault(error: unknown): StorageFaultKind | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, errcode } = error as { code?: unknown; errcode?: unknown };
  if (typeof errcode === 'number') return SQLITE_PRIMARY[errcode & 0xff];
  if (typeof code !== 'string') return undefined;
  // node:sqlite before it carried `errcode`: SQLite's own words for the code (sqlite3_errstr).
  if (code === 'ERR_SQLITE_ERROR')
    return SQLITE_WORDS.find(([words]) => String((error as Error).message).includes(words))?.[1];
  if (code.startsWith('SQLITE_')) {
    // Extended codes name their primary code first: SQLITE_READONLY_DBMOVED, SQLITE_IOERR_WRITE.
    const primary = /^SQLITE_[A-Z]+/.exec(code)?.[0] ?? code;
    return SQLITE_NAMED[primary];
  }
  return POSTGRES_STATES[code];
}

const WORDS: Record<StorageFaultKind, string> = {
  full: 'the database’s disk is full',
  'read-only': 'the database is read-only',
  io: 'the database’s storage failed a read or write',
};

/** The fault in words for operators and clients (no paths, no driver messages). */
export function describeStorageFault(kind: StorageFaultKind): string {
  return WORDS[kind];
}

/** The coded error a client sees for a request a storage fault refused. */
export function storageError(kind: StorageFaultKind): GatehouseError {
  const words = describeStorageFault(kind);
  return new GatehouseError(
    'STORAGE_UNAVAILABLE',
    `${words[0]?.toUpperCase()}${words.slice(1)}: nothing was changed; retry later.`,
    { retryAfterMs: STORAGE_RETRY_AFTER_MS, fault: kind },
  );
}

/** A driver error as the client's error when it is a storage fault; undefined otherwise. */
export function storageErrorOf(error: unknown): GatehouseError | undefined {
  const kind = storageFault(error);
  return kind === undefined ? undefined : storageError(kind);
}

export interface StorageProbeOptions {
  /** The SQLite file's folder is taken for full below this many free bytes (default 1 MiB). */
  minFreeBytes?: number;
}

/**
 * The storage's health as this node last saw it: the fault the last failed statement met, until a probe
 * (`Store.probeWrites`) finds the storage writable again — a write that happens to fit (a page with room) says
 * nothing of the next one. One per store, per node: each node reports its own (`/readyz`).
 */
export class StorageHealth {
  #fault: StorageFaultKind | null = null;

  /** The current fault, or null while writes succeed. */
  get fault(): StorageFaultKind | null {
    return this.#fault;
  }

  /** Notes a failed statement's error; returns its fault kind if it was one. */
  failed(error: unknown): StorageFaultKind | undefined {
    const kind = storageFault(error);
    if (kind !== undefined) this.#fault = kind;
    return kind;
  }

  /** Notes a fault found without an error (a probe). */
  mark(kind: StorageFaultKind): void {
    this.#fault = kind;
  }

  /** A probe found the storage writable again. */
  wrote(): void {
    this.#fault = null;
  }
}

/**
 * Whether the SQLite database takes writes now, without changing it: a write transaction that creates a table and
 * a row of several pages, rolled back (the pages are allocated — `SQLITE_FULL` at `max_page_count` — but never
 * committed), and the free space of the file's folder (a real disk fills at the WAL's next append, which a rolled
 * back probe does not reach). Returns the fault found, or null.
 */
export async function probeSqliteWrites(
  run: (sql: string) => void,
  file: string | undefined,
  options: StorageProbeOptions = {},
): Promise<StorageFaultKind | null> {
  if (file !== undefined) {
    try {
      const stats = await statfs(dirname(file));
      if (stats.bavail * stats.bsize < (options.minFreeBytes ?? 1024 * 1024)) return 'full';
    } catch {
      // A file system that cannot say its free space: the write probe alone decides.
    }
  }
  try {
    run('BEGIN IMMEDIATE');
    try {
      run('CREATE TABLE gatehouse_write_probe (x BLOB)');
      run('INSERT INTO gatehouse_write_probe VALUES (zeroblob(65536))');
    } finally {
      try {
        run('ROLLBACK');
      } catch {
        // Already rolled back by the fault itself (SQLITE_FULL ends the transaction).
      }
    }
    return null;
  } catch (error) {
    return storageFault(error) ?? 'io';
  }
}
