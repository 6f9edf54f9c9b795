/**
 * The `gatehouse` command as an operator uses it: create a user, enrol TOTP, serve, log in, shut down gracefully,
 * and detect a tampered audit log. Runs the built CLI in child processes against a temporary SQLite file.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { totpCode } from '../packages/gateway/src/factors/index.js';

const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'packages/gateway/bin/gatehouse.js');
const dir = mkdtempSync(join(tmpdir(), 'gh-cli-'));
const db = join(dir, 'g.db');

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function gatehouse(args: string[], input?: string, env: Record<string, string> = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(
      process.execPath,
      [cli, ...args],
      { env: { ...process.env, ...env } },
      (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : Number(error.code ?? 1), stdout, stderr }),
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

// Each step starts the CLI as a process of its own (it loads the whole gateway and hashes passwords): allow for a
// loaded 2-core machine, where a test of several steps takes a minute.
describe('gatehouse CLI', { timeout: 180_000 }, () => {
  it('is built', () => {
    expect(existsSync(join(root, 'packages/gateway/dist/cli/main.js')), 'run `npm run build` first').toBe(
      true,
    );
  });

  it('creates a user, enrols TOTP, serves, logs the user in and shuts down gracefully', async () => {
    const created = await gatehouse(
      ['user', 'create', '--username', 'carol', '--password-stdin', '--db', db],
      'amber-kettle-whistle-9\n',
    );
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/created user carol \(usr_/);
    expect(created.stdout).not.toContain('amber-kettle-whistle-9');

    const duplicate = await gatehouse(['user', 'create', '--username', 'CAROL', '--db', db]);
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toContain('USER_EXISTS');

    const weak = await gatehouse(
      ['user', 'create', '--username', 'dave', '--password-stdin', '--db', db],
      'short\n',
    );
    expect(weak.code).toBe(1);
    expect(weak.stderr).toContain('PASSWORD_POLICY');

    const enrolled = await gatehouse(['user', 'add-totp', 'carol', '--db', db]);
    expect(enrolled.code).toBe(0);
    const secret = /secret: ([A-Z2-7]+)/.exec(enrolled.stdout)?.[1] ?? '';
    expect(secret).toHaveLength(32);
    expect(enrolled.stdout).toContain('otpauth://totp/Gatehouse:carol?');

    const server = spawn(process.execPath, [cli, 'serve', '--port', '0', '--db', db], {
      env: { ...process.env, GATEHOUSE_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      server.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /serving on (http:\/\/\S+)/.exec(out);
        if (m?.[1] !== undefined) resolve(m[1]);
      });
      server.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
    });
    const started = await fetch(`${url}/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'carol', password: 'amber-kettle-whistle-9', channel: 'web' }),
    });
    expect(started.status).toBe(200);
    const { loginId } = (await started.json()) as { loginId: string };
    const done = await fetch(`${url}/v1/auth/login/${loginId}/factor`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'totp', code: totpCode(secret, Date.now()) }),
    });
    expect(done.status).toBe(200);
    const exited = new Promise<number | null>((resolve) => server.once('exit', (code) => resolve(code)));
    server.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('prints the URL it takes as its public URL and OAuth issuer: 127.0.0.1 under --host 127.0.0.1', async () => {
    const server = spawn(
      process.execPath,
      [cli, 'serve', '--host', '127.0.0.1', '--port', '0', '--db', join(dir, 'host.db')],
      { env: { ...process.env, GATEHOUSE_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        server.stdout.on('data', (c: Buffer) => {
          out += c.toString();
          const m = /serving on (http:\/\/\S+)/.exec(out);
          if (m?.[1] !== undefined) resolve(m[1]);
        });
        server.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
      });
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const metadata = (await (await fetch(`${url}/.well-known/oauth-authorization-server`)).json()) as {
        issuer: string;
        token_endpoint: string;
      };
      expect(metadata.issuer).toBe(url);
      expect(metadata.token_endpoint).toBe(`${url}/oauth2/token`);
    } finally {
      const exited = new Promise<number | null>((resolve) => server.once('exit', (code) => resolve(code)));
      server.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });

  it('lists and revokes a user’s sessions for an operator', async () => {
    const listed = await gatehouse(['sessions', 'list', '--user', 'carol', '--json', '--db', db]);
    expect(listed.code).toBe(0);
    const { sessions } = JSON.parse(listed.stdout) as {
      sessions: { id: string; channel: string; tier: string }[];
    };
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toMatchObject({ channel: 'web', tier: 'read_only' });
    const revoked = await gatehouse(['sessions', 'revoke', '--user', 'carol', '--all', '--db', db]);
    expect(revoked.stdout).toContain('revoked 1 session(s)');
    const after = await gatehouse(['sessions', 'list', '--user', 'carol', '--db', db]);
    expect(after.stdout).toContain('no live sessions');
    const unknown = await gatehouse(['sessions', 'revoke', 'ses_nope', '--db', db]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('SESSION_NOT_FOUND');
  });

  it('audit verify prints OK, then the first row of an edited or deleted chain', async () => {
    const ok = await gatehouse(['audit', 'verify', '--db', db]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^OK: \d+ rows/);

    const sqlite = new Database(db);
    sqlite.prepare("update audit_log set ip = '198.51.100.7' where seq = 2").run();
    const edited = await gatehouse(['audit', 'verify', '--db', db]);
    expect(edited.code).toBe(1);
    expect(edited.stdout).toMatch(/^BROKEN at row 2:/);

    const { hash } = sqlite.prepare('select hash from audit_log where seq = 2').get() as { hash: string };
    expect(hash.length).toBe(64);
    sqlite.prepare('delete from audit_log where seq = 2').run();
    const deleted = await gatehouse(['audit', 'verify', '--db', db]);
    expect(deleted.code).toBe(1);
    expect(deleted.stdout).toMatch(/^BROKEN at row 2: row 2 is missing/);
    sqlite.close();
  });

  it('stops start-up with a message naming a wrong setting', async () => {
    const result = await gatehouse(['serve', '--db', db], undefined, { GATEHOUSE_SERVER_PORT: 'eighty' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('configuration error: Invalid setting server.port');
    expect(result.stderr).toContain('GATEHOUSE_SERVER_PORT');
  });

  it('prints the current TOTP code for a secret', async () => {
    const result = await gatehouse(['totp', 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP']);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toMatch(/^\d{6}$/);
  });

  it("shows and changes an account's entitlements, refusing bad input", async () => {
    const accountsDb = join(dir, 'accounts.db');
    expect((await gatehouse(['demo', '--db', accountsDb])).code).toBe(0);
    const set = await gatehouse([
      'account',
      'set',
      'U2000002',
      '--options-level',
      '2',
      '--grant',
      'OPT:US',
      '--accept-disclosure',
      'options_risk',
      '--subscribe',
      'US_EQUITY:pro',
      '--db',
      accountsDb,
    ]);
    expect(set.code).toBe(0);
    const changed = JSON.parse(set.stdout) as {
      account: { optionsLevel: number };
      permissions: string[];
      subscriptions: unknown[];
    };
    expect(changed.account.optionsLevel).toBe(2);
    expect(changed.permissions).toContain('OPT:US');
    expect(changed.subscriptions).toEqual([{ bundle: 'US_EQUITY', professional: true }]);
    const shown = await gatehouse(['account', 'show', 'U2000002', '--db', accountsDb]);
    expect(JSON.parse(shown.stdout)).toEqual(changed);
    const bad = await gatehouse(['account', 'set', 'U2000002', '--grant', 'OPT:MARS', '--db', accountsDb]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('INVALID_REQUEST');
    const unknown = await gatehouse(['account', 'set', 'U9999999', '--frozen', 'true', '--db', accountsDb]);
    expect(unknown.stderr).toContain('ACCOUNT_NOT_FOUND');
    expect(JSON.parse((await gatehouse(['account', 'show', 'U2000002', '--db', accountsDb])).stdout)).toEqual(
      changed,
    );
  });

  it('grants and revokes roles on an account, audited, keeping an owner', async () => {
    const rolesDb = join(dir, 'roles.db');
    expect((await gatehouse(['demo', '--db', rolesDb])).code).toBe(0);
    const role = () =>
      new Database(rolesDb, { readonly: true })
        .prepare(
          "select r.role from account_roles r join users u on u.id = r.user_id where u.username = 'viktor' and r.account_id = 'U2000002'",
        )
        .get() as { role: string } | undefined;
    const granted = await gatehouse([
      'account',
      'grant',
      'U2000002',
      'viktor',
      '--role',
      'viewer',
      '--db',
      rolesDb,
    ]);
    expect(granted.code).toBe(0);
    expect(granted.stdout).toContain('viktor on U2000002: no role → viewer');
    expect(role()).toEqual({ role: 'viewer' });
    const bad = await gatehouse([
      'account',
      'grant',
      'U2000002',
      'viktor',
      '--role',
      'admin',
      '--db',
      rolesDb,
    ]);
    expect(bad.code).toBe(1);
    const mismatch = await gatehouse([
      'account',
      'revoke',
      'U2000002',
      'viktor',
      '--role',
      'trader',
      '--db',
      rolesDb,
    ]);
    expect(mismatch.stderr).toContain('INVALID_REQUEST');
    expect(role()).toEqual({ role: 'viewer' });
    const lastOwner = await gatehouse(['account', 'revoke', 'U2000002', 'bruno', '--db', rolesDb]);
    expect(lastOwner.stderr).toContain('LAST_OWNER');
    const revoked = await gatehouse([
      'account',
      'revoke',
      'U2000002',
      'viktor',
      '--role',
      'viewer',
      '--db',
      rolesDb,
    ]);
    expect(revoked.code).toBe(0);
    expect(role()).toBeUndefined();
    const audited = new Database(rolesDb, { readonly: true })
      .prepare("select type, data from audit_log where type like 'account.role_%' order by seq")
      .all() as { type: string; data: string }[];
    expect(audited.map((a) => [a.type, JSON.parse(a.data).via])).toEqual([
      ['account.role_granted', 'cli'],
      ['account.role_revoked', 'cli'],
    ]);
    expect((await gatehouse(['audit', 'verify', '--db', rolesDb])).stdout).toMatch(/^OK/);
  });

  it('disables and enables a user, and ends every user’s sessions', async () => {
    const usersDb = join(dir, 'users.db');
    expect((await gatehouse(['demo', '--db', usersDb])).code).toBe(0);
    const status = () =>
      (
        new Database(usersDb, { readonly: true })
          .prepare("select status from users where username = 'viktor'")
          .get() as { status: string }
      ).status;
    const disabled = await gatehouse(['user', 'disable', 'viktor', '--db', usersDb]);
    expect(disabled.stdout).toBe('disabled viktor; ended 0 session(s)\n');
    expect(status()).toBe('disabled');
    expect((await gatehouse(['user', 'enable', 'viktor', '--db', usersDb])).stdout).toBe('enabled viktor\n');
    expect(status()).toBe('active');
    expect((await gatehouse(['user', 'disable', 'nobody', '--db', usersDb])).stderr).toContain(
      'USER_NOT_FOUND',
    );
    const all = await gatehouse(['sessions', 'revoke', '--all-users', '--db', usersDb]);
    expect(all.stdout).toBe('revoked 0 session(s)\n');
  });

  // ASVS 5.0 6.4.1 (initial passwords expire and must be replaced) and 6.4.3 (a reset keeps the second factor).
  it('creates users with initial passwords and resets one: sessions end, the second factor stays', async () => {
    const passwordsDb = join(dir, 'passwords.db');
    const created = await gatehouse(['user', 'create', '--username', 'erin', '--db', passwordsDb]);
    expect(created.code).toBe(0);
    const initial = /^password: (\S+)$/m.exec(created.stdout)?.[1] ?? '';
    expect(initial).toMatch(/^[A-Za-z0-9_-]{24}$/);
    const until = Date.parse(/stops working at (\S+) unless/.exec(created.stdout)?.[1] ?? '');
    expect(Math.abs(until - (Date.now() + 72 * 3_600_000))).toBeLessThan(120_000);

    // The policy applies to a password an operator gives: context words, common passwords, length.
    for (const [input, rule] of [
      ['frank-is-my-name!', 'context'],
      ['Password2024!', 'common'],
      ['short', 'too_short'],
    ]) {
      const refused = await gatehouse(
        ['user', 'create', '--username', 'frank', '--password-stdin', '--db', passwordsDb],
        `${input}\n`,
      );
      expect(refused.code, rule).toBe(1);
      expect(refused.stderr).toContain('PASSWORD_POLICY');
      expect(refused.stderr).not.toContain(input);
    }
    const secret =
      /secret: ([A-Z2-7]+)/.exec(
        (await gatehouse(['user', 'add-totp', 'erin', '--db', passwordsDb])).stdout,
      )?.[1] ?? '';

    const server = spawn(process.execPath, [cli, 'serve', '--port', '0', '--db', passwordsDb], {
      env: { ...process.env, GATEHOUSE_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let fresh = '';
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        server.stdout.on('data', (c: Buffer) => {
          out += c.toString();
          const m = /serving on (http:\/\/\S+)/.exec(out);
          if (m?.[1] !== undefined) resolve(m[1]);
        });
        server.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
      });
      const login = (password: string) =>
        fetch(`${url}/v1/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username: 'erin', password, channel: 'web' }),
        });
      const started = await login(initial);
      const { loginId } = (await started.json()) as { loginId: string };
      const done = await fetch(`${url}/v1/auth/login/${loginId}/factor`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'totp', code: totpCode(secret, Date.now()) }),
      });
      const cookie = (done.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
      const who = (await (await fetch(`${url}/v1/session`, { headers: { cookie } })).json()) as {
        passwordChangeRequired: boolean;
        passwordExpiresAt: string;
      };
      expect(who.passwordChangeRequired).toBe(true);
      expect(Date.parse(who.passwordExpiresAt)).toBe(until);

      const reset = await gatehouse(['user', 'reset-password', 'erin', '--db', passwordsDb]);
      expect(reset.code).toBe(0);
      expect(reset.stdout).toContain('reset the password of erin; ended 1 session(s)');
      fresh = /^password: (\S+)$/m.exec(reset.stdout)?.[1] ?? '';
      expect(fresh).toMatch(/^[A-Za-z0-9_-]{24}$/);
      expect(fresh).not.toBe(initial);
      expect((await login(initial)).status).toBe(401);
      // The new password opens the first step only: the second factor is still asked for.
      expect(await (await login(fresh)).json()).toMatchObject({
        status: 'second_factor_required',
        factors: [{ type: 'totp' }],
      });
      const listed = await gatehouse(['sessions', 'list', '--user', 'erin', '--db', passwordsDb]);
      expect(listed.stdout).toContain('no live sessions');

      const given = await gatehouse(
        ['user', 'reset-password', 'erin', '--password-stdin', '--db', passwordsDb],
        'quiet otters float downstream\n',
      );
      expect(given.code).toBe(0);
      expect(given.stdout).not.toMatch(/^password: /m);
      expect((await login('quiet otters float downstream')).status).toBe(200);
      const unknown = await gatehouse(['user', 'reset-password', 'nobody', '--db', passwordsDb]);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toContain('USER_NOT_FOUND');
    } finally {
      const exited = new Promise((resolve) => server.once('exit', resolve));
      server.kill('SIGTERM');
      await exited;
    }
    const audited = new Database(passwordsDb, { readonly: true })
      .prepare("select data from audit_log where type = 'password.reset' order by seq")
      .all() as { data: string }[];
    expect(audited.map((a) => JSON.parse(a.data).generated)).toEqual([true, false]);
    expect(audited.map((a) => a.data).join('')).not.toContain(fresh);
    expect((await gatehouse(['audit', 'verify', '--db', passwordsDb])).stdout).toMatch(/^OK/);
  });
});
