/**
 * `GET /v1/readiness`, the watchlist and the legal-entity review over HTTP (issue 22, item 1): each item's states
 * built for real — a phone enrolled and revoked, recovery codes generated, an entity reviewed, a watchlist with a
 * delayed instrument, an API client that refreshed through a sandbox drill, re-authentications measured — bad
 * input refused with a code and nothing stored, a viewer, another user, a program.
 */
import type { AccessReadiness, ReadinessItem } from '@gatehouse/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { type DeviceIdentity, deviceProof, enrolDevice } from '../authenticator/index.js';
import { changeEntitlements } from '../entitlements/store.js';
import { INSTRUMENTS, type Instrument } from '../instruments/index.js';
import { type TestDatabase, type TestDatabaseFactory, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  BRUNO,
  callAs,
  errorCode,
  json,
  type LoggedIn,
  loginAs,
  loginTrading,
  mobileLoginBody,
  startTestGateway,
  type TestGateway,
  VIKTOR,
} from '../test-support/gateway.js';
import { botToken, registerBot } from '../test-support/program.js';

let gw: TestGateway;
let base: string;
const databases: TestDatabase[] = [];
afterEach(async () => {
  await gw?.close();
  for (const database of databases.splice(0)) await database.drop();
});

const DAY = 86_400_000;
const symbol = (s: string) => INSTRUMENTS.find((i) => i.symbol === s) as Instrument;
const AAPL = symbol('AAPL');
const MSFT = symbol('MSFT');
const SAP = symbol('SAP');
const BOND = INSTRUMENTS.find((i) => i.bundle === 'BONDS') as Instrument;
const FUTURE = INSTRUMENTS.find((i) => i.bundle === 'CME') as Instrument;

async function start(makeDatabase: TestDatabaseFactory) {
  const database = await makeDatabase();
  databases.push(database);
  gw = await startTestGateway({
    database,
    config: { server: { port: 0, host: '127.0.0.1' }, sandbox: { enabled: true } },
  });
  base = await gw.listen();
}

async function readiness(as: LoggedIn): Promise<AccessReadiness> {
  const response = await callAs(gw, 'GET', '/v1/readiness', as);
  expect(response.statusCode).toBe(200);
  return json(response) as unknown as AccessReadiness;
}

function itemOf<I extends ReadinessItem['id']>(r: AccessReadiness, id: I) {
  return r.items.find((i) => i.id === id) as Extract<ReadinessItem, { id: I }>;
}

const states = (r: AccessReadiness) => Object.fromEntries(r.items.map((i) => [i.id, i.state]));

async function enrolPhone(as: LoggedIn, name: string): Promise<DeviceIdentity> {
  const enroll = await gw.app.inject({
    method: 'POST',
    url: '/v1/devices/mobile/enroll',
    headers: { cookie: as.cookie, 'x-csrf-token': as.csrf, host: new URL(base).host },
  });
  expect(enroll.statusCode).toBe(200);
  return enrolDevice((json(enroll) as { activationUri: string }).activationUri, {
    name,
    platform: 'android',
    pin: '2468',
  });
}

/** The phone logs in on its own (key + PIN) and takes trading; resolves to its bearer token. */
async function mobileTrading(phone: DeviceIdentity): Promise<string> {
  const login = await gw.app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    payload: mobileLoginBody(phone, '2468', gw.clock.now()),
  });
  expect(login.statusCode).toBe(200);
  const { token } = json(login) as { token: string };
  const acquired = await mobileCall(phone, token, 'POST', '/v1/session/brokerage', { compete: true });
  expect(acquired.statusCode).toBe(200);
  return token;
}

function mobileCall(
  phone: DeviceIdentity,
  token: string,
  method: 'GET' | 'POST',
  path: string,
  payload?: object,
) {
  return gw.app.inject({
    method,
    url: path,
    headers: {
      authorization: `Bearer ${token}`,
      'x-device-proof': deviceProof(phone, method, `${base}${path}`, token, gw.clock.now()),
    },
    ...(payload === undefined ? {} : { payload }),
  });
}

describe.each(testDatabases())('the access-readiness checklist on %s', (_name, makeDatabase) => {
  it('shows a new user every item, in order, with what is missing, and turns items green as they are fixed', async () => {
    await start(makeDatabase);
    let alice = await loginTrading(gw, ALICE);
    const first = await readiness(alice);
    expect(first.items.map((i) => i.id)).toEqual([
      'push',
      'backup',
      'devices',
      'market_data',
      'api_clients',
      'legal_entity',
      'reauthentication',
    ]);
    expect(states(first)).toEqual({
      push: 'missing',
      backup: 'missing',
      devices: 'missing',
      market_data: 'missing',
      api_clients: 'ok',
      legal_entity: 'missing',
      reauthentication: 'warn',
    });
    expect(first.state).toBe('missing');
    expect(first.checkedAt).toBe(new Date(gw.clock.now()).toISOString());
    for (const item of first.items) {
      expect(item.title.length).toBeGreaterThan(0);
      expect(item.why).toMatch(/\.$/);
    }
    expect(itemOf(first, 'backup').details).toEqual({ ways: ['totp'], recoveryCodesLeft: 0 });
    expect(itemOf(first, 'devices').details.channels).toEqual([
      { channel: 'web', used: true, device: null },
      { channel: 'desktop', used: false, device: null },
      { channel: 'mobile', used: false, device: null },
    ]);
    expect(itemOf(first, 'market_data').action).toEqual({
      label: 'Add instruments to your watchlist',
      href: '/trade#watchlist',
    });

    // A phone: push is enrolled and seen; it is a second way in; and a pre-validated device for mobile.
    const phone = await enrolPhone(alice, 'Pixel 8');
    const withPhone = await readiness(alice);
    expect(itemOf(withPhone, 'push')).toMatchObject({
      state: 'ok',
      details: { devices: [{ id: phone.deviceId, name: 'Pixel 8' }] },
    });
    expect(itemOf(withPhone, 'backup')).toMatchObject({
      state: 'warn',
      details: { ways: ['totp', 'push:Pixel 8'], recoveryCodesLeft: 0 },
      action: { href: '/security#recovery' },
    });
    // Recovery codes: the backup item turns ok.
    const codes = await callAs(gw, 'POST', '/v1/factors/recovery-codes', alice, {});
    expect(codes.statusCode).toBe(200);
    const withCodes = await readiness(alice);
    expect(itemOf(withCodes, 'backup')).toMatchObject({ state: 'ok', details: { recoveryCodesLeft: 10 } });

    // Not seen for 15 days: push warns.
    gw.clock.advance(15 * DAY);
    alice = await loginAs(gw, ALICE);
    const away = await readiness(alice);
    expect(itemOf(away, 'push').state).toBe('warn');
    expect(itemOf(away, 'push').finding).toContain('last seen 15 days ago');

    // Revoked: push is missing again, and one way in is left.
    const revoked = await callAs(gw, 'DELETE', `/v1/devices/${phone.deviceId}`, alice);
    expect(revoked.statusCode).toBe(200);
    const after = await readiness(alice);
    expect(itemOf(after, 'push')).toMatchObject({ state: 'missing', details: { devices: [] } });
    expect(itemOf(after, 'backup')).toMatchObject({ state: 'warn', details: { ways: ['totp'] } });
  });

  it('judges the watchlist’s market data per instrument through the account’s subscriptions and a what-if', async () => {
    await start(makeDatabase);
    const alice = await loginTrading(gw, ALICE);
    const put = (ids: number[]) => callAs(gw, 'PUT', '/v1/watchlist', alice, { instrumentIds: ids });

    const live = await put([AAPL.id, MSFT.id]);
    expect(live.statusCode).toBe(200);
    expect(json(live)).toEqual({
      instruments: [
        { instrumentId: AAPL.id, symbol: 'AAPL', name: AAPL.name },
        { instrumentId: MSFT.id, symbol: 'MSFT', name: MSFT.name },
      ],
    });
    expect(json(await callAs(gw, 'GET', '/v1/watchlist', alice))).toEqual(json(live));
    const ok = itemOf(await readiness(alice), 'market_data');
    expect(ok.state).toBe('ok');
    expect(ok.details.instruments[0]).toEqual({
      instrumentId: AAPL.id,
      symbol: 'AAPL',
      data: 'live',
      bundle: null,
      whatIf: { outcome: 'accepted', reason: null },
    });

    // The live account is the one judged, not the paper one listed first: without US equities there, AAPL is delayed.
    const { bus } = gw.ctx;
    const { db } = gw.ctx.store;
    const actor = { userId: null, ip: null, via: 'cli' } as const;
    await changeEntitlements({ db, clock: gw.clock, bus }, 'U1000001', { unsubscribe: ['US_EQUITY'] }, actor);
    expect(itemOf(await readiness(alice), 'market_data').details.instruments[0]).toMatchObject({
      symbol: 'AAPL',
      data: 'delayed',
      bundle: 'US_EQUITY',
    });
    await changeEntitlements(
      { db, clock: gw.clock, bus },
      'U1000001',
      { subscribe: [{ bundle: 'US_EQUITY', professional: false }] },
      actor,
    );
    expect(itemOf(await readiness(alice), 'market_data').state).toBe('ok');

    // SAP on a US account: delayed (no EU subscription) and refused by the gate (no permission for it).
    await put([AAPL.id, SAP.id]);
    const delayed = itemOf(await readiness(alice), 'market_data');
    expect(delayed.state).toBe('warn');
    expect(delayed.details.instruments[1]).toEqual({
      instrumentId: SAP.id,
      symbol: 'SAP',
      data: 'delayed',
      bundle: 'EU_EQUITY',
      whatIf: { outcome: 'refused', reason: 'PERMISSION_MISSING' },
    });
    expect(delayed.action).toEqual({ label: 'Subscribe to market data', href: '/account#market-data' });

    // A CME future: permitted, delayed, so a buy asks for confirmation first.
    await put([FUTURE.id]);
    const asked = itemOf(await readiness(alice), 'market_data');
    expect(asked.state).toBe('warn');
    expect(asked.details.instruments[0]).toMatchObject({
      data: 'delayed',
      bundle: 'CME',
      whatIf: { outcome: 'confirmation_required', reason: 'delayed_market_data' },
    });
    await put([AAPL.id, SAP.id]);

    // From a session that does not hold trading (the page right after login), the same verdicts, apart from it.
    const looking = await loginAs(gw, ALICE);
    const apart = itemOf(await readiness(looking), 'market_data');
    expect(apart.details.instruments.map((i) => i.whatIf)).toEqual([
      { outcome: 'accepted', reason: null },
      { outcome: 'refused', reason: 'PERMISSION_MISSING' },
    ]);

    // A Treasury: no free data at all.
    await put([AAPL.id, SAP.id, BOND.id]);
    const none = itemOf(await readiness(alice), 'market_data');
    expect(none.state).toBe('missing');
    expect(none.details.instruments[2]).toMatchObject({ data: 'none', bundle: 'BONDS' });
    // Nothing was placed by the what-ifs.
    expect(await gw.ctx.store.db.selectFrom('orders').selectAll().execute()).toEqual([]);
  });

  it('refuses a bad watchlist with a code and stores nothing', async () => {
    await start(makeDatabase);
    const alice = await loginAs(gw, ALICE);
    const put = (payload: unknown) => callAs(gw, 'PUT', '/v1/watchlist', alice, payload);
    expect((await put({ instrumentIds: [AAPL.id] })).statusCode).toBe(200);
    const unknown = await put({ instrumentIds: [MSFT.id, 999_999] });
    expect(unknown.statusCode).toBe(404);
    expect(json(unknown)).toMatchObject({
      error: { code: 'INSTRUMENT_NOT_FOUND', details: { instrumentId: 999_999 } },
    });
    expect(errorCode(await put({ instrumentIds: [MSFT.id, MSFT.id] }))).toBe('INVALID_REQUEST');
    const many = INSTRUMENTS.slice(0, 51).map((i) => i.id);
    expect(many).toHaveLength(51);
    expect(errorCode(await put({ instrumentIds: many }))).toBe('INVALID_REQUEST');
    expect(errorCode(await put({ instrumentIds: ['AAPL'] }))).toBe('INVALID_REQUEST');
    expect(errorCode(await put({ instrumentIds: [AAPL.id], extra: 1 }))).toBe('INVALID_REQUEST');
    // Without the CSRF token, nothing either.
    const forged = await gw.app.inject({
      method: 'PUT',
      url: '/v1/watchlist',
      headers: { cookie: alice.cookie },
      payload: { instrumentIds: [MSFT.id] },
    });
    expect(errorCode(forged)).toBe('CSRF_TOKEN_INVALID');
    expect(json(await callAs(gw, 'GET', '/v1/watchlist', alice))).toEqual({
      instruments: [{ instrumentId: AAPL.id, symbol: 'AAPL', name: AAPL.name }],
    });
    // Per user: Bruno's is his own.
    const bruno = await loginAs(gw, BRUNO);
    expect(json(await callAs(gw, 'GET', '/v1/watchlist', bruno))).toEqual({ instruments: [] });
  });

  it('records a legal-entity review, audited, for a year; another user’s account is unknown; a viewer reviews for himself', async () => {
    await start(makeDatabase);
    const alice = await loginAs(gw, ALICE);
    const accounts = itemOf(await readiness(alice), 'legal_entity').details.accounts;
    expect(accounts.map((a) => a.accountId).sort()).toEqual(['DU1000001', 'U1000001', 'U1000009']);
    expect(accounts[0]).toMatchObject({
      entity: 'IBLLC',
      entityName: 'Interactive Brokers LLC',
      regulator: 'SEC/FINRA/CFTC',
      reviewedAt: null,
      reviewExpiresAt: null,
    });
    const reviewed = await callAs(gw, 'POST', '/v1/accounts/U1000001/entity-review', alice, {});
    expect(reviewed.statusCode).toBe(200);
    const now = gw.clock.now();
    expect(json(reviewed)).toEqual({
      accountId: 'U1000001',
      reviewedAt: new Date(now).toISOString(),
      reviewExpiresAt: new Date(now + 365 * DAY).toISOString(),
    });
    const audit = await gw.ctx.store.db
      .selectFrom('audit_log')
      .select(['type', 'data', 'session_id'])
      .where('type', '=', 'readiness.entity_reviewed')
      .execute();
    expect(audit).toHaveLength(1);
    expect(JSON.parse(audit[0]?.data ?? '{}')).toEqual({ accountId: 'U1000001', entity: 'IBLLC' });
    expect(audit[0]?.session_id).toBe(alice.sessionId);
    const partly = itemOf(await readiness(alice), 'legal_entity');
    expect(partly.state).toBe('missing');
    expect(partly.finding).not.toMatch(/\bU1000001\b/);
    for (const id of ['DU1000001', 'U1000009'])
      expect((await callAs(gw, 'POST', `/v1/accounts/${id}/entity-review`, alice, {})).statusCode).toBe(200);
    expect(itemOf(await readiness(alice), 'legal_entity')).toMatchObject({ state: 'ok', action: null });

    // Another user's account answers as an unknown one, and nothing is stored; bad bodies are refused.
    const bruno = await loginAs(gw, BRUNO);
    const foreign = await callAs(gw, 'POST', '/v1/accounts/U1000001/entity-review', bruno, {});
    expect(foreign.statusCode).toBe(404);
    expect(errorCode(foreign)).toBe('ACCOUNT_NOT_FOUND');
    expect(errorCode(await callAs(gw, 'POST', '/v1/accounts/U9999999/entity-review', bruno, {}))).toBe(
      'ACCOUNT_NOT_FOUND',
    );
    expect(errorCode(await callAs(gw, 'POST', '/v1/accounts/U2000002/entity-review', bruno, { ok: 1 }))).toBe(
      'INVALID_REQUEST',
    );
    // A session with a step-up pending (seen from another network) may not make the statement.
    const moved = await loginAs(gw, BRUNO);
    expect(await gw.ctx.sessions.observeAddress(moved.sessionId, '203.0.113.9')).toBe(true);
    const pending = await callAs(gw, 'POST', '/v1/accounts/U2000002/entity-review', moved, {});
    expect(errorCode(pending)).toBe('STEP_UP_REQUIRED');
    // Its watchlist is its user's preference, not a statement: that session may still edit it.
    expect((await callAs(gw, 'PUT', '/v1/watchlist', moved, { instrumentIds: [AAPL.id] })).statusCode).toBe(
      200,
    );
    const rows = await gw.ctx.store.db
      .selectFrom('entity_reviews')
      .select(['user_id', 'account_id'])
      .execute();
    expect(rows).toHaveLength(3);
    expect(
      await gw.ctx.store.db
        .selectFrom('audit_log')
        .where('type', '=', 'readiness.entity_reviewed')
        .select('seq')
        .execute(),
    ).toHaveLength(3);

    // The viewer (an adviser on U1000001) may review what he can see, for himself only.
    const viktor = await loginAs(gw, VIKTOR);
    expect(itemOf(await readiness(viktor), 'legal_entity')).toMatchObject({
      state: 'missing',
      details: { accounts: [{ accountId: 'U1000001', reviewedAt: null }] },
    });
    expect((await callAs(gw, 'POST', '/v1/accounts/U1000001/entity-review', viktor, {})).statusCode).toBe(
      200,
    );
    expect(itemOf(await readiness(viktor), 'legal_entity').state).toBe('ok');

    // A year and a day later, the reviews have expired.
    gw.clock.advance(366 * DAY);
    const later = itemOf(await readiness(await loginAs(gw, ALICE)), 'legal_entity');
    expect(later).toMatchObject({
      state: 'warn',
      action: { label: 'Review', href: '/readiness#legal_entity' },
    });
  });

  it('follows each API client’s refresh path: never refreshed, refreshed, and through a sandbox drill', async () => {
    await start(makeDatabase);
    const alice = await loginAs(gw, ALICE);
    const bot = await registerBot(gw, alice);
    const never = itemOf(await readiness(alice), 'api_clients');
    expect(never).toMatchObject({
      state: 'missing',
      details: {
        clients: [
          {
            clientId: bot.clientId,
            name: 'my bot',
            lastRefreshAt: null,
            lastDrillAt: null,
            drillPassed: null,
          },
        ],
      },
    });
    await botToken(bot);
    const refreshed = itemOf(await readiness(alice), 'api_clients');
    expect(refreshed.state).toBe('warn');
    expect(refreshed.details.clients[0]?.lastRefreshAt).toBe(new Date(gw.clock.now()).toISOString());

    // The drill: the sandbox expires the client's token, then cuts a refresh's answer; the bot comes back.
    const sandbox = gw.ctx.sandbox;
    if (sandbox === null) throw new Error('sandbox off');
    gw.clock.advance(1_000);
    const { id } = await sandbox.inject(
      { kind: 'token.expired_early', target: { type: 'client', id: bot.clientId } },
      { type: 'operator' },
    );
    expect((await sandbox.list()).find((f) => f.id === id)?.hits).toBe(1);
    await sandbox.inject(
      {
        kind: 'refresh.response_lost',
        target: { type: 'client', id: bot.clientId },
        schedule: { durationMs: 1_000 },
      },
      { type: 'operator' },
    );
    gw.clock.advance(100);
    // The answer never comes (the connection is cut after the tokens were issued).
    const cut = await Promise.race([
      bot.form('/oauth2/token', { grant_type: 'client_credentials' }).then(() => 'answered'),
      new Promise((resolve) => setTimeout(() => resolve('cut'), 300)),
    ]);
    expect(cut).toBe('cut');
    const struck = itemOf(await readiness(alice), 'api_clients');
    expect(struck.state).toBe('warn');
    expect(struck.details.clients[0]).toMatchObject({ drillPassed: false });
    gw.clock.advance(2_000);
    await botToken(bot);
    const drilled = itemOf(await readiness(alice), 'api_clients');
    expect(drilled).toMatchObject({ state: 'ok', action: null });
    expect(drilled.details.clients[0]).toMatchObject({ drillPassed: true });
    // A client of Bruno's is not Alice's.
    await registerBot(gw, await loginAs(gw, BRUNO), { accounts: ['U2000002'] });
    expect(itemOf(await readiness(alice), 'api_clients').details.clients).toHaveLength(1);
  });

  it('measures the user’s own re-authentication per channel and names the fastest path', async () => {
    await start(makeDatabase);
    const first = await loginTrading(gw, ALICE);
    expect((await callAs(gw, 'POST', '/v1/auth/logout', first, {})).statusCode).toBeLessThan(300);
    gw.clock.advance(3_000);
    const alice = await loginTrading(gw, ALICE);
    const web = itemOf(await readiness(alice), 'reauthentication');
    expect(web.state).toBe('warn');
    expect(web.details.channels[0]).toEqual({
      channel: 'web',
      samples: 1,
      lastMs: 33_000,
      p50Ms: 33_000,
      fastestPath: 'Web: password and authenticator code (two steps)',
    });
    expect(web.finding).toContain('two-step');

    // The phone: key and PIN, one step. Trading lost (logged out) and taken back 5 s later.
    const phone = await enrolPhone(alice, 'Pixel 8');
    const token = await mobileTrading(phone);
    expect((await mobileCall(phone, token, 'POST', '/v1/auth/logout')).statusCode).toBeLessThan(300);
    gw.clock.advance(5_000);
    await mobileTrading(phone);
    const both = itemOf(await readiness(alice), 'reauthentication');
    expect(both.state).toBe('ok');
    expect(both.details.channels[2]).toEqual({
      channel: 'mobile',
      samples: 1,
      lastMs: 5_000,
      p50Ms: 5_000,
      fastestPath: 'Mobile: device key and PIN (one step)',
    });
    // Traded from web and mobile: the phone is mobile's pre-validated device, the browser is not yet remembered.
    const channels = itemOf(await readiness(alice), 'devices');
    expect(channels).toMatchObject({ state: 'warn', action: { href: '/security#devices' } });
    expect(channels.details.channels).toEqual([
      { channel: 'web', used: true, device: null },
      { channel: 'desktop', used: false, device: null },
      { channel: 'mobile', used: true, device: { id: phone.deviceId, name: 'Pixel 8' } },
    ]);
    const listed = json(await callAs(gw, 'GET', '/v1/devices', alice)) as {
      devices: { id: string; kind: string }[];
    };
    const browser = listed.devices.find((d) => d.kind === 'browser');
    expect(browser).toBeDefined();
    const trusted = await callAs(gw, 'PATCH', `/v1/devices/${browser?.id}`, alice, { trusted: true });
    expect(trusted.statusCode).toBe(200);
    expect(itemOf(await readiness(alice), 'devices')).toMatchObject({ state: 'ok', action: null });
    // Bruno's checklist knows nothing of Alice's times.
    const bruno = itemOf(await readiness(await loginAs(gw, BRUNO)), 'reauthentication');
    expect(bruno.details.channels.every((c) => c.samples === 0)).toBe(true);
  });

  it('answers a session that lost trading to another (nothing here trades), about the same user', async () => {
    await start(makeDatabase);
    const taken = await loginTrading(gw, ALICE);
    const taker = await loginTrading(gw, ALICE);
    const tickle = json(await callAs(gw, 'POST', '/v1/session/tickle', taken, {}));
    expect(JSON.stringify(tickle)).toContain('"competing":true');
    expect((await callAs(gw, 'PUT', '/v1/watchlist', taken, { instrumentIds: [AAPL.id] })).statusCode).toBe(
      200,
    );
    const fromTaker = await readiness(taker);
    expect(itemOf(fromTaker, 'market_data').details.instruments.map((i) => i.symbol)).toEqual(['AAPL']);
    expect(await readiness(taken)).toEqual(fromTaker);
  });

  it('is for people: a program’s token and an anonymous caller are refused', async () => {
    await start(makeDatabase);
    const alice = await loginAs(gw, ALICE);
    const bot = await registerBot(gw, alice);
    const token = await botToken(bot);
    for (const [method, url] of [
      ['GET', '/v1/readiness'],
      ['GET', '/v1/watchlist'],
      ['PUT', '/v1/watchlist'],
      ['POST', '/v1/accounts/DU1000001/entity-review'],
    ] as const) {
      const asProgram = await bot.call(method, url, token, method === 'GET' ? undefined : {});
      expect(`${url}: ${errorCode(asProgram)}`).toBe(`${url}: API_NOT_ALLOWED`);
      const anonymous = await gw.app.inject({ method, url, ...(method === 'GET' ? {} : { payload: {} }) });
      expect(`${url}: ${errorCode(anonymous)}`).toBe(`${url}: UNAUTHENTICATED`);
    }
    // A session that ended is refused too.
    expect((await callAs(gw, 'POST', '/v1/auth/logout', alice, {})).statusCode).toBeLessThan(300);
    for (const [method, url] of [
      ['GET', '/v1/readiness'],
      ['PUT', '/v1/watchlist'],
      ['POST', '/v1/accounts/DU1000001/entity-review'],
    ] as const) {
      const ended = await callAs(
        gw,
        method,
        url,
        alice,
        method === 'GET' ? undefined : { instrumentIds: [AAPL.id] },
      );
      expect(ended.statusCode).toBe(401);
    }
    expect(await gw.ctx.store.db.selectFrom('entity_reviews').selectAll().execute()).toEqual([]);
    expect(await gw.ctx.store.db.selectFrom('watchlists').selectAll().execute()).toEqual([]);
  });
});
