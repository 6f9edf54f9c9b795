/**
 * @module app/secret
 * The server secret from which the CSRF, device-cookie and at-rest encryption keys are derived. Several nodes
 * must share it, so with PostgreSQL it must be configured; a single SQLite node generates one on first start and
 * keeps it in a 0600 file beside its database.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Config } from '../config/index.js';
import { ConfigError } from '../core/index.js';
import { isPostgresUrl } from '../store/index.js';

function decode(value: string, setting: string): Buffer {
  const bytes = Buffer.from(value.trim(), 'base64');
  if (bytes.length < 32)
    throw new ConfigError(`Invalid setting ${setting}: needs at least 32 bytes of base64`);
  return bytes;
}

export interface ResolvedSecret {
  secret: Buffer;
  source: 'config' | 'file' | 'generated-file' | 'ephemeral';
  file?: string;
}

export function resolveServerSecret(config: Config): ResolvedSecret {
  if (config.secrets.serverSecret !== undefined) {
    return { secret: decode(config.secrets.serverSecret, 'secrets.serverSecret'), source: 'config' };
  }
  if (isPostgresUrl(config.database.url)) {
    throw new ConfigError(
      'Invalid setting secrets.serverSecret (GATEHOUSE_SECRET): required with PostgreSQL, since every node must share it',
    );
  }
  if (config.database.url === ':memory:') return { secret: randomBytes(32), source: 'ephemeral' };
  const dbFile = config.database.url.startsWith('sqlite:')
    ? config.database.url.slice(7)
    : config.database.url;
  const file = config.secrets.secretFile ?? join(dirname(dbFile), 'gatehouse.secret');
  if (existsSync(file))
    return { secret: decode(readFileSync(file, 'utf8'), 'secrets.secretFile'), source: 'file', file };
  mkdirSync(dirname(file), { recursive: true });
  try {
    writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    // Another process (say `gatehouse demo` beside a starting server) created it first: use theirs.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return { secret: decode(readFileSync(file, 'utf8'), 'secrets.secretFile'), source: 'file', file };
  }
  chmodSync(file, 0o600);
  return { secret: decode(readFileSync(file, 'utf8'), 'secrets.secretFile'), source: 'generated-file', file };
}
