/**
 * Backup and restore, as an operator does them, with the built CLI: `gatehouse serve --demo` on a SQLite file holds
 * a web session (cookie), a program's DPoP-bound token and orders; `gatehouse backup` copies its database while 2
 * clients keep placing orders; the copy and its secret are put in a new folder and a FRESH `gatehouse serve` (a new
 * process on a new port, behind the same public URL, without --demo) starts on them. It serves the same session (the
 * old cookie), the same program token and every order acknowledged before the backup began; a TOTP login works (the
 * secret opened the sealed seed). `gatehouse verify-backup` passes on the copy and exits 1 on an edited audit row
 * (every other kind of damage, in process: packages/gateway/src/cli/backup.test.ts).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { TestProgram } from '../packages/gateway/src/test-support/program.js';
import type { ClusterNode } from './support/cluster.js';
import { asWeb, call, placeOrder, webLogin } from './support/cluster-clients.js';
import { freePort } from './support/local.js';

const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'packages/gateway/dist/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'gh-backup-e2e-'));
const children: ChildProcess[] = [];

afterAll(() => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function serve(db: string, port: number, publicUrl: string, demo: boolean): Promise<ClusterNode> {
  const child = spawn(
    process.execPath,
    [cli, 'serve', ...(demo ? ['--demo'] : []), '--port', String(port), '--host', '127.0.0.1', '--db', db],
    {
      env: {
        ...process.env,
        GATEHOUSE_SERVER_PUBLIC_URL: publicUrl,
        GATEHOUSE_LOGIN_IP_RATE_LIMIT_MAX: '100000',
        GATEHOUSE_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      if (/serving on /.test(out))
        resolve({ url: `http://127.0.0.1:${port}`, nodeId: String(port) } as ClusterNode);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`gateway exited ${code}: ${out.slice(-2000)}`)));
  });
}

async function stop(node: ClusterNode) {
  const child = children.find((c) => c.spawnargs.includes(new URL(node.url).port));
  if (child === undefined || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

function gatehouse(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(process.execPath, [cli, ...args], { timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr }),
    ),
  );
}

function program(publicUrl: string): TestProgram {
  return new TestProgram({
    clock: { now: () => Date.now() },
    ctx: { urls: { issuer: publicUrl, base: publicUrl } },
  } as never);
}

async function programToken(node: ClusterNode, bot: TestProgram): Promise<string> {
  const body = new URLSearchParams({
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: await bot.assertion(),
    grant_type: 'client_credentials',
  });
  const response = await fetch(`${node.url}/oauth2/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      dpop: await bot.proof('POST', '/oauth2/token'),
    },
    body: body.toString(),
  });
  const issued = (await response.json()) as { access_token: string };
  expect(response.status).toBe(200);
  return issued.access_token;
}

async function asProgram(node: ClusterNode, bot: TestProgram, token: string, path: string) {
  return call(`${node.url}${path}`, {
    headers: { authorization: `DPoP ${token}`, dpop: await bot.proof('GET', path, { accessToken: token }) },
  });
}

describe('gatehouse backup, restored into a fresh gateway', () => {
  it('serves the same session, program token and orders from a copy taken during an order burst; verify-backup passes on it and fails on a tampered copy', async () => {
    const [port1, port2] = [await freePort(), await freePort()];
    const publicUrl = `http://127.0.0.1:${port1}`;
    mkdirSync(join(dir, 'live'));
    const live = join(dir, 'live', 'gatehouse.db');
    const first = await serve(live, port1, publicUrl, true);

    const alice = await webLogin(first, 'alice');
    expect((await asWeb(first, alice, 'POST', '/v1/session/brokerage', { compete: true })).status).toBe(200);
    const bot = program(publicUrl);
    const created = await asWeb(first, alice, 'POST', '/v1/oauth/clients', {
      name: 'backup bot',
      keys: [bot.clientKey.publicJwk],
      accounts: ['DU1000001'],
      scopes: ['read', 'trade'],
    });
    expect(created.status).toBe(201);
    bot.clientId = created.body.clientId as string;
    const token = await programToken(first, bot);
    expect((await asProgram(first, bot, token, '/v1/instruments')).status).toBe(200);
    const before: string[] = [];
    for (let i = 0; i < 20; i++) {
      const placed = await placeOrder(first, alice, `before-${i}`);
      expect(placed.status).toBe(201);
      before.push(placed.body.id as string);
    }

    // Injected: 2 clients placing orders without pause while `gatehouse backup` copies the database.
    let backingUp = true;
    let during = 0;
    const worker = async (w: number) => {
      for (let i = 0; backingUp; i++)
        if ((await placeOrder(first, alice, `during-${w}-${i}`)).status === 201) during += 1;
    };
    const workers = Array.from({ length: 2 }, (_, w) => worker(w));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const backup = join(dir, 'backup.db');
    const made = await gatehouse(['backup', '--db', live, backup, '--json']);
    backingUp = false;
    await Promise.all(workers);
    expect(made.code, made.stderr).toBe(0);
    const result = JSON.parse(made.stdout) as {
      secret: { kind: string };
      report: { ok: boolean; tables: Record<string, number> };
    };
    expect(result.report.ok).toBe(true);
    expect(result.secret.kind).toBe('copied');
    expect(statSync(backup).mode & 0o777).toBe(0o600);
    expect(during).toBeGreaterThan(0);
    process.stderr.write(
      `backup: ${during} orders acknowledged while it ran; the copy holds ${result.report.tables.orders}\n`,
    );
    await stop(first);

    // The restore: the copy and its secret, in a new folder, under the names a gateway looks for.
    mkdirSync(join(dir, 'restored'));
    const restored = join(dir, 'restored', 'gatehouse.db');
    copyFileSync(backup, restored);
    copyFileSync(`${backup}.secret`, join(dir, 'restored', 'gatehouse.secret'));
    const second = await serve(restored, port2, publicUrl, false);

    const session = await asWeb(second, alice, 'GET', '/v1/session');
    expect(session.status).toBe(200);
    expect((session.body.session as { id: string } | undefined)?.id ?? session.body.id).toBe(alice.sessionId);
    expect((await asProgram(second, bot, token, '/v1/instruments')).status).toBe(200);
    for (const [i, id] of before.entries()) {
      const order = await asWeb(second, alice, 'GET', `/v1/accounts/DU1000001/orders/${id}`);
      expect(order.status).toBe(200);
      expect(order.body.clientOrderId).toBe(`before-${i}`);
    }
    const byProgram = await asProgram(second, bot, token, `/v1/accounts/DU1000001/orders/${before[0]}`);
    expect(byProgram.status).toBe(200);
    // The restored secret opens the sealed TOTP seeds: a login with an authenticator works.
    await webLogin(second, 'bruno');
    await stop(second);

    const verified = await gatehouse(['verify-backup', backup, '--json']);
    expect(verified.code, verified.stdout).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, secret: { ok: true } });

    // Injected: an audit row edited in a copy (a dropped table and the other kinds of damage: cli/backup.test.ts).
    const edited = join(dir, 'edited.db');
    copyFileSync(backup, edited);
    const e = new BetterSqlite3(edited);
    e.prepare(`update audit_log set type = 'user.created' where seq = 5`).run();
    e.close();
    const onEdited = await gatehouse(['verify-backup', edited]);
    expect(onEdited.code).toBe(1);
    expect(onEdited.stdout).toMatch(/^BACKUP_INVALID: .*\n {2}- the audit chain is broken at row 5/);
  }, 90_000);
});
