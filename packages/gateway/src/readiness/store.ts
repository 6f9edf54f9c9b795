/**
 * @module readiness/store
 * The checklist's own rows: a user's watchlist, their legal-entity reviews, their re-authentication samples (a
 * bounded number per channel: `SAMPLES_KEPT`). Every query on those tables is here; each takes the database or a
 * transaction.
 */
import type { Kysely } from 'kysely';
import { newTimeOrderedId } from '../core/index.js';
import type { Database } from '../store/index.js';
import type { LoginPath } from './paths.js';
import { parseLoginPath } from './paths.js';

type Db = Kysely<Database>;

/** Samples kept per user and channel: the latest; older ones are deleted as new ones arrive. */
export const SAMPLES_KEPT = 20;

// ---- watchlist -------------------------------------------------------------------------------------------------

/** The user's watchlist, instrument ids in the user's order. */
export async function watchlistOf(db: Db, userId: string): Promise<number[]> {
  const rows = await db
    .selectFrom('watchlist_entries')
    .select('instrument_id')
    .where('user_id', '=', userId)
    .orderBy('position')
    .execute();
  return rows.map((r) => Number(r.instrument_id));
}

/** Replaces the user's watchlist, in one transaction. */
export async function replaceWatchlist(
  db: Db,
  userId: string,
  instrumentIds: readonly number[],
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx.deleteFrom('watchlist_entries').where('user_id', '=', userId).execute();
    if (instrumentIds.length > 0)
      await trx
        .insertInto('watchlist_entries')
        .values(instrumentIds.map((id, position) => ({ user_id: userId, instrument_id: id, position })))
        .execute();
  });
}

// ---- legal-entity reviews --------------------------------------------------------------------------------------

export interface EntityReviewRow {
  accountId: string;
  entityCode: string;
  reviewedAt: number;
}

export async function entityReviewsOf(db: Db, userId: string): Promise<EntityReviewRow[]> {
  const rows = await db.selectFrom('entity_reviews').selectAll().where('user_id', '=', userId).execute();
  return rows.map((r) => ({
    accountId: r.account_id,
    entityCode: r.entity_code,
    reviewedAt: Number(r.reviewed_at),
  }));
}

/** Records the user's review of the account's entity (the latest replaces the one before). */
export async function saveEntityReview(
  db: Db,
  review: { userId: string; accountId: string; entityCode: string; reviewedAt: number },
): Promise<void> {
  await db
    .insertInto('entity_reviews')
    .values({
      user_id: review.userId,
      account_id: review.accountId,
      entity_code: review.entityCode,
      reviewed_at: review.reviewedAt,
    })
    .onConflict((oc) =>
      oc
        .columns(['user_id', 'account_id'])
        .doUpdateSet({ entity_code: review.entityCode, reviewed_at: review.reviewedAt }),
    )
    .execute();
}

// ---- re-authentication samples ---------------------------------------------------------------------------------

export interface ReauthSample {
  userId: string;
  channel: string;
  ms: number;
  at: number;
  path: LoginPath;
}

/** Stores a sample and deletes the user's samples on that channel beyond the latest `SAMPLES_KEPT`. */
export async function addReauthSample(db: Db, sample: ReauthSample): Promise<void> {
  await db
    .insertInto('reauthentication_samples')
    .values({
      id: newTimeOrderedId('ras', sample.at),
      user_id: sample.userId,
      channel: sample.channel,
      ms: Math.round(sample.ms),
      at: sample.at,
      path: sample.path,
    })
    .execute();
  await db
    .deleteFrom('reauthentication_samples')
    .where('user_id', '=', sample.userId)
    .where('channel', '=', sample.channel)
    .where('id', 'not in', (eb) =>
      eb
        .selectFrom('reauthentication_samples')
        .select('id')
        .where('user_id', '=', sample.userId)
        .where('channel', '=', sample.channel)
        .orderBy('at', 'desc')
        .orderBy('id', 'desc')
        .limit(SAMPLES_KEPT),
    )
    .execute();
}

export async function reauthSamplesOf(db: Db, userId: string): Promise<ReauthSample[]> {
  const rows = await db
    .selectFrom('reauthentication_samples')
    .selectAll()
    .where('user_id', '=', userId)
    .orderBy('at', 'desc')
    .execute();
  return rows.map((r) => ({
    userId: r.user_id,
    channel: r.channel,
    ms: Number(r.ms),
    at: Number(r.at),
    path: parseLoginPath(r.path),
  }));
}
