/**
 * A PostgreSQL cluster of the test's own, on a free port and in a temporary folder (`.ci/postgres.sh` with `PGPORT`
 * and `PGDATA_DIR`), for tests that restart or kill the server: the shared one (GATEHOUSE_TEST_DATABASE_URL) is never
 * touched. Needs the PostgreSQL server binaries (`/usr/lib/postgresql/<version>/bin`), as CI's PostgreSQL line has.
 * Run as root, the server's commands run as the `postgres` user, as the script does.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TEST_PG_URL } from '../../packages/gateway/src/test-support/databases.js';
import { freePort } from './local.js';

const run = promisify(execFile);
const root = new URL('../..', import.meta.url).pathname;

/**
 * Whether the PostgreSQL fault tests run: where PostgreSQL tests run (GATEHOUSE_TEST_DATABASE_URL set and not
 * `none`, as on CI's PostgreSQL line). In CI, unset fails the run rather than skipping it.
 */
export function postgresFaultsRun(): boolean {
  if (TEST_PG_URL === undefined || TEST_PG_URL === '') {
    if (process.env.CI === 'true')
      throw new Error('CI must set GATEHOUSE_TEST_DATABASE_URL: the PostgreSQL fault tests run there');
    return false;
  }
  return TEST_PG_URL !== 'none';
}

export interface PrivatePostgres {
  /** `postgres://postgres@127.0.0.1:<port>/gatehouse_test` */
  url: string;
  port: number;
  /** `pg_ctl restart -m fast`: every session is ended (57P01), the server is back when it returns. */
  restartFast(): Promise<void>;
  /** SIGKILL of the postmaster; its backends end by themselves. The server stays down until `start`. */
  killPostmaster(): Promise<void>;
  /** Starts the server again (after `killPostmaster`), retrying while the killed one's backends still exit. */
  start(): Promise<void>;
  /** Stops the server at once and removes its folder. */
  close(): Promise<void>;
}

function binDir(): string {
  const base = '/usr/lib/postgresql';
  const versions = readdirSync(base).sort((a, b) => Number(a) - Number(b));
  const last = versions.at(-1);
  if (last === undefined) throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql');
  return join(base, last, 'bin');
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const port = await freePort();
  const dir = `/tmp/gh-pgfault-${port}-${process.pid}`;
  const env = { ...process.env, PGPORT: String(port), PGDATA_DIR: dir };
  const { stdout } = await run('bash', [join(root, '.ci/postgres.sh')], { env });
  const url = stdout.trim().split('\n').at(-1) as string;
  const bin = binDir();
  const asPostgres = (command: string, args: string[]) =>
    process.getuid?.() === 0
      ? run('runuser', ['-u', 'postgres', '--', join(bin, command), ...args])
      : run(join(bin, command), args);
  const data = join(dir, 'data');
  const pgctl = (...args: string[]) => asPostgres('pg_ctl', ['-D', data, '-l', join(dir, 'log'), ...args]);
  const startArgs = ['-w', '-o', `-h 127.0.0.1 -p ${port} -k ${dir} -c fsync=off`, 'start'];
  return {
    url,
    port,
    async restartFast() {
      await pgctl('-w', '-m', 'fast', 'restart');
    },
    async killPostmaster() {
      const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
      process.kill(pid, 'SIGKILL');
    },
    async start() {
      const end = Date.now() + 15_000;
      for (;;) {
        try {
          await pgctl(...startArgs);
          return;
        } catch (error) {
          // The killed postmaster's backends hold its shared memory until they notice and exit.
          if (Date.now() > end) throw error;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    },
    async close() {
      await pgctl('-m', 'immediate', 'stop').catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
