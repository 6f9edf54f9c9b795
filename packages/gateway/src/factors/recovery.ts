/**
 * @module factors/recovery
 * Recovery codes: 10 single-use codes, shown once, stored only as SHA-256. Generating a new set voids the unused
 * old ones.
 *
 * A code carries 120 random bits (24 Crockford base32 characters), so a fast unsalted hash is enough to store it
 * (ASVS 5.0 6.5.2: lookup secrets of 112 bits or more may use a standard hash; below that they need a salted
 * password hash). Even a table of a million stored codes leaves 2^100 SHA-256 guesses per hit to anyone who copied
 * it, and the lookup stays one indexed equality.
 *
 * Codes of the earlier format (16 characters, 80 bits) are still accepted until used or replaced by a new set. They
 * were issued and may be the only way back in for someone who lost their phone: voiding them at an upgrade would lock
 * exactly those people out, to defend against an offline search that needs a copy of the database and then roughly
 * 2^80 / (codes stored) hashes for one code of someone whose password must still be guessed. They cannot be
 * re-hashed without the codes themselves, so they stay as they are, marked `bits = 80`; the factor list counts them
 * as `outdated`, and the Security page asks for a new set while any are left.
 */
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { type Clock, newId, sha256 } from '../core/index.js';
import type { Database } from '../store/index.js';

export const RECOVERY_CODE_COUNT = 10;
/** Characters per code: 24 × 5 bits = 120 bits of entropy. */
const CODE_LENGTH = 24;
/** Characters of a code of the earlier, 80-bit format (still accepted until used). */
const LEGACY_CODE_LENGTH = 16;
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const CANONICAL = /^[0-9a-hjkmnp-tv-z]+$/;

/**
 * A code like `k3f9-x2mq-7vbd-pw4t-0c8e-ry5n`: 24 characters of Crockford base32 from a CSPRNG, read in groups of
 * four. Each byte gives 5 uniform bits (256 is a multiple of 32).
 */
function newCode(): string {
  const bytes = randomBytes(CODE_LENGTH);
  let out = '';
  for (let i = 0; i < CODE_LENGTH; i += 1) {
    out += ALPHABET[(bytes[i] as number) & 31];
    if (i % 4 === 3 && i < CODE_LENGTH - 1) out += '-';
  }
  return out;
}

/**
 * Canonical form: lower case, no separators or spaces, Crockford look-alikes mapped (o→0, i/l→1). Null unless it has
 * the length of a code (24 characters, or 16 for the earlier format).
 */
export function normaliseRecoveryCode(code: string): string | null {
  const compact = code.toLowerCase().replace(/[\s-]/g, '').replace(/o/g, '0').replace(/[il]/g, '1');
  if (compact.length !== CODE_LENGTH && compact.length !== LEGACY_CODE_LENGTH) return null;
  return CANONICAL.test(compact) ? compact : null;
}

export async function generateRecoveryCodes(
  db: Kysely<Database>,
  clock: Clock,
  userId: string,
): Promise<string[]> {
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newCode);
  const now = clock.now();
  await db.transaction().execute(async (trx) => {
    await trx
      .deleteFrom('recovery_codes')
      .where('user_id', '=', userId)
      .where('used_at', 'is', null)
      .execute();
    await trx
      .insertInto('recovery_codes')
      .values(
        codes.map((code) => ({
          id: newId('rec'),
          user_id: userId,
          code_hash: sha256(normaliseRecoveryCode(code) as string),
          created_at: now,
          used_at: null,
          bits: CODE_LENGTH * 5,
        })),
      )
      .execute();
  });
  return codes;
}

/** Consumes a code if it is one of the user's unused ones; the conditional update makes it single use. */
export async function useRecoveryCode(
  db: Kysely<Database>,
  clock: Clock,
  userId: string,
  code: string,
): Promise<boolean> {
  const canonical = normaliseRecoveryCode(code);
  if (canonical === null) return false;
  const result = await db
    .updateTable('recovery_codes')
    .set({ used_at: clock.now() })
    .where('user_id', '=', userId)
    .where('code_hash', '=', sha256(canonical))
    .where('used_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function remainingRecoveryCodes(db: Kysely<Database>, userId: string): Promise<number> {
  return (await recoveryCodeStatus(db, userId)).remaining;
}

export interface RecoveryCodeStatus {
  /** Unused codes. */
  remaining: number;
  /** Unused codes of the earlier 80-bit format: a new set should replace them. */
  outdated: number;
}

export async function recoveryCodeStatus(db: Kysely<Database>, userId: string): Promise<RecoveryCodeStatus> {
  const rows = await db
    .selectFrom('recovery_codes')
    .select('bits')
    .where('user_id', '=', userId)
    .where('used_at', 'is', null)
    .execute();
  return {
    remaining: rows.length,
    outdated: rows.filter((r) => r.bits < CODE_LENGTH * 5).length,
  };
}
