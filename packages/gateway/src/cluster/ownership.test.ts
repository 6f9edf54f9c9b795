/**
 * Account ownership between two gateways on one database and one Redis (GATEHOUSE_TEST_REDIS_URL): two nodes of a
 * cluster, in this process (the real-process tests, with `kill -9`, are in e2e/cluster*.test.ts). Each account is
 * worked by one node; a request for it on the other node is answered by the owner, through the same checks; a node
 * whose lease moved writes nothing; an account whose node stopped is taken over with its working orders; a dead-man
 * switch armed on a node that then stopped fires once, on the other.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../core/index.js';
import { INSTRUMENTS, type Instrument } from '../instruments/index.js';
import type { TestDatabase } from '../test-support/databases.js';
import { testDatabases } from '../test-support/databases.js';
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
  VIKTOR,
} from '../test-support/gateway.js';
import { botToken, registerBot, type TestProgram } from '../test-support/program.js';
import { eventually, testRedisUrl } from '../test-support/redis.js';

const redisUrl = testRedisUrl();
const AAPL = INSTRUMENTS.find((i) => i.symbol === 'AAPL') as Instrument;
const ACCOUNT = 'U1000001';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A database two nodes share: a SQLite file, or a fresh PostgreSQL database. */
async function sharedDatabase(name: string, make: () => Promise<TestDatabase>): Promise<TestDatabase> {
  if (name !== 'sqlite') {
    const db = await make();
    cleanups.push(() => db.drop());
    return db;
  }
  const dir = mkdtempSync(join(tmpdir(), 'gh-cluster-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return { dialect: 'sqlite', url: join(dir, 'g.db'), options: {}, drop: async () => {} };
}

interface Pair {
  a: TestGateway;
  b: TestGateway;
  clock: ManualClock;
}

async function twoNodes(database: TestDatabase): Promise<Pair> {
  const clock = new ManualClock();
  const keyPrefix = `gh-test-${randomBytes(4).toString('hex')}:`;
  const node = (nodeId: string) => ({
    cluster: { redisUrl: redisUrl as string, keyPrefix, nodeId, leaseMs: 2_000 },
  });
  const a = await startTestGateway({ clock, database, config: node('node-a') });
  cleanups.push(() => a.close());
  const b = await startTestGateway({ clock, database, config: node('node-b'), demo: false });
  cleanups.push(() => b.close());
  return { a, b, clock };
}

let n = 0;
const order = (extra: Record<string, unknown> = {}) => {
  n += 1;
  return {
    clientOrderId: `cl-${n}-${randomBytes(3).toString('hex')}`,
    instrumentId: AAPL.id,
    side: 'BUY',
    type: 'LMT',
    limitPrice: 1,
    quantity: 1,
    tif: 'GTC',
    ...extra,
  };
};

async function trader(gw: TestGateway, user = ALICE): Promise<LoggedIn> {
  const as = await loginAs(gw, user);
  const acquired = await callAs(gw, 'POST', '/v1/session/brokerage', as, { compete: true });
  expect(acquired.statusCode).toBe(200);
  return as;
}

async function lease(gw: TestGateway) {
  return gw.ctx.store.db
    .selectFrom('account_leases')
    .selectAll()
    .where('account_id', '=', ACCOUNT)
    .executeTakeFirst();
}

async function orderCount(gw: TestGateway): Promise<number> {
  const rows = await gw.ctx.store.db
    .selectFrom('orders')
    .select('id')
    .where('account_id', '=', ACCOUNT)
    .execute();
  return rows.length;
}

// Both databases wherever Redis is: two nodes on one SQLite file need Redis too (GATEHOUSE_TEST_SQLITE=none keeps it).
const databases = testDatabases({ sqliteWithRedis: true });

describe.skipIf(redisUrl === null).each(databases)('two nodes on %s', (name, make) => {
  it('work each account on one node: orders through the other are answered by the owner, through every check', async () => {
    const { a, b } = await twoNodes(await sharedDatabase(name, make));
    const alice = await trader(a);
    const first = await callAs(a, 'POST', `/v1/accounts/${ACCOUNT}/orders`, alice, order());
    expect(first.statusCode).toBe(201);
    expect(first.headers['x-gatehouse-node']).toBe('node-a');
    expect(await lease(a)).toMatchObject({ node_id: 'node-a', fence: 1 });
    expect(a.ctx.cluster?.ownership.accounts).toEqual([ACCOUNT]);

    // The same web session on node B: B forwards to A, which answers.
    const viaB = await callAs(b, 'POST', `/v1/accounts/${ACCOUNT}/orders`, alice, order());
    expect(viaB.statusCode).toBe(201);
    const placed = json(viaB) as { id: string };
    expect(b.ctx.cluster?.ownership.accounts).toEqual([]);
    // B's engine never saw it: only the owner works the account's orders.
    expect(b.ctx.trading.openOrders({ accountId: ACCOUNT })).toEqual([]);
    expect(a.ctx.trading.openOrders({ accountId: ACCOUNT }).map((o) => o.id)).toContain(placed.id);

    // Modify, the portfolio and cancel through B: the owner's view.
    const modified = await callAs(b, 'PATCH', `/v1/accounts/${ACCOUNT}/orders/${placed.id}`, alice, {
      limitPrice: 2,
    });
    expect(modified.statusCode).toBe(200);
    expect(json(modified)).toMatchObject({ id: placed.id, limitPrice: 2 });
    const portfolio = await callAs(b, 'GET', `/v1/accounts/${ACCOUNT}/portfolio`, alice);
    expect(portfolio.statusCode).toBe(200);
    expect(json(portfolio)).toMatchObject({ accountId: ACCOUNT });
    const cancelled = await callAs(b, 'DELETE', `/v1/accounts/${ACCOUNT}/orders/${placed.id}`, alice);
    expect(cancelled.statusCode).toBe(200);
    expect(json(cancelled)).toMatchObject({ id: placed.id, status: 'cancelled' });

    // The owner's checks hold for forwarded requests: a viewer, a session without trading, another user's account.
    const viktor = await loginAs(b, VIKTOR);
    const byViewer = await callAs(b, 'POST', `/v1/accounts/${ACCOUNT}/orders`, viktor, order());
    expect(errorCode(byViewer)).toBe('ROLE_NOT_ALLOWED');
    const readOnly = await loginAs(b, ALICE);
    expect(errorCode(await callAs(b, 'POST', `/v1/accounts/${ACCOUNT}/orders`, readOnly, order()))).toBe(
      'BROKERAGE_REQUIRED',
    );
    // A takeover on B: the first session, competing now, is refused through B as it would be on A.
    const taker = await trader(b);
    const competing = await callAs(b, 'POST', `/v1/accounts/${ACCOUNT}/orders`, alice, order());
    expect(errorCode(competing)).toBe('SESSION_COMPETING');
    // The trading session asked to verify again (a network change): refused through B as on A.
    await b.ctx.store.db
      .updateTable('sessions')
      .set({ step_up_required: 1 })
      .where('id', '=', taker.sessionId)
      .execute();
    await b.ctx.bus.publish('session.changed', { sessionId: taker.sessionId, tokenHash: '' });
    for (const node of [b, a])
      expect(errorCode(await callAs(node, 'POST', `/v1/accounts/${ACCOUNT}/orders`, taker, order()))).toBe(
        'STEP_UP_REQUIRED',
      );
    // A program whose grant has no trade scope, through the node that does not own its account.
    const reader = await registerBot(a, await loginAs(a, ALICE), { scopes: ['read'], accounts: [ACCOUNT] });
    const viaNonOwner = Object.assign(Object.create(reader) as TestProgram, { gw: b });
    const scoped = await viaNonOwner.call(
      'POST',
      `/v1/accounts/${ACCOUNT}/orders`,
      await botToken(reader),
      order(),
    );
    expect(errorCode(scoped)).toBe('SCOPE_REQUIRED');
    const bruno = await loginAs(b, BRUNO);
    expect(errorCode(await callAs(b, 'POST', `/v1/accounts/${ACCOUNT}/orders`, bruno, order()))).toBe(
      'ACCOUNT_NOT_FOUND',
    );
    // Nobody's request for another user's account makes a node take it.
    expect(errorCode(await callAs(b, 'GET', '/v1/accounts/U2000002/portfolio', alice))).toBe(
      'ACCOUNT_NOT_FOUND',
    );
    const strangers = await b.ctx.store.db
      .selectFrom('account_leases')
      .select('account_id')
      .where('account_id', '=', 'U2000002')
      .execute();
    expect(strangers).toEqual([]);
  });

  it('answer a what-if through the node that does not own the account as the owner does, from its view', async () => {
    const { a, b } = await twoNodes(await sharedDatabase(name, make));
    const alice = await trader(a);
    // A working order on A: its reservation is in A's view only.
    expect(
      (await callAs(a, 'POST', `/v1/accounts/${ACCOUNT}/orders`, alice, order({ quantity: 1000 })))
        .statusCode,
    ).toBe(201);
    const ask = { ...order({ type: 'MKT', quantity: 10, tif: 'DAY' }), limitPrice: undefined };
    const onA = await callAs(a, 'POST', `/v1/accounts/${ACCOUNT}/orders/what-if`, alice, ask);
    const viaB = await callAs(b, 'POST', `/v1/accounts/${ACCOUNT}/orders/what-if`, alice, ask);
    expect(viaB.statusCode).toBe(200);
    expect(json(viaB)).toEqual(json(onA));
    expect(json(viaB)).toMatchObject({ outcome: 'accepted' });
    // The working order's reservation counts: half of 1,000 × 1, and its commission (0.005 a share).
    const { effect } = json(viaB) as { effect: { buyingPower: { before: number } } };
    expect(effect.buyingPower.before).toBeCloseTo(250_000 - 500 - 5, 2);
    expect(b.ctx.cluster?.ownership.accounts).toEqual([]);
    expect(await orderCount(a)).toBe(1);
    // The owner's checks hold for a forwarded what-if.
    const viktor = await loginAs(b, VIKTOR);
    expect(errorCode(await callAs(b, 'POST', `/v1/accounts/${ACCOUNT}/orders/what-if`, viktor, ask))).toBe(
      'ROLE_NOT_ALLOWED',
    );
  });

  it('take a free account on one node only when orders race on both, fill each once, and keep one gap-free sequence', async () => {
    const { a, b } = await twoNodes(await sharedDatabase(name, make));
    const alice = await trader(a);
    const nodes = [a, b];
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        callAs(nodes[i % 2] as TestGateway, 'POST', `/v1/accounts/${ACCOUNT}/orders`, alice, {
          ...order({ type: 'MKT', tif: 'DAY' }),
          limitPrice: undefined,
        }),
      ),
    );
    expect(answers.map((r) => r.statusCode)).toEqual(Array(12).fill(201));
    const leases = await a.ctx.store.db.selectFrom('account_leases').selectAll().execute();
    expect(leases).toHaveLength(1);
    expect(leases[0]).toMatchObject({ account_id: ACCOUNT, fence: 1 });
    const owner = leases[0]?.node_id === 'node-a' ? a : b;
    const other = owner === a ? b : a;
    expect(owner.ctx.cluster?.ownership.accounts).toEqual([ACCOUNT]);
    expect(other.ctx.cluster?.ownership.accounts).toEqual([]);
    const db = a.ctx.store.db;
    const executions = await db.selectFrom('executions').select(['order_id', 'quantity']).execute();
    expect(executions).toHaveLength(12);
    expect(new Set(executions.map((e) => e.order_id)).size).toBe(12);
    const position = await db
      .selectFrom('positions')
      .select('quantity')
      .where('account_id', '=', ACCOUNT)
      .where('instrument_id', '=', AAPL.id)
      .executeTakeFirst();
    expect(Number(position?.quantity)).toBe(12);
    const seqs = (
      await db
        .selectFrom('account_events')
        .select('seq')
        .where('account_id', '=', ACCOUNT)
        .orderBy('seq')
        .execute()
    ).map((r) => Number(r.seq));
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
  });

  it('check a forwarded call before taking its account: a known method, its principal, an account it may see', async () => {
    const { a } = await twoNodes(await sharedDatabase(name, make));
    const alice = await trader(a);
    const principal = await a.ctx.sessions.authenticate(alice.cookie.replace('gh_session=', ''), '127.0.0.1');
    const wire = { session: principal.session, profile: principal.profile };
    const refused = (method: string, args: unknown) =>
      a.ctx.trading.serve(method, args).then(
        () => 'served',
        (error: { code?: string }) => error.code,
      );
    expect(await refused('drop', { accountId: 'ZZZ' })).toBe('INVALID_REQUEST');
    expect(await refused('place', { accountId: 'ZZZ' })).toBe('INVALID_REQUEST');
    expect(await refused('place', null)).toBe('INVALID_REQUEST');
    expect(await refused('cancelOpen', { accountId: 'ZZZ', filter: null, by: 'dead_man' })).toBe(
      'INVALID_REQUEST',
    );
    expect(await refused('cancelOpen', { accountId: 'ZZZ', filter: {}, principal: wire })).toBe(
      'INVALID_REQUEST',
    );
    expect(await refused('summary', { accountId: 'U2000002', principal: wire })).toBe('ACCOUNT_NOT_FOUND');
    const leases = await a.ctx.store.db.selectFrom('account_leases').select('account_id').execute();
    expect(leases).toEqual([]);
    expect(await refused('summary', { accountId: ACCOUNT, principal: wire })).toBe('served');
  });

  it('refuse every write of a node whose lease moved (a paused owner): it writes nothing and lets the account go', async () => {
    const { a, b } = await twoNodes(await sharedDatabase(name, make));
    const alice = await trader(a);
    expect((await callAs(a, 'POST', `/v1/accounts/${ACCOUNT}/orders`, alice, order())).statusCode).toBe(201);
    const before = await orderCount(a);
    // Another node took the lease while A was paused (A's memory still says it holds it).
    await a.ctx.store.db
      .updateTable('account_leases')
      .set({ node_id: 'node-b', fence: 2 })
      .where('account_id', '=', ACCOUNT)
      .execute();
    const zombie = await callAs(a, 'POST', `/v1/accounts/${ACCOUNT}/orders`, alice, order());
    expect(errorCode(zombie)).toBe('ACCOUNT_MOVING');
    expect(zombie.headers['retry-after']).toBeDefined();
    expect(await orderCount(a)).toBe(before);
    // A dropped the account, and trading goes on elsewhere: A is not halted.
    expect(a.ctx.cluster?.ownership.accounts).toEqual([]);
    expect(a.ctx.trading.openOrders({ accountId: ACCOUNT })).toEqual([]);
    expect(a.ctx.trading.halted).toBeNull();
    // The node the lease moved to trades the account, through either node.
    const viaB = await callAs(b, 'POST', `/v1/accounts/${ACCOUNT}/orders`, alice, order());
    expect(viaB.statusCode).toBe(201);
    expect(viaB.headers['x-gatehouse-node']).toBe('node-b');
    const viaA = await callAs(a, 'POST', `/v1/accounts/${ACCOUNT}/orders`, alice, order());
    expect(viaA.statusCode).toBe(201);
    expect(viaA.headers['x-gatehouse-node']).toBe('node-a');
    expect(await orderCount(a)).toBe(before + 2);
    expect(b.ctx.trading.openOrders({ accountId: ACCOUNT })).toHaveLength(before + 2);
  });

  it('take over an account whose node stopped, with its working orders, and fire its dead-man switch once', async () => {
    const { a, b, clock } = await twoNodes(await sharedDatabase(name, make));
    const alice = await trader(a);
    const resting = json(await callAs(a, 'POST', `/v1/accounts/${ACCOUNT}/orders`, alice, order())) as {
      id: string;
    };
    const armed = await callAs(a, 'PUT', '/v1/safety/dead-man', alice, {
      timeoutMs: 5_000,
      scope: 'account',
      accountId: ACCOUNT,
    });
    expect(armed.statusCode).toBe(200);
    // Node A stops (a drain): it gives the lease up; B's sweep finds the account's working order and takes it.
    await a.close();
    await b.ctx.cluster?.ownership.sweep();
    expect(await lease(b)).toMatchObject({ node_id: 'node-b', fence: 2 });
    expect(b.ctx.trading.openOrders({ accountId: ACCOUNT }).map((o) => o.id)).toEqual([resting.id]);

    // The deadline passes: B fires the switch armed on A, once.
    clock.advance(6_000);
    await b.ctx.safety.fireDue();
    await eventually(async () => {
      const row = await b.ctx.store.db
        .selectFrom('orders')
        .select('status')
        .where('id', '=', resting.id)
        .executeTakeFirst();
      return row?.status === 'cancelled';
    });
    const firings = () =>
      b.ctx.store.db
        .selectFrom('audit_log')
        .select('data')
        .where('type', '=', 'safety.dead_man_fired')
        .execute();
    await eventually(async () => (await firings()).length > 0);
    await b.ctx.safety.fireDue();
    const fired = await firings();
    expect(fired).toHaveLength(1);
    expect(JSON.parse(String(fired[0]?.data))).toMatchObject({ cancelled: 1, accountId: ACCOUNT });
  });
});
