/**
 * @module devices/travel
 * Travel notices: a user announces a trip (a country and its first and last day, UTC, inclusive) from a validated
 * session, so that a login from that country on those days is notified but needs no step-up (devices/countries.ts).
 * A notice is checked whole before anything is stored: a known country code, a last day not before today, the last
 * day not before the first, at most `travel.maxNoticeDays` days, and at most `travel.maxNotices` notices that have
 * not ended per user (`TRAVEL_NOTICE_INVALID`, `TRAVEL_NOTICE_LIMIT`). Notices are the user's own: another user's
 * id answers as an unknown one (`TRAVEL_NOTICE_NOT_FOUND`).
 */
import type { TravelNotice, TravelNoticeInput } from '@gatehouse/protocol';
import type { Kysely } from 'kysely';
import { type Clock, GatehouseError, newId } from '../core/index.js';
import type { Database, TravelNoticesTable } from '../store/index.js';
import { countryName, isCountryCode } from './country-codes.js';

const DAY_MS = 86_400_000;

/** The UTC day of an instant, `YYYY-MM-DD`. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** Days from the first to the last, both included (`2026-01-01`..`2026-01-01` is 1). */
function daysIncluded(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS) + 1;
}

export interface TravelLimits {
  /** `travel.maxNoticeDays`. */
  maxNoticeDays: number;
  /** `travel.maxNotices`. */
  maxNotices: number;
}

function present(row: TravelNoticesTable): TravelNotice {
  return {
    id: row.id,
    country: row.country,
    countryName: countryName(row.country),
    from: row.starts_on,
    to: row.ends_on,
    createdAt: new Date(Number(row.created_at)).toISOString(),
  };
}

/** Whether one of the user's notices covers `country` on `day`. */
export async function noticeCovers(
  db: Kysely<Database>,
  userId: string,
  country: string,
  day: string,
): Promise<boolean> {
  const row = await db
    .selectFrom('travel_notices')
    .select('id')
    .where('user_id', '=', userId)
    .where('country', '=', country)
    .where('starts_on', '<=', day)
    .where('ends_on', '>=', day)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** The user's notices that have not ended, soonest first. */
export async function listNotices(
  db: Kysely<Database>,
  userId: string,
  now: number,
): Promise<TravelNotice[]> {
  const rows = await db
    .selectFrom('travel_notices')
    .selectAll()
    .where('user_id', '=', userId)
    .where('ends_on', '>=', utcDay(now))
    .orderBy('starts_on')
    .orderBy('id')
    .execute();
  return rows.map(present);
}

/** Why a notice cannot be kept, or null: checked before anything is stored. */
function invalidReason(
  input: TravelNoticeInput,
  today: string,
  limits: TravelLimits,
): { reason: string; maxDays?: number } | null {
  if (!isCountryCode(input.country.toUpperCase())) return { reason: 'unknown_country' };
  if (input.to < today) return { reason: 'ended' };
  if (input.from > input.to) return { reason: 'reversed' };
  if (daysIncluded(input.from, input.to) > limits.maxNoticeDays)
    return { reason: 'too_long', maxDays: limits.maxNoticeDays };
  // A trip is announced ahead of time, not years ahead: a notice that could not matter for a year holds a place.
  if (daysIncluded(today, input.from) - 1 > limits.maxNoticeDays)
    return { reason: 'too_far', maxDays: limits.maxNoticeDays };
  return null;
}

/**
 * Keeps a notice for the user, with the removal of their notices that have ended, in one transaction. The limit is
 * a place: each notice takes one of the user's `maxNotices` places (`slot`, unique per user), so two requests
 * racing for the last place on two nodes cannot both take it — the insert of the one that comes second does
 * nothing, and it looks again (PostgreSQL's read-committed statement sees the other's row once it commits).
 */
export async function createNotice(
  db: Kysely<Database>,
  clock: Clock,
  userId: string,
  input: TravelNoticeInput,
  limits: TravelLimits,
  audit: (trx: Kysely<Database>, notice: TravelNotice) => Promise<unknown>,
): Promise<TravelNotice> {
  const now = clock.now();
  const today = utcDay(now);
  const invalid = invalidReason(input, today, limits);
  if (invalid !== null) throw new GatehouseError('TRAVEL_NOTICE_INVALID', undefined, invalid);
  return db.transaction().execute(async (trx) => {
    // Trips that ended cover nothing any more: the user's are dropped here, so the table holds what is current.
    await trx
      .deleteFrom('travel_notices')
      .where('user_id', '=', userId)
      .where('ends_on', '<', today)
      .execute();
    // Each pass either takes a place or sees one more taken, so it ends within `maxNotices + 1` passes.
    for (let pass = 0; pass <= limits.maxNotices; pass++) {
      const taken = new Set(
        (await trx.selectFrom('travel_notices').select('slot').where('user_id', '=', userId).execute()).map(
          (r) => Number(r.slot),
        ),
      );
      const slot = Array.from({ length: limits.maxNotices }, (_, i) => i).find((i) => !taken.has(i));
      if (slot === undefined) break;
      const row: TravelNoticesTable = {
        id: newId('trv'),
        user_id: userId,
        country: input.country.toUpperCase(),
        starts_on: input.from,
        ends_on: input.to,
        created_at: now,
        slot,
      };
      const inserted = await trx
        .insertInto('travel_notices')
        .values(row)
        .onConflict((oc) => oc.columns(['user_id', 'slot']).doNothing())
        .executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) continue;
      const notice = present(row);
      await audit(trx, notice);
      return notice;
    }
    throw new GatehouseError('TRAVEL_NOTICE_LIMIT', undefined, { limit: limits.maxNotices });
  });
}

/** Cancels one of the user's notices; `TRAVEL_NOTICE_NOT_FOUND` for an unknown id or another user's. */
export async function deleteNotice(
  db: Kysely<Database>,
  userId: string,
  id: string,
  audit: (trx: Kysely<Database>, notice: TravelNotice) => Promise<unknown>,
): Promise<TravelNotice> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom('travel_notices')
      .selectAll()
      .where('id', '=', id)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    if (row === undefined) throw new GatehouseError('TRAVEL_NOTICE_NOT_FOUND');
    const deleted = await trx
      .deleteFrom('travel_notices')
      .where('id', '=', id)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    if (deleted.numDeletedRows === 0n) throw new GatehouseError('TRAVEL_NOTICE_NOT_FOUND');
    const notice = present(row);
    await audit(trx, notice);
    return notice;
  });
}
