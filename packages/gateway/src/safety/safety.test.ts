/**
 * Safe-fail: the dead-man switch (arm, re-arm, disarm, fire, scope, GTC kept on request, a restart in between) and
 * the session-loss policy — every trigger (revocation, idle expiry, competing takeover, daily reset, refresh-token
 * reuse) with every policy (none, cancel_day, cancel_all), set per account or per API client.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { changeAccountRole } from '../identity/index.js';
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
  startTestGateway,
  type TestGateway,
  type TestGatewayOptions,
  VIKTOR,
} from '../test-support/gateway.js';
import {
  ADMIN_TOKEN,
  authorizeApp,
  botToken,
  exchangeCode,
  registerApp,
  registerBot,
  type TestProgram,
} from '../test-support/program.js';

let gw: TestGateway;
let database: TestDatabase | undefined;
afterEach(async () => {
  await gw?.close();
  await database?.drop();
  database = undefined;
});

/** A gateway on a fresh database from `makeDatabase`, dropped after the test. */
async function gatewayOn(makeDatabase: TestDatabaseFactory, options: TestGatewayOptions = {}) {
  database = await makeDatabase();
  return startTestGateway({ ...options, database });
}

const AAPL = INSTRUMENTS.find((i) => i.symbol === 'AAPL') as Instrument;
let n = 0;

/** A resting limit 3 % under the bid: it neither fills nor needs confirmation. */
function resting(tif: 'DAY' | 'GTC') {
  n += 1;
  const bid = gw.ctx.marketData.live(AAPL).bid;
  return {
    clientOrderId: `rest-${n}`,
    instrumentId: AAPL.id,
    side: 'BUY',
    type: 'LMT',
    quantity: 1,
    limitPrice: Number((bid * 0.97).toFixed(2)),
    tif,
  };
}

/** Someone who trades: a web session or a bot, placing orders and asking things as themself. */
interface Trader {
  sessionId: string;
  call(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    url: string,
    body?: unknown,
  ): Promise<LightMyRequestResponse>;
}

function web(as: LoggedIn): Trader {
  return { sessionId: as.sessionId, call: (method, url, body) => callAs(gw, method, url, as, body) };
}

async function program(bot: TestProgram, token: string): Promise<Trader> {
  const who = json(await bot.call('GET', '/v1/session', token)) as { session: { id: string } };
  return { sessionId: who.session.id, call: (method, url, body) => bot.call(method, url, token, body) };
}

async function placeTwo(trader: Trader, account = 'DU1000001') {
  expect((await trader.call('POST', '/v1/session/brokerage', { compete: true })).statusCode).toBe(200);
  const day = json(await trader.call('POST', `/v1/accounts/${account}/orders`, resting('DAY')));
  const gtc = json(await trader.call('POST', `/v1/accounts/${account}/orders`, resting('GTC')));
  expect([day.status, gtc.status]).toEqual(['working', 'working']);
  return { day: day.id as string, gtc: gtc.id as string };
}

const statusOf = async (orderId: string) =>
  (
    await gw.ctx.store.db
      .selectFrom('orders')
      .select('status')
      .where('id', '=', orderId)
      .executeTakeFirstOrThrow()
  ).status;

describe.each(testDatabases())('dead-man switch on %s', (_name, makeDatabase) => {
  it('validates its input and changes nothing on a bad one', async () => {
    gw = await gatewayOn(makeDatabase);
    const alice = await loginAs(gw, ALICE);
    const bad: [unknown, string][] = [
      [{ timeoutMs: 4_999, scope: 'session' }, 'INVALID_REQUEST'],
      [{ timeoutMs: 600_001, scope: 'session' }, 'INVALID_REQUEST'],
      [{ timeoutMs: 10_000, scope: 'account' }, 'INVALID_REQUEST'],
      [{ timeoutMs: 10_000, scope: 'session', accountId: 'DU1000001' }, 'INVALID_REQUEST'],
      [{ timeoutMs: 10_000, scope: 'account', accountId: 'U2000002' }, 'ACCOUNT_NOT_FOUND'],
      [{ timeoutMs: 10_000, scope: 'galaxy' }, 'INVALID_REQUEST'],
    ];
    for (const [body, code] of bad)
      expect(errorCode(await callAs(gw, 'PUT', '/v1/safety/dead-man', alice, body))).toBe(code);
    expect(await gw.ctx.store.db.selectFrom('dead_man_switches').select('id').execute()).toEqual([]);
  });

  it('fires at the deadline of the last arming, cancels the scope’s open orders, keeps GTC on request, then stays disarmed', async () => {
    gw = await gatewayOn(makeDatabase);
    const alice = await loginAs(gw, ALICE);
    const trader = web(alice);
    const first = await placeTwo(trader);
    const other = json(await callAs(gw, 'POST', '/v1/accounts/U1000001/orders', alice, resting('DAY')))
      .id as string;
    const arm = (body: unknown) => callAs(gw, 'PUT', '/v1/safety/dead-man', alice, body);
    expect(
      json(await arm({ timeoutMs: 60_000, scope: 'account', accountId: 'DU1000001', excludeGtc: true })),
    ).toMatchObject({
      armed: true,
      timeoutMs: 60_000,
    });
    // Re-armed 30 s later: the deadline moves.
    gw.clock.advance(30_000);
    await arm({ timeoutMs: 60_000, scope: 'account', accountId: 'DU1000001', excludeGtc: true });
    gw.clock.advance(40_000);
    await gw.ctx.safety.fireDue();
    expect(await statusOf(first.day)).toBe('working');
    gw.clock.advance(20_000);
    await gw.ctx.safety.fireDue();
    expect(await statusOf(first.day)).toBe('cancelled');
    expect(await statusOf(first.gtc)).toBe('working');
    expect(await statusOf(other)).toBe('working');
    const events = json(await callAs(gw, 'GET', '/v1/accounts/DU1000001/events', alice)) as {
      events: { type: string; orderId: string; data: { by?: string } }[];
    };
    expect(events.events.at(-1)).toMatchObject({
      type: 'cancelled',
      orderId: first.day,
      data: { by: 'dead_man' },
    });
    const audit = await gw.ctx.store.db
      .selectFrom('audit_log')
      .select(['type', 'data'])
      .where('type', '=', 'safety.dead_man_fired')
      .execute();
    expect(audit).toHaveLength(1);
    expect(JSON.parse(audit[0]?.data as string)).toMatchObject({ scope: 'account', cancelled: 1 });
    const notes = await gw.ctx.store.db
      .selectFrom('notifications')
      .select('kind')
      .where('kind', '=', 'dead_man_fired')
      .execute();
    expect(notes).toHaveLength(1);
    // Fired means disarmed: nothing fires again until it is armed again.
    expect(
      json(await callAs(gw, 'GET', '/v1/safety/dead-man?scope=account&accountId=DU1000001', alice)),
    ).toEqual({ armed: false });
  });

  it('arms an account’s switch only from a session that may trade; its arming session may keep it after a takeover', async () => {
    gw = await gatewayOn(makeDatabase);
    const holder = await loginAs(gw, ALICE);
    const orders = await placeTwo(web(holder));
    const account = { timeoutMs: 5_000, scope: 'account', accountId: 'DU1000001' };
    // A read-only session, a session that must step up, a viewer: an account switch would cancel the holder's
    // orders when it fires, so none of them may arm one (a session-scope switch touches only its own orders).
    const readOnly = await loginAs(gw, ALICE);
    expect(errorCode(await callAs(gw, 'PUT', '/v1/safety/dead-man', readOnly, account))).toBe(
      'BROKERAGE_REQUIRED',
    );
    expect(
      (await callAs(gw, 'PUT', '/v1/safety/dead-man', readOnly, { timeoutMs: 5_000, scope: 'session' }))
        .statusCode,
    ).toBe(200);
    // The holder's cookie replayed from another network (security review F2): neither an account switch nor the
    // session's own, which would cancel the holder's orders as surely as a direct cancel it may not make.
    const fromElsewhere = (payload: unknown, as = holder) =>
      gw.app.inject({
        method: 'PUT',
        url: '/v1/safety/dead-man',
        remoteAddress: '203.0.113.9',
        headers: { cookie: as.cookie, 'x-csrf-token': as.csrf },
        payload: payload as Record<string, unknown>,
      });
    expect(errorCode(await fromElsewhere(account))).toBe('STEP_UP_REQUIRED');
    expect(errorCode(await fromElsewhere({ timeoutMs: 5_000, scope: 'session' }))).toBe('STEP_UP_REQUIRED');
    expect(
      await gw.ctx.store.db
        .selectFrom('dead_man_switches')
        .select('id')
        .where('scope', '=', 'account')
        .execute(),
    ).toEqual([]);
    gw.clock.advance(10_000);
    await gw.ctx.safety.fireDue();
    expect([await statusOf(orders.day), await statusOf(orders.gtc)]).toEqual(['working', 'working']);

    // A trading session arms it; after losing a takeover it may still re-arm or disarm the switch it armed.
    const bot = await loginAs(gw, ALICE);
    await callAs(gw, 'POST', '/v1/session/brokerage', bot, { compete: true });
    expect(
      (await callAs(gw, 'PUT', '/v1/safety/dead-man', bot, { ...account, timeoutMs: 60_000 })).statusCode,
    ).toBe(200);
    await callAs(gw, 'POST', '/v1/session/brokerage', readOnly, { compete: true });
    expect(
      (await callAs(gw, 'PUT', '/v1/safety/dead-man', bot, { ...account, timeoutMs: 60_000 })).statusCode,
    ).toBe(200);
    // …but not from another network: its cookie there is in doubt until a step-up, and the switch stays as it was.
    expect(errorCode(await fromElsewhere({ ...account, timeoutMs: 5_000 }, bot))).toBe('STEP_UP_REQUIRED');
    expect(
      json(await callAs(gw, 'GET', '/v1/safety/dead-man?scope=account&accountId=DU1000001', readOnly)),
    ).toMatchObject({ armed: true, timeoutMs: 60_000 });
  });

  it('acts only on accounts its arming user may still trade: a role taken away takes the switch’s power', async () => {
    gw = await gatewayOn(makeDatabase);
    const deps = { db: gw.ctx.store.db, clock: gw.clock, bus: gw.ctx.bus };
    await changeAccountRole(deps, {
      accountId: 'U1000001',
      username: 'viktor',
      role: 'trader',
      via: 'cli',
      ip: null,
    });
    const viktor = await loginAs(gw, VIKTOR);
    expect((await callAs(gw, 'POST', '/v1/session/brokerage', viktor, { compete: true })).statusCode).toBe(
      200,
    );
    const armed = await callAs(gw, 'PUT', '/v1/safety/dead-man', viktor, {
      timeoutMs: 8_000,
      scope: 'account',
      accountId: 'U1000001',
    });
    expect(armed.statusCode).toBe(200);
    const alices = await placeTwo(web(await loginAs(gw, ALICE)), 'U1000001');
    // The operator takes Viktor's role away (security review F2): his switch no longer cancels anything.
    await changeAccountRole(deps, {
      accountId: 'U1000001',
      username: 'viktor',
      role: null,
      via: 'cli',
      ip: null,
    });
    gw.clock.advance(8_000);
    await gw.ctx.safety.fireDue();
    expect([await statusOf(alices.day), await statusOf(alices.gtc)]).toEqual(['working', 'working']);
    const fired = await gw.ctx.store.db
      .selectFrom('audit_log')
      .select('data')
      .where('type', '=', 'safety.dead_man_fired')
      .executeTakeFirstOrThrow();
    expect(JSON.parse(fired.data)).toMatchObject({ scope: 'account', cancelled: 0 });
  });

  it('disarms with 0, and a session-scoped switch cancels only that session’s orders', async () => {
    gw = await gatewayOn(makeDatabase);
    const alice = await loginAs(gw, ALICE);
    const mine = await placeTwo(web(alice));
    const arm = (body: unknown) => callAs(gw, 'PUT', '/v1/safety/dead-man', alice, body);
    await arm({ timeoutMs: 5_000, scope: 'session' });
    expect(json(await arm({ timeoutMs: 0, scope: 'session' }))).toEqual({ armed: false });
    gw.clock.advance(10_000);
    await gw.ctx.safety.fireDue();
    expect(await statusOf(mine.day)).toBe('working');
    // A second session of Alice's (shared policy, so both trade) places an order; the first arms its own switch.
    await gw.ctx.store.db.updateTable('users').set({ brokerage_policy: 'shared' }).execute();
    const phone = await loginAs(gw, ALICE);
    const theirs = await placeTwo(web(phone));
    await arm({ timeoutMs: 5_000, scope: 'session' });
    gw.clock.advance(5_000);
    await gw.ctx.safety.fireDue();
    expect([await statusOf(mine.day), await statusOf(mine.gtc)]).toEqual(['cancelled', 'cancelled']);
    expect([await statusOf(theirs.day), await statusOf(theirs.gtc)]).toEqual(['working', 'working']);
  });

  it('keeps its deadline across a restart and fires when the gateway is back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-deadman-'));
    // The gateway restarts on the same database: on SQLite a file, on PostgreSQL the test's own database.
    database = await makeDatabase();
    const config = { database: { url: database.dialect === 'sqlite' ? join(dir, 'g.db') : database.url } };
    try {
      gw = await startTestGateway({ config, database });
      const alice = await loginAs(gw, ALICE);
      const orders = await placeTwo(web(alice));
      await callAs(gw, 'PUT', '/v1/safety/dead-man', alice, {
        timeoutMs: 30_000,
        scope: 'account',
        accountId: 'DU1000001',
      });
      const clock = gw.clock;
      await gw.close();
      clock.advance(60_000); // the deadline passes while the gateway is down
      gw = await startTestGateway({ config, clock, database, demo: false });
      await gw.ctx.safety.fireDue();
      expect([await statusOf(orders.day), await statusOf(orders.gtc)]).toEqual(['cancelled', 'cancelled']);
    } finally {
      await gw.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

type Policy = 'none' | 'cancel_day' | 'cancel_all';
const EXPECTED: Record<Policy, [string, string]> = {
  none: ['working', 'working'],
  cancel_day: ['cancelled', 'working'],
  cancel_all: ['cancelled', 'cancelled'],
};

/** Each trigger: set up a trader under `policy`, place a DAY and a GTC order, then lose the session. */
const TRIGGERS: Record<string, (policy: Policy) => Promise<{ day: string; gtc: string }>> = {
  async revocation(policy) {
    const alice = await loginAs(gw, ALICE);
    await callAs(gw, 'PUT', '/v1/accounts/DU1000001/session-loss-policy', alice, { policy });
    const other = await loginAs(gw, ALICE);
    const orders = await placeTwo(web(other));
    expect((await callAs(gw, 'DELETE', `/v1/sessions/${other.sessionId}`, alice)).statusCode).toBe(200);
    return orders;
  },
  async idle(policy) {
    const alice = await loginAs(gw, ALICE);
    await callAs(gw, 'PUT', '/v1/accounts/DU1000001/session-loss-policy', alice, { policy });
    const orders = await placeTwo(web(alice));
    gw.clock.advance(16 * 60_000); // web sessions end after 15 min idle
    return orders;
  },
  async competing(policy) {
    const alice = await loginAs(gw, ALICE);
    const bot = await registerBot(gw, alice, { sessionLossPolicy: policy });
    const orders = await placeTwo(await program(bot, await botToken(bot)));
    // The user logs in elsewhere and takes trading over.
    await callAs(gw, 'POST', '/v1/session/brokerage', await loginAs(gw, ALICE), { compete: true });
    return orders;
  },
  async reset(policy) {
    const alice = await loginAs(gw, ALICE);
    const bot = await registerBot(gw, alice, { sessionLossPolicy: policy });
    const token = await botToken(bot);
    const orders = await placeTwo(await program(bot, token));
    gw.clock.advance(15 * 3_600_000); // past New York midnight; the bot's session itself lives on (24 h idle)
    return orders;
  },
  async refresh_token_reuse(policy) {
    const alice = await loginAs(gw, ALICE);
    const app = await registerApp(gw, { rotate: true, sessionLossPolicy: policy });
    const flow = await authorizeApp(app, alice);
    const tokens = json(await exchangeCode(app, flow.code, flow.verifier)) as {
      access_token: string;
      refresh_token: string;
    };
    const orders = await placeTwo(await program(app, tokens.access_token));
    await app.form('/oauth2/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    gw.clock.advance(20_000); // past the 10 s leeway: the spent token again is theft
    await app.form('/oauth2/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    return orders;
  },
};

describe.each(testDatabases())('session-loss policy on %s', (_name, makeDatabase) => {
  for (const [trigger, lose] of Object.entries(TRIGGERS)) {
    for (const policy of ['none', 'cancel_day', 'cancel_all'] as const) {
      it(`${trigger} with ${policy}`, async () => {
        gw = await gatewayOn(makeDatabase, { config: { secrets: { adminApiToken: ADMIN_TOKEN } } });
        const orders = await lose(policy);
        await gw.ctx.safety.sweep();
        expect([await statusOf(orders.day), await statusOf(orders.gtc)]).toEqual(EXPECTED[policy]);
        const audit = await gw.ctx.store.db
          .selectFrom('audit_log')
          .select('data')
          .where('type', '=', 'safety.session_loss')
          .execute();
        expect(audit.length).toBeGreaterThanOrEqual(1);
        const reason =
          trigger === 'refresh_token_reuse'
            ? 'refresh_token_reused'
            : trigger === 'revocation'
              ? 'revoked'
              : trigger;
        expect(audit.map((a) => JSON.parse(a.data).reason)).toContain(reason);
      });
    }
  }

  it('applies the stricter of the client’s and the account’s policy, and only the owner sets the account’s', async () => {
    gw = await gatewayOn(makeDatabase);
    const alice = await loginAs(gw, ALICE);
    const bruno = await loginAs(gw, BRUNO);
    expect(
      errorCode(
        await callAs(gw, 'PUT', '/v1/accounts/DU1000001/session-loss-policy', bruno, {
          policy: 'cancel_all',
        }),
      ),
    ).toBe('ACCOUNT_NOT_FOUND');
    await callAs(gw, 'PUT', '/v1/accounts/DU1000001/session-loss-policy', alice, {
      policy: 'cancel_all',
    });
    const bot = await registerBot(gw, alice, { sessionLossPolicy: 'none' });
    const orders = await placeTwo(await program(bot, await botToken(bot)));
    await callAs(gw, 'POST', '/v1/session/brokerage', await loginAs(gw, ALICE), { compete: true });
    await gw.ctx.safety.sweep();
    expect([await statusOf(orders.day), await statusOf(orders.gtc)]).toEqual(['cancelled', 'cancelled']);
  });
});
