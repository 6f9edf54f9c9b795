/**
 * The checklist's rows on every dialect (issue 22, item 1): the watchlist replaced whole, the latest entity review
 * per user and account, re-authentication samples bounded per user and channel, and the API clients' refresh
 * records (oauth/refresh-record.ts) upserted column by column.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../core/index.js';
import { seedLegalEntities } from '../identity/index.js';
import { clientRefreshesOfUser } from '../oauth/index.js';
import { noteRefresh, noteResponseLost, noteTokensExpired } from '../oauth/refresh-record.js';
import { migrateToLatest, openDatabase, type Store } from '../store/index.js';
import { type TestDatabase, testDatabases } from '../test-support/databases.js';
import {
  addReauthSample,
  entityReviewsOf,
  reauthSamplesOf,
  replaceWatchlist,
  SAMPLES_KEPT,
  saveEntityReview,
  watchlistOf,
} from './store.js';

let store: Store | undefined;
let database: TestDatabase | undefined;
afterEach(async () => {
  await store?.close();
  await database?.drop();
  store = undefined;
  database = undefined;
});

describe.each(testDatabases())('readiness rows on %s', (_name, makeDatabase) => {
  async function open(): Promise<Store> {
    database = await makeDatabase();
    store = openDatabase(database.url, database.options);
    await migrateToLatest(store);
    await seedLegalEntities(store.db);
    const user = (id: string) => ({
      id,
      username: id,
      display_name: id,
      status: 'active',
      created_at: 0,
      updated_at: 0,
      brokerage_policy: 'exclusive',
    });
    await store.db
      .insertInto('users')
      .values([user('usr_a'), user('usr_b')])
      .execute();
    await store.db
      .insertInto('accounts')
      .values({
        id: 'U1',
        entity_code: 'IBLLC',
        type: 'cash',
        base_currency: 'USD',
        client_category: 'retail',
        frozen: 0,
        closing_only: 0,
        paper: 0,
        title: 'U1',
        created_at: 0,
        options_level: 0,
        session_loss_policy: 'none',
      })
      .execute();
    return store;
  }

  it('replaces a watchlist whole and keeps its order, per user', async () => {
    const { db } = await open();
    await replaceWatchlist(db, 'usr_a', [3, 1, 2]);
    await replaceWatchlist(db, 'usr_b', [7]);
    expect(await watchlistOf(db, 'usr_a')).toEqual([3, 1, 2]);
    await replaceWatchlist(db, 'usr_a', [2, 5]);
    expect(await watchlistOf(db, 'usr_a')).toEqual([2, 5]);
    await replaceWatchlist(db, 'usr_a', []);
    expect(await watchlistOf(db, 'usr_a')).toEqual([]);
    expect(await watchlistOf(db, 'usr_b')).toEqual([7]);
  });

  it('keeps the latest entity review per user and account', async () => {
    const { db } = await open();
    await saveEntityReview(db, { userId: 'usr_a', accountId: 'U1', entityCode: 'IBLLC', reviewedAt: 1_000 });
    await saveEntityReview(db, { userId: 'usr_a', accountId: 'U1', entityCode: 'IBIE', reviewedAt: 2_000 });
    await saveEntityReview(db, { userId: 'usr_b', accountId: 'U1', entityCode: 'IBLLC', reviewedAt: 3_000 });
    expect(await entityReviewsOf(db, 'usr_a')).toEqual([
      { accountId: 'U1', entityCode: 'IBIE', reviewedAt: 2_000 },
    ]);
    expect(await entityReviewsOf(db, 'usr_b')).toHaveLength(1);
  });

  it('keeps the latest re-authentication samples per user and channel, no more', async () => {
    const { db } = await open();
    const clock = new ManualClock();
    for (let i = 0; i < SAMPLES_KEPT + 5; i += 1) {
      clock.advance(1_000);
      await addReauthSample(db, {
        userId: 'usr_a',
        channel: 'web',
        ms: i,
        at: clock.now(),
        path: 'web_totp',
      });
    }
    // Samples at the same instant are bounded too.
    for (let i = 0; i < SAMPLES_KEPT + 2; i += 1)
      await addReauthSample(db, {
        userId: 'usr_a',
        channel: 'mobile',
        ms: i,
        at: clock.now(),
        path: 'mobile_key',
      });
    await addReauthSample(db, { userId: 'usr_b', channel: 'web', ms: 1, at: clock.now(), path: 'web_push' });
    const samples = await reauthSamplesOf(db, 'usr_a');
    const web = samples.filter((s) => s.channel === 'web');
    expect(web).toHaveLength(SAMPLES_KEPT);
    expect(web.map((s) => s.ms).sort((a, b) => a - b)[0]).toBe(5);
    expect(samples.filter((s) => s.channel === 'mobile')).toHaveLength(SAMPLES_KEPT);
    expect(await reauthSamplesOf(db, 'usr_b')).toEqual([
      { userId: 'usr_b', channel: 'web', ms: 1, at: clock.now(), path: 'web_push' },
    ]);
  });

  it('records an API client’s refreshes and the sandbox’s strikes per user, for its live grants only', async () => {
    const { db } = await open();
    const client = (id: string, revoked: number | null = null) => ({
      id,
      kind: 'personal',
      user_id: 'usr_a',
      name: `bot ${id}`,
      jwks: '{"keys":[]}',
      redirect_uris: '[]',
      scopes: '["read"]',
      rotate_refresh_tokens: 0,
      session_loss_policy: 'none',
      created_at: 0,
      revoked_at: revoked,
    });
    await db
      .insertInto('oauth_clients')
      .values([client('cli_1'), client('cli_2'), client('cli_3', 5)])
      .execute();
    const grant = (id: string, clientId: string) => ({
      id,
      client_id: clientId,
      user_id: 'usr_a',
      scopes: '["read"]',
      accounts: '[]',
      session_id: null,
      created_at: 0,
      revoked_at: null,
      revoke_reason: null,
    });
    await db
      .insertInto('oauth_grants')
      .values([grant('grt_1', 'cli_1'), grant('grt_2', 'cli_2'), grant('grt_3', 'cli_3')])
      .execute();
    await noteRefresh(db, 'cli_1', 'usr_a', 100);
    await noteTokensExpired(db, ['grt_1'], 150);
    await noteResponseLost(db, 'cli_1', 'usr_a', 160);
    await noteRefresh(db, 'cli_1', 'usr_a', 170);
    await noteTokensExpired(db, [], 200);
    expect(await clientRefreshesOfUser(db, 'usr_a')).toEqual([
      { clientId: 'cli_1', name: 'bot cli_1', lastRefreshAt: 170, tokensExpiredAt: 150, responseLostAt: 160 },
      {
        clientId: 'cli_2',
        name: 'bot cli_2',
        lastRefreshAt: null,
        tokensExpiredAt: null,
        responseLostAt: null,
      },
    ]);
    expect(await clientRefreshesOfUser(db, 'usr_b')).toEqual([]);
  });
});
