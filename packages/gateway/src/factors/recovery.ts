/**
 * @module factors/recovery
 * Recovery codes: 10 single-use codes of 80 random bits each, shown once, stored only as SHA-256 (the codes carry
 * enough entropy that a fast hash suffices, unlike passwords). Generating a new set voids the unused old ones.
 */
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { type Clock, newId, sha256 } from '../core/index.js';
import type { Database } from '../store/index.js';

export const RECOVERY_CODE_COUNT = 10;
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/** A code like `k3f9-x2mq-7vbd-pw4t` (16 Crockford base32 characters = 80 bits). */
function newCode(): string {
  const bytes = randomBytes(16);
  let out = '';
  for (let i = 0; i < 16; i += 1) {
    out += ALPHABET[(bytes[i] as number) & 31];
    if (i % 4 === 3 && i < 15) out += '-';
  }
  return out;
}

/** Canonical form: lower case, no separators or spaces, Crockford look-alikes mapped (o→0, i/l→1). */
export function normaliseRecoveryCode(code: string): string | null {
  const compact = code.toLowerCase().replace(/[\s-]/g, '').replace(/o/g, '0').replace(/[il]/g, '1');
  return /^[0-9a-hjkmnp-tv-z]{16}$/.test(compact) ? compact : null;
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
  const row = await db
    .selectFrom('recovery_codes')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('user_id', '=', userId)
    .where('used_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
