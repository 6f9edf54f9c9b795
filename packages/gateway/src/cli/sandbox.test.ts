/**
 * `gatehouse sandbox inject|list|clear|play` against a listening gateway, as the operator: faults injected, listed
 * and cleared; a library scenario played; a bad scenario file refused with its line and nothing injected; the
 * operator token read only from a 0600 file or the environment; every error printed with its code and a non-zero
 * exit.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Fault } from '@gatehouse/protocol';
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GatehouseError } from '../core/index.js';
import { ALICE, startTestGateway, type TestGateway } from '../test-support/gateway.js';
import { ADMIN_TOKEN } from '../test-support/program.js';
import { reportError } from './commands.js';
import { registerSandboxCommands } from './sandbox.js';

let gw: TestGateway | undefined;
let dir: string | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
  vi.restoreAllMocks();
});

async function listening() {
  const g = await startTestGateway({
    config: {
      sandbox: { enabled: true },
      secrets: { adminApiToken: ADMIN_TOKEN },
      server: { port: 0, host: '127.0.0.1' },
    },
  });
  gw = g;
  const base = await g.listen();
  dir = mkdtempSync(join(tmpdir(), 'gh-sandbox-'));
  const tokenFile = join(dir, 'operator-token');
  writeFileSync(tokenFile, `${ADMIN_TOKEN}\n`, { mode: 0o600 });
  const alice = await g.ctx.store.db
    .selectFrom('users')
    .select('id')
    .where('username', '=', ALICE.username)
    .executeTakeFirstOrThrow();
  const sandbox = g.ctx.sandbox;
  if (sandbox === null) throw new Error('sandbox off');
  return {
    gw: g,
    sandbox,
    base,
    tokenFile,
    dir,
    alice: alice.id,
    flags: ['--gateway', base, '--token-file', tokenFile],
  };
}

/** Runs `gatehouse sandbox …args`; resolves to what it printed. */
async function run(args: string[]): Promise<string> {
  const program = new Command().exitOverride();
  registerSandboxCommands(program);
  const out: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out.push(String(chunk));
    return true;
  });
  try {
    await program.parseAsync(['node', 'gatehouse', 'sandbox', ...args]);
  } finally {
    vi.mocked(process.stdout.write).mockRestore();
  }
  return out.join('');
}

async function failure(args: string[]): Promise<Error> {
  try {
    await run(args);
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the command to fail');
}

describe('gatehouse sandbox', () => {
  it('injects, lists and clears faults', async () => {
    const { flags, alice, sandbox } = await listening();
    const injected = await run([
      'inject',
      'maintenance',
      '--target',
      `user:${alice}`,
      '--param',
      'retryAfterS=5',
      '--duration',
      '10000',
      '--note',
      'from the CLI',
      ...flags,
    ]);
    expect(injected).toMatch(new RegExp(`^injected flt_\\S+  active +maintenance +user:${alice}  `));
    const later = JSON.parse(
      await run([
        'inject',
        'http.error',
        '--target',
        'all',
        '--param',
        'status=503',
        '--after',
        '5000',
        '--probability',
        '0.5',
        '--seed',
        '3',
        '--json',
        ...flags,
      ]),
    ) as Fault;
    expect(later).toMatchObject({
      kind: 'http.error',
      state: 'scheduled',
      params: { status: 503, rate: 1 },
      schedule: { afterMs: 5000, probability: 0.5, seed: 3 },
    });
    const listed = JSON.parse(await run(['list', '--active', '--json', ...flags])) as { faults: Fault[] };
    // Both were injected at the same instant of the frozen clock: their order is the ids' (random within an instant).
    const byKind = [...listed.faults].sort((a, b) => a.kind.localeCompare(b.kind));
    expect(byKind.map((f) => [f.kind, f.params, f.note])).toEqual([
      ['http.error', { status: 503, rate: 1 }, undefined],
      ['maintenance', { retryAfterS: 5 }, 'from the CLI'],
    ]);
    expect(await run(['clear', later.id, ...flags])).toBe('cleared 1 fault(s)\n');
    expect(await run(['clear', ...flags])).toBe('cleared 1 fault(s)\n');
    expect(await run(['list', '--active', ...flags])).toBe('no active faults\n');
    expect((await run(['list', ...flags])).split('\n').filter((l) => l.includes('cleared'))).toHaveLength(2);
    expect(sandbox.armed).toBe(false);
  });

  it('refuses bad flags before sending anything', async () => {
    const { flags } = await listening();
    expect((await failure(['inject', 'push.exploded', '--target', 'all', ...flags])).message).toMatch(
      /^kind: unknown fault "push.exploded"/,
    );
    expect((await failure(['inject', 'sms.lost', '--target', 'galaxy:1', ...flags])).message).toMatch(
      /a target is all \| user/,
    );
    expect(
      (await failure(['inject', 'sms.lost', '--target', 'all', '--probability', '0.5', ...flags])).message,
    ).toMatch(/--probability and --seed go together/);
  });

  it('plays a library scenario with its placeholders bound', async () => {
    const { flags, alice, sandbox, gw } = await listening();
    const out = await run(['play', 'nightly-reset', '--bind', `user=${alice}`, ...flags]);
    const start = new Date(gw.clock.now()).toISOString();
    expect(out.split('\n')[0]).toBe(`playing nightly-reset from ${start} (1 faults)`);
    const [fault] = await sandbox.list();
    expect(fault).toMatchObject({
      kind: 'reset.daily',
      state: 'scheduled',
      target: { type: 'user', id: alice },
      createdBy: 'admin_api',
      startsAt: new Date(gw.clock.now() + 10_000).toISOString(),
    });
  });

  it('refuses a bad scenario file with its line, and injects nothing', async () => {
    const { flags, alice, sandbox, dir } = await listening();
    const file = join(dir, 'bad.json');
    const scenario = (steps: string) =>
      `{\n  "version": 1,\n  "name": "bad",\n  "description": "",\n  "seed": 1,\n  "durationMs": 20000,\n  "steps": [\n${steps}\n  ]\n}\n`;
    writeFileSync(
      file,
      scenario(`    { "at": 0, "kind": "sms.lost", "target": { "type": "user", "id": "$user" } },
    { "at": 0, "kind": "push.exploded", "target": { "type": "user", "id": "$user" } },
    { "at": 0, "kind": "push.late", "target": { "type": "user", "id": "$user" }, "params": { "delay": 5 } }`),
    );
    const local = await failure(['play', file, '--bind', `user=${alice}`, ...flags]);
    expect(local).toBeInstanceOf(GatehouseError);
    expect(local.message).toBe(
      `${file}:9 steps[1].kind: unknown fault "push.exploded"\n  ${file}:10 steps[2].params.delay: push.late takes no parameter "delay" (it takes delayMs)\n  ${file}:10 steps[2].params.delayMs: required`,
    );
    // Checked by the gateway: the target does not exist; the error still names the file's line.
    writeFileSync(
      file,
      scenario(`    { "at": 0, "kind": "sms.lost", "target": { "type": "user", "id": "$user" } },
    { "at": 1000, "kind": "sms.lost", "target": { "type": "session", "id": "ses_nothing" } }`),
    );
    const remote = await failure(['play', file, '--bind', `user=${alice}`, ...flags]);
    expect((remote as GatehouseError).code).toBe('INVALID_REQUEST');
    expect(remote.message).toBe(`${file}:9 steps[1].target.id: no session "ses_nothing"`);
    expect(await sandbox.list()).toEqual([]);
    // The error goes out with its code, and the command exits non-zero.
    const stderr: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stderr.push(String(chunk));
      return true;
    });
    reportError(remote);
    expect(stderr.join('')).toBe(
      `error INVALID_REQUEST: ${file}:9 steps[1].target.id: no session "ses_nothing"\n`,
    );
    expect(process.exitCode).toBe(1);
    process.exitCode = 0;
  });

  it('reads the operator token from a 0600 file or the environment only, and says when it is wrong', async () => {
    const { base, tokenFile } = await listening();
    chmodSync(tokenFile, 0o644);
    expect((await failure(['list', '--gateway', base, '--token-file', tokenFile])).message).toMatch(
      /is mode 0644: a secret file must be readable by its owner only/,
    );
    vi.stubEnv('GATEHOUSE_ADMIN_TOKEN', '');
    expect((await failure(['list', '--gateway', base])).message).toMatch(/give the operator token/);
    vi.stubEnv('GATEHOUSE_ADMIN_TOKEN', 'b'.repeat(40));
    const wrong = await failure(['list', '--gateway', base]);
    expect((wrong as GatehouseError).code).toBe('UNAUTHENTICATED');
    vi.stubEnv('GATEHOUSE_ADMIN_TOKEN', ADMIN_TOKEN);
    expect(await run(['list', '--gateway', base])).toBe('no faults\n');
    vi.unstubAllEnvs();
    expect(
      (await failure(['list', '--gateway', 'http://gateway.example', '--token-file', tokenFile])).message,
    ).toMatch(/http:\/\/ only for a gateway on this machine/);
  });
});
