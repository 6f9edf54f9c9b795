/**
 * Giving the trading tier up (issue 20, finding 2): `POST /v1/session/brokerage/release` from a page that closes
 * (a beacon: the CSRF token in a form body) or a program that stops, and sign-out. Only ever the caller's own hold;
 * what `BROKERAGE_HELD_ELSEWHERE` tells the next session of the holder.
 */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
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
  startTestGateway,
  type TestGateway,
  VIKTOR,
} from '../test-support/gateway.js';
import { botToken, registerBot } from '../test-support/program.js';

let gw: TestGateway;
let database: TestDatabase | undefined;
afterEach(async () => {
  await gw?.close();
  await database?.drop();
  database = undefined;
});

async function gatewayOn(makeDatabase: TestDatabaseFactory) {
  database = await makeDatabase();
  gw = await startTestGateway({ database });
  return gw;
}

const RELEASE = '/v1/session/brokerage/release';

/** A beacon: the session cookie, no header but the form body's CSRF token, as `navigator.sendBeacon` sends it. */
const beacon = (as: LoggedIn, body: string) =>
  gw.app.inject({
    method: 'POST',
    url: RELEASE,
    headers: { cookie: as.cookie, 'content-type': 'application/x-www-form-urlencoded' },
    payload: body,
  });

const acquire = (as: LoggedIn, compete = false) =>
  callAs(gw, 'POST', '/v1/session/brokerage', as, { compete });

const holderOf = async (userId: string) =>
  (
    await gw.ctx.store.db
      .selectFrom('brokerage_holders')
      .select('session_id')
      .where('user_id', '=', userId)
      .executeTakeFirst()
  )?.session_id ?? null;

const userIdOf = async (as: LoggedIn) =>
  (
    await gw.ctx.store.db
      .selectFrom('sessions')
      .select('user_id')
      .where('id', '=', as.sessionId)
      .executeTakeFirstOrThrow()
  ).user_id;

const tickle = async (as: LoggedIn) =>
  json(await callAs(gw, 'POST', '/v1/session/tickle', as)) as { tier: string; competing: boolean };

describe.each(testDatabases())('releasing the trading tier on %s', (_name, makeDatabase) => {
  it('releases the caller’s own hold from a beacon: the next session trades at once, without competing', async () => {
    await gatewayOn(makeDatabase);
    const tab = await loginTrading(gw, ALICE);
    const released = await beacon(tab, new URLSearchParams({ csrfToken: tab.csrf }).toString());
    expect(released.statusCode).toBe(200);
    expect(json(released)).toEqual({ released: true });
    expect(await holderOf(await userIdOf(tab))).toBeNull();
    // Read-only now, not competing: nobody took trading from it.
    expect(await tickle(tab)).toMatchObject({ tier: 'read_only', competing: false });
    const audit = await gw.ctx.store.db
      .selectFrom('audit_log')
      .select('data')
      .where('type', '=', 'session.brokerage_released')
      .where('session_id', '=', tab.sessionId)
      .executeTakeFirstOrThrow();
    expect(JSON.parse(audit.data)).toEqual({ held: true, ending: false });

    const next = await loginAs(gw, ALICE);
    expect(json(await acquire(next))).toMatchObject({ tier: 'brokerage' });
    // Idempotent: a second release (a retried beacon) changes nothing and says so.
    const again = await callAs(gw, 'POST', RELEASE, tab, {});
    expect(json(again)).toEqual({ released: false });
    expect(await holderOf(await userIdOf(tab))).toBe(next.sessionId);
    expect((await tickle(next)).tier).toBe('brokerage');
  });

  it('never releases a hold another session has taken since: a late beacon from a tab that lost it', async () => {
    await gatewayOn(makeDatabase);
    const tab = await loginTrading(gw, ALICE);
    const other = await loginTrading(gw, ALICE); // takes trading over: the tab is competing
    const events: string[] = [];
    gw.ctx.bus.subscribe('session.released', (m) => events.push(m.sessionId));
    const late = await beacon(tab, `csrfToken=${encodeURIComponent(tab.csrf)}`);
    expect(late.statusCode).toBe(200);
    expect(json(late)).toEqual({ released: false });
    expect(await holderOf(await userIdOf(tab))).toBe(other.sessionId);
    expect((await tickle(other)).tier).toBe('brokerage');
    // The tab held nothing to give up: it stays as it was (taken over), and nothing is told or audited.
    expect(await tickle(tab)).toMatchObject({ tier: 'read_only', competing: true });
    expect(events).toEqual([]);
    const audited = await gw.ctx.store.db
      .selectFrom('audit_log')
      .select('type')
      .where('session_id', '=', tab.sessionId)
      .where('type', '=', 'session.brokerage_released')
      .execute();
    expect(audited).toEqual([]);
    // And another user's release touches nothing of Alice's.
    const bruno = await loginTrading(gw, BRUNO);
    expect(json(await callAs(gw, 'POST', RELEASE, bruno, {}))).toEqual({ released: true });
    expect(await holderOf(await userIdOf(tab))).toBe(other.sessionId);
  });

  it('refuses a beacon without the CSRF token, or with a wrong or another session’s one, changing nothing', async () => {
    await gatewayOn(makeDatabase);
    const tab = await loginTrading(gw, ALICE);
    const other = await loginAs(gw, ALICE);
    const userId = await userIdOf(tab);
    for (const body of [
      '',
      'csrfToken=',
      `csrfToken=${'0'.repeat(tab.csrf.length)}`,
      `csrfToken=${encodeURIComponent(other.csrf)}`,
    ]) {
      const refused = await beacon(tab, body);
      expect(refused.statusCode).toBe(403);
      expect(errorCode(refused)).toBe('CSRF_TOKEN_INVALID');
    }
    // JSON without the header or the field, and a token in the body of a route that does not take one there.
    const bare = await gw.app.inject({
      method: 'POST',
      url: RELEASE,
      headers: { cookie: tab.cookie },
      payload: {},
    });
    expect(errorCode(bare)).toBe('CSRF_TOKEN_INVALID');
    const elsewhere = await gw.app.inject({
      method: 'POST',
      url: '/v1/session/brokerage',
      headers: { cookie: tab.cookie },
      payload: { compete: true, csrfToken: tab.csrf },
    });
    expect(errorCode(elsewhere)).toBe('CSRF_TOKEN_INVALID');
    // Unknown fields are refused after authentication, as on every route.
    const extra = await callAs(gw, 'POST', RELEASE, tab, { compete: true });
    expect(errorCode(extra)).toBe('INVALID_REQUEST');
    // No cookie at all.
    const anonymous = await gw.app.inject({
      method: 'POST',
      url: RELEASE,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: `csrfToken=${encodeURIComponent(tab.csrf)}`,
    });
    expect(errorCode(anonymous)).toBe('UNAUTHENTICATED');
    expect(await holderOf(userId)).toBe(tab.sessionId);
    expect((await tickle(tab)).tier).toBe('brokerage');
  });

  it('lets a viewer release only its own session’s claim: the account holder’s trading stays', async () => {
    await gatewayOn(makeDatabase);
    const alice = await loginTrading(gw, ALICE);
    const viktor = await loginAs(gw, VIKTOR);
    await acquire(viktor, true);
    expect(json(await callAs(gw, 'POST', RELEASE, viktor, {}))).toEqual({ released: true });
    expect(await holderOf(await userIdOf(alice))).toBe(alice.sessionId);
    expect((await tickle(alice)).tier).toBe('brokerage');
  });

  it('releases a program’s hold (a bot that stops), with its scope', async () => {
    await gatewayOn(makeDatabase);
    const alice = await loginAs(gw, ALICE);
    const bot = await registerBot(gw, alice);
    const token = await botToken(bot);
    expect((await bot.call('POST', '/v1/session/brokerage', token, { compete: false })).statusCode).toBe(200);
    const released = await bot.call('POST', RELEASE, token, {});
    expect(released.statusCode).toBe(200);
    expect(json(released)).toEqual({ released: true });
    expect(await holderOf(await userIdOf(alice))).toBeNull();
    // The web session trades at once.
    expect(json(await acquire(alice))).toMatchObject({ tier: 'brokerage' });
    // The bot's late release leaves the web session's hold alone.
    expect(json(await bot.call('POST', RELEASE, token, {}))).toEqual({ released: false });
    expect(await holderOf(await userIdOf(alice))).toBe(alice.sessionId);
  });

  it('refuses a program without the trade scope, and lets a session asked to verify again give its own hold up', async () => {
    await gatewayOn(makeDatabase);
    const alice = await loginTrading(gw, ALICE);
    const reader = await registerBot(gw, await loginAs(gw, ALICE), { scopes: ['read'] });
    const refused = await reader.call('POST', RELEASE, await botToken(reader), {});
    expect(errorCode(refused)).toBe('SCOPE_REQUIRED');
    expect(await holderOf(await userIdOf(alice))).toBe(alice.sessionId);
    // Giving trading up only takes a capability away: a step-up pending does not stand in its way.
    await gw.ctx.store.db
      .updateTable('sessions')
      .set({ step_up_required: 1 })
      .where('id', '=', alice.sessionId)
      .execute();
    expect(json(await callAs(gw, 'POST', RELEASE, alice, {}))).toEqual({ released: true });
    expect(await holderOf(await userIdOf(alice))).toBeNull();
  });

  it('tells the session’s open stream at once that it gave trading up', async () => {
    database = await makeDatabase();
    gw = await startTestGateway({ database, config: { server: { port: 0, host: '127.0.0.1' } } });
    const base = await gw.listen();
    const tab = await loginTrading(gw, ALICE);
    const socket = new WebSocket(`${base.replace('http', 'ws')}/v1/stream`, {
      headers: { cookie: tab.cookie, origin: base },
    });
    const messages: { type: string }[] = [];
    socket.on('message', (raw: Buffer) => messages.push(JSON.parse(raw.toString())));
    const until = async (check: () => boolean) => {
      const end = Date.now() + 3_000;
      while (!check()) {
        if (Date.now() > end) throw new Error('timed out');
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    try {
      await until(() => messages.some((m) => m.type === 'hello'));
      await beacon(tab, `csrfToken=${encodeURIComponent(tab.csrf)}`);
      await until(() => messages.some((m) => m.type === 'brokerage_released'));
      // Nobody took it: no competing message.
      expect(messages.some((m) => m.type === 'competing')).toBe(false);
    } finally {
      socket.close();
    }
  });

  it('releases trading at sign-out', async () => {
    await gatewayOn(makeDatabase);
    const tab = await loginTrading(gw, ALICE);
    const userId = await userIdOf(tab);
    const events: string[] = [];
    gw.ctx.bus.subscribe('session.released', (m) => events.push(m.sessionId));
    expect((await callAs(gw, 'POST', '/v1/auth/logout', tab, {})).statusCode).toBe(200);
    expect(await holderOf(userId)).toBeNull();
    expect(events).toEqual([tab.sessionId]);
    const next = await loginAs(gw, ALICE);
    expect(json(await acquire(next))).toMatchObject({ tier: 'brokerage' });
    // A signed-out session cannot release anything any more.
    expect(errorCode(await callAs(gw, 'POST', RELEASE, tab, {}))).toBe('SESSION_REVOKED');
    expect(await holderOf(userId)).toBe(next.sessionId);
  });

  it('tells a session asking for trading when and from where the holder was last seen, and on which device', async () => {
    await gatewayOn(makeDatabase);
    const chrome =
      'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
    const holder = await loginTrading(gw, ALICE);
    // The holder's page is used from its browser at a known instant.
    await callAs(gw, 'POST', '/v1/session/tickle', holder, {}, { 'user-agent': chrome });
    const seenAt = gw.clock.now();
    await gw.ctx.sessions.flushLastSeen();
    const next = await loginAs(gw, ALICE);
    const held = await acquire(next);
    expect(held.statusCode).toBe(409);
    const { details } = (json(held) as { error: { details: Record<string, unknown> } }).error;
    expect(details).toMatchObject({
      channel: 'web',
      sessionId: holder.sessionId,
      ip: '127.0.0.1',
      network: '127.0.0.0/24',
    });
    expect(typeof details.device).toBe('string');
    expect(details.device).not.toMatch(/Mozilla|AppleWebKit/);
    expect(Date.parse(String(details.lastSeenAt))).toBeGreaterThanOrEqual(seenAt - 60_000);
    expect(Date.parse(String(details.lastSeenAt))).toBeLessThanOrEqual(gw.clock.now());
    expect(typeof details.sameDevice).toBe('boolean');
    // Nothing changed: the holder still trades.
    expect((await tickle(holder)).tier).toBe('brokerage');
  });
});
