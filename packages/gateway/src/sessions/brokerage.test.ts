/**
 * The brokerage tier: read-only first, one trading session per user (competing / takeover), tickle, the daily
 * reset, and the race for the capability on SQLite and PostgreSQL.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { GatehouseError } from '../core/index.js';
import { type TestDatabase, type TestDatabaseFactory, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  callAs,
  errorCode,
  json,
  type LoggedIn,
  loginAs,
  startTestGateway,
  type TestGateway,
  type TestGatewayOptions,
} from '../test-support/gateway.js';

const open: TestGateway[] = [];
const databases: TestDatabase[] = [];
afterEach(async () => {
  while (open.length > 0) await open.pop()?.close();
  for (const database of databases.splice(0)) await database.drop();
});

/** A gateway on a fresh database from `factory`, closed and dropped after the test. */
async function gateway(factory: TestDatabaseFactory, options: TestGatewayOptions = {}) {
  const database = await factory();
  databases.push(database);
  const gw = await startTestGateway({ ...options, database });
  open.push(gw);
  return gw;
}

const post = (gw: TestGateway, url: string, as: LoggedIn, payload?: unknown) =>
  callAs(gw, 'POST', url, as, payload, { 'user-agent': `agent-${as.sessionId}` });

const tickle = async (gw: TestGateway, as: LoggedIn) =>
  json(await post(gw, '/v1/session/tickle', as)) as {
    tier: string;
    competing: boolean;
    nextResetAt: string;
    idleExpiresInMs: number;
    expiresInMs: number;
  };

async function principal(gw: TestGateway, as: LoggedIn) {
  return gw.ctx.sessions.authenticate(decodeURIComponent(as.cookie.split('=')[1] ?? ''));
}

function tier(gw: TestGateway) {
  return gw.ctx.brokerage;
}

describe.each(testDatabases())('two tiers on %s', (_name, factory) => {
  it('starts read-only and reports its state on tickle', async () => {
    const gw = await gateway(factory);
    const web = await loginAs(gw, ALICE);
    const state = await tickle(gw, web);
    expect(state).toMatchObject({ tier: 'read_only', competing: false, stepUpRequired: false });
    expect(state.idleExpiresInMs).toBe(15 * 60_000);
    expect(state.expiresInMs).toBe(12 * 3_600_000);
    // Alice's accounts are with IBLLC: the New York reset, local midnight.
    expect(new Date(state.nextResetAt).toISOString()).toBe('2026-01-06T05:00:00.000Z');
    await expect(tier(gw).requireTrading(await principal(gw, web))).rejects.toMatchObject({
      code: 'BROKERAGE_REQUIRED',
    });
  });

  it('gives trading to one session; another must compete, and the loser turns competing', async () => {
    const gw = await gateway(factory);
    const bot = await loginAs(gw, ALICE);
    const phone = await loginAs(gw, ALICE);
    expect(json(await post(gw, '/v1/session/brokerage', bot, { compete: false }))).toMatchObject({
      tier: 'brokerage',
    });

    const refused = await post(gw, '/v1/session/brokerage', phone, { compete: false });
    expect(refused.statusCode).toBe(409);
    expect(errorCode(refused)).toBe('BROKERAGE_HELD_ELSEWHERE');
    expect((json(refused).error as { details: { channel: string; device: string } }).details).toMatchObject({
      channel: 'web',
    });
    expect((await tickle(gw, bot)).tier).toBe('brokerage');

    const competingEvents: string[] = [];
    gw.ctx.bus.subscribe('session.competing', (m) => competingEvents.push(m.sessionId));
    expect(json(await post(gw, '/v1/session/brokerage', phone, { compete: true }))).toMatchObject({
      tier: 'brokerage',
    });
    expect(competingEvents).toEqual([bot.sessionId]);
    expect(await tickle(gw, bot)).toMatchObject({ tier: 'read_only', competing: true });
    await expect(tier(gw).requireTrading(await principal(gw, bot))).rejects.toMatchObject({
      code: 'SESSION_COMPETING',
    });
    await expect(tier(gw).requireTrading(await principal(gw, phone))).resolves.toMatchObject({
      tier: 'brokerage',
      competing: false,
    });

    // The session monitor shows both, with tier, competing, device and network.
    const listed = json(
      await gw.app.inject({ method: 'GET', url: '/v1/sessions', headers: { cookie: bot.cookie } }),
    ) as {
      sessions: {
        id: string;
        tier: string;
        competing: boolean;
        network: string;
        device: { name: string } | null;
      }[];
    };
    expect(listed.sessions.find((s) => s.id === bot.sessionId)).toMatchObject({
      tier: 'read_only',
      competing: true,
      network: '127.0.0.0/24',
    });
    expect(listed.sessions.find((s) => s.id === phone.sessionId)).toMatchObject({
      tier: 'brokerage',
      competing: false,
    });
    expect(listed.sessions.every((s) => s.device !== null)).toBe(true);

    // The bot takes it back.
    expect(json(await post(gw, '/v1/session/brokerage', bot, { compete: true }))).toMatchObject({
      tier: 'brokerage',
    });
    expect(await tickle(gw, phone)).toMatchObject({ tier: 'read_only', competing: true });
  });

  it('refuses trading to a session with a pending step-up, and bad input changes nothing', async () => {
    const gw = await gateway(factory);
    const web = await loginAs(gw, ALICE);
    const moved = await gw.app.inject({
      method: 'POST',
      url: '/v1/session/brokerage',
      headers: { cookie: web.cookie, 'x-csrf-token': web.csrf },
      remoteAddress: '198.51.100.20',
      payload: { compete: true },
    });
    expect(errorCode(moved)).toBe('STEP_UP_REQUIRED');
    for (const payload of [{}, { compete: 'yes' }, { compete: true, extra: 1 }]) {
      expect(errorCode(await post(gw, '/v1/session/brokerage', web, payload))).toBe('INVALID_REQUEST');
    }
    expect(await gw.ctx.store.db.selectFrom('brokerage_holders').selectAll().execute()).toEqual([]);
  });

  it('revokes every session but the current one', async () => {
    const gw = await gateway(factory);
    const keep = await loginAs(gw, ALICE);
    const a = await loginAs(gw, ALICE);
    const b = await loginAs(gw, ALICE);
    const response = await post(gw, '/v1/sessions/revoke-others', keep);
    expect(json(response)).toEqual({ status: 'revoked', count: 2 });
    for (const gone of [a, b])
      expect(errorCode(await post(gw, '/v1/session/tickle', gone))).toBe('SESSION_REVOKED');
    expect((await post(gw, '/v1/session/tickle', keep)).statusCode).toBe(200);
  });
});

describe.each(testDatabases())('the race for brokerage on %s', (_name, factory) => {
  it('ends with exactly one holder when sessions race, with and without compete', async () => {
    const database = await factory();
    const gw = await startTestGateway({ database });
    try {
      // Logins one after another (each needs a fresh TOTP step); then the sessions race.
      const sessions = [];
      for (let i = 0; i < 6; i += 1) sessions.push(await principal(gw, await loginAs(gw, ALICE)));
      const results = await Promise.allSettled(sessions.map((p) => tier(gw).acquire(p, false)));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results.filter((x) => x.status === 'rejected')) {
        expect((r as PromiseRejectedResult).reason).toBeInstanceOf(GatehouseError);
        expect(((r as PromiseRejectedResult).reason as GatehouseError).code).toBe('BROKERAGE_HELD_ELSEWHERE');
      }
      await Promise.all(sessions.map((p) => tier(gw).acquire(p, true)));
      const states = await Promise.all(sessions.map((p) => tier(gw).sessionState(p)));
      expect(states.filter((s) => s.tier === 'brokerage')).toHaveLength(1);
      expect(states.filter((s) => s.competing)).toHaveLength(5);
      expect(await gw.ctx.store.db.selectFrom('brokerage_holders').selectAll().execute()).toHaveLength(1);
    } finally {
      await gw.close();
      await database.drop();
    }
  });
});

describe.each(testDatabases())('channel policy on %s', (_name, factory) => {
  it('can demand AAL3 for trading on the web channel', async () => {
    const gw = await gateway(factory, { config: { sessions: { web: { aalForTrading: 3 } } } });
    const web = await loginAs(gw, ALICE);
    const response = await post(gw, '/v1/session/brokerage', web, { compete: false });
    expect(errorCode(response)).toBe('STEP_UP_REQUIRED');
    expect((json(response).error as { details: { reason: string } }).details.reason).toBe('aal3_required');
  });

  it('offers only the factors the channel allows', async () => {
    const gw = await gateway(factory, {
      config: { sessions: { web: { allowedFactors: ['push', 'webauthn'] } } },
    });
    const started = await gw.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { username: ALICE.username, password: ALICE.password, channel: 'web' },
    });
    // Alice has only TOTP, which this policy does not allow on the web.
    expect(errorCode(started)).toBe('NO_SECOND_FACTOR');
  });
});
