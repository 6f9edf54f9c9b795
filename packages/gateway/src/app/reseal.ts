/**
 * @module app/reseal
 * Moves every value sealed at rest (TOTP seeds: factors/reseal.ts; refresh-token successors kept for the reuse
 * leeway: oauth/reseal.ts) to the current server secret's key, so a rotated-out secret is never needed to read the
 * database again. It runs at every start (with no previous secret it only counts what the ring cannot open) and in
 * `gatehouse secret rotate --finish`. A value no kept secret opens is counted and left as it is.
 */
import type { Kysely } from 'kysely';
import type { SecretBox } from '../core/index.js';
import { resealFactorSecrets } from '../factors/index.js';
import { resealRefreshSuccessors } from '../oauth/index.js';
import type { Database } from '../store/index.js';

export interface ResealCount {
  resealed: number;
  unreadable: number;
}

/** `box` must open with every secret kept (app/secret `openingRing`); it seals under the current one. */
export async function resealAtRest(db: Kysely<Database>, box: SecretBox): Promise<ResealCount> {
  const factors = await resealFactorSecrets(db, box);
  const tokens = await resealRefreshSuccessors(db, box);
  return {
    resealed: factors.resealed + tokens.resealed,
    unreadable: factors.unreadable + tokens.unreadable,
  };
}
