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
 * - `fullDiskAt`: the disk fills at one chosen statement — the first insert (or update) of one table — after the
 *   request's earlier writes succeeded: a write failing part way through a request, on SQLite and PostgreSQL alike.
 */
import { sql } from 'kysely';
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

/**
 * The disk fills at the next `event` on `table`, whatever came before it in the same request. SQLite: a trigger on
 * the table writes a 4 MiB row while `max_page_count` leaves 64 pages (256 KiB) of room, so the statements before
 * it fit and that one meets `SQLITE_FULL`. PostgreSQL: a trigger raises SQLSTATE `53100 disk_full` (what a full
 * disk answers: postgresql.org/docs/current/errcodes-appendix.html). Resolves to the undoing.
 */
export async function fullDiskAt(
  store: Store,
  table: string,
  event: 'INSERT' | 'UPDATE',
): Promise<() => Promise<void>> {
  const trigger = `gatehouse_fault_${table}_${event.toLowerCase()}`;
  if (store.dialect === 'sqlite') {
    await sql`CREATE TABLE IF NOT EXISTS gatehouse_fault_filler (x BLOB)`.execute(store.db);
    await sql`CREATE TRIGGER ${sql.raw(trigger)} BEFORE ${sql.raw(event)} ON ${sql.table(table)} BEGIN
      INSERT INTO gatehouse_fault_filler VALUES (zeroblob(4194304)); END`.execute(store.db);
    const [row] = pragma(store, 'page_count') as { page_count: number }[];
    pragma(store, `max_page_count = ${(row?.page_count ?? 0) + 64}`);
    return async () => {
      freeDisk(store);
      await sql`DROP TRIGGER ${sql.raw(trigger)}`.execute(store.db);
    };
  }
  await sql`CREATE OR REPLACE FUNCTION gatehouse_fault_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = '53100'; END $$`.execute(
    store.db,
  );
  await sql`CREATE TRIGGER ${sql.raw(trigger)} BEFORE ${sql.raw(event)} ON ${sql.table(table)}
    FOR EACH ROW EXECUTE FUNCTION gatehouse_fault_disk_full()`.execute(store.db);
  return async () => {
    await sql`DROP TRIGGER ${sql.raw(trigger)} ON ${sql.table(table)}`.execute(store.db);
  };
}
