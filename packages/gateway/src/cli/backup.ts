/**
 * @module cli/backup
 * `gatehouse backup <file>` and `gatehouse verify-backup <file|url>` (docs/reliability.md, "Backups and restore").
 *
 * SQLite: SQLite's online backup API (better-sqlite3 `backup()`) copies the database while the gateway serves. The
 * source is opened read-only; under WAL a reader never blocks the writer, and the copy is taken in one step, so it is
 * one consistent snapshot (a copy taken in several steps restarts whenever another connection writes between them,
 * which under steady order flow could be forever — sqlite.org/backup.html, sqlite3_backup_step). The copy is written
 * to a hidden file created with mode 0600 (it holds sealed TOTP seeds and token hashes, so it is never readable by
 * others, not even for a moment), switched to a rollback journal so it is one self-contained file, synced, verified,
 * and only then linked to its name: a backup at that name is whole, and an existing file is never overwritten.
 *
 * The server secret: sealed TOTP seeds and device cookies need the secret the database was written with. The secret
 * file (`gatehouse.secret` beside the database, or `secrets.secretFile`) is copied beside the backup as
 * `<file>.secret`, mode 0600, unless `--without-secret` (for operators who keep the secret apart from the backups; the
 * restore then needs it from where they keep it). A secret set in the configuration (`GATEHOUSE_SECRET`) is not
 * copied: the restored gateway needs the same setting. Either way the command says which.
 *
 * PostgreSQL: `gatehouse backup` answers BACKUP_POSTGRES_USE_PG_DUMP with the `pg_dump`/`pg_restore` commands to run;
 * `pg_dump` takes a consistent snapshot of a live database itself, and the operator's own tools (version matched to
 * the server, their storage, their retention) are better placed than a copy through this process.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  linkSync,
  lstatSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { openingRing, resolveServerSecret } from '../app/secret.js';
import type { Config } from '../config/index.js';
import { isPostgresUrl, redactUrl } from '../store/index.js';
import {
  BackupError,
  type BackupReport,
  betterSqlite3,
  formatBackupReport,
  readSecretFile,
  verifyBackup,
} from './backup-verify.js';
import { type CommonFlags, configFromFlags } from './options.js';

export { BackupError, type BackupReport, verifyBackup } from './backup-verify.js';

/** The secret file a SQLite gateway uses, as app/secret.ts resolves it (without creating one). */
function secretFileOf(config: Config, dbFile: string): string {
  return config.secrets.secretFile ?? join(dirname(dbFile), 'gatehouse.secret');
}

export interface BackupResult {
  file: string;
  bytes: number;
  /** Where the secret went: copied beside the backup, left out on request, set in the configuration, or absent. */
  secret:
    | { kind: 'copied'; file: string }
    | { kind: 'not-copied'; file: string }
    | { kind: 'config' }
    | { kind: 'missing'; file: string };
  /** The copy, verified. */
  report: BackupReport;
}

export interface BackupOptions {
  /** Leave the secret file out (`--without-secret`). */
  withoutSecret?: boolean;
}

/** The pg_dump / pg_restore commands for a PostgreSQL gateway (docs/deployment.md). */
export function postgresBackupAdvice(url: string): string {
  const shown = redactUrl(url);
  return [
    'gatehouse backup copies SQLite databases; back a PostgreSQL database up with pg_dump, which takes a consistent snapshot while the gateways serve:',
    `  pg_dump --format=custom --file=gatehouse.dump '${shown}'`,
    'restore it into a new, empty database and verify it before pointing gateways at it:',
    `  createdb gatehouse_restored && pg_restore --no-owner --dbname=gatehouse_restored gatehouse.dump`,
    `  gatehouse verify-backup 'postgres://…/gatehouse_restored'`,
    'the restored gateways need the same secrets.serverSecret (GATEHOUSE_SECRET) as the ones that wrote it.',
  ].join('\n');
}

/** Copies the SQLite database of `config` to `out` while it may be serving, with its secret unless told not to. */
export async function backupSqlite(
  config: Config,
  out: string,
  options: BackupOptions = {},
): Promise<BackupResult> {
  const url = config.database.url;
  if (isPostgresUrl(url)) throw new BackupError('BACKUP_POSTGRES_USE_PG_DUMP', postgresBackupAdvice(url));
  const source = url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : url;
  if (source === ':memory:' || !existsSync(source))
    throw new BackupError(
      'BACKUP_SOURCE_MISSING',
      `no database at ${source} (give --db or --config of the gateway to back up)`,
    );
  const target = resolve(out);
  const secretTarget = `${target}.secret`;
  // Any entry at either name (a dangling symlink too: lstat, not exists) refuses the backup before anything is written.
  for (const name of options.withoutSecret === true ? [target] : [target, secretTarget])
    if (entryAt(name)) throw exists(name);
  if (!existsSync(dirname(target)))
    throw new BackupError('BACKUP_SOURCE_MISSING', `the folder ${dirname(target)} does not exist`);

  const partial = join(dirname(target), `.${basename(target)}.partial-${randomBytes(6).toString('hex')}`);
  // Created 0600 before SQLite opens it: SQLite keeps an existing file's mode, and gives its journal the same one.
  const Sqlite = betterSqlite3();
  writeFileSync(partial, '', { mode: 0o600, flag: 'wx' });
  try {
    const live = new Sqlite(source, { readonly: true, fileMustExist: true });
    try {
      live.pragma('busy_timeout = 5000');
      // All remaining pages in one step (see the module header): one read transaction, one snapshot.
      await live.backup(partial, { progress: () => 0x7fffffff });
    } finally {
      live.close();
    }
    const copy = new Sqlite(partial);
    try {
      // One self-contained file: no -wal or -shm beside it to lose when it is moved.
      copy.pragma('journal_mode = DELETE');
    } finally {
      copy.close();
    }
    const fd = openSync(partial, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    const secretFile = secretFileOf(config, source);
    const secretRing =
      config.secrets.serverSecret === undefined && existsSync(secretFile)
        ? readSecretFile(secretFile)
        : undefined;
    // A secret set in the configuration (with its previous ones) is checked against the seeds as well.
    const checkWith =
      config.secrets.serverSecret === undefined ? secretRing : openingRing(resolveServerSecret(config).ring);
    const report = await verifyBackup(partial, checkWith === undefined ? {} : { secret: checkWith });
    let secret: BackupResult['secret'];
    if (config.secrets.serverSecret !== undefined) secret = { kind: 'config' };
    else if (secretRing === undefined) secret = { kind: 'missing', file: secretFile };
    else if (options.withoutSecret === true) secret = { kind: 'not-copied', file: secretFile };
    else secret = { kind: 'copied', file: secretTarget };
    // The secret first, then the copy at its name: a backup is never there without its secret, and an entry that
    // appeared at either name since the check leaves nothing written.
    if (secret.kind === 'copied')
      noOverwrite(secretTarget, () =>
        writeFileSync(secretTarget, readFileSync(secretFile), { mode: 0o600, flag: 'wx' }),
      );
    try {
      noOverwrite(target, () => linkSync(partial, target));
    } catch (error) {
      if (secret.kind === 'copied') rmSync(secretTarget, { force: true });
      throw error;
    }
    report.target = target;
    syncFolder(dirname(target));
    return { file: target, bytes: statSync(target).size, secret, report };
  } finally {
    rmSync(partial, { force: true });
    rmSync(`${partial}-journal`, { force: true });
  }
}

/** Whether anything is at `name`, a dangling symlink included. */
function entryAt(name: string): boolean {
  try {
    lstatSync(name);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

function exists(name: string): BackupError {
  return new BackupError('BACKUP_EXISTS', `${name} exists; a backup never overwrites a file`);
}

/** Runs `create` (an exclusive create at `name`), answering `BACKUP_EXISTS` if something is there. */
function noOverwrite(name: string, create: () => void): void {
  try {
    create();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw exists(name);
    throw error;
  }
}

function syncFolder(folder: string): void {
  const fd = openSync(folder, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function secretLine(secret: BackupResult['secret']): string {
  switch (secret.kind) {
    case 'copied':
      return `secret: copied to ${secret.file} (mode 0600). The copy is useless without it: sealed TOTP seeds and device cookies need it. Keep both as safe as the live data; restore the secret as gatehouse.secret beside the database (or point secrets.secretFile at it).`;
    case 'not-copied':
      return `secret: NOT copied (--without-secret). A restore needs ${secret.file} as it is now; without it every TOTP enrolment and remembered device is lost.`;
    case 'config':
      return 'secret: set in the configuration (secrets.serverSecret / GATEHOUSE_SECRET); the restored gateway needs the same setting.';
    case 'missing':
      return `secret: WARNING — no secret file at ${secret.file}; the sealed TOTP seeds in this copy cannot be opened without the secret they were written with.`;
  }
}

function printError(error: unknown): void {
  if (error instanceof BackupError) {
    process.stderr.write(`error ${error.code}: ${error.message}\n`);
    process.exitCode = 1;
    return;
  }
  throw error;
}

export function registerBackupCommands(program: Command): void {
  program
    .command('backup')
    .description(
      'copy the SQLite database while the gateway serves (online backup API; mode 0600), with its server secret beside it, and verify the copy (PostgreSQL: says how to use pg_dump)',
    )
    .argument('<file>', 'where the copy goes (never overwritten); the secret goes to <file>.secret')
    .option('--db <url>', 'database: a SQLite file path (default ./data/gatehouse.db)')
    .option('--config <file>', 'JSON config file (default ./gatehouse.config.json when present)')
    .option('--without-secret', 'do not copy the server secret file beside the backup')
    .option('--json', 'print one JSON document')
    .action(async (file: string, flags: CommonFlags & { withoutSecret?: boolean; json?: boolean }) => {
      try {
        const result = await backupSqlite(configFromFlags(flags, { log: { level: 'warn' } }), file, {
          withoutSecret: flags.withoutSecret === true,
        });
        if (flags.json === true) process.stdout.write(`${JSON.stringify(result)}\n`);
        else
          process.stdout.write(
            `wrote ${result.file} (${result.bytes} bytes, mode 0600): one consistent snapshot\n${formatBackupReport(result.report)}${secretLine(result.secret)}\n`,
          );
        if (!result.report.ok) {
          process.stderr.write('the copy was written but does not verify (see above)\n');
          process.exitCode = 1;
        }
      } catch (error) {
        printError(error);
      }
    });

  program
    .command('verify-backup')
    .description(
      'check a backup or restored copy read-only: schema version, the audit chain, rows per table (and, with --secret-file, the server secret)',
    )
    .argument('<target>', 'a SQLite file, or the postgres://… URL of a database pg_restore filled')
    .option(
      '--secret-file <file>',
      'the server secret to check against the sealed TOTP seeds (default for a file: <file>.secret when present)',
    )
    .option('--json', 'print one JSON document')
    .action(async (target: string, flags: { secretFile?: string; json?: boolean }) => {
      try {
        const besides = `${target}.secret`;
        const secretFile =
          flags.secretFile ?? (!isPostgresUrl(target) && existsSync(besides) ? besides : undefined);
        const report = await verifyBackup(
          target,
          secretFile === undefined ? {} : { secret: readSecretFile(secretFile) },
        );
        process.stdout.write(
          flags.json === true ? `${JSON.stringify(report)}\n` : formatBackupReport(report),
        );
        if (!report.ok) process.exitCode = 1;
      } catch (error) {
        printError(error);
      }
    });
}
