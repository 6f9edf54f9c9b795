/**
 * `gatehouse serve` and the failure sandbox: `--demo` turns it on and `/readyz` says so; a start with
 * `sandbox.enabled` on a configuration that is not a development one prints a banner on stderr and logs a warning.
 * Runs the built CLI in child processes against temporary SQLite files.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from './support/local.js';

const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'packages/gateway/bin/gatehouse.js');
const dir = mkdtempSync(join(tmpdir(), 'gh-serve-sandbox-'));
const BANNER = /!!! FAILURE SANDBOX ON: .* This is not a production gateway\. !!!/;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Starts `gatehouse serve …`; resolves with its URL and what it wrote so far, once it serves. */
async function serve(args: string[]) {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [cli, 'serve', ...args], {
    env: { ...process.env, GATEHOUSE_LOG_LEVEL: 'warn' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const output = { stdout: '', stderr: '' };
  child.stderr.on('data', (c: Buffer) => {
    output.stderr += c.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      output.stdout += c.toString();
      const m = /serving on (http:\/\/\S+)/.exec(output.stdout);
      if (m?.[1] !== undefined) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${output.stdout}${output.stderr}`)));
  });
  return {
    url,
    output,
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

describe('gatehouse serve and the failure sandbox', { timeout: 120_000 }, () => {
  it('--demo turns the sandbox on: /readyz says so, and a development start prints no warning', async () => {
    const server = await serve(['--demo', '--port', '0', '--db', join(dir, 'demo.db')]);
    try {
      const ready = (await (await fetch(`${server.url}/readyz`)).json()) as Record<string, unknown>;
      expect(ready).toMatchObject({ status: 'ready', sandbox: true });
      const faults = await fetch(`${server.url}/v1/sandbox/faults`);
      expect(faults.status).toBe(401); // served (not 404), and not without a session
      expect(server.output.stderr).not.toMatch(BANNER);
      expect(server.output.stdout).not.toContain('failure sandbox is on outside development');
    } finally {
      await server.stop();
    }
  });

  it('sandbox.enabled outside development: a banner on stderr and a warning in the log', async () => {
    const port = await freePort();
    const config = join(dir, 'proxied.json');
    // Behind a trusted proxy: not a development configuration, even on loopback.
    writeFileSync(
      config,
      JSON.stringify({
        server: {
          port,
          host: '127.0.0.1',
          trustedProxies: ['127.0.0.1'],
          publicUrl: `http://127.0.0.1:${port}`,
        },
        database: { url: join(dir, 'proxied.db') },
        sandbox: { enabled: true },
      }),
    );
    const server = await serve(['--config', config]);
    try {
      expect(server.output.stderr).toMatch(BANNER);
      // The log is written asynchronously: the warning may come after the line that says where it serves.
      const warning = () =>
        server.output.stdout
          .split('\n')
          .filter((line) => line.startsWith('{'))
          .map((line) => JSON.parse(line) as { level: number; msg: string; sandbox?: boolean })
          .find((line) => line.msg.includes('failure sandbox is on outside development'));
      await expect.poll(warning, { timeout: 10_000 }).toMatchObject({ level: 40, sandbox: true });
      const ready = (await (await fetch(`${server.url}/readyz`)).json()) as Record<string, unknown>;
      expect(ready).toMatchObject({ status: 'ready', sandbox: true });
    } finally {
      await server.stop();
    }
  });
});
