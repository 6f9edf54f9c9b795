/**
 * Storage faults for tests, each a real SQLite condition on the gateway's own connection, undone as it would be
 * in operation:
 *
 * - `fillDisk`: `PRAGMA max_page_count` set to the file's size, so the next write that needs a new page fails with
 *   `SQLITE_FULL`, as on a full disk (pages with room still take rows, as a disk's last blocks do); `freeDisk`
 *   gives the room back.
 * - `makeReadOnly`: `PRAGMA query_only`, so every write fails with `SQLITE_READONLY`, as on a file or folder made
 *   read-only or a read-only mount (a test running as root cannot make a file read-only to itself with chmod);
 *   `makeWritable` undoes it.
 */
import type { Store } from '../store/index.js';

function pragma(store: Store, text: string): unknown[] {
  const { sqlite } = store;
  if (sqlite === undefined) throw new Error('storage faults are injected on SQLite only');
  const statement = sqlite.prepare(`PRAGMA ${text}`);
  if (statement.reader) return statement.all([]);
  statement.run([]);
  return [];
}

/** The database may not grow past its current size: the next write needing a page fails with `SQLITE_FULL`. */
export function fillDisk(store: Store): number {
  const [row] = pragma(store, 'page_count') as { page_count: number }[];
  const pages = row?.page_count ?? 0;
  pragma(store, `max_page_count = ${pages}`);
  return pages;
}

/** Room again (SQLite's default limit). */
export function freeDisk(store: Store): void {
  pragma(store, 'max_page_count = 4294967294');
}

/** Every write fails with `SQLITE_READONLY`. */
export function makeReadOnly(store: Store): void {
  pragma(store, 'query_only = 1');
}

export function makeWritable(store: Store): void {
  pragma(store, 'query_only = 0');
}
