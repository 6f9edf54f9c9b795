/**
 * Push approval over real sockets and processes: `gatehouse serve` in one child process,
 * `gatehouse authenticator run --auto-approve` in another, and a web login driven over HTTP that completes when
 * the authenticator approves it.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { totpCode } from '../packages/gateway/src/factors/index.js';

const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'packages/gateway/bin/gatehouse.js');
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'gh-auth-'));
const keyFile = join(dir, 'authenticator.json');
const children: ChildProcess[] = [];
let base = '';

function waitForLine(
  child: ChildProcess,
  pattern: RegExp,
  output: { text: string },
): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const match = pattern.exec(output.text);
      if (match !== null) resolve(match);
    };
    child.stdout?.on('data', (chunk: Buffer) => {
      output.text += chunk.toString();
      check();
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${output.text}`)));
    check();
  });
}

async function json(response: Response): Promise<Record<string, unknown>> {
  return (await response.json()) as Record<string, unknown>;
}

async function webLogin(): Promise<{ cookie: string; csrf: string }> {
  const started = await json(
    await fetch(`${base}/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password: 'alice-demo-password', channel: 'web' }),
    }),
  );
  const done = await fetch(`${base}/v1/auth/login/${started.loginId}/factor`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'totp', code: totpCode('JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP', Date.now()) }),
  });
  expect(done.status).toBe(200);
  const cookie = (done.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  return { cookie, csrf: (await json(done)).csrfToken as string };
}

beforeAll(async () => {
  const server = spawn(process.execPath, [cli, 'serve', '--demo', '--port', '0', '--db', join(dir, 'g.db')], {
    env: { ...process.env, GATEHOUSE_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(server);
  base = (await waitForLine(server, /serving on (http:\/\/\S+)/, { text: '' }))[1] as string;
});

afterAll(() => {
  for (const child of children) child.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

describe('gatehouse authenticator', () => {
  it('enrols, keeps its key in a 0600 file, and approves a web login from another process', async () => {
    const session = await webLogin();
    const enroll = await json(
      await fetch(`${base}/v1/devices/mobile/enroll`, {
        method: 'POST',
        headers: { cookie: session.cookie, 'x-csrf-token': session.csrf },
      }),
    );
    const enrolled = await run(process.execPath, [
      cli,
      'authenticator',
      'enroll',
      enroll.activationUri as string,
      '--file',
      keyFile,
      '--name',
      'e2e phone',
    ]);
    expect(enrolled.stdout).toMatch(/enrolled device dev_/);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);

    const authenticator = spawn(
      process.execPath,
      [cli, 'authenticator', 'run', '--auto-approve', '--file', keyFile],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    children.push(authenticator);
    const output = { text: '' };
    await waitForLine(authenticator, /ready: device/, output);

    // A new web login chooses push; the authenticator approves it; the waiting login gets its session.
    const started = await json(
      await fetch(`${base}/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'alice', password: 'alice-demo-password', channel: 'web' }),
      }),
    );
    expect(started.factors).toEqual(expect.arrayContaining([{ type: 'push' }, { type: 'totp' }]));
    const push = await json(
      await fetch(`${base}/v1/auth/login/${started.loginId}/factor`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent':
            'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Firefox/128.0',
        },
        body: JSON.stringify({ type: 'push' }),
      }),
    );
    expect(push.status).toBe('push_pending');
    const polled = await fetch(`${base}/v1/auth/login/${started.loginId}?waitMs=10000`);
    const body = await json(polled);
    expect(polled.status).toBe(200);
    expect(body.status).toBe('authenticated');
    expect(polled.headers.get('set-cookie')).toContain('gh_session=');
    await waitForLine(authenticator, /decided psh_/, output);
    expect(output.text).toContain(`number on the login screen should be: ${push.number}`);
    // What asked, readable (never the raw user agent).
    expect(output.text).toContain('from: Firefox on Linux');
  });

  it('shows TOTP codes for secrets added to it', async () => {
    await run(process.execPath, [
      cli,
      'authenticator',
      'totp-add',
      'otpauth://totp/Gatehouse:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP',
      '--file',
      keyFile,
    ]);
    const { stdout } = await run(process.execPath, [cli, 'authenticator', 'totp', '--file', keyFile]);
    expect(stdout).toMatch(/^\d{6} {2}Gatehouse:alice$/m);
  });

  it('refuses a key file that others can read', async () => {
    const { chmodSync } = await import('node:fs');
    chmodSync(keyFile, 0o644);
    const result = await run(process.execPath, [cli, 'authenticator', 'totp', '--file', keyFile]).catch(
      (e: { stderr: string; code: number }) => e,
    );
    expect((result as { code: number }).code).toBe(1);
    expect((result as { stderr: string }).stderr).toContain('readable by others');
    chmodSync(keyFile, 0o600);
  });
});
