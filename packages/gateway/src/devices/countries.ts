/**
 * @module devices/countries
 * Travel-aware device validation (docs/architecture.md, Device validation). Each device and each user keep the
 * countries they were seen from (first and last seen), from the client address by the offline GeoLite2 data
 * (devices/geo.ts). A login, or a session seen mid-session, from a country the user was never seen from — on any
 * device — is a signal of its own: audited (`device.new_country`), the user notified ("First login from Germany"),
 * and, under `travel.newCountry: step_up`, the session must step up before it trades, unless the user announced a
 * trip there for today (devices/travel.ts). A user not yet seen from any country just has it recorded. A country
 * becomes known only when a session seen from it completes a step-up (`verify`): until then every login and session
 * from it meets the signal again (audited, stepping up), so logging in once more never gets around it — only the
 * first sighting notifies. Whether a sighting is the first is decided by inserting it into `user_countries`: of two
 * logins racing from one new country (on two nodes), exactly one inserts the row and notifies.
 */
import type { Kysely } from 'kysely';
import { appendAudit } from '../audit/index.js';
import type { Clock } from '../core/index.js';
import type { Notifier } from '../notifications/index.js';
import type { Database } from '../store/index.js';
import { countryName } from './country-codes.js';
import type { CountryLookup } from './geo.js';
import { noticeCovers, utcDay } from './travel.js';

/** What a session seen from a country means. */
export interface CountrySeen {
  /** ISO 3166-1 alpha-2. */
  country: string;
  /**
   * The new-country signal: the user has a known country, and this one is not known (never seen, or seen and never
   * verified by a step-up from it).
   */
  isNew: boolean;
  /** The first sighting of the country for the user (the one that notifies). */
  first: boolean;
  /** A travel notice of the user covers this country today. */
  announced: boolean;
  /** The session must step up before it trades (the policy asks for it and no notice covers the country). */
  stepUp: boolean;
}

/** Where a session was seen: what the country signal records. */
export interface CountryObservation {
  userId: string;
  sessionId: string;
  deviceId: string | null;
  channel: string;
  ip: string;
  country: string;
}

/**
 * The country signal the session service (sessions/service.ts) consults at a login and when a session's address
 * moves to another country. `observe` runs inside the caller's transaction (it records and audits); `announce`
 * tells the user once that transaction committed.
 */
export interface CountrySignal {
  countryOf(ip: string): string | null;
  observe(db: Kysely<Database>, seen: CountryObservation): Promise<CountrySeen>;
  announce(seen: CountrySeen, where: CountryObservation): Promise<void>;
  /** A session seen from `country` completed a step-up: the country is known from now on. */
  verify(db: Kysely<Database>, userId: string, country: string): Promise<void>;
}

/** `travel.newCountry`: what a login from a new country does. */
export type NewCountryPolicy = 'step_up' | 'notify' | 'off';

/**
 * Records that a user (and a device) was seen from a country, now: whether this is the user's first sighting of it,
 * and whether it is verified (the user's first country is, from its first sighting).
 */
async function recordCountry(
  db: Kysely<Database>,
  now: number,
  seen: Pick<CountryObservation, 'userId' | 'deviceId' | 'country'>,
  firstCountry: boolean,
): Promise<{ first: boolean; verified: boolean }> {
  const inserted = await db
    .insertInto('user_countries')
    .values({
      user_id: seen.userId,
      country: seen.country,
      first_seen_at: now,
      last_seen_at: now,
      verified_at: firstCountry ? now : null,
    })
    .onConflict((c) => c.columns(['user_id', 'country']).doNothing())
    .executeTakeFirst();
  const first = (inserted.numInsertedOrUpdatedRows ?? 0n) > 0n;
  let verified = first && firstCountry;
  if (!first) {
    await db
      .updateTable('user_countries')
      .set({ last_seen_at: now })
      .where('user_id', '=', seen.userId)
      .where('country', '=', seen.country)
      .where('last_seen_at', '<', now)
      .execute();
    const row = await db
      .selectFrom('user_countries')
      .select('verified_at')
      .where('user_id', '=', seen.userId)
      .where('country', '=', seen.country)
      .executeTakeFirst();
    verified = row?.verified_at != null;
  }
  if (seen.deviceId !== null) {
    const device = await db
      .insertInto('device_countries')
      .values({
        device_id: seen.deviceId,
        user_id: seen.userId,
        country: seen.country,
        first_seen_at: now,
        last_seen_at: now,
      })
      .onConflict((c) => c.columns(['device_id', 'country']).doNothing())
      .executeTakeFirst();
    if ((device.numInsertedOrUpdatedRows ?? 0n) === 0n)
      await db
        .updateTable('device_countries')
        .set({ last_seen_at: now })
        .where('device_id', '=', seen.deviceId)
        .where('country', '=', seen.country)
        .where('last_seen_at', '<', now)
        .execute();
  }
  return { first, verified };
}

/** Whether the user was seen from any country before. */
async function seenAnywhere(db: Kysely<Database>, userId: string): Promise<boolean> {
  const row = await db
    .selectFrom('user_countries')
    .select('country')
    .where('user_id', '=', userId)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** The countries each of the user's devices was seen from, first seen first. */
export async function deviceCountries(
  db: Kysely<Database>,
  userId: string,
  deviceId?: string,
): Promise<Map<string, string[]>> {
  let query = db
    .selectFrom('device_countries')
    .select(['device_id', 'country'])
    .where('user_id', '=', userId)
    .orderBy('first_seen_at')
    .orderBy('country');
  if (deviceId !== undefined) query = query.where('device_id', '=', deviceId);
  const byDevice = new Map<string, string[]>();
  for (const row of await query.execute()) {
    const list = byDevice.get(row.device_id) ?? [];
    list.push(row.country);
    byDevice.set(row.device_id, list);
  }
  return byDevice;
}

export interface CountrySignalOptions {
  lookup: CountryLookup;
  clock: Clock;
  notifier: Notifier;
  /** `travel.newCountry`. */
  policy: NewCountryPolicy;
}

/** The country signal the session service consults (sessions/step-up-reason.ts `CountrySignal`). */
export class CountrySignals implements CountrySignal {
  readonly #o: CountrySignalOptions;

  constructor(options: CountrySignalOptions) {
    this.#o = options;
  }

  countryOf(ip: string): string | null {
    return this.#o.lookup.countryOf(ip);
  }

  async observe(db: Kysely<Database>, where: CountryObservation): Promise<CountrySeen> {
    const { clock, policy } = this.#o;
    const now = clock.now();
    const before = await seenAnywhere(db, where.userId);
    const { first, verified } = await recordCountry(db, now, where, !before);
    const isNew = before && !verified;
    if (!isNew || policy === 'off')
      return { country: where.country, isNew, first: first && isNew, announced: false, stepUp: false };
    const announced = await noticeCovers(db, where.userId, where.country, utcDay(now));
    const stepUp = policy === 'step_up' && !announced;
    await appendAudit(db, clock, {
      type: 'device.new_country',
      userId: where.userId,
      sessionId: where.sessionId,
      ip: where.ip,
      data: {
        country: where.country,
        channel: where.channel,
        deviceId: where.deviceId,
        first,
        announced,
        stepUp,
      },
    });
    return { country: where.country, isNew, first, announced, stepUp };
  }

  async announce(seen: CountrySeen, where: CountryObservation): Promise<void> {
    if (!seen.first || this.#o.policy === 'off') return;
    await this.#o.notifier.notify(where.userId, 'new_country_login', {
      country: seen.country,
      countryName: countryName(seen.country),
      channel: where.channel,
      ip: where.ip,
      announced: seen.announced,
      stepUpRequired: seen.stepUp,
    });
  }

  async verify(db: Kysely<Database>, userId: string, country: string): Promise<void> {
    await db
      .updateTable('user_countries')
      .set({ verified_at: this.#o.clock.now() })
      .where('user_id', '=', userId)
      .where('country', '=', country)
      .where('verified_at', 'is', null)
      .execute();
  }
}
