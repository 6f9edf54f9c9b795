/**
 * docs/sdk/first-bot.md, followed as written: `gatehouse serve --demo` (what `npm start` runs; here on a free port
 * and a fresh database), the tarballs `npm run pack:sdk` makes (packed here without its rebuild: the workspace is
 * built), an empty project made with `npm init -y` and one `npm install` of both tarballs and `ws`,
 * `gatehouse client create` answered at its prompts with alice's demo password and authenticator code, its output
 * saved as client.json, and examples/first-bot/bot.mjs run twice. Both runs must exit 0 (the order accepted and
 * filled, once); the second must run on the first one's session (the key kept in the token file).
 */
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { totpCode } from '../packages/gateway/src/factors/index.js';

const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'packages/gateway/dist/cli/main.js');
const DEMO_TOTP = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';

function run(command: string, args: string[], cwd: string, input?: string) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(
      command,
      args,
      { cwd, timeout: 90_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) =>
        resolve({
          code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1,
          stdout,
          stderr,
        }),
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

const work = realpathSync(mkdtempSync(join(tmpdir(), 'gh-first-bot-')));
const server = spawn(
  process.execPath,
  [cli, 'serve', '--demo', '--port', '0', '--db', join(work, 'gatehouse.db')],
  {
    cwd: work,
    env: { ...process.env, GATEHOUSE_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  },
);
afterAll(async () => {
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGTERM');
  await exited;
  rmSync(work, { recursive: true, force: true });
});

describe('docs/sdk/first-bot.md', () => {
  it('takes an empty directory to a running, restartable bot', async () => {
    // 1. Start Gatehouse.
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      server.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /serving on (http:\/\/\S+)/.exec(out);
        if (m?.[1] !== undefined) resolve(m[1]);
      });
      server.once('exit', (code) => reject(new Error(`serve exited ${code}: ${out}`)));
    });
    // 2. Pack the SDK.
    const packs = join(work, 'dist-packages');
    mkdirSync(packs);
    const packed = await run(
      'npm',
      ['pack', '--json', '--pack-destination', packs, '-w', 'packages/protocol', '-w', 'packages/sdk'],
      root,
    );
    expect(packed.code, packed.stderr).toBe(0);
    const tarballs = (JSON.parse(packed.stdout) as { filename: string }[]).map((p) =>
      join(packs, p.filename),
    );
    // 3. Make the bot's project.
    const project = join(work, 'my-bot');
    mkdirSync(project);
    expect((await run('npm', ['init', '-y'], project)).code).toBe(0);
    const installed = await run(
      'npm',
      ['install', '--prefix', project, '--no-audit', '--no-fund', '--prefer-offline', ...tarballs, 'ws'],
      project,
    );
    expect(installed.code, installed.stderr).toBe(0);
    copyFileSync(join(root, 'examples/first-bot/bot.mjs'), join(project, 'bot.mjs'));
    // 4. Register the bot (the prompts read standard input when it is not a terminal).
    const created = await run(
      process.execPath,
      [
        cli,
        'client',
        'create',
        '--url',
        url,
        '--user',
        'alice',
        '--accounts',
        'U1000001',
        '--scopes',
        'read,trade,marketdata',
        '--jwk-out',
        join(project, 'bot.jwk'),
      ],
      root,
      `alice-demo-password\n${totpCode(DEMO_TOTP, Date.now())}\n`,
    );
    expect(created.code, created.stderr).toBe(0);
    writeFileSync(join(project, 'client.json'), created.stdout);
    // 5. Run it, twice.
    const runs = [];
    for (let i = 0; i < 2; i += 1) {
      const ran = await run(process.execPath, ['bot.mjs'], project);
      expect(ran.code, `${ran.stdout}\n${ran.stderr}`).toBe(0);
      expect(ran.stdout).toContain('state syncing → ready');
      runs.push(JSON.parse(ran.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>);
    }
    expect(runs.map((r) => [r.ok, r.filled])).toEqual([
      [true, true],
      [true, true],
    ]);
    expect(runs[1]?.orderId).not.toBe(runs[0]?.orderId);
    expect(runs[0]?.session).toMatch(/^\S+$/);
    expect(runs[1]?.session).toBe(runs[0]?.session); // the restart kept its key, its token and its session
  }, 180_000);
});
