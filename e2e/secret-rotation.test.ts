/**
 * `gatehouse secret rotate` as an operator runs it between two `gatehouse serve` processes on one SQLite file: the
 * session, its CSRF token and the remembered browser made before the rotation keep working after the restart, the
 * TOTP login works (its seed re-sealed at start), the JWKS publishes both keys; the command and the servers print
 * no secret (except the settings a configured ring must be given, which the operator asked for); `--finish` drops
 * the old secret.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEMO_USERS } from '../packages/gateway/src/demo/index.js';
import { totpCode } from '../packages/gateway/src/factors/index.js';

const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'packages/gateway/bin/gatehouse.js');
const dir = mkdtempSync(join(tmpdir(), 'gh-rotate-'));
const db = join(dir, 'g.db');
const ringFile = join(dir, 'gatehouse.secret');
const alice = DEMO_USERS[0] as (typeof DEMO_USERS)[number];
const env = { ...process.env, GATEHOUSE_LOG_LEVEL: 'info', GATEHOUSE_METRICS_LISTEN: 'off' };
const printed: string[] = [];

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function gatehouse(args: string[], extra: Record<string, string> = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [cli, ...args], { env: { ...env, ...extra } }, (error, stdout, stderr) => {
      printed.push(stdout, stderr);
      resolve({ code: error === null ? 0 : Number(error.code ?? 1), stdout, stderr });
    });
  });
}

async function serve(): Promise<{ url: string; stop: () => Promise<number | null> }> {
  const server: ChildProcess = spawn(process.execPath, [cli, 'serve', '--port', '0', '--db', db], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server.stderr?.on('data', (c: Buffer) => printed.push(c.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    server.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      printed.push(c.toString());
      const m = /serving on (http:\/\/\S+)/.exec(out);
      if (m?.[1] !== undefined) resolve(m[1]);
    });
    server.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
  });
  return {
    url,
    stop: () => {
      const exited = new Promise<number | null>((resolve) => server.once('exit', (code) => resolve(code)));
      server.kill('SIGTERM');
      return exited;
    },
  };
}

function cookie(response: Response, name: string): string {
  const line = response.headers.getSetCookie().find((c) => c.startsWith(`${name}=`)) ?? '';
  return line.slice(name.length + 1).split(';')[0] as string;
}

/**
 * A web login of Alice with her TOTP code `step` steps ahead (within `totp.window`: each login needs a later step
 * than the last); `device` is a remembered browser's cookie.
 */
async function login(url: string, step: number, device?: string) {
  const headers = {
    'content-type': 'application/json',
    ...(device === undefined ? {} : { cookie: `gh_device=${device}` }),
  };
  const started = await fetch(`${url}/v1/auth/login`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ username: alice.username, password: alice.password, channel: 'web' }),
  });
  expect(started.status).toBe(200);
  const { loginId } = (await started.json()) as { loginId: string };
  const done = await fetch(`${url}/v1/auth/login/${loginId}/factor`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ type: 'totp', code: totpCode(alice.totpSecret, Date.now() + step * 30_000) }),
  });
  expect(done.status, await done.clone().text()).toBe(200);
  const body = (await done.json()) as { csrfToken: string; newDevice?: boolean };
  return { session: cookie(done, 'gh_session'), device: cookie(done, 'gh_device'), csrf: body.csrfToken };
}

describe('gatehouse secret rotate between two serve processes', { timeout: 180_000 }, () => {
  it('keeps the session, CSRF token, remembered browser and TOTP login across the rotation and restart, prints no secret, and --finish (refused until every node is said to run the new ring) drops the old one', async () => {
    expect((await gatehouse(['demo', '--db', db])).code).toBe(0);
    const first = await serve();
    const before = await login(first.url, 0);
    expect(await first.stop()).toBe(0);
    const oldSecret = readFileSync(ringFile, 'utf8').trim();
    expect(oldSecret).toMatch(/^[A-Za-z0-9+/=]{43,}$/);

    const rotated = await gatehouse(['secret', 'rotate', '--db', db]);
    expect(rotated.code).toBe(0);
    expect(rotated.stdout).toMatch(/new secret [\w-]{12}; secret [\w-]{12} verifies until \d{4}-\d\d-\d\dT/);
    expect(rotated.stdout).toContain('restart the gateway');
    const ring = JSON.parse(readFileSync(ringFile, 'utf8')) as {
      current: string;
      previous: { secret: string }[];
    };
    expect(ring.previous.map((p) => p.secret)).toEqual([oldSecret]);

    const second = await serve();
    const watch = await fetch(`${second.url}/v1/watchlist`, {
      method: 'PUT',
      headers: {
        'content-type': 'application/json',
        cookie: `gh_session=${before.session}`,
        'x-csrf-token': before.csrf,
      },
      body: JSON.stringify({ instrumentIds: [] }),
    });
    expect(watch.status, 'the CSRF token made before the rotation').toBe(200);
    const after = await login(second.url, 1, before.device);
    expect(after.device.split('.')[0], 'the same browser, its cookie re-signed').toBe(
      before.device.split('.')[0],
    );
    expect(after.device).not.toBe(before.device);
    const jwks = (await (await fetch(`${second.url}/oauth2/jwks`)).json()) as { keys: unknown[] };
    expect(jwks.keys).toHaveLength(2);
    expect(await second.stop()).toBe(0);

    // Without the operator's word that every node runs the new ring, --finish refuses and changes nothing.
    const refused = await gatehouse(['secret', 'rotate', '--finish', '--db', db]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/SECRET_NODES_NOT_CONFIRMED/);
    expect(JSON.parse(readFileSync(ringFile, 'utf8')).previous).toHaveLength(1);
    const finished = await gatehouse(['secret', 'rotate', '--finish', '--every-node-restarted', '--db', db]);
    expect(finished.code).toBe(0);
    expect(finished.stdout).toMatch(/finished: 0 sealed values moved .*, 1 previous secrets dropped/);
    const final = JSON.parse(readFileSync(ringFile, 'utf8')) as { current: string; previous: unknown[] };
    expect(final.previous).toEqual([]);

    // Nothing printed so far carries a secret.
    for (const secret of [oldSecret, ring.current]) expect(printed.join('\n')).not.toContain(secret);

    // A configured ring: the operator asked for the settings to give every node, so those are printed.
    const configured = await gatehouse(['secret', 'rotate', '--db', 'postgres://nowhere.invalid/gatehouse'], {
      GATEHOUSE_SECRET: oldSecret,
    });
    expect(configured.code).toBe(0);
    expect(configured.stdout).toContain('GATEHOUSE_SECRET=');
    expect(configured.stdout).toContain(`GATEHOUSE_SECRETS_IDENTITY_SECRET=${oldSecret}`);
    expect(configured.stdout).toContain(`"secret":"${oldSecret}"`);
  });
});
