/**
 * Secret rotation under an operator's mistakes and a damaged ring (a SQLite file database and its ring file):
 * `secret rotate` landing while `--finish` re-seals, `--finish` while a node still runs the old ring, a TOTP seed no
 * kept secret opens, and ring files outside the configured ring's limits.
 */
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Config, defaultConfig } from '../config/index.js';
import { ConfigError, ManualClock, SecretBox } from '../core/index.js';
import { totpCode, verifyTotp } from '../factors/index.js';
import type { TestDatabase } from '../test-support/databases.js';
import {
  ALICE,
  callAs,
  errorCode,
  loginAs,
  startLogin,
  startTestGateway,
  submitTotp,
  type TestGateway,
} from '../test-support/gateway.js';
import { ADMIN_TOKEN, authorizeApp, exchangeCode, registerApp } from '../test-support/program.js';
import { finishRotation, rotateSecret } from './rotation.js';
import { readRingFile, resolveServerSecret, writeRingFile } from './secret.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const DAY = 86_400_000;

function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gh-rotation-faults-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A SQLite file database whose ring is `gatehouse.secret` beside it. */
function place() {
  const dir = folder();
  const database: TestDatabase = {
    dialect: 'sqlite',
    url: join(dir, 'gatehouse.db'),
    options: { sqliteDriver: 'better-sqlite3' },
    drop: async () => {},
  };
  return { dir, database, ringFile: join(dir, 'gatehouse.secret') };
}

async function start(database: TestDatabase, clock: ManualClock, logs?: string[]): Promise<TestGateway> {
  const gw = await startTestGateway({
    clock,
    database,
    ownSecret: true,
    ...(logs === undefined ? {} : { logSink: (line: string) => logs.push(line) }),
  });
  cleanups.push(() => gw.close());
  return gw;
}

async function sealedSeeds(gw: TestGateway): Promise<string[]> {
  const rows = await gw.ctx.store.db
    .selectFrom('second_factors')
    .select('secret_sealed')
    .where('secret_sealed', 'is not', null)
    .execute();
  return rows.map((r) => r.secret_sealed as string);
}

/** A TOTP login of Alice: the status and error code of the factor step. */
async function totpLogin(gw: TestGateway, code?: string) {
  gw.clock.advance(30_000);
  const started = await startLogin(gw, ALICE.username, ALICE.password);
  expect(started.statusCode).toBe(200);
  const { loginId } = started.json() as { loginId: string };
  return submitTotp(gw, loginId, code ?? totpCode(ALICE.totpSecret, gw.clock.now()));
}

describe('secret rotate --finish racing an operator', () => {
  it('a rotate landing while finish re-seals is refused (SECRET_RING_LOCKED): finish drops only what it read, the seeds open under the ring left, the next start logs in with TOTP', async () => {
    const { database, ringFile } = place();
    const clock = new ManualClock();
    const gw1 = await start(database, clock);
    const config: Config = gw1.ctx.config;
    const a = readRingFile(ringFile, clock.now()).current;
    rotateSecret(config, clock.now());
    await gw1.close();
    const gw2 = await start(database, clock);
    const b = readRingFile(ringFile, clock.now()).current;

    // Injected: `secret rotate` while `--finish` awaits its re-seal.
    const fin = finishRotation(config, gw2.ctx.store, { everyNodeRestarted: true, now: clock.now() });
    expect(() => rotateSecret(config, clock.now())).toThrow(/SECRET_RING_LOCKED/);
    expect((await fin).dropped).toBe(1);

    const ring = readRingFile(ringFile, clock.now());
    expect(ring.current.equals(b)).toBe(true);
    expect(ring.previous).toEqual([]);
    expect(ring.identity.equals(a)).toBe(true);
    expect(existsSync(`${ringFile}.lock`)).toBe(false);
    for (const sealed of await sealedSeeds(gw2)) expect(() => new SecretBox(b).open(sealed)).not.toThrow();
    await gw2.close();
    const gw3 = await start(database, clock);
    expect((await totpLogin(gw3)).statusCode).toBe(200);
    // The lock is released: the next rotation goes ahead.
    expect(rotateSecret(config, clock.now()).kind).toBe('file');
  });

  it('a ring file whose current secret changes during finish (written past the lock) is left as written: SECRET_RING_CHANGED, nothing dropped', async () => {
    const { database, ringFile } = place();
    const clock = new ManualClock();
    const gw1 = await start(database, clock);
    const config = gw1.ctx.config;
    rotateSecret(config, clock.now());
    await gw1.close();
    const gw2 = await start(database, clock);
    const fin = finishRotation(config, gw2.ctx.store, { everyNodeRestarted: true, now: clock.now() });
    // Injected: the ring rewritten by hand ({C, [B, A]}) while finish re-seals under B.
    const before = readRingFile(ringFile, clock.now());
    const changed = {
      ...before,
      current: randomBytes(32),
      previous: [{ secret: before.current, retiresAt: clock.now() + DAY }, ...before.previous],
    };
    writeRingFile(ringFile, changed);
    await expect(fin).rejects.toThrow(/SECRET_RING_CHANGED/);
    expect(readRingFile(ringFile, clock.now())).toEqual(changed);
  });

  it('a lock left by a process that is gone is taken over; finish without --every-node-restarted is refused (SECRET_NODES_NOT_CONFIRMED) and changes nothing', async () => {
    const { database, ringFile } = place();
    const clock = new ManualClock();
    const gw = await start(database, clock);
    const config = gw.ctx.config;
    writeFileSync(`${ringFile}.lock`, '2147483646\n');
    expect(rotateSecret(config, clock.now()).kind).toBe('file');
    expect(existsSync(`${ringFile}.lock`)).toBe(false);
    const ring = readFileSync(ringFile, 'utf8');
    const seeds = await sealedSeeds(gw);
    await expect(finishRotation(config, gw.ctx.store, { everyNodeRestarted: false })).rejects.toThrow(
      /SECRET_NODES_NOT_CONFIRMED/,
    );
    expect(readFileSync(ringFile, 'utf8')).toBe(ring);
    expect(await sealedSeeds(gw)).toEqual(seeds);
  });

  it('a node left on the old ring through finish: its seed is unreadable — the next start warns with the count, the TOTP login answers a coded 4xx (not a 500), another factor still verifies', async () => {
    const { database, ringFile } = place();
    const clock = new ManualClock();
    const gw1 = await start(database, clock);
    const config = gw1.ctx.config;
    const a = readRingFile(ringFile, clock.now()).current;
    rotateSecret(config, clock.now());
    const gw2 = await start(database, clock);
    await finishRotation(config, gw2.ctx.store, { everyNodeRestarted: true, now: clock.now() });
    await gw2.close();
    // Injected: gw1, still on the old ring, seals the TOTP seeds again under A (factors enrolled there).
    const resealed = await gw1.ctx.store.db
      .updateTable('second_factors')
      .set({ secret_sealed: new SecretBox(a).seal(ALICE.totpSecret) })
      .where('type', '=', 'totp')
      .executeTakeFirst();
    await gw1.close();

    const logs: string[] = [];
    const gw3 = await start(database, clock, logs);
    const warning = logs
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.unreadable !== undefined);
    expect(warning?.unreadable).toBe(Number(resealed.numUpdatedRows));
    expect(warning?.msg).toMatch(/no server secret opens/);
    const wrong = await totpLogin(gw3);
    expect(wrong.statusCode).toBeLessThan(500);
    expect(wrong.statusCode).toBeGreaterThanOrEqual(400);
    expect(errorCode(wrong)).toBe('INVALID_CREDENTIALS');
    const skipped = logs
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.factorId !== undefined);
    expect(skipped?.msg).toMatch(/TOTP seed no server secret opens was skipped/);
    for (const secret of [a, ...[readRingFile(ringFile, clock.now()).current]])
      expect(logs.join('\n')).not.toContain(secret.toString('base64'));

    // A second TOTP factor of Alice's, sealed under the current secret, still verifies beside the unreadable one.
    const db = gw3.ctx.store.db;
    const row = await db
      .selectFrom('second_factors')
      .selectAll()
      .where('type', '=', 'totp')
      .executeTakeFirstOrThrow();
    const other = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
    await db
      .insertInto('second_factors')
      .values({ ...row, id: `${row.id}-2`, secret_sealed: gw3.ctx.box.seal(other), last_used_step: null })
      .execute();
    gw3.clock.advance(60_000);
    const warned: unknown[] = [];
    const log = { warn: (fields: object) => warned.push(fields) };
    const check = await verifyTotp(
      db,
      gw3.clock,
      gw3.ctx.box,
      row.user_id,
      totpCode(other, gw3.clock.now()),
      1,
      log,
    );
    expect(check).toEqual({ ok: true, factorId: `${row.id}-2` });
    expect(warned).toEqual([{ factorId: row.id }]);
  });
});

describe('a start while secret rotate holds the ring', () => {
  it('keeps the retired secrets while the lock is held by a live process, and drops them at the next start', async () => {
    const { database, ringFile } = place();
    const clock = new ManualClock();
    const gw1 = await start(database, clock);
    const config = gw1.ctx.config;
    rotateSecret(config, clock.now());
    await gw1.close();
    clock.advance(config.secrets.rotationGraceMs + 1);
    // Injected: a lock held by a live process (this one) while the gateway starts after the grace.
    writeFileSync(`${ringFile}.lock`, `${process.pid}\n`);
    await (await start(database, clock)).close();
    expect(readRingFile(ringFile, clock.now()).previous).toHaveLength(1);
    expect(readFileSync(`${ringFile}.lock`, 'utf8')).toBe(`${process.pid}\n`);
    rmSync(`${ringFile}.lock`);
    await (await start(database, clock)).close();
    expect(readRingFile(ringFile, clock.now()).previous).toEqual([]);
  });
});

describe('a pending factor whose seed no kept secret opens', () => {
  it('confirming it with the right code answers INVALID_CREDENTIALS (not a 500) and leaves it pending', async () => {
    const gw = await startTestGateway();
    cleanups.push(() => gw.close());
    const alice = await loginAs(gw, ALICE);
    const enrol = await callAs(gw, 'POST', '/v1/factors/totp', alice, { label: 'Backup phone' });
    const { factorId, secret } = enrol.json() as { factorId: string; secret: string };
    // Injected: the pending seed sealed under a secret the ring does not hold.
    await gw.ctx.store.db
      .updateTable('second_factors')
      .set({ secret_sealed: new SecretBox(randomBytes(32)).seal(secret) })
      .where('id', '=', factorId)
      .execute();
    const confirm = await callAs(gw, 'POST', `/v1/factors/${factorId}/confirm`, alice, {
      code: totpCode(secret, gw.clock.now()),
    });
    expect(confirm.statusCode).toBe(401);
    expect(errorCode(confirm)).toBe('INVALID_CREDENTIALS');
    const row = await gw.ctx.store.db
      .selectFrom('second_factors')
      .select('status')
      .where('id', '=', factorId)
      .executeTakeFirstOrThrow();
    expect(row.status).toBe('pending');
  });
});

describe('a refresh token whose kept successor no kept secret opens', () => {
  it('a retry of the spent token within the leeway answers invalid_grant (not a 500), as one with no successor recorded', async () => {
    const gw = await startTestGateway({ config: { secrets: { adminApiToken: ADMIN_TOKEN } } });
    cleanups.push(() => gw.close());
    const program = await registerApp(gw, { rotate: true });
    const flow = await authorizeApp(program, await loginAs(gw, ALICE));
    const first = (await exchangeCode(program, flow.code, flow.verifier)).json() as { refresh_token: string };
    const rotated = await program.form('/oauth2/token', {
      grant_type: 'refresh_token',
      refresh_token: first.refresh_token,
    });
    expect(rotated.statusCode).toBe(200);
    // Injected: every kept successor sealed under a secret the ring does not hold.
    const stray = new SecretBox(randomBytes(32));
    const kept = await gw.ctx.store.db
      .updateTable('oauth_tokens')
      .set({ successor_sealed: stray.seal('x') })
      .where('successor_sealed', 'is not', null)
      .executeTakeFirst();
    expect(Number(kept.numUpdatedRows)).toBe(1);
    gw.clock.advance(5_000);
    const retried = await program.form('/oauth2/token', {
      grant_type: 'refresh_token',
      refresh_token: first.refresh_token,
    });
    expect(retried.statusCode).toBe(400);
    expect((retried.json() as { error: string }).error).toBe('invalid_grant');
  });
});

describe('a ring file held to the configured ring limits', () => {
  const NOW = Date.UTC(2026, 5, 1);
  const s = () => randomBytes(32).toString('base64');
  const at = (ms: number) => new Date(ms).toISOString();

  it.each<[string, unknown]>([
    [
      'five previous secrets',
      { previous: [1, 2, 3, 4, 5].map(() => ({ secret: s(), retiresAt: at(NOW + DAY) })) },
    ],
    ['a retire time past now + 90 days', { previous: [{ secret: s(), retiresAt: at(NOW + 91 * DAY) }] }],
    ['a previous secret that is null', { previous: [null] }],
    ['a previous secret that is a string', { previous: ['x'] }],
    ['an identity that is a number', { identity: 42 }],
    ['a current secret with characters outside base64', { current: `${s().slice(0, 43)}!!` }],
  ])('refuses %s with a ConfigError naming secrets.secretFile', (_what, change) => {
    const dir = folder();
    const file = join(dir, 'gatehouse.secret');
    writeFileSync(file, JSON.stringify({ version: 1, current: s(), previous: [], ...(change as object) }), {
      mode: 0o600,
    });
    const config = defaultConfig({ database: { url: join(dir, 'gatehouse.db') } });
    let thrown: unknown;
    try {
      resolveServerSecret(config, NOW);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as Error).message).toMatch(/secrets\.secretFile/);
  });

  it('refuses a configured secret outside the base64 alphabet and a configured retire time past now + 90 days (so rotate never carries it forward)', () => {
    const url = 'postgres://nowhere.invalid/gatehouse';
    const bad = defaultConfig({ database: { url }, secrets: { serverSecret: `${s().slice(0, 43)}*#` } });
    expect(() => resolveServerSecret(bad, NOW)).toThrow(ConfigError);
    const far = defaultConfig({
      database: { url },
      secrets: { serverSecret: s(), previousServerSecrets: [{ secret: s(), retiresAt: at(NOW + 91 * DAY) }] },
    });
    expect(() => resolveServerSecret(far, NOW)).toThrow(/previousServerSecrets\[0\]\.retiresAt/);
    expect(() => rotateSecret(far, NOW)).toThrow(ConfigError);
  });

  it('flags a ring file its group or others can read, and rotate writes through a symlinked ring file to its target', () => {
    const dir = folder();
    const target = join(dir, 'real.secret');
    const file = join(dir, 'gatehouse.secret');
    const first = randomBytes(32);
    writeFileSync(target, `${first.toString('base64')}\n`, { mode: 0o644 });
    symlinkSync(target, file);
    const config = defaultConfig({ database: { url: join(dir, 'gatehouse.db') } });
    expect(resolveServerSecret(config, NOW).looseMode).toBe(0o644);
    rotateSecret(config, NOW);
    expect(lstatSync(file).isSymbolicLink()).toBe(true);
    const ring = readRingFile(target, NOW);
    expect(ring.previous.map((p) => p.secret)).toEqual([first]);
    expect(ring.current.equals(first)).toBe(false);
    expect(resolveServerSecret(config, NOW).looseMode).toBeUndefined();
  });
});
