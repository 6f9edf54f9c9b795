/**
 * Where the ring is kept and how `gatehouse secret rotate` changes it: a SQLite node's secret file (the one-line
 * format of earlier versions read as a ring of one; the JSON keyring written whole, mode 0600), a configured ring
 * (settings printed, nothing written), `--finish` (every sealed value moved to the current secret, previous ones
 * dropped) on each engine.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultConfig } from '../config/index.js';
import { ConfigError, SecretBox } from '../core/index.js';
import { testDatabases } from '../test-support/databases.js';
import { startTestGateway } from '../test-support/gateway.js';
import { finishRotation, rotateSecret } from './rotation.js';
import { readRingFile, resolveServerSecret } from './secret.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gh-secret-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const NOW = Date.UTC(2026, 5, 1);

describe('the ring in a secret file', () => {
  it('reads the one-line format as a ring of one; rotate writes a 0600 JSON keyring holding both (the old one until now + grace) and prints no secret, and a second rotate keeps the identity', () => {
    const dir = folder();
    const first = randomBytes(32);
    const file = join(dir, 'gatehouse.secret');
    writeFileSync(file, `${first.toString('base64')}\n`, { mode: 0o600 });
    const config = defaultConfig({ database: { url: join(dir, 'gatehouse.db') } });
    expect(resolveServerSecret(config).ring).toEqual({ current: first, previous: [], identity: first });

    const rotation = rotateSecret(config, NOW);
    expect(rotation.kind).toBe('file');
    expect(JSON.stringify(rotation)).not.toContain(first.toString('base64'));
    const ring = readRingFile(file);
    expect(ring.previous).toEqual([{ secret: first, retiresAt: NOW + 7 * 86_400_000 }]);
    expect(ring.current.equals(first)).toBe(false);
    expect(JSON.stringify(rotation)).not.toContain(ring.current.toString('base64'));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ version: 1 });

    // The next rotation, after the first grace ended, drops the first secret and keeps it as the identity.
    rotateSecret(config, NOW + 8 * 86_400_000);
    const again = readRingFile(file);
    expect(again.previous.map((p) => p.secret)).toEqual([ring.current]);
    expect(again.identity).toEqual(first);
  });

  it('refuses a damaged keyring with a ConfigError naming the setting, and an in-memory database has nothing to rotate', () => {
    const dir = folder();
    const file = join(dir, 'gatehouse.secret');
    writeFileSync(file, '{"version":1,"current":"c2hvcnQ=","previous":[]}');
    const config = defaultConfig({ database: { url: join(dir, 'gatehouse.db') } });
    expect(() => resolveServerSecret(config)).toThrow(ConfigError);
    expect(() => resolveServerSecret(config)).toThrow(/secrets\.secretFile/);
    writeFileSync(file, '{"version":1,"current');
    expect(() => resolveServerSecret(config)).toThrow(/not JSON/);
    expect(() => rotateSecret(defaultConfig({ database: { url: ':memory:' } }), NOW)).toThrow(ConfigError);
  });
});

describe('a configured ring', () => {
  it('rotate writes nothing and prints the three settings: the new secret, the old one with its retire time, the identity', () => {
    const first = randomBytes(32).toString('base64');
    const config = defaultConfig({
      database: { url: 'postgres://nowhere.invalid/gatehouse' },
      secrets: { serverSecret: first, rotationGraceMs: 3_600_000 },
    });
    const rotation = rotateSecret(config, NOW);
    if (rotation.kind !== 'config') throw new Error('expected settings');
    expect(rotation.settings.GATEHOUSE_SECRET).not.toBe(first);
    expect(JSON.parse(rotation.settings.GATEHOUSE_SECRETS_PREVIOUS_SERVER_SECRETS ?? '')).toEqual([
      { secret: first, retiresAt: new Date(NOW + 3_600_000).toISOString() },
    ]);
    expect(rotation.settings.GATEHOUSE_SECRETS_IDENTITY_SECRET).toBe(first);
    // The printed settings load: the next start's ring.
    const next = defaultConfig({
      database: { url: 'postgres://nowhere.invalid/gatehouse' },
      secrets: {
        serverSecret: rotation.settings.GATEHOUSE_SECRET,
        previousServerSecrets: JSON.parse(rotation.settings.GATEHOUSE_SECRETS_PREVIOUS_SERVER_SECRETS ?? ''),
        identitySecret: rotation.settings.GATEHOUSE_SECRETS_IDENTITY_SECRET,
      },
    });
    const ring = resolveServerSecret(next).ring;
    expect(ring.previous.map((p) => p.secret.toString('base64'))).toEqual([first]);
    expect(ring.identity.toString('base64')).toBe(first);
  });
});

describe.each(testDatabases())('secret rotate --finish on %s', (_name, makeDatabase) => {
  it('moves every sealed TOTP seed to the current secret (each then opens under it alone) and drops the previous secrets', async () => {
    const database = await makeDatabase();
    cleanups.push(() => database.drop());
    const first = randomBytes(32).toString('base64');
    const gw = await startTestGateway({
      database,
      ownSecret: true,
      config: { secrets: { serverSecret: first } },
    });
    cleanups.push(() => gw.close());
    const rotation = rotateSecret(gw.ctx.config, gw.clock.now());
    if (rotation.kind !== 'config') throw new Error('expected settings');
    const next = defaultConfig({
      database: { url: database.url },
      secrets: {
        serverSecret: rotation.settings.GATEHOUSE_SECRET,
        previousServerSecrets: JSON.parse(rotation.settings.GATEHOUSE_SECRETS_PREVIOUS_SERVER_SECRETS ?? ''),
      },
    });
    const done = await finishRotation(next, gw.ctx.store, { everyNodeRestarted: true });
    expect(done.resealed).toBeGreaterThan(0);
    expect(done).toMatchObject({ unreadable: 0, dropped: 1 });
    expect(done.settings).toEqual({ GATEHOUSE_SECRETS_PREVIOUS_SERVER_SECRETS: '[]' });
    const onlyNew = new SecretBox(Buffer.from(rotation.settings.GATEHOUSE_SECRET ?? '', 'base64'));
    const rows = await gw.ctx.store.db
      .selectFrom('second_factors')
      .select('secret_sealed')
      .where('secret_sealed', 'is not', null)
      .execute();
    expect(rows.length).toBe(done.resealed);
    for (const row of rows) expect(() => onlyNew.open(row.secret_sealed as string)).not.toThrow();
    expect((await finishRotation(next, gw.ctx.store, { everyNodeRestarted: true })).resealed).toBe(0);
  });
});
