/**
 * @module app/rotation
 * Rotating the server secret (`gatehouse secret rotate`, app/secret.ts says where the ring is kept and why):
 * - `rotate` makes a new current secret; the old one keeps verifying for `secrets.rotationGraceMs`. A ring file is
 *   rewritten (the server takes it at its next start); a configured ring is not touched — the settings to give
 *   every node are returned, and are the only place a secret is ever printed.
 * - A node starting with previous secrets re-seals what is sealed at rest under the current one (app/reseal.ts)
 *   and drops from its ring file the secrets whose grace has ended.
 * - `finish` ends the grace now: re-seals, then drops every previous secret (a ring file) or says which settings
 *   to remove (a configured ring).
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import { ConfigError, SecretBox, secretId } from '../core/index.js';
import type { Store } from '../store/index.js';
import { resealAtRest } from './reseal.js';
import {
  openingRing,
  pruneRetired,
  readRingFile,
  resolveServerSecret,
  type StoredRing,
  secretFilePath,
  writeRingFile,
} from './secret.js';

/** At start-up: re-seal under the current secret while previous ones are kept, then drop the retired ones. */
export async function settleRotation(
  store: Store,
  ring: StoredRing,
  file: string | undefined,
  now: number,
  log: Pick<Logger, 'info' | 'warn'>,
): Promise<void> {
  if (ring.previous.length === 0) return;
  const count = await resealAtRest(store.db, new SecretBox(openingRing(ring)));
  if (count.resealed > 0) log.info(count, 'sealed values moved to the current server secret');
  if (count.unreadable > 0)
    log.warn(
      count,
      'sealed values no server secret opens were left as they are (sealed under an unknown secret)',
    );
  if (file !== undefined) {
    const dropped = pruneRetired(file, now);
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
  const { ring, source, file } = resolveServerSecret(config);
  if (source === 'ephemeral') ephemeral(config);
  const retiresAt = now + config.secrets.rotationGraceMs;
  const next: StoredRing = {
    current: randomBytes(32),
    // The secrets still in their grace stay; one whose grace ended is dropped now.
    previous: [{ secret: ring.current, retiresAt }, ...ring.previous.filter((p) => p.retiresAt > now)].slice(
      0,
      4,
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

/** Ends the grace now: every sealed value moved to the current secret, then the previous secrets dropped. */
export async function finishRotation(
  config: Config,
  store: Store,
): Promise<{ resealed: number; unreadable: number; dropped: number; settings?: Record<string, string> }> {
  const { ring, source } = resolveServerSecret(config);
  if (source === 'ephemeral') ephemeral(config);
  const count = await resealAtRest(store.db, new SecretBox(openingRing(ring)));
  const file = secretFilePath(config);
  if (file !== undefined) {
    writeRingFile(file, { ...readRingFile(file), previous: [] });
    return { ...count, dropped: ring.previous.length };
  }
  return {
    ...count,
    dropped: ring.previous.length,
    settings: { GATEHOUSE_SECRETS_PREVIOUS_SERVER_SECRETS: '[]' },
  };
}
