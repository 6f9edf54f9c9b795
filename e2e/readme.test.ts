/**
 * The README's curl walk-through, run verbatim (only the port differs) against `gatehouse serve --demo` started as
 * a child process from the built CLI, the way a newcomer would run it.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'packages/gateway/bin/gatehouse.js');
const run = promisify(execFile);

let server: ChildProcess;
let baseUrl: string;
const dataDir = mkdtempSync(join(tmpdir(), 'gh-readme-'));

beforeAll(async () => {
  expect(existsSync(join(root, 'packages/gateway/dist/cli/main.js')), 'run `npm run build` first').toBe(true);
  server = spawn(process.execPath, [cli, 'serve', '--demo', '--port', '0', '--db', join(dataDir, 'g.db')], {
    env: { ...process.env, GATEHOUSE_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  baseUrl = await new Promise<string>((resolve, reject) => {
    let out = '';
    server.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /serving on (http:\/\/\S+)/.exec(out);
      if (match?.[1] !== undefined) resolve(match[1]);
    });
    server.once('exit', (code) => reject(new Error(`server exited with ${code}: ${out}`)));
  });
});

afterAll(() => {
  server?.kill('SIGTERM');
  rmSync(dataDir, { recursive: true, force: true });
});

describe('README', () => {
  it('runs an IBKR bot’s first call against the CPAPI listener as written', async () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Run your IBKR bot against Gatehouse'));
    const block = /```bash\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
    const [start, call] = block.split('\n');
    expect(start).toMatch(/^npm start -- --cpapi --cpapi-user alice/);
    // The start command's flags, on the built CLI, with the ports the test can have.
    const flags = (start ?? '').split('#')[0]?.trim().split(/\s+/).slice(3) ?? [];
    const cpapi = spawn(
      process.execPath,
      [
        cli,
        'serve',
        '--demo',
        '--port',
        '0',
        '--db',
        join(dataDir, 'cpapi.db'),
        ...flags.map((f) => (f === '--cpapi' ? '--cpapi=0' : f)),
      ],
      { env: { ...process.env, GATEHOUSE_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      const faceUrl = await new Promise<string>((resolve, reject) => {
        let out = '';
        cpapi.stdout?.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const match = /Client Portal Web API: (http:\/\/\S+?)\/v1\/api\/ \(logged in\)/.exec(out);
          if (match?.[1] !== undefined) resolve(match[1]);
        });
        cpapi.once('exit', (code) => reject(new Error(`server exited with ${code}: ${out}`)));
      });
      const script = `set -euo pipefail\n${(call ?? '').replaceAll('http://localhost:5000', faceUrl)}`;
      const { stdout } = await run('bash', ['-c', script], { cwd: root, timeout: 30_000 });
      const tickle = JSON.parse(stdout) as {
        session: string;
        iserver: { authStatus: { authenticated: boolean } };
      };
      expect(tickle.iserver.authStatus.authenticated).toBe(true);
      expect(tickle.session).toMatch(/^[0-9a-f]{32}$/);
    } finally {
      cpapi.kill('SIGTERM');
    }
  });

  it('prints the demo credentials on start', async () => {
    const { stdout } = await run(process.execPath, [cli, 'demo', '--json', '--db', join(dataDir, 'g.db')]);
    const parsed = JSON.parse(stdout) as { users: { username: string; accounts: { entity: string }[] }[] };
    expect(parsed.users.map((u) => u.username)).toContain('alice');
    const entities = new Set(parsed.users.flatMap((u) => u.accounts.map((a) => a.entity)));
    expect(entities.size).toBeGreaterThanOrEqual(3);
  });

  it('serves the Client Portal at / with its script and style from the build', async () => {
    const page = await fetch(`${baseUrl}/`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('<div id="root"></div>');
    const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1] as string);
    expect(assets.some((a) => a.endsWith('.js'))).toBe(true);
    expect(assets.some((a) => a.endsWith('.css'))).toBe(true);
    for (const asset of assets) expect((await fetch(`${baseUrl}${asset}`)).status, asset).toBe(200);
  });

  it('the curl walk-through works as written', async () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Log in with curl'));
    const block = /```bash\n([\s\S]*?)```/.exec(section)?.[1];
    expect(block).toBeDefined();
    const script = `set -euo pipefail\n${(block ?? '').replaceAll('http://localhost:8080', baseUrl)}`;
    const untracked = async () =>
      (
        await run('git', ['status', '--porcelain', '--untracked-files=all', '--ignored'], { cwd: root })
      ).stdout
        .split('\n')
        .filter((l) => /^(\?\?|!!) [^/]*\.(json|txt)$/.test(l));
    const before = await untracked();
    const { stdout } = await run('bash', ['-c', script], { cwd: root, timeout: 30_000 });
    // It leaves the repository as it was: a newcomer's next command (`npm run lint`) meets no stray file.
    expect(await untracked()).toEqual(before);
    expect(stdout).toContain('"status":"second_factor_required"');
    expect(stdout).toContain('"status":"authenticated"');
    expect(stdout).toContain('"username":"alice"');
    expect(stdout).toContain('"status":"logged_out"');
    expect(stdout.trim().endsWith('}')).toBe(true);
    expect(stdout).toContain('"code":"SESSION_REVOKED"');
    const verify = await run(process.execPath, [cli, 'audit', 'verify', '--db', join(dataDir, 'g.db')]);
    expect(verify.stdout).toMatch(/^OK: \d+ rows/);
  });
});
