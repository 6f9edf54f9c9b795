/**
 * The SQLite driver choice: `auto` takes better-sqlite3 when its addon loads and node:sqlite otherwise; with
 * neither, opening fails with the command that fixes it. The missing addon is simulated in a child process whose
 * module resolution refuses `better-sqlite3`, as after an optional dependency's failed build. Both drivers set the
 * same pragmas, the page cache's size among them.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from './database.js';
import { nodeSqlite, SQLITE_CACHE_KIB } from './sqlite.js';

const dir = mkdtempSync(join(tmpdir(), 'gh-sqlite-driver-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const hide = join(dir, 'hide-better-sqlite3.cjs');
writeFileSync(
  hide,
  `const Module = require('node:module');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === 'better-sqlite3') throw Object.assign(new Error("Cannot find module 'better-sqlite3'"), { code: 'MODULE_NOT_FOUND' });
  return resolve.call(this, request, ...rest);
};
`,
);

/** Opens a database in a child process without better-sqlite3; prints its description or the error. */
function openWithoutAddon(driver: string): { stdout: string; stderr: string; status: number | null } {
  const database = new URL('./database.ts', import.meta.url).pathname;
  const script = `
    import { openDatabase } from ${JSON.stringify(database)};
    try {
      const store = openDatabase(':memory:', { sqliteDriver: ${JSON.stringify(driver)} });
      const { sql } = await import('kysely');
      const { rows } = await sql\`select 1 + 1 as two\`.execute(store.db);
      console.log(store.description, rows[0].two);
      await store.close();
    } catch (error) {
      console.log('ERROR', error.message);
    }`;
  const child = spawnSync(
    process.execPath,
    ['--require', hide, '--import', 'tsx', '--input-type=module', '--eval', script],
    { encoding: 'utf8', timeout: 60_000 },
  );
  return { stdout: child.stdout, stderr: child.stderr, status: child.status };
}

// SQLite only: these tests choose between SQLite's drivers; PostgreSQL has no driver choice to test.
describe('SQLite driver', () => {
  it('opens on better-sqlite3 under auto when its addon loads', async () => {
    const store = openDatabase(':memory:');
    expect(store.description).toBe('sqlite::memory: (better-sqlite3)');
    await store.close();
  });

  it('without better-sqlite3, falls back to node:sqlite under auto, or names the fix on a runtime without it', () => {
    const child = openWithoutAddon('auto');
    if (nodeSqlite() !== undefined) {
      expect(child.stdout.trim()).toBe('sqlite::memory: (node:sqlite) 2');
      expect(child.status).toBe(0);
    } else {
      expect(child.stdout).toContain('ERROR No SQLite driver');
      expect(child.stdout).toContain('npm rebuild better-sqlite3');
      expect(child.stdout).toContain(process.version);
    }
  });

  it('refuses better-sqlite3 by name when its addon is missing, with the reason', () => {
    const child = openWithoutAddon('better-sqlite3');
    expect(child.stdout).toContain(
      "ERROR database.sqliteDriver better-sqlite3 did not load: Cannot find module 'better-sqlite3'",
    );
  });

  it('opens node:sqlite by name where the runtime has it, and refuses it by name elsewhere', async () => {
    if (nodeSqlite() !== undefined) {
      const store = openDatabase(':memory:', { sqliteDriver: 'node:sqlite' });
      expect(store.description).toBe('sqlite::memory: (node:sqlite)');
      await store.close();
    } else {
      expect(() => openDatabase(':memory:', { sqliteDriver: 'node:sqlite' })).toThrow(
        /node:sqlite needs Node\.js 22\.13 or later/,
      );
    }
  });

  it.each(['better-sqlite3', 'node:sqlite'] as const)(
    'sets the same pragmas on %s, the page cache at 16 MB among them',
    async (driver) => {
      if (driver === 'node:sqlite' && nodeSqlite() === undefined) {
        expect(() => openDatabase(':memory:', { sqliteDriver: driver })).toThrow(/node:sqlite needs/);
        return;
      }
      const store = openDatabase(join(dir, `pragmas-${driver.replace(':', '-')}.db`), {
        sqliteDriver: driver,
      });
      const { sql } = await import('kysely');
      const read = async (name: string) =>
        Object.values((await sql.raw(`PRAGMA ${name}`).execute(store.db)).rows[0] as object)[0];
      expect(SQLITE_CACHE_KIB).toBe(-16_000);
      expect(await read('cache_size')).toBe(-16_000);
      expect(await read('journal_mode')).toBe('wal');
      expect(await read('foreign_keys')).toBe(1);
      expect(await read('busy_timeout')).toBe(5000);
      await store.close();
    },
  );
});
