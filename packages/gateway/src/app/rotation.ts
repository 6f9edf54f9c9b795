/**
 * @module app/rotation
 * Rotating the server secret (`gatehouse secret rotate`, app/secret.ts says where the ring is kept and why):
 * - `rotate` makes a new current secret; the old one keeps verifying for `secrets.rotationGraceMs`. A ring file is
 *   rewritten (the server takes it at its next start); a configured ring is not touched — the settings to give
 *   every node are returned, and are the only place a secret is ever printed.
 * - A node starting with previous secrets re-seals what is sealed at rest under the current one (app/reseal.ts)
 *   and drops from its ring file the secrets whose grace has ended.
 * - `finish` ends the grace now: re-seals, then drops the previous secrets it read (a ring file) or says which
 *   settings to remove (a configured ring). It runs only once the operator says every node runs the new ring
 *   (`everyNodeRestarted`): a node still on the old ring would go on sealing under a secret finish drops.
 * - On a ring file, `rotate` and `finish` each hold a lock file (`<file>.lock`, created O_EXCL) for their whole run,
 *   and `finish` writes only if the file's current secret is still the one its re-seal sealed under.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import { ConfigError, SecretBox, secretId } from '../core/index.js';
import type { Store } from '../store/index.js';
import { resealAtRest } from './reseal.js';
import {
  MAX_PREVIOUS,
  openingRing,
  pruneRetired,
  readRingFile,
  resolveServerSecret,
  type StoredRing,
  secretFilePath,
  writeRingFile,
} from './secret.js';

/** A rotation refused, coded (`code`), changing nothing. */
export class RotationError extends ConfigError {
  constructor(
    readonly code: 'SECRET_RING_LOCKED' | 'SECRET_RING_CHANGED' | 'SECRET_NODES_NOT_CONFIRMED',
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes `<file>.lock` (created O_EXCL, holding the holder's pid) and returns its release. A lock whose process is
 * gone (a crashed command) is taken over; a live one refuses with SECRET_RING_LOCKED.
 */
export function lockRing(file: string): () => void {
  const lock = `${file}.lock`;
  let fd: number;
  try {
    fd = openSync(lock, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const holder = Number.parseInt(readFileSync(lock, 'utf8'), 10);
    if (Number.isInteger(holder) && holder > 0 && processAlive(holder))
      throw new RotationError(
        'SECRET_RING_LOCKED',
        `another secret rotate (process ${holder}) holds ${lock}; run one at a time`,
      );
    rmSync(lock, { force: true });
    fd = openSync(lock, 'wx', 0o600);
  }
  try {
    writeSync(fd, `${process.pid}\n`);
  } finally {
    closeSync(fd);
  }
  return () => rmSync(lock, { force: true });
}

/**
 * At start-up: re-seal under the current secret while previous ones are kept, then drop the retired ones. With no
 * previous secret it still counts the sealed values the ring cannot open (sealed under a secret already dropped,
 * say by a node that ran the old ring through `secret rotate --finish`) and warns loudly with their number.
 */
export async function settleRotation(
  store: Store,
  ring: StoredRing,
  file: string | undefined,
  now: number,
  log: Pick<Logger, 'info' | 'warn'>,
): Promise<void> {
  const count = await resealAtRest(store.db, new SecretBox(openingRing(ring)));
  if (count.resealed > 0) log.info(count, 'sealed values moved to the current server secret');
  if (count.unreadable > 0)
    log.warn(
      count,
      'sealed values no server secret opens were left as they are (sealed under an unknown secret): the TOTP factors among them no longer verify and must be enrolled again',
    );
  if (file !== undefined && ring.previous.some((p) => p.retiresAt <= now)) {
    let release: () => void;
    try {
      release = lockRing(file);
    } catch (error) {
      if (!(error instanceof RotationError)) throw error;
      // A `secret rotate` is writing the file: the retired secrets are dropped at a later start.
      log.info({ file }, 'the secret file is locked by a secret rotate; retired secrets are kept for now');
      return;
    }
    let dropped: number;
    try {
      dropped = pruneRetired(file, now);
    } finally {
      release();
    }
    if (dropped > 0) log.info({ dropped }, 'retired server secrets dropped from the secret file');
  }
}

/** What `gatehouse secret rotate` did: a ring file rewritten, or the settings to give every node. */
export type Rotation =
  | { kind: 'file'; file: string; currentId: string; previousId: string; retiresAt: string }
  | {
      kind: 'config';
      currentId: string;
      previousId: string;
      retiresAt: string;
      /** Environment variables to set on every node (these carry secrets: printed because the operator asked). */
      settings: Record<string, string>;
    };

function configSettings(ring: StoredRing): Record<string, string> {
  return {
    GATEHOUSE_SECRET: ring.current.toString('base64'),
    GATEHOUSE_SECRETS_PREVIOUS_SERVER_SECRETS: JSON.stringify(
      ring.previous.map((p) => ({
        secret: p.secret.toString('base64'),
        retiresAt: new Date(p.retiresAt).toISOString(),
      })),
    ),
    GATEHOUSE_SECRETS_IDENTITY_SECRET: ring.identity.toString('base64'),
  };
}

function ephemeral(config: Config): never {
  throw new ConfigError(
    `Invalid setting database.url (${config.database.url}): an in-memory database has no secret to rotate`,
  );
}

/** Makes a new current secret; the old one verifies until `now + secrets.rotationGraceMs`. */
export function rotateSecret(config: Config, now: number): Rotation {
  const file = secretFilePath(config);
  const release = file === undefined ? () => {} : lockRing(file);
  try {
    return rotateRing(config, now);
  } finally {
    release();
  }
}

function rotateRing(config: Config, now: number): Rotation {
  const { ring, source, file } = resolveServerSecret(config, now);
  if (source === 'ephemeral') ephemeral(config);
  const retiresAt = now + config.secrets.rotationGraceMs;
  const next: StoredRing = {
    current: randomBytes(32),
    // The secrets still in their grace stay (reading the ring refused any retiring past now + the longest grace);
    // one whose grace ended is dropped now.
    previous: [{ secret: ring.current, retiresAt }, ...ring.previous.filter((p) => p.retiresAt > now)].slice(
      0,
      MAX_PREVIOUS,
    ),
    identity: ring.identity,
  };
  const common = {
    currentId: secretId(next.current),
    previousId: secretId(ring.current),
    retiresAt: new Date(retiresAt).toISOString(),
  };
  if (file !== undefined) {
    writeRingFile(file, next);
    return { kind: 'file', file, ...common };
  }
  return { kind: 'config', ...common, settings: configSettings(next) };
}

/**
 * Ends the grace now: every sealed value moved to the current secret, then the previous secrets it read dropped.
 * Refused (SECRET_NODES_NOT_CONFIRMED) unless `everyNodeRestarted`: a node still running the old ring seals new
 * values under a secret this drops. On a ring file it holds the ring's lock throughout and refuses
 * (SECRET_RING_CHANGED, nothing written) when the file's current secret is no longer the one it re-sealed under.
 */
export async function finishRotation(
  config: Config,
  store: Store,
  options: { everyNodeRestarted: boolean; now?: number },
): Promise<{ resealed: number; unreadable: number; dropped: number; settings?: Record<string, string> }> {
  if (!options.everyNodeRestarted)
    throw new RotationError(
      'SECRET_NODES_NOT_CONFIRMED',
      'finish only once every node runs the new ring (restarted after secret rotate; a SQLite gateway stopped or restarted), then pass --every-node-restarted',
    );
  const now = options.now ?? Date.now();
  const file = secretFilePath(config);
  const release = file === undefined ? () => {} : lockRing(file);
  try {
    const { ring, source } = resolveServerSecret(config, now);
    if (source === 'ephemeral') ephemeral(config);
    const count = await resealAtRest(store.db, new SecretBox(openingRing(ring)));
    if (file !== undefined) {
      const after = readRingFile(file, now);
      if (!after.current.equals(ring.current))
        throw new RotationError(
          'SECRET_RING_CHANGED',
          `the current secret of ${file} changed during finish; nothing dropped — run it again`,
        );
      const read = ring.previous.map((p) => p.secret);
      const kept = after.previous.filter((p) => !read.some((secret) => secret.equals(p.secret)));
      writeRingFile(file, { ...after, previous: kept });
      return { ...count, dropped: after.previous.length - kept.length };
    }
    return {
      ...count,
      dropped: ring.previous.length,
      settings: { GATEHOUSE_SECRETS_PREVIOUS_SERVER_SECRETS: '[]' },
    };
  } finally {
    release();
  }
}
