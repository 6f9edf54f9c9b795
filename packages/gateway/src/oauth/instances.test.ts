/**
 * One session per instance of a personal client: each DPoP key a bot's copies use gets its own program session, so
 * two copies with different keys compete for trading like any two sessions, while a copy restarted with its key
 * gets its session (and its trading) back. Ending the grant, the client or the user ends every instance's session.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { findUserByUsername } from '../identity/index.js';
import { INSTRUMENTS, type Instrument } from '../instruments/index.js';
import { setUserEnabled } from '../sessions/index.js';
import { type TestDatabase, type TestDatabaseFactory, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  BRUNO,
  callAs,
  errorCode,
  json,
  type LoggedIn,
  loginAs,
  startTestGateway,
  type TestGateway,
  type TestGatewayOptions,
} from '../test-support/gateway.js';
import { botToken, copyOf, registerBot, type TestProgram } from '../test-support/program.js';

let gw: TestGateway;
let database: TestDatabase | undefined;
afterEach(async () => {
  await gw?.close();
  await database?.drop();
  database = undefined;
});

async function gatewayOn(makeDatabase: TestDatabaseFactory, options: TestGatewayOptions = {}) {
  database = await makeDatabase();
  return startTestGateway({ ...options, database });
}

/** A running copy: its token and the session it acts through. */
async function start(bot: TestProgram) {
  const token = await botToken(bot);
  const who = json(await bot.call('GET', '/v1/session', token)) as {
    session: { id: string; channel: string };
  };
  expect(who.session.channel).toBe('api');
  return { bot, token, sessionId: who.session.id };
}

type Copy = Awaited<ReturnType<typeof start>>;

let n = 0;
function order(copy: Copy) {
  n += 1;
  return copy.bot.call('POST', '/v1/accounts/DU1000001/orders', copy.token, {
    clientOrderId: `copy-${n}`,
    instrumentId: 265598,
    side: 'BUY',
    type: 'MKT',
    quantity: 1,
    tif: 'DAY',
  });
}

const brokerage = (copy: Copy, compete: boolean) =>
  copy.bot.call('POST', '/v1/session/brokerage', copy.token, { compete });

async function sessionRow(id: string) {
  return gw.ctx.store.db
    .selectFrom('sessions')
    .select(['revoked_at', 'revoke_reason', 'user_agent'])
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
}

async function listedGrant(as: LoggedIn, clientId: string) {
  const listed = json(await callAs(gw, 'GET', '/v1/oauth/clients', as)) as {
    clients: { clientId: string; grants: { sessionId: string | null; sessionIds: string[] }[] }[];
  };
  return listed.clients.find((c) => c.clientId === clientId)?.grants[0];
}

describe.each(testDatabases())('instances of a personal client on %s', (_name, makeDatabase) => {
  it('gives each DPoP key its own session: two copies compete for trading like any two sessions', async () => {
    gw = await gatewayOn(makeDatabase);
    const alice = await loginAs(gw, ALICE);
    const bot = await registerBot(gw, alice);
    const first = await start(bot);
    gw.clock.advance(1_000);
    const second = await start(copyOf(bot));
    expect(second.sessionId).not.toBe(first.sessionId);

    expect((await brokerage(first, false)).statusCode).toBe(200);
    expect((await order(first)).statusCode).toBe(201);
    // The second copy is another session: trading is held elsewhere, by the first.
    const held = await brokerage(second, false);
    expect(held.statusCode).toBe(409);
    expect(errorCode(held)).toBe('BROKERAGE_HELD_ELSEWHERE');
    // Named as the user's session list names it: the client and the start of the key's thumbprint.
    const { user_agent: userAgent } = await sessionRow(first.sessionId);
    expect(userAgent).toMatch(new RegExp(`^oauth:${bot.clientId} key .{8}$`));
    expect(json(held)).toMatchObject({
      error: { details: { channel: 'api', device: userAgent, sessionId: first.sessionId } },
    });
    // Taking it over turns the first competing.
    expect((await brokerage(second, true)).statusCode).toBe(200);
    expect((await order(second)).statusCode).toBe(201);
    expect(errorCode(await order(first))).toBe('SESSION_COMPETING');

    // The user sees both: two program sessions, each naming the client and its key, and both under the grant.
    const sessions = json(await callAs(gw, 'GET', '/v1/sessions', alice)) as {
      sessions: { id: string; channel: string; userAgent: string; competing?: boolean }[];
    };
    const programs = sessions.sessions.filter((s) => s.channel === 'api');
    expect(programs.map((s) => s.id).sort()).toEqual([first.sessionId, second.sessionId].sort());
    for (const s of programs) expect(s.userAgent).toMatch(new RegExp(`^oauth:${bot.clientId} key .{8}$`));
    expect(await listedGrant(alice, bot.clientId)).toMatchObject({
      sessionId: second.sessionId,
      sessionIds: [second.sessionId, first.sessionId],
    });
  });

  it('gives a copy restarted with its key its session back, still holding trading', async () => {
    gw = await gatewayOn(makeDatabase);
    const alice = await loginAs(gw, ALICE);
    const bot = await registerBot(gw, alice);
    const before = await start(bot);
    expect((await brokerage(before, true)).statusCode).toBe(200);
    const other = await start(copyOf(bot));
    // The copy stops: it revokes its access token on the way out (RFC 7009), which ends no session.
    expect((await bot.form('/oauth2/revoke', { token: before.token })).statusCode).toBe(200);
    expect(errorCode(await bot.call('GET', '/v1/session', before.token))).toBe('INVALID_TOKEN');
    gw.clock.advance(20 * 60_000); // past the old token's 15 minutes

    const after = await start(bot);
    expect(after.sessionId).toBe(before.sessionId);
    expect((await order(after)).statusCode).toBe(201);
    const otherAgain = await start(other.bot);
    expect(otherAgain.sessionId).toBe(other.sessionId);
    expect(errorCode(await brokerage(otherAgain, false))).toBe('BROKERAGE_HELD_ELSEWHERE');
    // Copies sharing one key share one session.
    expect((await start(Object.create(bot) as TestProgram)).sessionId).toBe(before.sessionId);

    // Once that session has ended (24 h idle), the key gets a new one.
    gw.clock.advance(25 * 3_600_000);
    const later = await start(bot);
    expect(later.sessionId).not.toBe(before.sessionId);
  });

  it("ends every instance's session with the grant, binds each token to its own key, and keeps other users out", async () => {
    gw = await gatewayOn(makeDatabase);
    const alice = await loginAs(gw, ALICE);
    const bot = await registerBot(gw, alice);
    const a = await start(bot);
    const b = await start(copyOf(bot));

    // A token works only with the key it was issued to, even under the same client.
    const stolen = await b.bot.call('GET', '/v1/session', a.token);
    expect(stolen.statusCode).toBe(401);
    expect(errorCode(stolen)).toBe('INVALID_DPOP_PROOF');

    // Another user neither sees nor ends the client or its sessions.
    const bruno = await loginAs(gw, BRUNO);
    expect(await listedGrant(bruno, bot.clientId)).toBeUndefined();
    expect((await callAs(gw, 'DELETE', `/v1/oauth/clients/${bot.clientId}`, bruno)).statusCode).toBe(404);
    for (const copy of [a, b]) {
      const end = await callAs(gw, 'DELETE', `/v1/sessions/${copy.sessionId}`, bruno);
      expect(errorCode(end)).toBe('SESSION_NOT_FOUND');
      expect((await copy.bot.call('GET', '/v1/session', copy.token)).statusCode).toBe(200);
    }

    expect((await callAs(gw, 'DELETE', `/v1/oauth/clients/${bot.clientId}`, alice)).statusCode).toBe(204);
    for (const copy of [a, b]) {
      expect(await sessionRow(copy.sessionId)).toMatchObject({ revoke_reason: 'grant_revoked' });
      expect(errorCode(await copy.bot.call('GET', '/v1/session', copy.token))).toBe('INVALID_TOKEN');
      const again = await copy.bot.form('/oauth2/token', { grant_type: 'client_credentials' });
      expect((again.json() as { error: string }).error).toBe('invalid_client');
    }
  });

  it("counts every instance's session a password reset ends, and disabling the user ends them too", async () => {
    gw = await gatewayOn(makeDatabase);
    const alice = await loginAs(gw, ALICE);
    const user = await findUserByUsername(gw.ctx.store.db, ALICE.username);
    const reset = await registerBot(gw, alice);
    const copies = [await start(reset), await start(copyOf(reset)), await start(copyOf(reset))];
    expect(await gw.ctx.oauth.revokeAllForUser(user?.id as string, 'password_reset')).toEqual({
      clients: 1,
      grants: 1,
      sessions: 3,
    });
    for (const copy of copies) expect((await sessionRow(copy.sessionId)).revoked_at).not.toBeNull();

    const again = await loginAs(gw, ALICE);
    const bot = await registerBot(gw, again);
    const running = [await start(bot), await start(copyOf(bot))];
    const deps = { db: gw.ctx.store.db, clock: gw.clock, bus: gw.ctx.bus, sessions: gw.ctx.sessions };
    await setUserEnabled(deps, ALICE.username, false, 'cli');
    for (const copy of running) {
      expect(await sessionRow(copy.sessionId)).toMatchObject({ revoke_reason: 'user_disabled' });
      expect((await copy.bot.call('GET', '/v1/session', copy.token)).statusCode).toBe(401);
    }
    const refused = await copyOf(bot).form('/oauth2/token', { grant_type: 'client_credentials' });
    expect(refused.json()).toMatchObject({
      error: 'invalid_grant',
      error_description: 'the user is disabled',
    });
  });

  it("applies the client's session-loss policy to the copy another copy took trading from", async () => {
    gw = await gatewayOn(makeDatabase);
    const alice = await loginAs(gw, ALICE);
    const bot = await registerBot(gw, alice, { sessionLossPolicy: 'cancel_all' });
    const first = await start(bot);
    expect((await brokerage(first, true)).statusCode).toBe(200);
    const aapl = INSTRUMENTS.find((i) => i.symbol === 'AAPL') as Instrument;
    const resting = await first.bot.call('POST', '/v1/accounts/DU1000001/orders', first.token, {
      clientOrderId: 'resting-1',
      instrumentId: aapl.id,
      side: 'BUY',
      type: 'LMT',
      quantity: 1,
      limitPrice: Number((gw.ctx.marketData.live(aapl).bid * 0.97).toFixed(2)),
      tif: 'GTC',
    });
    expect(json(resting)).toMatchObject({ status: 'working' });
    const second = await start(copyOf(bot));
    expect((await brokerage(second, true)).statusCode).toBe(200);
    await gw.ctx.safety.sweep();
    const row = await gw.ctx.store.db
      .selectFrom('orders')
      .select('status')
      .where('id', '=', json(resting).id as string)
      .executeTakeFirstOrThrow();
    expect(row.status).toBe('cancelled');
  });

  it("lets a token from before tokens recorded their session act through its grant's, and its key keep it", async () => {
    gw = await gatewayOn(makeDatabase);
    const alice = await loginAs(gw, ALICE);
    const bot = await registerBot(gw, alice);
    const old = await start(bot);
    // As migration 0013 leaves such rows: the session on the grant, none on the token.
    const db = gw.ctx.store.db;
    await db.updateTable('oauth_tokens').set({ session_id: null }).execute();
    await db.updateTable('oauth_grants').set({ session_id: old.sessionId }).execute();
    const introspected = await bot.form('/oauth2/introspect', { token: old.token });
    expect(json(introspected)).toMatchObject({ active: true });
    expect((await start(bot)).sessionId).toBe(old.sessionId);
    expect((await start(copyOf(bot))).sessionId).not.toBe(old.sessionId);
    expect(await listedGrant(alice, bot.clientId)).toMatchObject({
      sessionIds: expect.arrayContaining([old.sessionId]),
    });
    // Revoking the grant ends it too.
    expect((await callAs(gw, 'DELETE', `/v1/oauth/clients/${bot.clientId}`, alice)).statusCode).toBe(204);
    expect(await sessionRow(old.sessionId)).toMatchObject({ revoke_reason: 'grant_revoked' });
  });
});
