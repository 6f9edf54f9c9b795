/**
 * @module factors/reseal
 * Moves the TOTP seeds sealed under a rotated-out server secret to the current one (app/reseal.ts runs it). A row
 * is rewritten only if it still holds the value read, so a seed changed meanwhile is left to its writer.
 */
import type { Kysely } from 'kysely';
import type { SecretBox } from '../core/index.js';
import type { Database } from '../store/index.js';

/** Re-seals each seed `box` opens but did not seal under its current key; counts what it moved and could not open. */
export async function resealFactorSecrets(
  db: Kysely<Database>,
  box: SecretBox,
): Promise<{ resealed: number; unreadable: number }> {
  const rows = await db
    .selectFrom('second_factors')
    .select(['id', 'secret_sealed'])
    .where('secret_sealed', 'is not', null)
    .execute();
  return box.resealEach(
    rows,
    (row) => row.secret_sealed as string,
    async (row, next, sealed) => {
      const done = await db
        .updateTable('second_factors')
        .set({ secret_sealed: next })
        .where('id', '=', row.id)
        .where('secret_sealed', '=', sealed)
        .executeTakeFirst();
      return Number(done.numUpdatedRows);
    },
  );
}
