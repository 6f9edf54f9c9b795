/** Configuration: defaults, environment variables, the config file, and errors that name the setting. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configLeaves, defaultConfig, loadConfig } from './index.js';

/** Settings whose default is computed from the machine (documented as a rule, not a number). */
const MACHINE_DEPENDENT = ['password.maxConcurrentHashes'];

describe('loadConfig', () => {
  it('has documented defaults', () => {
    const config = loadConfig({ env: {}, file: undefined });
    expect(config.server.port).toBe(8080);
    expect(config.database.url).toBe('./data/gatehouse.db');
    expect(config.sessions.web.idleTimeoutMs).toBe(15 * 60_000);
    expect(config.sessions.web.absoluteLifetimeMs).toBe(12 * 3_600_000);
    expect(config.password).toMatchObject({ memoryCostKib: 19_456, timeCost: 2, parallelism: 1 });
  });

  it('reads environment variables derived from the setting path, and aliases', () => {
    const config = loadConfig({
      env: {
        GATEHOUSE_SERVER_PORT: '9090',
        GATEHOUSE_SESSIONS_WEB_IDLE_TIMEOUT_MS: '60000',
        GATEHOUSE_SERVER_TRUSTED_PROXIES: '10.0.0.1, 10.0.0.0/8',
        DATABASE_URL: 'postgres://u:p@db/gatehouse',
      },
    });
    expect(config.server.port).toBe(9090);
    expect(config.sessions.web.idleTimeoutMs).toBe(60_000);
    expect(config.server.trustedProxies).toEqual(['10.0.0.1', '10.0.0.0/8']);
    expect(config.database.url).toBe('postgres://u:p@db/gatehouse');
  });

  it('takes a whole-object setting from its environment variable as JSON, and names it when the JSON is wrong', () => {
    const resets = {
      north_america: { time: '17:30', timeZone: 'UTC' },
      europe: { time: '17:30', timeZone: 'UTC' },
      asia_pacific: { time: '09:00', timeZone: 'Asia/Tokyo' },
    };
    const config = loadConfig({
      env: { GATEHOUSE_BROKERAGE_RESETS: JSON.stringify(resets) },
      file: undefined,
    });
    expect(config.brokerage.resets).toEqual(resets);
    const pacing = { ...defaultConfig().cpapi.pacingLimits, global: { limit: 3, perMs: 1000 } };
    expect(
      loadConfig({ env: { GATEHOUSE_CPAPI_PACING_LIMITS: JSON.stringify(pacing) }, file: undefined }).cpapi
        .pacingLimits,
    ).toEqual(pacing);
    expect(() =>
      loadConfig({ env: { GATEHOUSE_BROKERAGE_RESETS: '{"north_america":' }, file: undefined }),
    ).toThrow(/brokerage\.resets.*GATEHOUSE_BROKERAGE_RESETS/);
  });

  it('keeps one node without a Redis URL, and takes one from REDIS_URL or its derived name', () => {
    expect(loadConfig({ env: {} }).cluster.redisUrl).toBeUndefined();
    expect(loadConfig({ env: { REDIS_URL: 'redis://10.0.0.5:6379' } }).cluster.redisUrl).toBe(
      'redis://10.0.0.5:6379',
    );
    expect(
      loadConfig({ env: { GATEHOUSE_CLUSTER_REDIS_URL: 'rediss://cache.internal:6380/1' } }).cluster.redisUrl,
    ).toBe('rediss://cache.internal:6380/1');
    expect(() => loadConfig({ env: { REDIS_URL: 'http://10.0.0.5:6379' } })).toThrow(
      /cluster\.redisUrl.*GATEHOUSE_CLUSTER_REDIS_URL.*REDIS_URL.*redis:\/\//,
    );
  });

  it('reads a JSON file, with the environment taking precedence', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-config-'));
    const file = join(dir, 'gatehouse.config.json');
    writeFileSync(file, JSON.stringify({ server: { port: 7000, host: '0.0.0.0' }, log: { level: 'debug' } }));
    const config = loadConfig({ env: { GATEHOUSE_SERVER_PORT: '7001' }, file });
    expect(config.server).toMatchObject({ port: 7001, host: '0.0.0.0' });
    expect(config.log.level).toBe('debug');
  });

  it('stops with a message naming the setting and its source', () => {
    expect(() => loadConfig({ env: { GATEHOUSE_SERVER_PORT: 'eighty' } })).toThrow(
      /server\.port.*GATEHOUSE_SERVER_PORT/,
    );
    expect(() => loadConfig({ env: { GATEHOUSE_PASSWORD_MEMORY_COST_KIB: '1024' } })).toThrow(
      /password\.memoryCostKib/,
    );
    expect(() => loadConfig({ env: { GATEHOUSE_LOG_LEVEL: 'loud' } })).toThrow(/log\.level/);
    const dir = mkdtempSync(join(tmpdir(), 'gh-config-'));
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ sessions: { web: { idleTimeoutMS: 5 } } }));
    expect(() => loadConfig({ env: {}, file })).toThrow(/sessions\.web.*idleTimeoutMS/);
    writeFileSync(file, '{not json');
    expect(() => loadConfig({ env: {}, file })).toThrow(/Cannot read config file/);
    expect(() => loadConfig({ env: {}, overrides: { server: { tlsCertFile: 'cert.pem' } } })).toThrow(
      /tlsKeyFile/,
    );
  });

  it('documents every setting with its environment variable and default', () => {
    const doc = readFileSync(new URL('../../../../docs/configuration.md', import.meta.url), 'utf8');
    const defaults = defaultConfig();
    for (const leaf of configLeaves()) {
      expect(doc, `docs/configuration.md lacks ${leaf.path}`).toContain(`\`${leaf.path}\``);
      expect(doc, `docs/configuration.md lacks ${leaf.env}`).toContain(`\`${leaf.env}\``);
      const value = leaf.path
        .split('.')
        .reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], defaults);
      if (MACHINE_DEPENDENT.includes(leaf.path)) {
        const row = doc.split('\n').find((line) => line.startsWith(`| \`${leaf.path}\` |`)) ?? '';
        expect(row, `default of ${leaf.path}`).toContain('cores');
      } else if (value !== undefined && !(Array.isArray(value) && value.length === 0)) {
        const row = doc.split('\n').find((line) => line.startsWith(`| \`${leaf.path}\` |`)) ?? '';
        expect(row, `default of ${leaf.path}`).toContain(`\`${JSON.stringify(value)}\``);
      }
    }
  });
});
