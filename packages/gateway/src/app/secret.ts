/**
 * @module app/secret
 * The server secrets (core/keyring.ts): where they are kept, and their rotation (`gatehouse secret rotate`).
 *
 * Where the ring is kept — decided so that no secret is stored under another secret:
 * - **Configured** (`secrets.serverSecret`, required with PostgreSQL since every node must share it): the previous
 *   secrets are configured too (`secrets.previousServerSecrets`, each with its retire time), and so is the identity
 *   secret. `gatehouse secret rotate` changes nothing: it prints the settings to give every node, and the operator
 *   rolls them out as they rolled out the secret itself. A ring kept in the database would have to be sealed under
 *   a key every node already shares — a configured secret again — and a copy of the database would carry it.
 * - **A file** (a single SQLite node, `secrets.secretFile` or `gatehouse.secret` beside the database, mode 0600):
 *   a small JSON keyring `{"version":1,"current":…,"previous":[{"secret":…,"retiresAt":…}],"identity":…}`, written
 *   whole to a temporary file and renamed over the old one. The one-line base64 format of earlier versions is read
 *   as a ring of that one secret. `gatehouse secret rotate` writes the new ring; the server reads it at start.
 *
 * After the grace: a previous secret stops verifying at its retire time (read at each check), a starting node
 * drops it from its file, and values made under it are refused like forgeries. Sealed values at rest never depend
 * on it past the first start after the rotation: that start re-seals them under the current secret (app/reseal.ts).
 */
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import type { Config } from '../config/index.js';
import { ConfigError, SecretRing } from '../core/index.js';
import { isPostgresUrl } from '../store/index.js';

/** The longest grace a secret can have (the `secrets.rotationGraceMs` limit); a later retire time is refused. */
export const MAX_GRACE_MS = 90 * 86_400_000;
/** The most previous secrets a ring keeps (the `secrets.previousServerSecrets` limit). */
export const MAX_PREVIOUS = 4;

/** Base64 (or base64url), padded or not: `Buffer.from` would skip any other character silently. */
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

function decode(value: string, setting: string): Buffer {
  if (!BASE64.test(value.trim()))
    throw new ConfigError(`Invalid setting ${setting}: not base64 (a character outside its alphabet)`);
  const bytes = Buffer.from(value.trim(), 'base64');
  if (bytes.length < 32)
    throw new ConfigError(`Invalid setting ${setting}: needs at least 32 bytes of base64`);
  return bytes;
}

/** The ring as kept: the current secret, the previous ones with their retire times, the identity secret. */
export interface StoredRing {
  current: Buffer;
  previous: { secret: Buffer; retiresAt: number }[];
  identity: Buffer;
}

export interface ResolvedSecret {
  ring: StoredRing;
  source: 'config' | 'file' | 'generated-file' | 'ephemeral';
  file?: string;
  /** Set when the ring file can be read by its group or others (its mode), to be logged as a warning. */
  looseMode?: number;
}

/** Refuses a retire time past `now` + the longest grace (a ring that would keep a secret too long). */
function checkRetiresAt(retiresAt: number, now: number, setting: string): void {
  if (retiresAt > now + MAX_GRACE_MS)
    throw new ConfigError(
      `Invalid setting ${setting}: a previous secret retires more than ${MAX_GRACE_MS / 86_400_000} days from now`,
    );
}

/** The file a SQLite node keeps its ring in; undefined for a configured secret or an in-memory database. */
export function secretFilePath(config: Config): string | undefined {
  if (config.secrets.serverSecret !== undefined || isPostgresUrl(config.database.url)) return undefined;
  if (config.database.url === ':memory:') return undefined;
  const dbFile = config.database.url.startsWith('sqlite:')
    ? config.database.url.slice(7)
    : config.database.url;
  return config.secrets.secretFile ?? join(dirname(dbFile), 'gatehouse.secret');
}

function configuredRing(config: Config, now: number): StoredRing {
  const current = decode(config.secrets.serverSecret ?? '', 'secrets.serverSecret');
  return {
    current,
    previous: config.secrets.previousServerSecrets.map((p, i) => {
      const setting = `secrets.previousServerSecrets[${i}]`;
      const retiresAt = Date.parse(p.retiresAt);
      checkRetiresAt(retiresAt, now, `${setting}.retiresAt`);
      return { secret: decode(p.secret, `${setting}.secret`), retiresAt };
    }),
    identity:
      config.secrets.identitySecret === undefined
        ? current
        : decode(config.secrets.identitySecret, 'secrets.identitySecret'),
  };
}

/**
 * Reads a ring file: the JSON keyring, or the one-line base64 secret of earlier versions. Held to the limits of the
 * configured ring: at most 4 previous secrets, each an object retiring within `now` + the longest grace.
 */
export function readRingFile(file: string, now: number = Date.now()): StoredRing {
  const text = readFileSync(file, 'utf8');
  if (!text.trimStart().startsWith('{')) {
    const secret = decode(text, 'secrets.secretFile');
    return { current: secret, previous: [], identity: secret };
  }
  let parsed: {
    version?: unknown;
    current?: unknown;
    previous?: unknown;
    identity?: unknown;
  };
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    throw new ConfigError('Invalid setting secrets.secretFile: the keyring is not JSON');
  }
  if (parsed.version !== 1 || typeof parsed.current !== 'string' || !Array.isArray(parsed.previous))
    throw new ConfigError('Invalid setting secrets.secretFile: not a version 1 keyring');
  if (parsed.previous.length > MAX_PREVIOUS)
    throw new ConfigError(
      `Invalid setting secrets.secretFile: more than ${MAX_PREVIOUS} previous secrets in the keyring`,
    );
  if (parsed.identity !== undefined && typeof parsed.identity !== 'string')
    throw new ConfigError('Invalid setting secrets.secretFile: the identity secret is not a string');
  const current = decode(parsed.current, 'secrets.secretFile');
  return {
    current,
    previous: (parsed.previous as unknown[]).map((p) => {
      if (typeof p !== 'object' || p === null || Array.isArray(p))
        throw new ConfigError('Invalid setting secrets.secretFile: a previous secret is not an object');
      const { secret, retiresAt: at } = p as { secret?: unknown; retiresAt?: unknown };
      const retiresAt = typeof at === 'string' ? Date.parse(at) : Number.NaN;
      if (typeof secret !== 'string' || Number.isNaN(retiresAt))
        throw new ConfigError('Invalid setting secrets.secretFile: a previous secret lacks its retire time');
      checkRetiresAt(retiresAt, now, 'secrets.secretFile');
      return { secret: decode(secret, 'secrets.secretFile'), retiresAt };
    }),
    identity: typeof parsed.identity === 'string' ? decode(parsed.identity, 'secrets.secretFile') : current,
  };
}

/**
 * Writes a ring file whole (mode 0600): a temporary file renamed over the old one, so a crash leaves either. A ring
 * file that is a symbolic link is written through to its target (the link stays, and no old secret is left there).
 */
export function writeRingFile(file: string, ring: StoredRing): void {
  const target = existsSync(file) && lstatSync(file).isSymbolicLink() ? realpathSync(file) : file;
  const body = {
    version: 1,
    current: ring.current.toString('base64'),
    previous: ring.previous.map((p) => ({
      secret: p.secret.toString('base64'),
      retiresAt: new Date(p.retiresAt).toISOString(),
    })),
    identity: ring.identity.toString('base64'),
  };
  const temporary = `${target}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(temporary, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    chmodSync(temporary, 0o600);
    renameSync(temporary, target);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}

/**
 * The node's ring. A ring file's retired secrets are dropped from it (`now`: the clock's time) — after the reseal
 * of app/reseal.ts, which opens with every secret the file held, has run (`pruneRetired`).
 */
export function resolveServerSecret(config: Config, now: number = Date.now()): ResolvedSecret {
  if (config.secrets.serverSecret !== undefined)
    return { ring: configuredRing(config, now), source: 'config' };
  if (isPostgresUrl(config.database.url)) {
    throw new ConfigError(
      'Invalid setting secrets.serverSecret (GATEHOUSE_SECRET): required with PostgreSQL, since every node must share it',
    );
  }
  if (config.database.url === ':memory:') {
    const secret = randomBytes(32);
    return { ring: { current: secret, previous: [], identity: secret }, source: 'ephemeral' };
  }
  const file = secretFilePath(config) as string;
  if (existsSync(file)) {
    const mode = statSync(file).mode & 0o777;
    return {
      ring: readRingFile(file, now),
      source: 'file',
      file,
      ...(mode & 0o077 ? { looseMode: mode } : {}),
    };
  }
  mkdirSync(dirname(file), { recursive: true });
  try {
    writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    // Another process (say `gatehouse demo` beside a starting server) created it first: use theirs.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return { ring: readRingFile(file, now), source: 'file', file };
  }
  chmodSync(file, 0o600);
  return { ring: readRingFile(file, now), source: 'generated-file', file };
}

/** The ring for checks: previous secrets verify until their retire time, read from `now` at each check. */
export function secretRing(stored: StoredRing, now: () => number): SecretRing {
  return new SecretRing({ ...stored, now });
}

/** A ring that opens with every secret kept, retired or not (the reseal's, which must read what was sealed). */
export function openingRing(stored: StoredRing): SecretRing {
  return new SecretRing({
    current: stored.current,
    previous: stored.previous.map((p) => ({ secret: p.secret, retiresAt: Number.POSITIVE_INFINITY })),
    identity: stored.identity,
    now: () => 0,
  });
}

/** Drops a ring file's retired secrets (once the values sealed under them are re-sealed). */
export function pruneRetired(file: string, now: number): number {
  const ring = readRingFile(file, now);
  const kept = ring.previous.filter((p) => p.retiresAt > now);
  if (kept.length === ring.previous.length) return 0;
  writeRingFile(file, { ...ring, previous: kept });
  return ring.previous.length - kept.length;
}
