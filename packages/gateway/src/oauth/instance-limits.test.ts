/**
 * What one personal client's instances may cost the user: at most `oauth.maxInstanceSessions` live sessions per
 * grant (a new key beyond it ends the grant's own least recently seen instance that does not hold trading, or is
 * refused when every one does), never a person's session or another client's; one session per DPoP key however many token requests race for it; and none left live by a client revoked
 * while its token requests run.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { InProcessEventBus, ManualClock } from '../core/index.js';
import { INSTRUMENTS, type Instrument } from '../instruments/index.js';
import { type TestDatabase, type TestDatabaseFactory, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  callAs,
  json,
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

/** The client's sessions: every one (`live: false`) or the live ones, with why each ended. */
async function sessionsOf(clientId: string, live = true) {
  let query = gw.ctx.store.db
    .selectFrom('sessions')
    .select(['id', 'revoke_reason'])
    .where('user_agent', 'like', `oauth:${clientId}%`);
  if (live) query = query.where('revoked_at', 'is', null);
  return query.execute();
}

async function sessionOf(bot: TestProgram, token: string): Promise<string> {
  const who = json(await bot.call('GET', '/v1/session', token)) as { session: { id: string } };
  return who.session.id;
}

describe.each(testDatabases())(
  'what instances of a personal client may cost on %s',
  (_name, makeDatabase) => {
    it("caps a client's live instance sessions at oauth.maxInstanceSessions, ending only its own", async () => {
      gw = await gatewayOn(makeDatabase);
      const alice = await loginAs(gw, ALICE);
      // Another client trades, with an order resting under a policy that cancels everything when its session is lost.
      const trader = await registerBot(gw, alice, { sessionLossPolicy: 'cancel_all' });
      const tradeToken = await botToken(trader);
      const tradeSession = await sessionOf(trader, tradeToken);
      expect(
        (await trader.call('POST', '/v1/session/brokerage', tradeToken, { compete: true })).statusCode,
      ).toBe(200);
      const aapl = INSTRUMENTS.find((i) => i.symbol === 'AAPL') as Instrument;
      const resting = await trader.call('POST', '/v1/accounts/DU1000001/orders', tradeToken, {
        clientOrderId: 'resting-1',
        instrumentId: aapl.id,
        side: 'BUY',
        type: 'LMT',
        quantity: 1,
        limitPrice: Number((gw.ctx.marketData.live(aapl).bid * 0.97).toFixed(2)),
        tif: 'GTC',
      });
      expect(json(resting)).toMatchObject({ status: 'working' });

      // A read-only client asks for 60 tokens, each with a fresh key (a bot restarting in a loop does the same).
      const reader = await registerBot(gw, alice, { scopes: ['read'] });
      let last: { bot: TestProgram; token: string } | undefined;
      for (let i = 0; i < 60; i += 1) {
        gw.clock.advance(10);
        const bot = copyOf(reader);
        last = { bot, token: await botToken(bot) };
      }
      await gw.ctx.safety.sweep();

      // The person's session, the other client's session and its order are untouched.
      expect((await callAs(gw, 'GET', '/v1/session', alice)).statusCode).toBe(200);
      expect(await sessionOf(trader, tradeToken)).toBe(tradeSession);
      const order = await gw.ctx.store.db
        .selectFrom('orders')
        .select('status')
        .where('id', '=', json(resting).id as string)
        .executeTakeFirstOrThrow();
      expect(order.status).toBe('working');
      expect(
        (await trader.call('POST', '/v1/session/brokerage', tradeToken, { compete: false })).statusCode,
      ).toBe(200);

      // The reader has at most the cap live, its newest among them; the others ended as the cap ends them, audited.
      const live = await sessionsOf(reader.clientId);
      expect(live).toHaveLength(5);
      const newest = last as { bot: TestProgram; token: string };
      expect(live.map((s) => s.id)).toContain(await sessionOf(newest.bot, newest.token));
      const ended = (await sessionsOf(reader.clientId, false)).filter((s) => s.revoke_reason !== null);
      expect(ended).toHaveLength(55);
      for (const s of ended) expect(s.revoke_reason).toBe('instance_limit');
      const audited = await gw.ctx.store.db
        .selectFrom('audit_log')
        .select('data')
        .where('type', '=', 'session.revoked')
        .where(
          'session_id',
          'in',
          ended.map((s) => s.id),
        )
        .execute();
      expect(audited).toHaveLength(55);
      for (const a of audited) expect(JSON.parse(a.data)).toMatchObject({ reason: 'instance_limit' });
    });

    it('ends the least recently seen instance, and gives a key whose session still lives that session back', async () => {
      gw = await gatewayOn(makeDatabase, { config: { oauth: { maxInstanceSessions: 2 } } });
      const alice = await loginAs(gw, ALICE);
      const bot = await registerBot(gw, alice);
      const a = copyOf(bot);
      const b = copyOf(bot);
      const aToken = await botToken(a);
      gw.clock.advance(1_000);
      const bToken = await botToken(b);
      const bSession = await sessionOf(b, bToken);
      gw.clock.advance(1_000);
      const aSession = await sessionOf(a, aToken); // a is now the more recently seen
      gw.clock.advance(1_000);
      const c = copyOf(bot);
      const cSession = await sessionOf(c, await botToken(c));
      expect((await sessionsOf(bot.clientId)).map((s) => s.id).sort()).toEqual([aSession, cSession].sort());
      const ended = await sessionsOf(bot.clientId, false);
      expect(ended.find((s) => s.id === bSession)).toMatchObject({ revoke_reason: 'instance_limit' });
      expect(await sessionOf(a, await botToken(a))).toBe(aSession);
      expect(await sessionOf(c, await botToken(c))).toBe(cSession);
    });

    it('never ends the instance that holds trading: another copy restarting with new keys cannot end it or its orders', async () => {
      gw = await gatewayOn(makeDatabase, { config: { oauth: { maxInstanceSessions: 2 } } });
      const alice = await loginAs(gw, ALICE);
      const bot = await registerBot(gw, alice);
      await callAs(gw, 'PUT', `/v1/oauth/clients/${bot.clientId}`, alice, {
        sessionLossPolicy: 'cancel_all',
      });
      const trader = copyOf(bot);
      const traderToken = await botToken(trader);
      const traderSession = await sessionOf(trader, traderToken);
      expect(
        (await trader.call('POST', '/v1/session/brokerage', traderToken, { compete: true })).statusCode,
      ).toBe(200);
      const bid = gw.ctx.marketData.live(INSTRUMENTS.find((i) => i.id === 265598) as Instrument).bid;
      const resting = await trader.call('POST', '/v1/accounts/DU1000001/orders', traderToken, {
        clientOrderId: 'trader-rests',
        instrumentId: 265598,
        side: 'BUY',
        type: 'LMT',
        quantity: 1,
        limitPrice: Number((bid * 0.97).toFixed(2)),
        tif: 'GTC',
      });
      expect(resting.statusCode).toBe(201);
      // The trader is the least recently seen; five restarts of another copy, a new key each time.
      for (let i = 0; i < 5; i += 1) {
        gw.clock.advance(1_000);
        const restart = copyOf(bot);
        await sessionOf(restart, await botToken(restart));
      }
      const live = await sessionsOf(bot.clientId);
      expect(live).toHaveLength(2);
      expect(live.map((s) => s.id)).toContain(traderSession);
      expect(await sessionOf(trader, traderToken)).toBe(traderSession);
      const order = await gw.ctx.store.db
        .selectFrom('orders')
        .select('status')
        .where('client_order_id', '=', 'trader-rests')
        .executeTakeFirstOrThrow();
      expect(order.status).toBe('working');

      // When every instance that could end holds trading (both may, under the shared policy), a new key is refused.
      await gw.ctx.store.db.updateTable('users').set({ brokerage_policy: 'shared' }).execute();
      const second = live.find((s) => s.id !== traderSession);
      expect(second).toBeDefined();
      const others = copyOf(bot);
      const othersToken = await botToken(others); // ends the other, non-trading instance
      expect(
        (await others.call('POST', '/v1/session/brokerage', othersToken, { compete: false })).statusCode,
      ).toBe(200);
      const refused = await copyOf(bot).form('/oauth2/token', { grant_type: 'client_credentials' });
      expect(refused.statusCode).toBe(400);
      expect(json(refused)).toMatchObject({ error: 'invalid_request' });
      expect(String(json(refused).error_description)).toContain('oauth.maxInstanceSessions');
      expect((await sessionsOf(bot.clientId)).map((s) => s.id).sort()).toEqual(
        [traderSession, await sessionOf(others, othersToken)].sort(),
      );
    });

    it("counts a program's sessions apart from people's: neither pushes the other out through the per-user cap", async () => {
      gw = await gatewayOn(makeDatabase, { config: { sessions: { maxLivePerUser: 2 } } });
      const first = await loginAs(gw, ALICE);
      const second = await loginAs(gw, ALICE);
      const bot = await registerBot(gw, second);
      const token = await botToken(bot);
      const program = await sessionOf(bot, token);
      const more = [await botToken(copyOf(bot)), await botToken(copyOf(bot))];
      expect(more).toHaveLength(2);
      for (const person of [first, second])
        expect((await callAs(gw, 'GET', '/v1/session', person)).statusCode).toBe(200);
      gw.clock.advance(1_000);
      expect((await callAs(gw, 'GET', '/v1/session', second)).statusCode).toBe(200);
      await gw.ctx.sessions.flushLastSeen();
      // A third login ends the least recently used person's session, not the program's.
      const third = await loginAs(gw, ALICE);
      expect((await callAs(gw, 'GET', '/v1/session', first)).statusCode).toBe(401);
      for (const person of [second, third])
        expect((await callAs(gw, 'GET', '/v1/session', person)).statusCode).toBe(200);
      expect(await sessionOf(bot, token)).toBe(program);
    });

    it('gives one DPoP key one session however many first token requests race for it', async () => {
      gw = await gatewayOn(makeDatabase);
      const alice = await loginAs(gw, ALICE);
      const bot = copyOf(await registerBot(gw, alice));
      const tokens = await Promise.all(Array.from({ length: 20 }, () => botToken(bot)));
      expect(await sessionsOf(bot.clientId, false)).toHaveLength(1);
      const [only] = await sessionsOf(bot.clientId);
      for (const token of tokens) expect(await sessionOf(bot, token)).toBe(only?.id);
    });

    it.runIf(_name === 'postgres')(
      'gives one DPoP key one session when its first token requests race on two nodes',
      async () => {
        database = await makeDatabase();
        const shared = { database, bus: new InProcessEventBus(), clock: new ManualClock() };
        gw = await startTestGateway(shared);
        const other = await startTestGateway({ ...shared, demo: false });
        try {
          const alice = await loginAs(gw, ALICE);
          const bot = copyOf(await registerBot(gw, alice));
          const onOther = Object.assign(Object.create(bot) as TestProgram, { gw: other });
          const tokens = await Promise.all(
            Array.from({ length: 20 }, (_, i) => botToken(i % 2 === 0 ? bot : onOther)),
          );
          expect(await sessionsOf(bot.clientId, false)).toHaveLength(1);
          const [only] = await sessionsOf(bot.clientId);
          for (const token of tokens) expect(await sessionOf(bot, token)).toBe(only?.id);
        } finally {
          await other.close();
        }
      },
    );

    it('leaves no live session of a client revoked while its token requests run', async () => {
      gw = await gatewayOn(makeDatabase);
      const alice = await loginAs(gw, ALICE);
      const bot = await registerBot(gw, alice);
      const requests = Array.from({ length: 30 }, () =>
        copyOf(bot).form('/oauth2/token', { grant_type: 'client_credentials' }),
      );
      const revoked = (async () => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        return callAs(gw, 'DELETE', `/v1/oauth/clients/${bot.clientId}`, alice);
      })();
      const answers = await Promise.all(requests);
      expect((await revoked).statusCode).toBe(204);
      for (const answer of answers) expect([200, 400, 401]).toContain(answer.statusCode);
      expect(await sessionsOf(bot.clientId)).toEqual([]);
      expect((await callAs(gw, 'GET', '/v1/session', alice)).statusCode).toBe(200);
    });
  },
);
