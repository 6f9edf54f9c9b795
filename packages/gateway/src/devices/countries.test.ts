/**
 * The country signal's record (devices/countries.ts) on each store: the first country a user is seen from is only
 * recorded; a later new one is the signal, raised once even when two logins from it race (two nodes, one database);
 * a known one only moves its last-seen time.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { GatehouseError } from '../core/index.js';
import { type TestDatabase, testDatabases } from '../test-support/databases.js';
import { ALICE, startTestGateway, type TestGateway } from '../test-support/gateway.js';
import { type CountryObservation, CountrySignals } from './countries.js';
import { createNotice } from './travel.js';

let gw: TestGateway | undefined;
let database: TestDatabase | undefined;
afterEach(async () => {
  await gw?.close();
  await database?.drop();
  gw = undefined;
  database = undefined;
});

describe.each(testDatabases())('the country record on %s', (_name, factory) => {
  it('records the first country, signals a new one once under a race, and only touches a known one', async () => {
    database = await factory();
    gw = await startTestGateway({ database, config: { server: { portalDir: false } } });
    const { db } = gw.ctx.store;
    const told: unknown[] = [];
    const signal = new CountrySignals({
      lookup: gw.ctx.geo,
      clock: gw.clock,
      notifier: { notify: async (_user, kind, data) => void told.push({ kind, ...data }) },
      policy: 'step_up',
    });
    const user = await db
      .selectFrom('users')
      .select('id')
      .where('username', '=', ALICE.username)
      .executeTakeFirstOrThrow();
    const where = (country: string, sessionId: string): CountryObservation => ({
      userId: user.id,
      sessionId,
      deviceId: null,
      channel: 'web',
      ip: '192.0.2.1',
      country,
    });
    const observe = (w: CountryObservation) => db.transaction().execute((trx) => signal.observe(trx, w));

    expect(await observe(where('GB', 'ses_1'))).toEqual({
      country: 'GB',
      isNew: false,
      first: false,
      announced: false,
      stepUp: false,
    });
    // Both racing logins meet the signal (neither verified the country); one is its first sighting, which notifies.
    const raced = await Promise.all([observe(where('DE', 'ses_2')), observe(where('DE', 'ses_3'))]);
    expect(raced.map((seen) => ({ ...seen, first: false }))).toEqual([
      { country: 'DE', isNew: true, first: false, announced: false, stepUp: true },
      { country: 'DE', isNew: true, first: false, announced: false, stepUp: true },
    ]);
    expect(raced.filter((seen) => seen.first)).toHaveLength(1);
    gw.clock.advance(60_000);
    expect(await observe(where('GB', 'ses_4'))).toMatchObject({ isNew: false, stepUp: false });
    // Logging in again from the unverified country meets the signal again, without a second notification.
    expect(await observe(where('DE', 'ses_5'))).toMatchObject({ isNew: true, first: false, stepUp: true });
    // A step-up from there verifies it: the next login from it is an ordinary one.
    await signal.verify(db, user.id, 'DE');
    expect(await observe(where('DE', 'ses_6'))).toMatchObject({ isNew: false, stepUp: false });

    const rows = await db
      .selectFrom('user_countries')
      .selectAll()
      .where('user_id', '=', user.id)
      .orderBy('country')
      .execute();
    expect(rows.map((r) => [r.country, Number(r.last_seen_at) - Number(r.first_seen_at)])).toEqual([
      ['DE', 60_000],
      ['GB', 60_000],
    ]);
    expect(rows.map((r) => r.verified_at !== null)).toEqual([true, true]);
    const audited = await db
      .selectFrom('audit_log')
      .select('data')
      .where('user_id', '=', user.id)
      .where('type', '=', 'device.new_country')
      .execute();
    expect(audited.map((a) => JSON.parse(a.data).first).sort()).toEqual([false, false, true]);

    for (const seen of raced) await signal.announce(seen, where('DE', 'ses_2'));
    expect(told).toEqual([
      expect.objectContaining({ kind: 'new_country_login', country: 'DE', countryName: 'Germany' }),
    ]);
  });
});

describe.each(testDatabases())('travel notices on %s', (_name, factory) => {
  it('lets notices racing for the last places take exactly the limit', async () => {
    database = await factory();
    const started = await startTestGateway({ database, config: { server: { portalDir: false } } });
    gw = started;
    const { db } = started.ctx.store;
    const user = await db
      .selectFrom('users')
      .select('id')
      .where('username', '=', ALICE.username)
      .executeTakeFirstOrThrow();
    const today = new Date(started.clock.now()).toISOString().slice(0, 10);
    const limits = { maxNotices: 3, maxNoticeDays: 365 };
    const audited: string[] = [];
    const create = () =>
      createNotice(
        db,
        started.clock,
        user.id,
        { country: 'DE', from: today, to: today },
        limits,
        async (_trx, n) => audited.push(n.id),
      ).then(
        (n) => n.id,
        (e: unknown) => (e as GatehouseError).code,
      );
    const answers = await Promise.all(Array.from({ length: 8 }, create));
    expect(answers.filter((a) => a === 'TRAVEL_NOTICE_LIMIT')).toHaveLength(5);
    const kept = await db.selectFrom('travel_notices').select(['id', 'slot']).execute();
    expect(kept).toHaveLength(3);
    expect(kept.map((r) => Number(r.slot)).sort()).toEqual([0, 1, 2]);
    expect(audited.sort()).toEqual(kept.map((r) => r.id).sort());
  });
});
