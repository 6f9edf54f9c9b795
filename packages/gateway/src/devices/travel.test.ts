/**
 * Issue 22, item 3: travel-aware device validation. Client addresses resolve to countries by the real GeoLite2 data
 * shipped with `geoip-country` (81.2.69.160 is in the United Kingdom, 2a00:1450:4001::1 in Germany, 8.8.8.8 in the
 * United States). A login or a session from a country the user was never seen from is notified, audited and, by
 * default, must step up before it trades (`STEP_UP_REQUIRED`, `{reason: 'new_country', country}`); a travel notice
 * for that country and day waives the step-up; a known country changes nothing. The notice API refuses bad input
 * with coded errors and stores nothing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { deviceProof, enrolDevice } from '../authenticator/index.js';
import type { ConfigInput } from '../config/index.js';
import { totpCode } from '../factors/index.js';
import { INSTRUMENTS, type Instrument } from '../instruments/index.js';
import { type TestDatabase, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  BRUNO,
  callAs,
  errorCode,
  json,
  type LoggedIn,
  loginAs,
  type Method,
  mobileLoginBody,
  renewed,
  startTestGateway,
  type TestGateway,
  VIKTOR,
} from '../test-support/gateway.js';
import { botToken, registerBot } from '../test-support/program.js';
import { utcDay } from './travel.js';

const GB = '81.2.69.160';
const DE = '2a00:1450:4001::1';
const DE_OTHER_NETWORK = '5.9.0.1';
const US = '8.8.8.8';
const AAPL = INSTRUMENTS.find((i) => i.symbol === 'AAPL') as Instrument;

type User = { username: string; password: string; totpSecret: string };
type Web = LoggedIn & { device: string };

let gw: TestGateway;
let database: TestDatabase | undefined;
afterEach(async () => {
  await gw?.close();
  await database?.drop();
  database = undefined;
});

/** A web login (password and TOTP) from `ip`, with the browser's device cookie when it has one. */
async function loginFrom(user: User, ip: string, device?: string): Promise<Web> {
  gw.clock.advance(30_000);
  const cookie = device === undefined ? {} : { cookie: device };
  const started = await gw.app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    payload: { username: user.username, password: user.password, channel: 'web' },
    remoteAddress: ip,
    headers: cookie,
  });
  expect(started.statusCode).toBe(200);
  const { loginId } = started.json() as { loginId: string };
  const done = await gw.app.inject({
    method: 'POST',
    url: `/v1/auth/login/${loginId}/factor`,
    payload: { type: 'totp', code: totpCode(user.totpSecret, gw.clock.now()) },
    remoteAddress: ip,
    headers: cookie,
  });
  expect(done.statusCode).toBe(200);
  const session = done.cookies.find((c) => c.name === 'gh_session');
  const browser = done.cookies.find((c) => c.name === 'gh_device');
  const body = done.json() as { csrfToken: string; session: { id: string } };
  return {
    cookie: `gh_session=${session?.value}`,
    csrf: body.csrfToken,
    sessionId: body.session.id,
    device: browser === undefined ? (device ?? '') : `gh_device=${browser.value}`,
  };
}

function callFrom(ip: string, method: Method, url: string, as: LoggedIn, payload?: unknown) {
  return gw.app.inject({
    method,
    url,
    remoteAddress: ip,
    headers: { cookie: as.cookie, 'x-csrf-token': as.csrf },
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
}

const acquire = (ip: string, as: LoggedIn) =>
  callFrom(ip, 'POST', '/v1/session/brokerage', as, { compete: true });

let orders = 0;
function order(ip: string, as: LoggedIn) {
  orders += 1;
  return callFrom(ip, 'POST', '/v1/accounts/U1000001/orders', as, {
    clientOrderId: `travel-${orders}`,
    instrumentId: AAPL.id,
    side: 'BUY',
    type: 'LMT',
    quantity: 1,
    limitPrice: Number((gw.ctx.marketData.live(AAPL).bid * 0.97).toFixed(2)),
    tif: 'GTC',
  });
}

async function stepUp(ip: string, as: Web): Promise<Web> {
  gw.clock.advance(30_000);
  const answer = await callFrom(ip, 'POST', '/v1/session/step-up', as, {
    type: 'totp',
    code: totpCode(ALICE.totpSecret, gw.clock.now()),
  });
  expect(answer.statusCode).toBe(200);
  return { ...renewed(as, answer), device: as.device };
}

async function userId(username: string): Promise<string> {
  const row = await gw.ctx.store.db
    .selectFrom('users')
    .select('id')
    .where('username', '=', username)
    .executeTakeFirstOrThrow();
  return row.id;
}

async function notifications(username: string) {
  const rows = await gw.ctx.store.db
    .selectFrom('notifications')
    .select(['kind', 'data'])
    .where('user_id', '=', await userId(username))
    .where('kind', '=', 'new_country_login')
    .orderBy('created_at')
    .execute();
  return rows.map((r) => JSON.parse(r.data) as Record<string, unknown>);
}

async function audits(username: string, type: string) {
  const rows = await gw.ctx.store.db
    .selectFrom('audit_log')
    .select(['data', 'session_id', 'ip'])
    .where('user_id', '=', await userId(username))
    .where('type', '=', type)
    .orderBy('seq')
    .execute();
  return rows.map((r) => ({
    ...(JSON.parse(r.data) as Record<string, unknown>),
    sessionId: r.session_id,
    ip: r.ip,
  }));
}

const day = (offset: number) => utcDay(gw.clock.now() + offset * 86_400_000);

function newCountry(country: string) {
  return { error: { code: 'STEP_UP_REQUIRED', details: { reason: 'new_country', country } } };
}

async function start(config: ConfigInput = {}, factory?: () => Promise<TestDatabase>) {
  if (factory !== undefined) database = await factory();
  gw = await startTestGateway({
    ...(database === undefined ? {} : { database }),
    config: { server: { portalDir: false }, ...config },
  });
}

describe.each(testDatabases())('travel-aware device validation on %s', (_name, factory) => {
  it('asks a login from a new country to step up before trading, notifies and audits it; reading stays allowed', async () => {
    await start({}, factory);
    // The first country a user is seen from is recorded, nothing more.
    const home = await loginFrom(ALICE, GB);
    expect((await acquire(GB, home)).statusCode).toBe(200);
    expect(await notifications('alice')).toEqual([]);

    const abroad = await loginFrom(ALICE, DE, home.device);
    const refused = await acquire(DE, abroad);
    expect(refused.statusCode).toBe(403);
    expect(json(refused)).toMatchObject(newCountry('DE'));
    // Sensitive actions give the same reason; reading is allowed.
    expect(
      json(await callFrom(DE, 'POST', '/v1/travel', abroad, { country: 'DE', from: day(0), to: day(3) })),
    ).toMatchObject(newCountry('DE'));
    const devices = await callFrom(DE, 'GET', '/v1/devices', abroad);
    expect(devices.statusCode).toBe(200);
    const browsers = (json(devices).devices as { kind: string; countries: string[] }[]).filter(
      (d) => d.kind === 'browser',
    );
    expect(browsers.map((d) => d.countries)).toEqual([['GB', 'DE']]);

    expect(await notifications('alice')).toEqual([
      {
        country: 'DE',
        countryName: 'Germany',
        channel: 'web',
        ip: DE,
        announced: false,
        stepUpRequired: true,
      },
    ]);
    const audited = await audits('alice', 'device.new_country');
    expect(audited).toEqual([
      expect.objectContaining({ country: 'DE', channel: 'web', announced: false, stepUp: true, ip: DE }),
    ]);
    expect(audited[0]?.sessionId).toBe(abroad.sessionId);
    expect(JSON.stringify(audited)).not.toMatch(/gh_session|csrf|totp/i);

    // Logging in again from there, before any step-up, meets the same check: a second login gets around nothing.
    const again = await loginFrom(ALICE, DE, home.device);
    expect(json(await acquire(DE, again))).toMatchObject(newCountry('DE'));
    expect(await notifications('alice')).toHaveLength(1);
    expect(await audits('alice', 'device.new_country')).toHaveLength(2);

    // The existing step-up clears it, and the session trades.
    const stepped = await stepUp(DE, abroad);
    expect((await acquire(DE, stepped)).statusCode).toBe(200);
    expect((await order(DE, stepped)).statusCode).toBe(201);
    // The step-up made the country the user's own: the next login from it is an ordinary one.
    const later = await loginFrom(ALICE, DE, home.device);
    expect((await acquire(DE, later)).statusCode).toBe(200);
    expect(await audits('alice', 'device.new_country')).toHaveLength(2);
  });

  it('asks a session that moves to a new country mid-session to step up before its next order', async () => {
    await start({}, factory);
    const alice = await loginFrom(ALICE, GB);
    expect((await acquire(GB, alice)).statusCode).toBe(200);
    expect((await order(GB, alice)).statusCode).toBe(201);

    const moved = await order(US, alice);
    expect(moved.statusCode).toBe(403);
    expect(json(moved)).toMatchObject(newCountry('US'));
    const state = await callFrom(US, 'POST', '/v1/session/tickle', alice);
    expect(state.statusCode).toBe(200);
    expect(json(state)).toMatchObject({ stepUpRequired: true });
    expect(await notifications('alice')).toEqual([
      expect.objectContaining({ country: 'US', countryName: 'United States', stepUpRequired: true }),
    ]);
    expect(await audits('alice', 'device.new_country')).toEqual([
      expect.objectContaining({ country: 'US', stepUp: true, sessionId: alice.sessionId }),
    ]);

    const stepped = await stepUp(US, alice);
    expect((await order(US, stepped)).statusCode).toBe(201);
  });

  it('changes nothing for a known country: no step-up, no notice; another network there is the network rule', async () => {
    await start({}, factory);
    const home = await loginFrom(ALICE, GB);
    const trip = await stepUp(DE, await loginFrom(ALICE, DE, home.device));
    expect((await acquire(DE, trip)).statusCode).toBe(200);
    expect(await notifications('alice')).toHaveLength(1);

    // Germany is known now: a new login from there trades at once, and nobody is told again.
    const again = await loginFrom(ALICE, DE, home.device);
    expect((await acquire(DE, again)).statusCode).toBe(200);
    // Back home, in a session: known too.
    expect((await order(GB, again)).statusCode).toBe(403);
    expect(json(await order(GB, again))).toMatchObject({
      error: { code: 'STEP_UP_REQUIRED', details: { reason: 'network_changed' } },
    });
    const fresh = await loginFrom(ALICE, DE_OTHER_NETWORK, home.device);
    expect((await acquire(DE_OTHER_NETWORK, fresh)).statusCode).toBe(200);
    expect(await notifications('alice')).toHaveLength(1);
    expect(await audits('alice', 'device.new_country')).toHaveLength(1);
  });

  it('needs no step-up from a country and day a travel notice covers; the user is still told', async () => {
    await start({}, factory);
    const home = await loginFrom(ALICE, GB);
    const announced = await callFrom(GB, 'POST', '/v1/travel', home, {
      country: 'de',
      from: day(-1),
      to: day(6),
    });
    expect(announced.statusCode).toBe(200);
    expect(json(announced)).toMatchObject({
      country: 'DE',
      countryName: 'Germany',
      from: day(-1),
      to: day(6),
    });
    // A notice for another country waives nothing.
    expect(
      (await callFrom(GB, 'POST', '/v1/travel', home, { country: 'FR', from: day(0), to: day(6) }))
        .statusCode,
    ).toBe(200);

    const abroad = await loginFrom(ALICE, DE, home.device);
    expect((await acquire(DE, abroad)).statusCode).toBe(200);
    expect((await order(DE, abroad)).statusCode).toBe(201);
    expect(await notifications('alice')).toEqual([
      expect.objectContaining({ country: 'DE', announced: true, stepUpRequired: false }),
    ]);
    expect(await audits('alice', 'device.new_country')).toEqual([
      expect.objectContaining({ country: 'DE', announced: true, stepUp: false }),
    ]);
    expect(await audits('alice', 'travel.announced')).toEqual([
      expect.objectContaining({
        country: 'DE',
        from: day(-1),
        to: day(6),
        sessionId: home.sessionId,
        ip: GB,
      }),
      expect.objectContaining({ country: 'FR' }),
    ]);

    // A country no notice names still needs the step-up.
    const us = await loginFrom(ALICE, US, home.device);
    expect(json(await acquire(US, us))).toMatchObject(newCountry('US'));
  });

  it('refuses bad notices with coded errors and stores nothing', async () => {
    await start({ travel: { maxNotices: 2, maxNoticeDays: 30 } }, factory);
    const alice = await loginFrom(ALICE, GB);
    const post = (body: unknown) => callFrom(GB, 'POST', '/v1/travel', alice, body);
    const before = (await audits('alice', 'travel.announced')).length;
    const cases: [unknown, string, Record<string, unknown>?][] = [
      [{ country: 'XX', from: day(0), to: day(3) }, 'TRAVEL_NOTICE_INVALID', { reason: 'unknown_country' }],
      [{ country: 'EU', from: day(0), to: day(3) }, 'TRAVEL_NOTICE_INVALID', { reason: 'unknown_country' }],
      [{ country: 'DE', from: day(-5), to: day(-1) }, 'TRAVEL_NOTICE_INVALID', { reason: 'ended' }],
      [{ country: 'DE', from: day(4), to: day(2) }, 'TRAVEL_NOTICE_INVALID', { reason: 'reversed' }],
      [
        { country: 'DE', from: day(0), to: day(30) },
        'TRAVEL_NOTICE_INVALID',
        { reason: 'too_long', maxDays: 30 },
      ],
      [
        { country: 'DE', from: day(31), to: day(32) },
        'TRAVEL_NOTICE_INVALID',
        { reason: 'too_far', maxDays: 30 },
      ],
      [{ country: 'DE', from: '2026-02-30', to: day(3) }, 'INVALID_REQUEST'],
      [{ country: 'DE', from: day(0) }, 'INVALID_REQUEST'],
      [{ country: 'DEU', from: day(0), to: day(3) }, 'INVALID_REQUEST'],
      [{ country: 'DE', from: day(0), to: day(3), trusted: true }, 'INVALID_REQUEST'],
    ];
    for (const [body, code, details] of cases) {
      const answer = await post(body);
      expect(errorCode(answer), JSON.stringify(body)).toBe(code);
      if (details !== undefined) expect(json(answer).error).toMatchObject({ details });
    }
    // A 30-day trip is the longest allowed; two notices the most.
    expect((await post({ country: 'DE', from: day(0), to: day(29) })).statusCode).toBe(200);
    expect((await post({ country: 'FR', from: day(1), to: day(2) })).statusCode).toBe(200);
    const third = await post({ country: 'IT', from: day(1), to: day(2) });
    expect(errorCode(third)).toBe('TRAVEL_NOTICE_LIMIT');
    expect(json(third).error).toMatchObject({ details: { limit: 2 } });

    const list = json(await callFrom(GB, 'GET', '/v1/travel', alice)).notices as { country: string }[];
    expect(list.map((n) => n.country)).toEqual(['DE', 'FR']);
    expect(await gw.ctx.store.db.selectFrom('travel_notices').selectAll().execute()).toHaveLength(2);
    expect((await audits('alice', 'travel.announced')).length).toBe(before + 2);

    // Once both trips are over they are no longer listed nor counted, and the next notice removes them.
    gw.clock.advance(31 * 86_400_000);
    const back = await loginFrom(ALICE, GB);
    expect(json(await callFrom(GB, 'GET', '/v1/travel', back))).toEqual({ notices: [] });
    const next = await callFrom(GB, 'POST', '/v1/travel', back, { country: 'IT', from: day(1), to: day(2) });
    expect(next.statusCode).toBe(200);
    const rows = await gw.ctx.store.db.selectFrom('travel_notices').select('country').execute();
    expect(rows.map((r) => r.country)).toEqual(['IT']);
  });

  it('keeps notices to their user: another user’s id is not found, and only the owner cancels', async () => {
    await start({}, factory);
    const alice = await loginFrom(ALICE, GB);
    const created = json(
      await callFrom(GB, 'POST', '/v1/travel', alice, { country: 'DE', from: day(0), to: day(3) }),
    ) as { id: string };
    const bruno = await loginAs(gw, BRUNO);
    expect(json(await callAs(gw, 'GET', '/v1/travel', bruno))).toEqual({ notices: [] });
    const stolen = await callAs(gw, 'DELETE', `/v1/travel/${created.id}`, bruno);
    expect(stolen.statusCode).toBe(404);
    expect(errorCode(stolen)).toBe('TRAVEL_NOTICE_NOT_FOUND');
    expect(errorCode(await callAs(gw, 'DELETE', '/v1/travel/trv_unknown', alice))).toBe(
      'TRAVEL_NOTICE_NOT_FOUND',
    );
    expect((json(await callAs(gw, 'GET', '/v1/travel', alice)).notices as unknown[]).length).toBe(1);

    const cancelled = await callAs(gw, 'DELETE', `/v1/travel/${created.id}`, alice);
    expect(cancelled.statusCode).toBe(200);
    expect(json(cancelled)).toMatchObject({ id: created.id, country: 'DE' });
    expect(json(await callAs(gw, 'GET', '/v1/travel', alice))).toEqual({ notices: [] });
    expect(await audits('alice', 'travel.cancelled')).toEqual([
      expect.objectContaining({ noticeId: created.id, country: 'DE' }),
    ]);
    expect(errorCode(await callAs(gw, 'DELETE', `/v1/travel/${created.id}`, alice))).toBe(
      'TRAVEL_NOTICE_NOT_FOUND',
    );
  });

  it('needs the CSRF token to announce or cancel; a session whose trading another took may do both (not a trade)', async () => {
    await start({}, factory);
    const notice = { country: 'DE', from: day(0), to: day(3) };
    const alice = await loginFrom(ALICE, GB);
    expect((await acquire(GB, alice)).statusCode).toBe(200);
    const taker = await loginFrom(ALICE, GB);
    expect((await acquire(GB, taker)).statusCode).toBe(200);
    const forged = (method: Method, url: string, payload?: unknown) =>
      gw.app.inject({
        method,
        url,
        remoteAddress: GB,
        headers: { cookie: alice.cookie },
        ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
      });
    expect(errorCode(await forged('POST', '/v1/travel', notice))).toBe('CSRF_TOKEN_INVALID');
    expect(await gw.ctx.store.db.selectFrom('travel_notices').selectAll().execute()).toEqual([]);

    // `alice` now competes for trading: announcing a trip is not trading, so she may.
    const created = await callFrom(GB, 'POST', '/v1/travel', alice, notice);
    expect(created.statusCode).toBe(200);
    const { id } = json(created) as { id: string };
    expect(errorCode(await forged('DELETE', `/v1/travel/${id}`))).toBe('CSRF_TOKEN_INVALID');
    expect((json(await callFrom(GB, 'GET', '/v1/travel', alice)).notices as unknown[]).length).toBe(1);
    expect((await callFrom(GB, 'DELETE', `/v1/travel/${id}`, alice)).statusCode).toBe(200);
    expect(await audits('alice', 'travel.cancelled')).toHaveLength(1);
  });

  it('lets neither a viewer, a program, a session with a step-up pending nor a stale second factor announce a trip', async () => {
    await start({}, factory);
    const notice = { country: 'DE', from: day(0), to: day(3) };
    const viktor = await loginAs(gw, VIKTOR);
    const viewer = await callAs(gw, 'POST', '/v1/travel', viktor, notice);
    expect(errorCode(viewer)).toBe('ROLE_NOT_ALLOWED');

    const alice = await loginAs(gw, ALICE);
    const bot = await registerBot(gw, alice);
    const token = await botToken(bot);
    for (const [method, url] of [
      ['POST', '/v1/travel'],
      ['GET', '/v1/travel'],
      ['DELETE', '/v1/travel/trv_x'],
    ] as const)
      expect(errorCode(await bot.call(method, url, token, method === 'POST' ? notice : undefined))).toBe(
        'API_NOT_ALLOWED',
      );

    const moved = await callFrom('203.0.113.5', 'POST', '/v1/travel', alice, notice);
    expect(json(moved)).toMatchObject({
      error: { code: 'STEP_UP_REQUIRED', details: { reason: 'network_changed' } },
    });
    const later = await loginAs(gw, ALICE);
    gw.clock.advance(6 * 60_000);
    expect(json(await callAs(gw, 'POST', '/v1/travel', later, notice))).toMatchObject({
      error: { code: 'STEP_UP_REQUIRED', details: { reason: 'stale_second_factor' } },
    });
    expect(await gw.ctx.store.db.selectFrom('travel_notices').selectAll().execute()).toEqual([]);
    expect(await audits('viktor', 'travel.announced')).toEqual([]);
  });
});

describe('travel.newCountry', () => {
  it('notify: tells the user of a new country and asks no step-up', async () => {
    await start({ travel: { newCountry: 'notify' } });
    const home = await loginFrom(ALICE, GB);
    const abroad = await loginFrom(ALICE, DE, home.device);
    expect((await acquire(DE, abroad)).statusCode).toBe(200);
    expect(await notifications('alice')).toEqual([
      expect.objectContaining({ country: 'DE', stepUpRequired: false }),
    ]);
    expect(await audits('alice', 'device.new_country')).toEqual([
      expect.objectContaining({ country: 'DE', stepUp: false }),
    ]);
  });

  it('off: neither tells nor asks, and still records the countries', async () => {
    await start({ travel: { newCountry: 'off' } });
    const home = await loginFrom(ALICE, GB);
    const abroad = await loginFrom(ALICE, DE, home.device);
    expect((await acquire(DE, abroad)).statusCode).toBe(200);
    expect((await order(DE, abroad)).statusCode).toBe(201);
    const us = await loginFrom(ALICE, US, home.device);
    expect((await acquire(US, us)).statusCode).toBe(200);
    expect(await notifications('alice')).toEqual([]);
    expect(await audits('alice', 'device.new_country')).toEqual([]);
    const countries = await gw.ctx.store.db
      .selectFrom('user_countries')
      .select('country')
      .where('user_id', '=', await userId('alice'))
      .orderBy('country')
      .execute();
    expect(countries.map((c) => c.country)).toEqual(['DE', 'GB', 'US']);
  });
});

describe('the mobile channel', () => {
  it('asks a phone’s login from a new country to step up; a phone’s session from a known one may announce a trip', async () => {
    gw = await startTestGateway({ config: { server: { port: 0, host: '127.0.0.1', portalDir: false } } });
    const base = await gw.listen();
    const home = await loginFrom(ALICE, GB);
    const enroll = await gw.app.inject({
      method: 'POST',
      url: '/v1/devices/mobile/enroll',
      remoteAddress: GB,
      headers: { cookie: home.cookie, 'x-csrf-token': home.csrf, host: new URL(base).host },
    });
    const phone = await enrolDevice((json(enroll) as { activationUri: string }).activationUri, {
      name: 'iPhone',
      platform: 'ios',
      pin: '2468',
    });
    const phoneLogin = async (ip: string) => {
      const answer = await gw.app.inject({
        method: 'POST',
        url: '/v1/auth/login',
        remoteAddress: ip,
        payload: mobileLoginBody(phone, '2468', gw.clock.now()),
      });
      expect(answer.statusCode).toBe(200);
      return (json(answer) as { token: string }).token;
    };
    const asPhone = (ip: string, token: string, method: Method, path: string, payload?: unknown) =>
      gw.app.inject({
        method,
        url: path,
        remoteAddress: ip,
        headers: {
          authorization: `Bearer ${token}`,
          'x-device-proof': deviceProof(phone, method, `${base}${path}`, token, gw.clock.now()),
        },
        ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
      });

    const abroad = await phoneLogin(DE);
    expect(json(await asPhone(DE, abroad, 'POST', '/v1/session/brokerage', { compete: true }))).toMatchObject(
      newCountry('DE'),
    );
    expect(await notifications('alice')).toEqual([
      expect.objectContaining({ country: 'DE', channel: 'mobile' }),
    ]);
    const devices = json(await asPhone(DE, abroad, 'GET', '/v1/devices')).devices as {
      id: string;
      countries: string[];
    }[];
    expect(devices.find((d) => d.id === phone.deviceId)?.countries).toEqual(['DE']);
    // A phone has no step-up of its own: logging in again from there is refused the same way.
    const again = await phoneLogin(DE);
    expect(json(await asPhone(DE, again, 'POST', '/v1/session/brokerage', { compete: true }))).toMatchObject(
      newCountry('DE'),
    );
    // A step-up in a web session from that country makes it the user's own; the phone's next login there trades.
    await stepUp(DE, await loginFrom(ALICE, DE, home.device));
    const verified = await phoneLogin(DE);
    expect((await asPhone(DE, verified, 'POST', '/v1/session/brokerage', { compete: true })).statusCode).toBe(
      200,
    );

    const atHome = await phoneLogin(GB);
    expect((await asPhone(GB, atHome, 'POST', '/v1/session/brokerage', { compete: true })).statusCode).toBe(
      200,
    );
    const trip = await asPhone(GB, atHome, 'POST', '/v1/travel', { country: 'IT', from: day(1), to: day(4) });
    expect(trip.statusCode).toBe(200);
    expect(json(trip)).toMatchObject({ country: 'IT', countryName: 'Italy' });
  });
});
