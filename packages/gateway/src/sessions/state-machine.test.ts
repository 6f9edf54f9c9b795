/**
 * Every transition of the session state machine, under a frozen (manual) clock.
 *
 * A live session is `read_only`, `brokerage` or `competing` (read-only after a takeover), with an orthogonal
 * `stepUpRequired` flag; it ends `expired` (idle or absolute) or `revoked`. Transitions:
 *
 * | #  | from       | event                                              | to                                      |
 * |----|------------|----------------------------------------------------|-----------------------------------------|
 * | 1  | —          | login                                              | read_only                               |
 * | 2  | read_only  | acquire, nobody holds it                           | brokerage                               |
 * | 3  | read_only  | acquire compete:false, a live session holds it     | read_only (409 BROKERAGE_HELD_ELSEWHERE)|
 * | 4  | read_only  | acquire compete:true, a live session holds it      | brokerage; the holder → competing       |
 * | 5  | brokerage  | acquire again                                      | brokerage                               |
 * | 6  | competing  | acquire compete:false                              | competing (409)                         |
 * | 7  | competing  | acquire compete:true                               | brokerage; the holder → competing       |
 * | 8  | brokerage  | the holder logs out, idles out or is revoked       | another acquires without competing      |
 * | 9  | brokerage  | daily reset of the user's region                   | read_only (trading: SESSION_RESET)      |
 * | 10 | competing  | daily reset                                        | read_only, competing cleared            |
 * | 11 | any        | request from another network                       | + stepUpRequired (trading refused)      |
 * | 12 | + stepUp   | second factor verified again                       | stepUpRequired cleared                  |
 * | 13 | any        | tickle / activity                                  | same, idle timer restarted              |
 * | 14 | any        | idle timeout                                       | expired (SESSION_EXPIRED, idle)         |
 * | 15 | any        | absolute lifetime, however active                  | expired (SESSION_EXPIRED, absolute)     |
 * | 16 | any        | logout / revoked                                   | revoked (SESSION_REVOKED)               |
 * | 17 | brokerage  | under the `shared` policy, another acquires        | both brokerage                          |
 *
 * The daily reset is checked in two time zones across a DST change: New York (23-hour day in March) and Zurich
 * (25-hour day in October).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { totpCode } from '../factors/index.js';
import { type TestDatabase, type TestDatabaseFactory, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  BRUNO,
  callAs,
  errorCode,
  json,
  type LoggedIn,
  loginAs,
  renewed,
  startTestGateway,
  type TestGateway,
} from '../test-support/gateway.js';

let gw: TestGateway;
let database: TestDatabase | undefined;
afterEach(async () => {
  await gw?.close();
  await database?.drop();
  database = undefined;
});

const HOUR = 3_600_000;
const MINUTE = 60_000;

/** A gateway on a fresh database from `makeDatabase`, dropped after the test. */
async function gateway(
  makeDatabase: TestDatabaseFactory,
  web: { idleTimeoutMs?: number; absoluteLifetimeMs?: number } = {},
) {
  database = await makeDatabase();
  gw = await startTestGateway({ database, config: { sessions: { web } } });
  return gw;
}

interface State {
  tier: 'read_only' | 'brokerage';
  competing: boolean;
  stepUpRequired: boolean;
  idleExpiresInMs: number;
  expiresInMs: number;
  nextResetAt: string;
}

const post = (as: LoggedIn, url: string, payload?: unknown, remoteAddress = '127.0.0.1') =>
  gw.app.inject({
    method: 'POST',
    url,
    headers: { cookie: as.cookie, 'x-csrf-token': as.csrf, 'user-agent': `agent-${as.sessionId}` },
    remoteAddress,
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });

/** The session's state, by tickle (which also restarts its idle timer). */
async function tickle(as: LoggedIn): Promise<State> {
  const response = await post(as, '/v1/session/tickle');
  if (response.statusCode !== 200) throw new Error(`tickle: ${response.body}`);
  return json(response) as unknown as State;
}

/** The error code of a tickle that must fail. */
async function tickleError(as: LoggedIn): Promise<{ code?: string; reason?: string }> {
  const response = await post(as, '/v1/session/tickle');
  expect(response.statusCode).toBe(401);
  const error = json(response).error as { code: string; details?: { reason?: string } };
  return {
    code: error.code,
    ...(error.details?.reason === undefined ? {} : { reason: error.details.reason }),
  };
}

const acquire = (as: LoggedIn, compete: boolean) => post(as, '/v1/session/brokerage', { compete });

/** What a trading call (the pre-trade guard) answers for this session now: null when it may trade. */
async function trading(as: LoggedIn): Promise<string | null> {
  const token = decodeURIComponent(as.cookie.split('=')[1] ?? '');
  try {
    await gw.ctx.brokerage.requireTrading(await gw.ctx.sessions.authenticate(token));
    return null;
  } catch (error) {
    return (error as { code: string }).code;
  }
}

describe.each(testDatabases())('session state machine: tiers on %s', (_name, makeDatabase) => {
  it('1, 2, 5: a login is read-only; acquiring a free capability gives brokerage; acquiring again keeps it', async () => {
    await gateway(makeDatabase);
    const web = await loginAs(gw, ALICE);
    expect(await tickle(web)).toMatchObject({ tier: 'read_only', competing: false, stepUpRequired: false });
    expect(await trading(web)).toBe('BROKERAGE_REQUIRED');
    expect(json(await acquire(web, false))).toMatchObject({ tier: 'brokerage', competing: false });
    expect(await trading(web)).toBeNull();
    expect(json(await acquire(web, false))).toMatchObject({ tier: 'brokerage' });
    const holders = await gw.ctx.store.db.selectFrom('brokerage_holders').selectAll().execute();
    expect(holders).toEqual([expect.objectContaining({ session_id: web.sessionId })]);
  });

  it('3, 4, 6, 7: compete:false is refused while held; compete:true takes over; the loser competes and can take it back', async () => {
    await gateway(makeDatabase);
    const a = await loginAs(gw, ALICE);
    const b = await loginAs(gw, ALICE);
    await acquire(a, false);
    // 3
    const refused = await acquire(b, false);
    expect(refused.statusCode).toBe(409);
    expect(errorCode(refused)).toBe('BROKERAGE_HELD_ELSEWHERE');
    expect(await tickle(b)).toMatchObject({ tier: 'read_only', competing: false });
    // 4
    expect(json(await acquire(b, true))).toMatchObject({ tier: 'brokerage' });
    expect(await tickle(a)).toMatchObject({ tier: 'read_only', competing: true });
    expect(await trading(a)).toBe('SESSION_COMPETING');
    // 6
    expect(errorCode(await acquire(a, false))).toBe('BROKERAGE_HELD_ELSEWHERE');
    expect(await tickle(a)).toMatchObject({ tier: 'read_only', competing: true });
    // 7
    expect(json(await acquire(a, true))).toMatchObject({ tier: 'brokerage', competing: false });
    expect(await tickle(b)).toMatchObject({ tier: 'read_only', competing: true });
    expect(await trading(a)).toBeNull();
    expect(await trading(b)).toBe('SESSION_COMPETING');
  });

  it('8: a holder that logged out, idled out or was revoked blocks nobody', async () => {
    await gateway(makeDatabase);
    const loggedOut = await loginAs(gw, ALICE);
    await acquire(loggedOut, false);
    await post(loggedOut, '/v1/auth/logout');
    const idle = await loginAs(gw, ALICE);
    expect(json(await acquire(idle, false))).toMatchObject({ tier: 'brokerage' });
    gw.clock.advance(15 * MINUTE);
    const revoked = await loginAs(gw, ALICE);
    expect(json(await acquire(revoked, false))).toMatchObject({ tier: 'brokerage' });
    expect(await gw.ctx.sessions.revoke(revoked.sessionId, 'revoked_by_user')).toBe(true);
    const next = await loginAs(gw, ALICE);
    expect(json(await acquire(next, false))).toMatchObject({ tier: 'brokerage', competing: false });
  });

  it('17: under the shared policy several sessions trade at once', async () => {
    await gateway(makeDatabase);
    const a = await loginAs(gw, ALICE);
    const b = await loginAs(gw, ALICE);
    await gw.ctx.store.db.updateTable('users').set({ brokerage_policy: 'shared' }).execute();
    expect(json(await acquire(a, false))).toMatchObject({ tier: 'brokerage' });
    expect(json(await acquire(b, false))).toMatchObject({ tier: 'brokerage' });
    expect(await tickle(a)).toMatchObject({ tier: 'brokerage', competing: false });
    expect([await trading(a), await trading(b)]).toEqual([null, null]);
    // The session monitor agrees with tickle.
    const listed = json(await callAs(gw, 'GET', '/v1/sessions', a)) as {
      sessions: { tier: string; competing: boolean }[];
    };
    expect(listed.sessions.map((x) => [x.tier, x.competing])).toEqual([
      ['brokerage', false],
      ['brokerage', false],
    ]);
  });
});

describe.each(testDatabases())('session state machine: step-up on %s', (_name, makeDatabase) => {
  it('11, 12: a network change requires a step-up before trading; a second factor clears it', async () => {
    await gateway(makeDatabase);
    const web = await loginAs(gw, ALICE);
    await acquire(web, false);
    const moved = await post(web, '/v1/session/tickle', undefined, '203.0.113.5');
    expect(json(moved)).toMatchObject({ tier: 'brokerage', stepUpRequired: true });
    expect(errorCode(await post(web, '/v1/session/brokerage', { compete: true }, '203.0.113.5'))).toBe(
      'STEP_UP_REQUIRED',
    );
    expect(await trading(web)).toBe('STEP_UP_REQUIRED');
    gw.clock.advance(30_000);
    const stepUp = await post(
      web,
      '/v1/session/step-up',
      { type: 'totp', code: totpCode(ALICE.totpSecret, gw.clock.now()) },
      '203.0.113.5',
    );
    expect(stepUp.statusCode).toBe(200);
    // The same session with a new token (ASVS 5.0 7.2.4), still trading.
    const stepped = renewed(web, stepUp);
    expect(json(await post(stepped, '/v1/session/tickle', undefined, '203.0.113.5'))).toMatchObject({
      tier: 'brokerage',
      stepUpRequired: false,
    });
    expect(await trading(stepped)).toBeNull();
  });
});

describe.each(testDatabases())(
  'session state machine: expiry and revocation on %s',
  (_name, makeDatabase) => {
    it('13, 14: activity restarts the idle timer; 15 minutes without any ends the session', async () => {
      await gateway(makeDatabase);
      const web = await loginAs(gw, ALICE);
      gw.clock.advance(15 * MINUTE - 1);
      expect((await tickle(web)).idleExpiresInMs).toBe(15 * MINUTE);
      gw.clock.advance(15 * MINUTE - 1);
      expect((await tickle(web)).idleExpiresInMs).toBe(15 * MINUTE);
      gw.clock.advance(15 * MINUTE);
      expect(await tickleError(web)).toEqual({ code: 'SESSION_EXPIRED', reason: 'idle' });
    });

    it('15: the absolute lifetime ends a session however active it is', async () => {
      await gateway(makeDatabase);
      const web = await loginAs(gw, ALICE);
      await acquire(web, false);
      for (let elapsed = 0; elapsed < 12 * HOUR - 10 * MINUTE; elapsed += 10 * MINUTE) {
        gw.clock.advance(10 * MINUTE);
        await tickle(web);
      }
      const last = await tickle(web);
      expect(last.expiresInMs).toBe(10 * MINUTE);
      expect(last.idleExpiresInMs).toBe(10 * MINUTE); // the idle deadline never passes the absolute one
      gw.clock.advance(10 * MINUTE);
      expect(await tickleError(web)).toEqual({ code: 'SESSION_EXPIRED', reason: 'absolute' });
      expect(errorCode(await acquire(web, true))).toBe('SESSION_EXPIRED');
    });

    it('16: a logged-out or revoked session answers SESSION_REVOKED to tickle and to a brokerage request', async () => {
      await gateway(makeDatabase);
      const loggedOut = await loginAs(gw, ALICE);
      await post(loggedOut, '/v1/auth/logout');
      expect((await tickleError(loggedOut)).code).toBe('SESSION_REVOKED');
      const revoked = await loginAs(gw, ALICE);
      const other = await loginAs(gw, ALICE);
      const ended = await callAs(gw, 'DELETE', `/v1/sessions/${revoked.sessionId}`, other);
      expect(ended.statusCode).toBe(200);
      expect((await tickleError(revoked)).code).toBe('SESSION_REVOKED');
      expect(errorCode(await acquire(revoked, true))).toBe('SESSION_REVOKED');
    });
  },
);

describe.each(testDatabases())(
  'session state machine: the daily reset in two time zones across DST on %s',
  (_name, makeDatabase) => {
    /** Sessions that outlive two resets: a trading day's idle allowance is not what is under test here. */
    const long = { idleTimeoutMs: 30 * HOUR, absoluteLifetimeMs: 48 * HOUR };

    async function expectResetAt(as: LoggedIn, resetAt: string) {
      expect((await tickle(as)).nextResetAt).toBe(resetAt);
      gw.clock.set(Date.parse(resetAt) - 1);
      expect(await tickle(as)).toMatchObject({ tier: 'brokerage' });
      expect(await trading(as)).toBeNull();
      gw.clock.set(Date.parse(resetAt));
      expect(await tickle(as)).toMatchObject({ tier: 'read_only', competing: false });
      expect(await trading(as)).toBe('SESSION_RESET');
    }

    it('9: New York, across the March change (EST → EDT): midnight is 05:00Z, then 04:00Z', async () => {
      await gateway(makeDatabase, long);
      gw.clock.set(Date.parse('2026-03-07T12:00:00Z'));
      const web = await loginAs(gw, ALICE); // IBLLC: North America
      await acquire(web, false);
      await expectResetAt(web, '2026-03-08T05:00:00.000Z');
      // Must ask again; the next reset comes 23 hours later.
      expect(json(await acquire(web, false))).toMatchObject({ tier: 'brokerage' });
      await expectResetAt(web, '2026-03-09T04:00:00.000Z');
    });

    it('9, 10: Zurich, across the October change (CEST → CET): midnight is 22:00Z, then 23:00Z; competing ends too', async () => {
      await gateway(makeDatabase, long);
      gw.clock.set(Date.parse('2026-10-24T08:00:00Z'));
      const desk = await loginAs(gw, BRUNO); // IBIE: Europe
      const phone = await loginAs(gw, BRUNO);
      await acquire(desk, false);
      await acquire(phone, true);
      expect(await tickle(desk)).toMatchObject({ tier: 'read_only', competing: true });
      await expectResetAt(phone, '2026-10-24T22:00:00.000Z');
      // 10: after the reset the former loser is no longer competing, and either may take trading without a contest.
      expect(await tickle(desk)).toMatchObject({ tier: 'read_only', competing: false });
      expect(await trading(desk)).toBe('SESSION_RESET');
      expect(json(await acquire(desk, false))).toMatchObject({ tier: 'brokerage' });
      // The next reset comes 25 hours later.
      await expectResetAt(desk, '2026-10-25T23:00:00.000Z');
    });
  },
);
