/**
 * @module config/load
 * Builds the configuration from, in rising precedence: defaults, `gatehouse.config.json` (or the file named by
 * `GATEHOUSE_CONFIG`), environment variables, and explicit overrides (CLI flags). A wrong value stops start-up
 * with a `ConfigError` naming the setting and where it came from.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { z } from 'zod';
import { ConfigError } from '../core/index.js';
import { type Config, type ConfigInput, configSchema } from './schema.js';

/** Conventional variables accepted besides the derived `GATEHOUSE_*` names. */
const ALIASES: Record<string, string> = {
  DATABASE_URL: 'database.url',
  REDIS_URL: 'cluster.redisUrl',
  GATEHOUSE_SECRET: 'secrets.serverSecret',
  GATEHOUSE_DB: 'database.url',
  GATEHOUSE_PORT: 'server.port',
  GATEHOUSE_HOST: 'server.host',
  GATEHOUSE_LOG_LEVEL: 'log.level',
};

export interface ConfigLeaf {
  path: string;
  env: string;
  kind: 'string' | 'number' | 'boolean' | 'array' | 'enum' | 'object';
}

type AnySchema = z.core.$ZodType;

function unwrap(schema: AnySchema): AnySchema {
  let current = schema;
  for (;;) {
    const def = current._zod.def as { type: string; innerType?: AnySchema };
    if (def.innerType !== undefined && ['optional', 'default', 'prefault', 'nullable'].includes(def.type)) {
      current = def.innerType;
    } else {
      return current;
    }
  }
}

/** An object setting with a whole-object default (e.g. `brokerage.resets`) is one leaf, set as JSON. */
function isRecordLeaf(schema: AnySchema): boolean {
  const def = schema._zod.def as { type: string };
  return def.type === 'default';
}

/** Every leaf setting with its environment variable name, derived from the schema. */
export function configLeaves(): ConfigLeaf[] {
  const leaves: ConfigLeaf[] = [];
  const walk = (schema: AnySchema, path: string[]) => {
    const inner = unwrap(schema);
    const def = inner._zod.def as { type: string; shape?: Record<string, AnySchema> };
    if (def.type === 'object' && def.shape !== undefined && !isRecordLeaf(schema)) {
      for (const [key, child] of Object.entries(def.shape)) walk(child, [...path, key]);
      return;
    }
    const env = `GATEHOUSE_${path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_')}`;
    const kind =
      (['string', 'number', 'boolean', 'array', 'enum', 'object'] as const).find((k) => k === def.type) ??
      'string';
    leaves.push({ path: path.join('.'), env, kind });
  };
  walk(configSchema, []);
  return leaves;
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1] as string] = value;
}

function parseEnvValue(raw: string, kind: ConfigLeaf['kind']): unknown {
  switch (kind) {
    case 'number': {
      const n = Number(raw);
      return raw.trim() === '' || Number.isNaN(n) ? raw : n;
    }
    case 'boolean':
      return raw === 'true' ? true : raw === 'false' ? false : raw;
    case 'object':
      try {
        return JSON.parse(raw) as unknown;
      } catch {
        return raw;
      }
    case 'array':
      // A list of objects (`cpapi.listeners`) is given as JSON; a list of words, comma-separated.
      if (raw.trim().startsWith('[')) {
        try {
          return JSON.parse(raw) as unknown;
        } catch {
          return raw;
        }
      }
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
    default:
      return raw;
  }
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const prev = out[key];
    if (
      typeof value === 'object' &&
      value !== null &&
      !Array.isArray(value) &&
      typeof prev === 'object' &&
      prev !== null &&
      !Array.isArray(prev)
    ) {
      out[key] = deepMerge(prev as Record<string, unknown>, value as Record<string, unknown>);
    } else if (value !== undefined) {
      out[key] = value;
    }
  }
  return out;
}

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  /** Path of a JSON config file; default `GATEHOUSE_CONFIG` or `./gatehouse.config.json` when it exists. */
  file?: string;
  overrides?: ConfigInput;
}

/** Loads and validates the configuration; throws `ConfigError` naming the first wrong setting. */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const sources = new Map<string, string>();
  let merged: Record<string, unknown> = {};

  const explicitFile = options.file ?? env.GATEHOUSE_CONFIG;
  const file = explicitFile ?? (existsSync('gatehouse.config.json') ? 'gatehouse.config.json' : undefined);
  if (file !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (error) {
      throw new ConfigError(`Cannot read config file ${file}: ${(error as Error).message}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new ConfigError(`Config file ${file} must hold a JSON object`);
    }
    merged = deepMerge(merged, parsed as Record<string, unknown>);
  }

  const fromEnv: Record<string, unknown> = {};
  const leaves = configLeaves();
  const kindOf = new Map(leaves.map((l) => [l.path, l.kind]));
  const names: [string, string][] = [
    ...leaves.map((l) => [l.env, l.path] as [string, string]),
    ...Object.entries(ALIASES),
  ];
  for (const [name, path] of names) {
    const raw = env[name];
    if (raw === undefined) continue;
    setPath(fromEnv, path, parseEnvValue(raw, kindOf.get(path) ?? 'string'));
    sources.set(path, `environment variable ${name}`);
  }
  merged = deepMerge(merged, fromEnv);
  if (options.overrides !== undefined) {
    merged = deepMerge(merged, options.overrides as Record<string, unknown>);
  }

  const result = configSchema.safeParse(merged);
  if (!result.success) {
    const issue = result.error.issues[0];
    const path = issue?.path.join('.') ?? '';
    const source = sources.get(path) ?? (file !== undefined ? `config file ${file} or a flag` : 'a flag');
    const leaf = leaves.find((l) => l.path === path);
    const hint = leaf === undefined ? '' : ` (environment variable ${leaf.env})`;
    throw new ConfigError(
      `Invalid setting ${path || '(root)'}${hint} from ${source}: ${issue?.message ?? 'invalid'}`,
    );
  }
  const config = result.data;
  if ((config.server.tlsCertFile === undefined) !== (config.server.tlsKeyFile === undefined)) {
    throw new ConfigError('Invalid setting server.tlsCertFile / server.tlsKeyFile: set both or neither');
  }
  return config;
}

/** The configuration with every default, for tests and documentation. */
export function defaultConfig(overrides: ConfigInput = {}): Config {
  return configSchema.parse(overrides);
}
