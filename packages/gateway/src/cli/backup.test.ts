/**
 * `gatehouse backup` and `gatehouse verify-backup` over a gateway's own database: an in-process gateway on a SQLite
 * file (users, sessions, orders, audit rows) is copied while it takes orders; the copy verifies, and each kind of
 * damage to a copy — an audit row edited, the newest audit row deleted, a table dropped, a migration of a newer
 * version, the wrong server secret — makes it fail with the reason. On PostgreSQL (GATEHOUSE_TEST_DATABASE_URL): a
 * gateway's database is dumped with pg_dump and restored with pg_restore into a new database, which verifies with
 * the source's row counts, and fails once an audit row of it is edited. The restore into a fresh serving gateway, as
 * processes: e2e/backup.test.ts.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultConfig } from '../config/index.js';
import { testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  callAs,
  loginTrading,
  startTestGateway,
  TEST_SECRET,
  type TestGateway,
} from '../test-support/gateway.js';
import { BackupError, backupSqlite, verifyBackup } from './backup.js';

const dir = mkdtempSync(join(tmpdir(), 'gh-backup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function order(i: number) {
  return {
    clientOrderId: `b-${i}`,
    instrumentId: 265598,
    side: 'BUY',
    type: 'LMT',
    limitPrice: 1,
    quantity: 1,
    tif: 'GTC',
  };
}

/** A gateway with a trading session and `count` acknowledged orders; resolves to their ids. */
async function withOrders(gw: TestGateway, count: number) {
  const alice = await loginTrading(gw, ALICE);
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const placed = await callAs(gw, 'POST', '/v1/accounts/DU1000001/orders', alice, order(i));
    expect(placed.statusCode).toBe(201);
    ids.push((placed.json() as { id: string }).id);
  }
  return { alice, ids };
}

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('gatehouse backup on SQLite', async () => {
  const live = join(dir, 'live.db');
  const secretFile = join(dir, 'live.secret');
  writeFileSync(secretFile, `${TEST_SECRET}\n`, { mode: 0o600 });
  const config = defaultConfig({ database: { url: live }, secrets: { secretFile } });
  const gw = await startTestGateway({
    database: {
      dialect: 'sqlite',
      url: live,
      options: { sqliteDriver: 'better-sqlite3' },
      drop: async () => {},
    },
  });
  const { alice, ids } = await withOrders(gw, 20);
  const backup = join(dir, 'copy.db');
  // Injected: a backup taken while 30 more orders are being placed on the same database.
  const more = (async () => {
    for (let i = 20; i < 50; i++) await callAs(gw, 'POST', '/v1/accounts/DU1000001/orders', alice, order(i));
  })();
  const result = await backupSqlite(config, backup);
  await more;
  afterAll(() => gw.close());

  it('copies a serving database with orders in flight: mode 0600, one file, the secret beside it, and the copy verifies', async () => {
    expect(statSync(backup).mode & 0o777).toBe(0o600);
    expect(statSync(`${backup}.secret`).mode & 0o777).toBe(0o600);
    expect(readFileSync(`${backup}.secret`, 'utf8')).toBe(`${TEST_SECRET}\n`);
    expect(result.secret).toEqual({ kind: 'copied', file: `${backup}.secret` });
    // No partial file, -wal or -shm left beside it.
    expect(
      readdirSync(dir)
        .filter((f) => f.startsWith('copy.db'))
        .sort(),
    ).toEqual(['copy.db', 'copy.db.secret']);
    expect(result.report.ok).toBe(true);
    expect(result.report.problems).toEqual([]);
    expect(result.report.secret).toEqual({ ok: true, opened: 5, failed: 0 });
    // Every order acknowledged before the backup began is in the copy; the copy holds between 20 and 50.
    const copy = new BetterSqlite3(backup, { readonly: true });
    const stored = new Set(
      (copy.prepare('select id from orders').all() as { id: string }[]).map((r) => r.id),
    );
    copy.close();
    for (const id of ids) expect(stored.has(id)).toBe(true);
    expect(result.report.tables.orders).toBe(stored.size);
    expect(stored.size).toBeGreaterThanOrEqual(20);
    expect(stored.size).toBeLessThanOrEqual(50);
    expect(result.report.audit.ok).toBe(true);
    expect(result.report.audit.head?.seq).toBe(result.report.audit.rows);
    expect(result.report.tables.sessions).toBeGreaterThanOrEqual(1);
  });

  it('verifies a copy without writing to it (the file is byte for byte the same)', async () => {
    const before = sha(backup);
    const report = await verifyBackup(backup, { secret: Buffer.from(TEST_SECRET, 'base64') });
    expect(report.ok).toBe(true);
    expect(sha(backup)).toBe(before);
  });

  /** A copy of the backup damaged by `edit`, verified. */
  async function damaged(name: string, edit: (db: BetterSqlite3.Database) => void) {
    const file = join(dir, `${name}.db`);
    copyFileSync(backup, file);
    const db = new BetterSqlite3(file);
    edit(db);
    db.close();
    return verifyBackup(file);
  }

  it('fails a copy whose audit row 3 was edited, naming the row', async () => {
    const report = await damaged('edited', (db) =>
      db.prepare(`update audit_log set data = '{"by":"someone else"}' where seq = 3`).run(),
    );
    expect(report.ok).toBe(false);
    expect(report.audit).toMatchObject({
      ok: false,
      brokenAtSeq: 3,
      reason: 'row content does not match its hash',
    });
    expect(report.problems).toContain(
      'the audit chain is broken at row 3: row content does not match its hash',
    );
  });

  it('fails a copy whose newest audit row was deleted (the head records it)', async () => {
    const report = await damaged('truncated', (db) =>
      db.prepare('delete from audit_log where seq = (select max(seq) from audit_log)').run(),
    );
    expect(report.ok).toBe(false);
    expect(report.audit.reason).toMatch(/its head records row/);
  });

  it('fails a copy whose orders table was dropped, naming the table', async () => {
    const report = await damaged('dropped', (db) => db.exec('pragma foreign_keys = off; drop table orders'));
    expect(report.ok).toBe(false);
    expect(report.schema.missingTables).toContain('orders');
    expect(report.tables.orders).toBeUndefined();
    expect(report.problems.join('\n')).toMatch(/tables missing from the copy: .*orders/);
  });

  it('fails a copy made by a newer version (a migration this version does not know)', async () => {
    const report = await damaged('newer', (db) =>
      db.prepare(`insert into kysely_migration (name, timestamp) values ('9999-future', '2030-01-01')`).run(),
    );
    expect(report.ok).toBe(false);
    expect(report.schema.unknownMigrations).toEqual(['9999-future']);
    expect(report.problems[0]).toMatch(/newer version/);
  });

  it('fails when the server secret given is not the one the seeds were sealed with', async () => {
    const report = await verifyBackup(backup, { secret: Buffer.alloc(32, 9) });
    expect(report.ok).toBe(false);
    expect(report.secret).toEqual({ ok: false, opened: 0, failed: 5 });
  });

  it('says where the secret went: left out with --without-secret, set in the configuration, or missing', async () => {
    const without = await backupSqlite(config, join(dir, 'without.db'), { withoutSecret: true });
    expect(without.secret).toEqual({ kind: 'not-copied', file: secretFile });
    expect(existsSync(join(dir, 'without.db.secret'))).toBe(false);
    expect(without.report.secret?.ok).toBe(true);
    const configured = defaultConfig({ database: { url: live }, secrets: { serverSecret: TEST_SECRET } });
    const inConfig = await backupSqlite(configured, join(dir, 'configured.db'));
    expect(inConfig.secret).toEqual({ kind: 'config' });
    expect(existsSync(join(dir, 'configured.db.secret'))).toBe(false);
    // The configured secret is checked against the copy's sealed seeds too.
    expect(inConfig.report.secret).toEqual({ ok: true, opened: 5, failed: 0 });
    const absent = defaultConfig({
      database: { url: live },
      secrets: { secretFile: join(dir, 'no.secret') },
    });
    const missing = await backupSqlite(absent, join(dir, 'missing.db'));
    expect(missing.secret).toEqual({ kind: 'missing', file: join(dir, 'no.secret') });
    expect(existsSync(join(dir, 'no.secret'))).toBe(false);
  });

  it('refuses, coded and changing nothing: an existing target, a PostgreSQL URL, a missing source, a file that is not a database', async () => {
    const before = sha(backup);
    await expect(backupSqlite(config, backup)).rejects.toMatchObject({ code: 'BACKUP_EXISTS' });
    expect(sha(backup)).toBe(before);
    const pgConfig = defaultConfig({
      database: { url: 'postgres://gh:pw@db.example/gatehouse' },
      secrets: { serverSecret: TEST_SECRET },
    });
    const refused = await backupSqlite(pgConfig, join(dir, 'pg.db')).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(BackupError);
    expect(refused).toMatchObject({ code: 'BACKUP_POSTGRES_USE_PG_DUMP' });
    expect((refused as Error).message).toContain('pg_dump --format=custom');
    expect((refused as Error).message).not.toContain('pw@');
    expect(existsSync(join(dir, 'pg.db'))).toBe(false);
    const missing = defaultConfig({ database: { url: join(dir, 'nothing.db') } });
    await expect(backupSqlite(missing, join(dir, 'n.db'))).rejects.toMatchObject({
      code: 'BACKUP_SOURCE_MISSING',
    });
    writeFileSync(join(dir, 'text.db'), 'not a database at all, just some text that is long enough');
    await expect(verifyBackup(join(dir, 'text.db'))).rejects.toMatchObject({ code: 'BACKUP_UNREADABLE' });
  });

  it('refuses BACKUP_EXISTS and writes nothing when anything is at either name: a dangling symlink at <file>.secret, a file at <file>.secret, a dangling symlink at <file>', async () => {
    const names = () => readdirSync(dir).filter((f) => f.startsWith('taken'));
    // Injected: a dangling symlink at the secret's name (existsSync says no entry; lstat finds one).
    symlinkSync(join(dir, 'nowhere'), join(dir, 'taken-a.db.secret'));
    // Injected: a file at the secret's name; a dangling symlink at the copy's name.
    writeFileSync(join(dir, 'taken-b.db.secret'), 'someone else');
    symlinkSync(join(dir, 'nowhere'), join(dir, 'taken-c.db'));
    const before = names().sort();
    for (const name of ['taken-a.db', 'taken-b.db', 'taken-c.db']) {
      const refused = await backupSqlite(config, join(dir, name)).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(BackupError);
      expect(refused).toMatchObject({ code: 'BACKUP_EXISTS' });
    }
    expect(names().sort()).toEqual(before);
    expect(readFileSync(join(dir, 'taken-b.db.secret'), 'utf8')).toBe('someone else');
    expect(existsSync(join(dir, 'nowhere'))).toBe(false);
    expect(readdirSync(dir).some((f) => f.includes('.partial-'))).toBe(false);
  });

  it('verifies a SQLite file in WAL mode (injected: journal_mode = WAL on a copy) without creating anything beside it: no -shm, no -wal, the file byte for byte the same', async () => {
    const wal = join(dir, 'wal.db');
    copyFileSync(backup, wal);
    const writer = new BetterSqlite3(wal);
    writer.pragma('journal_mode = WAL');
    writer.close();
    const beside = () => readdirSync(dir).filter((f) => f.startsWith('wal.db'));
    // Closed: SQLite removed its -wal and -shm; the file's header stays in WAL mode.
    expect(beside()).toEqual(['wal.db']);
    expect([...readFileSync(wal).subarray(18, 20)]).toEqual([2, 2]);
    const before = sha(wal);
    const report = await verifyBackup(wal);
    expect(report.ok).toBe(true);
    expect(report.tables.orders).toBe(result.report.tables.orders);
    expect(beside()).toEqual(['wal.db']);
    expect(sha(wal)).toBe(before);
  });
});

/** pg_dump and pg_restore: on PATH, or PostgreSQL's Debian folder (the newest there). */
function pgTool(name: string): string {
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) if (existsSync(join(base, v, 'bin', name))) return join(base, v, 'bin', name);
  return name;
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile(command, args, { timeout: 60_000 }, (error, _out, stderr) =>
      error === null ? resolve() : reject(new Error(`${command}: ${stderr || error.message}`)),
    ),
  );
}

const postgres = testDatabases().filter(([name]) => name === 'postgres');
describe.runIf(postgres.length > 0)('pg_dump and pg_restore, then verify-backup (PostgreSQL)', () => {
  it('restores a dumped gateway database into a new database that verifies with the same rows, and fails once an audit row is edited', async () => {
    const source = await (postgres[0] as (typeof postgres)[number])[1]();
    const target = await (postgres[0] as (typeof postgres)[number])[1]();
    const dump = join(dir, 'pg.dump');
    try {
      const gw = await startTestGateway({ database: source });
      await withOrders(gw, 10);
      const before = await verifyBackup(source.url);
      await run(pgTool('pg_dump'), ['--format=custom', `--file=${dump}`, source.url]);
      await gw.close();
      await run(pgTool('pg_restore'), ['--no-owner', `--dbname=${target.url}`, dump]);

      const restored = await verifyBackup(target.url, { secret: Buffer.from(TEST_SECRET, 'base64') });
      expect(restored.problems).toEqual([]);
      expect(restored.ok).toBe(true);
      expect(restored.engine).toBe('postgres');
      expect(restored.tables).toEqual(before.tables);
      expect(restored.tables.orders).toBe(10);
      expect(restored.audit.head).toEqual(before.audit.head);
      expect(restored.secret).toEqual({ ok: true, opened: 5, failed: 0 });

      // Injected: audit row 2 of the restored database edited.
      const client = new pg.Client({ connectionString: target.url });
      await client.connect();
      await client.query(`update audit_log set ip = '203.0.113.9' where seq = 2`);
      await client.end();
      const tampered = await verifyBackup(target.url);
      expect(tampered.ok).toBe(false);
      expect(tampered.audit).toMatchObject({ ok: false, brokenAtSeq: 2 });
    } finally {
      await source.drop();
      await target.drop();
    }
  }, 60_000);
});
