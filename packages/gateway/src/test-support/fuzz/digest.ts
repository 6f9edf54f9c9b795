/**
 * A digest of a gateway's whole database: every table, every row, in a stable order (tables by name, rows by their
 * JSON text), each table hashed on its own so that a difference names the tables that changed. Two digests equal
 * ⇔ nothing was written (bar the volatile columns below), which is how the fuzzer shows a refused request changed
 * nothing.
 */
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { Store } from '../../store/index.js';

/**
 * Columns written by any authenticated request, refused or not, left out of the digest by name:
 * - `sessions.last_seen_at`: the idle timer of a session is its last request, whatever became of the request (a
 *   refused one still shows the session is in use); it is written behind (sessions/service.ts `flushLastSeen`).
 */
export const VOLATILE_COLUMNS: Readonly<Record<string, readonly string[]>> = {
  sessions: ['last_seen_at'],
};

export type Digest = Readonly<Record<string, string>>;

async function tableNames(store: Store): Promise<string[]> {
  if (store.dialect === 'sqlite') {
    const { rows } = await sql<{ name: string }>`
      select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name`.execute(
      store.db,
    );
    return rows.map((r) => r.name);
  }
  const { rows } = await sql<{ name: string }>`
    select table_name as name from information_schema.tables
    where table_schema = current_schema() and table_type = 'BASE TABLE' order by table_name`.execute(
    store.db,
  );
  return rows.map((r) => r.name);
}

/** Each table's hash, by table name. */
export async function databaseDigest(store: Store): Promise<Digest> {
  const digest: Record<string, string> = {};
  for (const table of await tableNames(store)) {
    const { rows } = await sql<Record<string, unknown>>`select * from ${sql.table(table)}`.execute(store.db);
    const volatile = VOLATILE_COLUMNS[table] ?? [];
    const lines = rows
      .map((row) => {
        const kept = Object.entries(row)
          .filter(([column]) => !volatile.includes(column))
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([column, value]) => [
            column,
            Buffer.isBuffer(value)
              ? value.toString('base64')
              : typeof value === 'bigint'
                ? String(value)
                : value,
          ]);
        return JSON.stringify(kept);
      })
      .sort();
    const hash = createHash('sha256');
    for (const line of lines) hash.update(line).update('\n');
    digest[table] = hash.digest('base64url');
  }
  return digest;
}

/** The tables whose digest differs between `before` and `after`. */
export function changedTables(before: Digest, after: Digest): string[] {
  const names = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...names].filter((name) => before[name] !== after[name]).sort();
}
