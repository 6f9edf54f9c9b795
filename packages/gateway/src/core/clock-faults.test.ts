/**
 * Clock faults (issue 23, item 7): the wall clock is stepped forward and back — an NTP step, a virtual machine
 * resumed, an operator's mistake — across every deadline the gateway keeps: token and session expiry, authorization
 * codes and pushed requests, TOTP steps, the daily reset and the dead-man switch. Each case names the jump and what
 * is checked; the promise is that nothing fires twice and nothing is skipped, and that whatever was recorded as
 * ended stays ended. Every case runs on SQLite and, with GATEHOUSE_TEST_DATABASE_URL set, on PostgreSQL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { totpCode, verifyTotp } from '../factors/index.js';
import { createPushChallenge, getPushState } from '../factors/push.js';
import { INSTRUMENTS, type Instrument } from '../instruments/index.js';
import { assertionSpent, deleteExpired, recordAssertion } from '../oauth/store.js';
import { DEAD_MAN_RECHECK_MS } from '../safety/index.js';
import { lastResetAt, nextResetAt } from '../sessions/index.js';
import { type TestDatabase, type TestDatabaseFactory, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  callAs,
  errorCode,
  json,
  type LoggedIn,
  loginAs,
  loginTrading,
  startLogin,
  startTestGateway,
  submitTotp,
  type TestGateway,
  type TestGatewayOptions,
} from '../test-support/gateway.js';
import { ADMIN_TOKEN, authorizeApp, exchangeCode, registerApp } from '../test-support/program.js';

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const NEW_YORK = { time: '00:00', timeZone: 'America/New_York' };

let gw: TestGateway;
let database: TestDatabase | undefined;
afterEach(async () => {
  await gw?.close();
  await database?.drop();
  database = undefined;
});

async function gatewayOn(makeDatabase: TestDatabaseFactory, options: TestGatewayOptions = {}) {
  database = await makeDatabase();
  return startTestGateway({
    ...options,
    config: { secrets: { adminApiToken: ADMIN_TOKEN }, ...options.config },
    database,
  });
}

const AAPL = INSTRUMENTS.find((i) => i.symbol === 'AAPL') as Instrument;
let n = 0;
/** A resting DAY limit 3 % under the bid: it neither fills nor needs confirmation. */
function resting() {
  n += 1;
  const bid = gw.ctx.marketData.live(AAPL).bid;
  return {
    clientOrderId: `clock-${n}`,
    instrumentId: AAPL.id,
    side: 'BUY',
    type: 'LMT',
    quantity: 1,
    limitPrice: Number((bid * 0.97).toFixed(2)),
    tif: 'DAY',
  };
}

const order = (as: LoggedIn) => callAs(gw, 'POST', '/v1/accounts/DU1000001/orders', as, resting());
const tickle = async (as: LoggedIn) => json(await callAs(gw, 'POST', '/v1/session/tickle', as));

const statusOf = async (orderId: string) =>
  (
    await gw.ctx.store.db
      .selectFrom('orders')
      .select('status')
      .where('id', '=', orderId)
      .executeTakeFirstOrThrow()
  ).status;

const audits = async (type: string) =>
  (await gw.ctx.store.db.selectFrom('audit_log').select('data').where('type', '=', type).execute()).map(
    (a) => JSON.parse(a.data) as Record<string, unknown>,
  );

let address = 0;
/** Logs Alice in (each time from another address) with a code; resolves to the factor step's response. */
async function loginWithCode(code: (now: number) => string) {
  address += 1;
  const started = await startLogin(gw, ALICE.username, ALICE.password, `198.51.100.${address % 250}`);
  expect(started.statusCode, started.body).toBe(200);
  const { loginId } = started.json() as { loginId: string };
  return submitTotp(gw, loginId, code(gw.clock.now()));
}

describe.each(testDatabases())('clock faults on %s', (_name, makeDatabase) => {
  describe('TOTP steps', () => {
    it('a code accepted at step N is refused after the clock goes back one step, two steps and an hour', async () => {
      gw = await gatewayOn(makeDatabase);
      const accepted = totpCode(ALICE.totpSecret, gw.clock.now());
      expect((await loginWithCode(() => accepted)).statusCode).toBe(200);
      // Back one step: the same code is within the window again, and refused as replayed.
      gw.clock.rewind(30 * SECOND);
      expect(errorCode(await loginWithCode(() => accepted))).toBe('INVALID_CREDENTIALS');
      expect((await audits('login.factor_replayed')).length).toBe(1);
      // Further back the factor check itself (the login throttle, counting the failures above, would answer first):
      // one more step back, then an hour, each with the code the clock now shows — before the used step.
      const user = await gw.ctx.store.db
        .selectFrom('users')
        .select('id')
        .where('username', '=', ALICE.username)
        .executeTakeFirstOrThrow();
      const check = () =>
        verifyTotp(
          gw.ctx.store.db,
          gw.clock,
          gw.ctx.box,
          user.id,
          totpCode(ALICE.totpSecret, gw.clock.now()),
          gw.ctx.config.totp.window,
        );
      gw.clock.rewind(30 * SECOND);
      expect(await check()).toEqual({ ok: false, reason: 'replayed' });
      gw.clock.rewind(HOUR);
      expect(await check()).toEqual({ ok: false, reason: 'replayed' });
      // Back where it was, the used step's code is still spent; the next step's is taken once.
      gw.clock.advance(HOUR + 60 * SECOND);
      expect(await check()).toEqual({ ok: false, reason: 'replayed' });
      gw.clock.advance(30 * SECOND);
      expect(await check()).toMatchObject({ ok: true });
      expect(await check()).toEqual({ ok: false, reason: 'replayed' });
    });

    it('after a forward jump of an hour the window around the new time applies: the old step’s code is refused, the new one accepted once', async () => {
      gw = await gatewayOn(makeDatabase);
      const old = totpCode(ALICE.totpSecret, gw.clock.now());
      gw.clock.advance(HOUR);
      expect(errorCode(await loginWithCode(() => old))).toBe('INVALID_CREDENTIALS');
      const fresh = totpCode(ALICE.totpSecret, gw.clock.now());
      expect((await loginWithCode(() => fresh)).statusCode).toBe(200);
      expect(errorCode(await loginWithCode(() => fresh))).toBe('INVALID_CREDENTIALS');
    });
  });

  describe('tokens and sessions', () => {
    it('a spent authorization code, a used request_uri and a spent refresh token stay spent after the clock goes back an hour', async () => {
      gw = await gatewayOn(makeDatabase);
      const program = await registerApp(gw, { rotate: true });
      const alice = await loginAs(gw, ALICE);
      const flow = await authorizeApp(program, alice);
      const tokens = json(await exchangeCode(program, flow.code, flow.verifier)) as {
        access_token: string;
        refresh_token: string;
      };
      expect(typeof tokens.refresh_token).toBe('string');
      const refresh = (token: string) =>
        program.form('/oauth2/token', { grant_type: 'refresh_token', refresh_token: token });
      const renewed = json(await refresh(tokens.refresh_token)) as { refresh_token: string };
      // Past the refresh token's reuse leeway, then back an hour: every one of them within its lifetime again.
      gw.clock.advance(5 * MINUTE);
      gw.clock.rewind(HOUR);
      expect(json(await exchangeCode(program, flow.code, flow.verifier))).toMatchObject({
        error: 'invalid_grant',
      });
      const reused = await gw.app.inject({
        method: 'POST',
        url: '/oauth2/authorize/consent',
        headers: { cookie: alice.cookie, 'x-csrf-token': alice.csrf },
        payload: {
          clientId: program.clientId,
          requestUri: flow.requestUri,
          approve: true,
          accounts: ['DU1000001'],
        },
      });
      expect(reused.statusCode).toBeGreaterThanOrEqual(400);
      expect(json(await refresh(tokens.refresh_token))).toMatchObject({ error: 'invalid_grant' });
      // Reusing a spent refresh token ends the grant (reuse detection): its successor is refused too.
      expect(json(await refresh(renewed.refresh_token))).toMatchObject({ error: 'invalid_grant' });
    });

    it('a client assertion id stays spent when housekeeping ran while the clock was ahead and the clock then goes back', async () => {
      gw = await gatewayOn(makeDatabase);
      const db = gw.ctx.store.db;
      const expiresAt = gw.clock.now() + MINUTE;
      expect(await recordAssertion(db, 'app_clock', 'jti-1', expiresAt)).toBe(true);
      // Stepped forward past the assertion's expiry, housekeeping runs, then the clock is stepped back an hour's
      // worth less: the assertion is within its lifetime again, and its id must still be spent.
      gw.clock.advance(30 * MINUTE);
      await deleteExpired(db, gw.clock.now(), DAY);
      gw.clock.rewind(30 * MINUTE);
      expect(await assertionSpent(db, 'app_clock', 'jti-1')).toBe(true);
      expect(await recordAssertion(db, 'app_clock', 'jti-1', expiresAt)).toBe(false);
      // An hour past its expiry the id goes: no clock step that large is within an assertion's lifetime (5 min).
      gw.clock.advance(2 * HOUR);
      await deleteExpired(db, gw.clock.now(), DAY);
      expect(await assertionSpent(db, 'app_clock', 'jti-1')).toBe(false);
    });

    it('a revoked access token stays revoked after the clock goes back before its revocation', async () => {
      gw = await gatewayOn(makeDatabase);
      const program = await registerApp(gw, { rotate: true });
      const flow = await authorizeApp(program, await loginAs(gw, ALICE));
      const tokens = json(await exchangeCode(program, flow.code, flow.verifier)) as { access_token: string };
      expect((await program.call('GET', '/v1/session', tokens.access_token)).statusCode).toBe(200);
      gw.clock.advance(MINUTE);
      expect((await program.form('/oauth2/revoke', { token: tokens.access_token })).statusCode).toBe(200);
      gw.clock.rewind(10 * MINUTE);
      expect(errorCode(await program.call('GET', '/v1/session', tokens.access_token))).toBe('INVALID_TOKEN');
    });

    it('a session that ended — signed out, or expired now (idle or absolute) — stays ended after the clock goes back an hour', async () => {
      gw = await gatewayOn(makeDatabase);
      const out = await loginAs(gw, ALICE);
      const idle = await loginAs(gw, ALICE);
      const absolute = await loginAs(gw, ALICE);
      expect((await callAs(gw, 'POST', '/v1/auth/logout', out)).statusCode).toBeLessThan(300);
      expect(await gw.ctx.sessions.expireNow(idle.sessionId, 'idle')).toBe(true);
      expect(await gw.ctx.sessions.expireNow(absolute.sessionId, 'absolute')).toBe(true);
      gw.clock.rewind(HOUR);
      expect(errorCode(await callAs(gw, 'GET', '/v1/session', out))).toBe('SESSION_REVOKED');
      expect(errorCode(await callAs(gw, 'GET', '/v1/session', idle))).toBe('SESSION_EXPIRED');
      expect(errorCode(await callAs(gw, 'GET', '/v1/session', absolute))).toBe('SESSION_EXPIRED');
      // Ending it again is no second end.
      expect(await gw.ctx.sessions.expireNow(absolute.sessionId, 'absolute')).toBe(false);
    });

    it('a session only past its idle deadline (nothing recorded) answers again when the clock goes back before that deadline — the documented decision', async () => {
      gw = await gatewayOn(makeDatabase);
      const alice = await loginAs(gw, ALICE);
      const idleMs = Number((await tickle(alice)).idleExpiresInMs);
      gw.clock.advance(idleMs + SECOND);
      expect(errorCode(await callAs(gw, 'GET', '/v1/session', alice))).toBe('SESSION_EXPIRED');
      gw.clock.rewind(2 * SECOND);
      expect((await callAs(gw, 'GET', '/v1/session', alice)).statusCode).toBe(200);
    });
  });

  describe('push approvals', () => {
    it('a decided push keeps its decision after the clock goes back; a pending one past its expiry is pending again within its lifetime — the documented decision', async () => {
      gw = await gatewayOn(makeDatabase);
      const { db } = gw.ctx.store;
      const user = await db
        .selectFrom('users')
        .select('id')
        .where('username', '=', ALICE.username)
        .executeTakeFirstOrThrow();
      const context = { channel: 'web', requestingDevice: 'test', ip: '127.0.0.1', network: null, time: '' };
      const create = () =>
        createPushChallenge(db, gw.clock, { userId: user.id, loginId: null, context, ttlMs: MINUTE });
      const decided = await create();
      const pending = await create();
      // The decision as a device's answer records it: one conditional update of a pending challenge.
      await db
        .updateTable('push_challenges')
        .set({ status: 'approved', decided_at: gw.clock.now() })
        .where('id', '=', decided.challengeId)
        .where('status', '=', 'pending')
        .execute();
      gw.clock.advance(2 * MINUTE);
      expect((await getPushState(db, gw.clock, pending.challengeId))?.status).toBe('expired');
      gw.clock.rewind(HOUR);
      expect((await getPushState(db, gw.clock, decided.challengeId))?.status).toBe('approved');
      expect((await getPushState(db, gw.clock, pending.challengeId))?.status).toBe('pending');
    });
  });

  describe('the daily reset', () => {
    const resetAfter = () => nextResetAt(gw.clock.now(), NEW_YORK);
    // Sessions that outlive the jumps: what is looked at is the reset, not the session's own expiry.
    const longSessions = {
      config: { sessions: { web: { idleTimeoutMs: 5 * DAY, absoluteLifetimeMs: 5 * DAY } } },
    };

    it('a jump forward over the reset performs it once; a jump back over it gives no trading back and performs it no second time', async () => {
      gw = await gatewayOn(makeDatabase, longSessions);
      const alice = await loginTrading(gw, ALICE);
      await callAs(gw, 'PUT', '/v1/accounts/DU1000001/session-loss-policy', alice, { policy: 'none' });
      const placed = json(await order(alice));
      expect(placed.status).toBe('working');
      const reset = resetAfter();
      // Forward, an hour past the reset: not skipped.
      gw.clock.set(reset + HOUR);
      expect(await tickle(alice)).toMatchObject({ tier: 'read_only' });
      expect(errorCode(await order(alice))).toBe('SESSION_RESET');
      await gw.ctx.safety.sweep();
      expect((await audits('safety.session_loss')).map((a) => a.reason)).toEqual(['reset']);
      // Back, two hours (before the reset): the reset stays done.
      gw.clock.set(reset - HOUR);
      expect(await tickle(alice)).toMatchObject({ tier: 'read_only', competing: false });
      expect(errorCode(await order(alice))).toBe('SESSION_RESET');
      await gw.ctx.safety.sweep();
      // Trading taken again before the (repeated) reset instant counts as after the reset: reaching the instant
      // again ends nothing.
      expect((await callAs(gw, 'POST', '/v1/session/brokerage', alice, { compete: true })).statusCode).toBe(
        200,
      );
      gw.clock.set(reset + MINUTE);
      expect(await tickle(alice)).toMatchObject({ tier: 'brokerage' });
      expect(json(await order(alice)).status).toBe('working');
      await gw.ctx.safety.sweep();
      expect((await audits('safety.session_loss')).map((a) => a.reason)).toEqual(['reset']);
      expect(await statusOf(placed.id as string)).toBe('working');
    });

    it('a jump forward over three days performs one reset, recorded at the first reset instant after trading was taken', async () => {
      gw = await gatewayOn(makeDatabase, longSessions);
      const alice = await loginTrading(gw, ALICE);
      await callAs(gw, 'PUT', '/v1/accounts/DU1000001/session-loss-policy', alice, { policy: 'cancel_all' });
      const placed = json(await order(alice));
      const first = resetAfter();
      gw.clock.advance(3 * DAY);
      expect(lastResetAt(gw.clock.now(), NEW_YORK)).toBeGreaterThan(first + 2 * DAY - 2 * HOUR);
      await gw.ctx.safety.sweep();
      await gw.ctx.safety.sweep();
      expect(await tickle(alice)).toMatchObject({ tier: 'read_only' });
      expect(await statusOf(placed.id as string)).toBe('cancelled');
      expect(await audits('safety.session_loss')).toEqual([
        expect.objectContaining({ reason: 'reset', cancelled: 1 }),
      ]);
      const row = await gw.ctx.store.db
        .selectFrom('sessions')
        .select('brokerage_reset_at')
        .where('id', '=', alice.sessionId)
        .executeTakeFirstOrThrow();
      expect(Number(row.brokerage_reset_at)).toBe(first);
    });
  });

  describe('the dead-man switch', () => {
    const arm = (as: LoggedIn, timeoutMs: number) =>
      callAs(gw, 'PUT', '/v1/safety/dead-man', as, {
        timeoutMs,
        scope: 'account',
        accountId: 'DU1000001',
      });

    /** Waits (real time) until `check` holds, at most `ms`. */
    async function until(check: () => Promise<boolean>, ms: number) {
      const end = performance.now() + ms;
      while (!(await check()) && performance.now() < end) await new Promise((r) => setTimeout(r, 50));
    }

    it('a jump forward an hour past the deadline fires it once, from its own timer within the recheck bound; a jump back after it fired fires nothing more', async () => {
      gw = await gatewayOn(makeDatabase);
      const alice = await loginTrading(gw, ALICE);
      const placed = json(await order(alice));
      expect((await arm(alice, 60_000)).statusCode).toBe(200);
      gw.clock.advance(HOUR);
      // No one calls fireDue: the switch's timer (armed for a 60 s delay) wakes within the recheck bound.
      const started = performance.now();
      await until(async () => (await statusOf(placed.id as string)) === 'cancelled', 3 * DEAD_MAN_RECHECK_MS);
      expect(await statusOf(placed.id as string)).toBe('cancelled');
      expect(performance.now() - started).toBeLessThan(3 * DEAD_MAN_RECHECK_MS);
      await gw.ctx.safety.fireDue();
      expect(await audits('safety.dead_man_fired')).toEqual([expect.objectContaining({ cancelled: 1 })]);
      // Back over the deadline, then forward over it again: it fired, it stays disarmed.
      gw.clock.rewind(2 * HOUR);
      await gw.ctx.safety.fireDue();
      expect(
        json(await callAs(gw, 'GET', '/v1/safety/dead-man?scope=account&accountId=DU1000001', alice)),
      ).toEqual({
        armed: false,
      });
      gw.clock.advance(2 * HOUR);
      await gw.ctx.safety.fireDue();
      expect((await audits('safety.dead_man_fired')).length).toBe(1);
      expect(await gw.ctx.store.db.selectFrom('dead_man_switches').select('id').execute()).toEqual([]);
    });

    it('a jump back before the deadline neither fires it early nor skips it: it fires once when the clock reaches it', async () => {
      gw = await gatewayOn(makeDatabase);
      const alice = await loginTrading(gw, ALICE);
      const placed = json(await order(alice));
      expect((await arm(alice, 60_000)).statusCode).toBe(200);
      const deadline = gw.clock.now() + 60_000;
      gw.clock.advance(30_000);
      gw.clock.rewind(10 * MINUTE);
      // The timer wakes (its delay was computed before the jump) and finds nothing due.
      await new Promise((r) => setTimeout(r, DEAD_MAN_RECHECK_MS + 200));
      await gw.ctx.safety.fireDue();
      expect(await statusOf(placed.id as string)).toBe('working');
      expect(await audits('safety.dead_man_fired')).toEqual([]);
      gw.clock.set(deadline);
      await gw.ctx.safety.fireDue();
      await gw.ctx.safety.fireDue();
      expect(await statusOf(placed.id as string)).toBe('cancelled');
      expect((await audits('safety.dead_man_fired')).length).toBe(1);
    });

    it('a node started after the switch fired, with its clock stepped back before the deadline, agrees it fired: nothing fires again', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'gh-clock-'));
      database = await makeDatabase();
      const config = {
        database: { url: database.dialect === 'sqlite' ? join(dir, 'g.db') : database.url },
        secrets: { adminApiToken: ADMIN_TOKEN },
      };
      try {
        gw = await startTestGateway({ config, database });
        const alice = await loginTrading(gw, ALICE);
        await order(alice);
        await arm(alice, 60_000);
        gw.clock.advance(2 * MINUTE);
        await gw.ctx.safety.fireDue();
        expect((await audits('safety.dead_man_fired')).length).toBe(1);
        const clock = gw.clock;
        await gw.close();
        clock.rewind(10 * MINUTE);
        gw = await startTestGateway({ config, clock, database, demo: false });
        clock.advance(20 * MINUTE);
        await gw.ctx.safety.fireDue();
        expect((await audits('safety.dead_man_fired')).length).toBe(1);
      } finally {
        await gw.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
