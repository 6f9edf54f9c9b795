/**
 * `gatehouse client create`, the built CLI in a child process against a gateway it reaches over HTTP: a user
 * registers a bot in one command (password and TOTP from 0600 files, or answered on standard input), the key it
 * writes works with the SDK, and every refusal is a coded error with a non-zero exit that leaves no client and no
 * key file behind.
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importPrivateJwk, PersonalClientAuth, SessionSupervisor } from '@gatehouse/sdk';
import { newNodeDpopKey } from '@gatehouse/sdk/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_USERS } from '../packages/gateway/src/demo/index.js';
import { totpCode } from '../packages/gateway/src/factors/index.js';
import { type LiveGateway, startLiveGateway } from './support/live-gateway.js';

const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'packages/gateway/bin/gatehouse.js');
const dir = mkdtempSync(join(tmpdir(), 'gh-client-create-'));
const demo = (name: string) => {
  const user = DEMO_USERS.find((u) => u.username === name);
  if (user === undefined) throw new Error(`no demo user ${name}`);
  return user;
};

let live: LiveGateway;
beforeAll(async () => {
  live = await startLiveGateway();
});
afterAll(async () => {
  await live?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function gatehouse(args: string[], input?: string) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(process.execPath, [cli, ...args], (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : Number(error.code ?? 1), stdout, stderr }),
    );
    child.stdin?.end(input ?? '');
  });
}

/** A file only its owner may read (what the command asks of a password or TOTP file), unless `mode` says else. */
function secretFile(name: string, content: string, mode = 0o600): string {
  const file = join(dir, name);
  writeFileSync(file, `${content}\n`, { mode });
  chmodSync(file, mode);
  return file;
}

const create = (user: string, accounts: string, keyFile: string, extra: string[] = []) => [
  'client',
  'create',
  '--url',
  live.base,
  '--user',
  user,
  '--accounts',
  accounts,
  '--scopes',
  'read,trade',
  '--jwk-out',
  keyFile,
  ...extra,
];

const clientsOf = async (username: string) =>
  live.gw.ctx.store.db
    .selectFrom('oauth_clients')
    .innerJoin('users', 'users.id', 'oauth_clients.user_id')
    .select(['oauth_clients.id', 'oauth_clients.name', 'oauth_clients.jwks'])
    .where('users.username', '=', username)
    .execute();

/** A six-digit code the user's authenticator shows in none of the steps the gateway accepts now. */
function wrongCode(secret: string): string {
  const now = Date.now();
  const valid = new Set([-1, 0, 1].map((step) => totpCode(secret, now + step * 30_000)));
  let n = 0;
  while (valid.has(String(n).padStart(6, '0'))) n += 1;
  return String(n).padStart(6, '0');
}

describe('gatehouse client create', { timeout: 60_000 }, () => {
  it('is built', () => {
    expect(existsSync(join(root, 'packages/gateway/dist/cli/client.js')), 'run `npm run build` first').toBe(
      true,
    );
  });

  it('registers a bot from 0600 files: prints its client id, issuer and key file, and the key works', async () => {
    const alice = demo('alice');
    const keyFile = join(dir, 'alice-bot.jwk');
    const result = await gatehouse(
      create('alice', 'DU1000001', keyFile, [
        '--name',
        'paper bot',
        '--password-file',
        secretFile('alice.password', alice.password),
        '--totp-file',
        secretFile('alice.totp', alice.totpSecret),
      ]),
    );
    expect(result.code, result.stderr).toBe(0);
    const printed = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(printed).toMatchObject({
      issuer: live.issuer,
      baseUrl: live.base,
      keyFile,
      name: 'paper bot',
      accounts: ['DU1000001'],
      scopes: ['read', 'trade'],
      sessionLossPolicy: 'none',
    });
    expect(printed.clientId).toMatch(/^cli_/);

    // The private key is in the file (mode 0600) and nowhere in what was printed.
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const jwk = JSON.parse(readFileSync(keyFile, 'utf8')) as Record<string, string>;
    expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', kid: printed.keyId });
    expect(jwk.d).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(result.stdout + result.stderr).not.toContain(jwk.d);
    expect(result.stdout + result.stderr).not.toContain(alice.password);

    // The gateway holds the public half only; the user is told; the web session the command used is ended.
    const [registered, ...others] = await clientsOf('alice');
    expect(others).toEqual([]);
    expect(registered?.id).toBe(printed.clientId);
    expect(JSON.parse(registered?.jwks ?? '{}')).toEqual({
      keys: [{ kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, kid: jwk.kid, alg: 'ES256', use: 'sig' }],
    });
    const told = await live.gw.ctx.store.db
      .selectFrom('notifications')
      .innerJoin('users', 'users.id', 'notifications.user_id')
      .select('notifications.data')
      .where('users.username', '=', 'alice')
      .where('notifications.kind', '=', 'api_client_registered')
      .execute();
    expect(told.map((n) => JSON.parse(n.data).clientId)).toEqual([printed.clientId]);
    const webSessions = await live.gw.ctx.store.db
      .selectFrom('sessions')
      .innerJoin('users', 'users.id', 'sessions.user_id')
      .select(['sessions.revoke_reason', 'sessions.user_agent'])
      .where('users.username', '=', 'alice')
      .execute();
    expect(webSessions).toEqual([{ revoke_reason: 'logout', user_agent: 'gatehouse-cli' }]);

    // What was printed, and the key file, are all a bot needs.
    const bot = new SessionSupervisor({
      baseUrl: String(printed.baseUrl),
      auth: new PersonalClientAuth({
        clientId: String(printed.clientId),
        issuer: String(printed.issuer),
        clientKey: await importPrivateJwk(jwk),
      }),
      dpopKey: newNodeDpopKey(),
      keepAliveMs: null,
    });
    await bot.start();
    expect(bot.state).toBe('ready');
    const session = await bot.request<{ accounts: { id: string }[] }>('GET', '/v1/session');
    expect(session.accounts.map((a) => a.id)).toEqual(['DU1000001']);
    bot.stop();
  });

  it('asks for the password and the code on standard input when no files are given', async () => {
    const charlotte = demo('charlotte');
    const keyFile = join(dir, 'charlotte-bot.jwk');
    const result = await gatehouse(
      create('charlotte', 'U3000003', keyFile, ['--scopes', 'read', '--session-loss-policy', 'cancel_day']),
      `${charlotte.password}\n${totpCode(charlotte.totpSecret, Date.now())}\n`,
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('Password for charlotte:');
    expect(result.stderr).toContain('Authenticator code for charlotte:');
    expect(JSON.parse(result.stdout)).toMatchObject({
      accounts: ['U3000003'],
      scopes: ['read'],
      sessionLossPolicy: 'cancel_day',
    });
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(await clientsOf('charlotte')).toHaveLength(1);
  });

  it('refuses a wrong password: INVALID_CREDENTIALS, no client, no key file', async () => {
    const keyFile = join(dir, 'hana-bot.jwk');
    const result = await gatehouse(
      create('hana', 'U4000004', keyFile, [
        '--password-file',
        secretFile('hana.password', 'not-hanas-password'),
        '--totp-file',
        secretFile('hana.totp', demo('hana').totpSecret),
      ]),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('error INVALID_CREDENTIALS: logging in as hana (password)');
    expect(result.stdout).toBe('');
    expect(existsSync(keyFile)).toBe(false);
    expect(await clientsOf('hana')).toEqual([]);
  });

  it('refuses a wrong authenticator code: INVALID_CREDENTIALS, no client, no key file', async () => {
    const viktor = demo('viktor');
    const keyFile = join(dir, 'viktor-bot.jwk');
    const result = await gatehouse(
      create('viktor', 'U1000001', keyFile, ['--scopes', 'read']),
      `${viktor.password}\n${wrongCode(viktor.totpSecret)}\n`,
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('error INVALID_CREDENTIALS: logging in as viktor (authenticator code)');
    expect(result.stdout).toBe('');
    expect(existsSync(keyFile)).toBe(false);
    expect(await clientsOf('viktor')).toEqual([]);
  });

  it('refuses an account the user cannot access: ACCOUNT_NOT_FOUND, no client, no key file', async () => {
    const bruno = demo('bruno');
    const keyFile = join(dir, 'bruno-bot.jwk');
    const result = await gatehouse(
      create('bruno', 'DU1000001', keyFile, [
        '--password-file',
        secretFile('bruno.password', bruno.password),
        '--totp-file',
        secretFile('bruno.totp', bruno.totpSecret),
      ]),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('error ACCOUNT_NOT_FOUND: registering the client');
    expect(existsSync(keyFile)).toBe(false);
    expect(await clientsOf('bruno')).toEqual([]);
  });

  it('refuses, before logging in, a key file that exists and a password file others may read', async () => {
    const alice = demo('alice');
    const sessionsBefore = await live.gw.ctx.store.db.selectFrom('sessions').select('id').execute();
    const existing = join(dir, 'alice-bot.jwk');
    const kept = readFileSync(existing, 'utf8');
    const overwrite = await gatehouse(
      create('alice', 'DU1000001', existing, [
        '--password-file',
        secretFile('alice.password', alice.password),
        '--totp-file',
        secretFile('alice.totp', alice.totpSecret),
      ]),
    );
    expect(overwrite.code).toBe(1);
    expect(overwrite.stderr).toContain(`${existing} exists: a key file is never overwritten`);
    expect(readFileSync(existing, 'utf8')).toBe(kept);

    const readable = secretFile('alice-0644.password', alice.password, 0o644);
    const keyFile = join(dir, 'alice-second.jwk');
    const open = await gatehouse(
      create('alice', 'DU1000001', keyFile, [
        '--password-file',
        readable,
        '--totp-file',
        secretFile('alice.totp', alice.totpSecret),
      ]),
    );
    expect(open.code).toBe(1);
    expect(open.stderr).toContain(`${readable} is mode 0644`);
    expect(open.stderr).toContain(`chmod 600 ${readable}`);
    expect(existsSync(keyFile)).toBe(false);

    const plain = await gatehouse(
      create('alice', 'DU1000001', keyFile, ['--url', 'http://gateway.example:8080']),
    );
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain('http:// only for a gateway on this machine');

    expect(await clientsOf('alice')).toHaveLength(1);
    expect(await live.gw.ctx.store.db.selectFrom('sessions').select('id').execute()).toEqual(sessionsBefore);
  });
});
