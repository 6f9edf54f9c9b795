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
  const count = { resealed: 0, unreadable: 0 };
  const rows = await db
    .selectFrom('oauth_tokens')
    .select(['token_hash', 'successor_sealed'])
    .where('successor_sealed', 'is not', null)
    .execute();
  for (const row of rows) {
    const sealed = row.successor_sealed as string;
    let next: string | null;
    try {
      next = box.reseal(sealed);
    } catch {
      count.unreadable += 1;
      continue;
    }
    if (next === null) continue;
    const done = await db
      .updateTable('oauth_tokens')
      .set({ successor_sealed: next })
      .where('token_hash', '=', row.token_hash)
      .where('successor_sealed', '=', sealed)
      .executeTakeFirst();
    count.resealed += Number(done.numUpdatedRows);
  }
  return count;
}
