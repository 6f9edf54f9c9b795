/**
 * @module cli/backup-verify
 * `gatehouse verify-backup <file|url>`: opens a backup or a restored copy — a SQLite file, or a PostgreSQL database
 * `pg_restore` filled — read-only and checks it is whole: its schema is exactly this version's (every migration
 * applied, none unknown, every table and column present), the audit chain verifies from the first row to the head,
 * and, given the server secret, that the secret opens the sealed TOTP seeds. It reports the rows of every table.
 *
 * The reference schema is this build's own: an in-memory SQLite database migrated to the latest version. A copy made
 * by an older version fails (restore it and let the gateway migrate it, then verify the live database); one made by a
 * newer version fails (verify it with that version).
 */
import { closeSync, copyFileSync, existsSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { openingRing, readRingFile } from '../app/secret.js';
import { verifyAuditChain } from '../audit/index.js';
import { SecretBox, type SecretRing } from '../core/index.js';
import { type Database, isPostgresUrl, migrateToLatest, openDatabase, redactUrl } from '../store/index.js';

/** What a CLI command of the backup family refuses, with a stable code (printed as `error CODE: message`). */
export class BackupError extends Error {
  constructor(
    readonly code:
      | 'BACKUP_EXISTS'
      | 'BACKUP_SOURCE_MISSING'
      | 'BACKUP_POSTGRES_USE_PG_DUMP'
      | 'BACKUP_UNREADABLE'
      | 'BACKUP_SECRET_UNREADABLE'
      | 'BACKUP_DRIVER_MISSING',
    message: string,
  ) {
    super(message);
    this.name = 'BackupError';
  }
}

export interface SchemaCheck {
  ok: boolean;
  /** The newest migration applied to the copy, and this version's newest. */
  version: string | null;
  expectedVersion: string;
  /** Migrations this version has that the copy lacks (an older copy), and the copy's that this version lacks. */
  missingMigrations: string[];
  unknownMigrations: string[];
  /** Tables, and `table.column`s, of this version that the copy lacks. */
  missingTables: string[];
  missingColumns: string[];
}

export interface BackupReport {
  ok: boolean;
  engine: 'sqlite' | 'postgres';
  /** The file, or the URL without its password. */
  target: string;
  schema: SchemaCheck;
  audit: {
    ok: boolean;
    rows: number;
    head: { seq: number; hash: string } | null;
    brokenAtSeq?: number;
    reason?: string;
  };
  /** Whether the server secret opens the sealed TOTP seeds; null when no secret was given. */
  secret: { ok: boolean; opened: number; failed: number } | null;
  /** Rows per table of this version's schema that the copy has. */
  tables: Record<string, number>;
  /** Why `ok` is false, one sentence each. */
  problems: string[];
}

const require = createRequire(import.meta.url);

/**
 * better-sqlite3, loaded when a backup command runs: it is an optional dependency (store/sqlite.ts), and the CLI must
 * start without it. Its `backup()` and read-only opening are what these commands need.
 */
export function betterSqlite3(): typeof BetterSqlite3 {
  try {
    return require('better-sqlite3') as typeof BetterSqlite3;
  } catch (error) {
    throw new BackupError(
      'BACKUP_DRIVER_MISSING',
      `the SQLite backup commands need better-sqlite3, which did not load (${error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error)}); run \`npm rebuild better-sqlite3\``,
    );
  }
}

interface SchemaShape {
  migrations: string[];
  /** table → its columns. */
  tables: Map<string, Set<string>>;
}

let reference: Promise<SchemaShape> | undefined;

/** This build's schema: an in-memory SQLite database migrated to the latest version (memoised). */
function referenceSchema(): Promise<SchemaShape> {
  reference ??= (async () => {
    // Whichever driver this runtime has: a PostgreSQL copy is verified without better-sqlite3.
    const store = openDatabase(':memory:');
    try {
      await migrateToLatest(store);
      return await shapeOf(store.db, 'sqlite');
    } finally {
      await store.close();
    }
  })();
  return reference;
}

async function shapeOf(db: Kysely<Database>, engine: 'sqlite' | 'postgres'): Promise<SchemaShape> {
  const columns =
    engine === 'sqlite'
      ? await sql<{ t: string; c: string }>`
          select m.name as t, p.name as c from sqlite_master m join pragma_table_info(m.name) p
          where m.type = 'table' and m.name not like 'sqlite_%'`.execute(db)
      : await sql<{ t: string; c: string }>`
          select table_name as t, column_name as c from information_schema.columns
          where table_schema = current_schema()`.execute(db);
  const tables = new Map<string, Set<string>>();
  for (const { t, c } of columns.rows) {
    const set = tables.get(t) ?? new Set<string>();
    set.add(c);
    tables.set(t, set);
  }
  const migrations = tables.has('kysely_migration')
    ? (await sql<{ name: string }>`select name from kysely_migration order by name`.execute(db)).rows.map(
        (r) => r.name,
      )
    : [];
  return { migrations, tables };
}

function compareSchema(copy: SchemaShape, expected: SchemaShape): SchemaCheck {
  const have = new Set(copy.migrations);
  const know = new Set(expected.migrations);
  const missingTables: string[] = [];
  const missingColumns: string[] = [];
  for (const [table, columns] of expected.tables) {
    const present = copy.tables.get(table);
    if (present === undefined) {
      missingTables.push(table);
      continue;
    }
    for (const column of columns) if (!present.has(column)) missingColumns.push(`${table}.${column}`);
  }
  const check = {
    version: copy.migrations.at(-1) ?? null,
    expectedVersion: expected.migrations.at(-1) ?? '',
    missingMigrations: expected.migrations.filter((m) => !have.has(m)),
    unknownMigrations: copy.migrations.filter((m) => !know.has(m)),
    missingTables,
    missingColumns,
  };
  const ok =
    check.missingMigrations.length === 0 &&
    check.unknownMigrations.length === 0 &&
    missingTables.length === 0 &&
    missingColumns.length === 0;
  return { ok, ...check };
}

function schemaProblems(check: SchemaCheck): string[] {
  const problems: string[] = [];
  if (check.unknownMigrations.length > 0)
    problems.push(
      `the copy was made by a newer version (migrations this version does not know: ${check.unknownMigrations.join(', ')}); verify it with that version`,
    );
  if (check.missingMigrations.length > 0)
    problems.push(
      `the copy's schema is ${check.version ?? 'empty'}, this version's is ${check.expectedVersion} (missing ${check.missingMigrations.join(', ')}); restore it, let the gateway migrate it, then verify the live database`,
    );
  if (check.missingTables.length > 0)
    problems.push(`tables missing from the copy: ${check.missingTables.join(', ')}`);
  if (check.missingColumns.length > 0)
    problems.push(`columns missing from the copy: ${check.missingColumns.join(', ')}`);
  return problems;
}

/**
 * Reads a server secret file as app/secret.ts does — the keyring, or the one-line secret of earlier versions — as a
 * ring that opens with every secret it holds: a seed sealed before a rotation finished opens under a previous one.
 */
export function readSecretFile(file: string): SecretRing {
  try {
    return openingRing(readRingFile(file));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new BackupError(
      'BACKUP_SECRET_UNREADABLE',
      code === undefined
        ? `${file} is not a server secret (a keyring, or at least 32 bytes of base64)`
        : `cannot read the secret file ${file}: ${code}`,
    );
  }
}

/** Whether a SQLite file's header says WAL mode (file format versions, bytes 18 and 19, are 2). */
function inWalMode(file: string): boolean {
  const header = Buffer.alloc(20);
  const fd = openSync(file, 'r');
  try {
    return readSync(fd, header, 0, 20, 0) === 20 && (header[18] === 2 || header[19] === 2);
  } finally {
    closeSync(fd);
  }
}

/**
 * Opens a SQLite file read-only; it must exist. Nothing is ever created beside it: a file in WAL mode (which SQLite
 * reads only with a `-shm` index beside it, and would create one, with a `-wal`) is read from a private copy, with
 * its `-wal` if it has one, in a temporary folder removed by `done`. A rollback-journal file (every `gatehouse
 * backup` copy) is read in place.
 */
function openSqliteReadOnly(file: string): { db: Kysely<Database>; done: () => void } {
  const Sqlite = betterSqlite3();
  let connection: BetterSqlite3.Database;
  let copy: string | null = null;
  const done = () => {
    if (copy !== null) rmSync(copy, { recursive: true, force: true });
  };
  try {
    let path = file;
    if (inWalMode(file)) {
      copy = mkdtempSync(join(tmpdir(), 'gatehouse-verify-'));
      path = join(copy, 'copy.db');
      copyFileSync(file, path);
      if (existsSync(`${file}-wal`)) copyFileSync(`${file}-wal`, `${path}-wal`);
    }
    connection = new Sqlite(path, { readonly: true, fileMustExist: true });
  } catch (error) {
    done();
    throw new BackupError(
      'BACKUP_UNREADABLE',
      `cannot open ${file}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  return { db: new Kysely<Database>({ dialect: new SqliteDialect({ database: connection }) }), done };
}

/** Opens a PostgreSQL database on connections whose transactions are read-only (the server refuses any write). */
function openPostgresReadOnly(url: string): Kysely<Database> {
  const pool = new pg.Pool({
    connectionString: url,
    max: 2,
    options: '-c default_transaction_read_only=on',
    // BIGINTs are epoch milliseconds and sequence numbers, as in store/database.ts.
    types: {
      getTypeParser: (oid: number, format?: string) =>
        oid === 20
          ? (value: string) => Number.parseInt(value, 10)
          : pg.types.getTypeParser(oid, format as 'text'),
    } as pg.CustomTypesConfig,
  });
  pool.on('error', () => {});
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

export interface VerifyBackupOptions {
  /** The server secret (or its ring) to check against the sealed TOTP seeds (optional). */
  secret?: Buffer | SecretRing;
}

/** Checks a backup or restored copy; never writes to it. Throws `BackupError` only when it cannot be opened at all. */
export async function verifyBackup(target: string, options: VerifyBackupOptions = {}): Promise<BackupReport> {
  const engine = isPostgresUrl(target) ? 'postgres' : 'sqlite';
  const file = target.startsWith('sqlite:') ? target.slice('sqlite:'.length) : target;
  const { db, done } =
    engine === 'postgres' ? { db: openPostgresReadOnly(target), done: () => {} } : openSqliteReadOnly(file);
  try {
    let shape: SchemaShape;
    try {
      shape = await shapeOf(db, engine);
    } catch (error) {
      throw new BackupError(
        'BACKUP_UNREADABLE',
        `cannot read ${engine === 'postgres' ? redactUrl(target) : file} as a ${engine} database: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    const expected = await referenceSchema();
    const schema = compareSchema(shape, expected);
    const problems = schemaProblems(schema);

    const tables: Record<string, number> = {};
    for (const table of [...expected.tables.keys()].sort()) {
      if (!shape.tables.has(table)) continue;
      const { rows } = await sql<{
        n: number | string;
      }>`select count(*) as n from ${sql.table(table)}`.execute(db);
      tables[table] = Number(rows[0]?.n ?? 0);
    }

    let audit: BackupReport['audit'];
    if (shape.tables.has('audit_log') && shape.tables.has('audit_head')) {
      const chain = await verifyAuditChain(db);
      const head =
        (await db.selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1).executeTakeFirst()) ??
        null;
      audit = chain.ok
        ? { ok: true, rows: chain.rows, head }
        : { ok: false, rows: chain.rows, head, brokenAtSeq: chain.brokenAtSeq, reason: chain.reason };
      if (!chain.ok) problems.push(`the audit chain is broken at row ${chain.brokenAtSeq}: ${chain.reason}`);
    } else {
      audit = { ok: false, rows: 0, head: null, reason: 'the audit tables are missing' };
      problems.push('the audit chain cannot be checked: its tables are missing');
    }

    let secret: BackupReport['secret'] = null;
    if (options.secret !== undefined && shape.tables.get('second_factors')?.has('secret_sealed') === true) {
      const box = new SecretBox(options.secret);
      const sealed = await db
        .selectFrom('second_factors')
        .select('secret_sealed')
        .where('secret_sealed', 'is not', null)
        .limit(50)
        .execute();
      let opened = 0;
      for (const { secret_sealed } of sealed) {
        try {
          box.open(secret_sealed ?? '');
          opened += 1;
        } catch {
          // A seed sealed under another secret: counted below.
        }
      }
      secret = { ok: opened === sealed.length, opened, failed: sealed.length - opened };
      if (!secret.ok)
        problems.push(
          `the server secret given does not open ${secret.failed} of ${sealed.length} sealed TOTP seeds: it is not the secret of this database`,
        );
    }

    return {
      ok: problems.length === 0,
      engine,
      target: engine === 'postgres' ? redactUrl(target) : file,
      schema,
      audit,
      secret,
      tables,
      problems,
    };
  } finally {
    await db.destroy();
    done();
  }
}

/** The report for a person: the verdict, the audit head, then the rows per table. */
export function formatBackupReport(report: BackupReport): string {
  const lines = [
    report.ok
      ? `OK: ${report.target} is a whole ${report.engine} copy at schema ${report.schema.version}`
      : `BACKUP_INVALID: ${report.target}`,
    ...report.problems.map((p) => `  - ${p}`),
    report.audit.head === null
      ? '  audit: no chain head'
      : `  audit: ${report.audit.rows} rows, ${report.audit.ok ? 'chain intact' : 'chain BROKEN'}, head #${report.audit.head.seq} ${report.audit.head.hash.slice(0, 16)}…`,
  ];
  if (report.secret !== null)
    lines.push(
      `  secret: ${report.secret.ok ? 'opens' : 'does NOT open'} the sealed TOTP seeds (${report.secret.opened} opened, ${report.secret.failed} not)`,
    );
  lines.push(
    `  rows: ${Object.entries(report.tables)
      .filter(([, n]) => n > 0)
      .map(([t, n]) => `${t} ${n}`)
      .join(', ')}`,
  );
  return `${lines.join('\n')}\n`;
}
