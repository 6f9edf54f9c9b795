/**
 * @module oauth/reseal
 * Moves the refresh-token successors kept sealed for the reuse leeway off a rotated-out server secret (app/reseal.ts
 * runs it). A row is rewritten only if it still holds the value read.
 */
import type { Kysely } from 'kysely';
import type { SecretBox } from '../core/index.js';
import type { Database } from '../store/index.js';

/** Re-seals each successor `box` opens but did not seal under its current key; counts what it moved and could not open. */
export async function resealRefreshSuccessors(
  db: Kysely<Database>,
  box: SecretBox,
): Promise<{ resealed: number; unreadable: number }> {
  const rows = await db
    .selectFrom('oauth_tokens')
    .select(['token_hash', 'successor_sealed'])
    .where('successor_sealed', 'is not', null)
    .execute();
  return box.resealEach(
    rows,
    (row) => row.successor_sealed as string,
    async (row, next, sealed) => {
      const done = await db
        .updateTable('oauth_tokens')
        .set({ successor_sealed: next })
        .where('token_hash', '=', row.token_hash)
        .where('successor_sealed', '=', sealed)
        .executeTakeFirst();
      return Number(done.numUpdatedRows);
    },
  );
}
