/**
 * Every route that touches an account goes through the account-access policy (issue 14, finding 2). The routes are
 * read from the running gateway's own route table, so a new account route without a row here fails this test until
 * it is added — with the need it must enforce. For each: another user's account answers `ACCOUNT_NOT_FOUND` (as an
 * unknown one does, on every method), a viewer (Viktor, an adviser on Alice's account) may use the `view` routes and
 * is refused the others with `ROLE_NOT_ALLOWED`, and a refusal changes nothing. Before the fix a viewer could
 * modify and cancel orders (finding 1).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { INSTRUMENTS, type Instrument } from '../instruments/index.js';
import { type TestDatabase, type TestDatabaseFactory, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  BRUNO,
  callAs,
  errorCode,
  json,
  type LoggedIn,
  loginTrading,
  startTestGateway,
  type TestGateway,
  type TestGatewayOptions,
  VIKTOR,
} from '../test-support/gateway.js';
import type { AccountNeed } from './index.js';

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

/** The routes of a Fastify route tree (`printRoutes({ commonPrefix: false })`), as `METHOD /path`. */
function routesOf(tree: string): string[] {
  const out: string[] = [];
  const stack: { depth: number; path: string }[] = [];
  for (const line of tree.split('\n')) {
    const match = /^([\s│]*)(?:├── |└── )(\S+) \(([^)]+)\)/.exec(line);
    if (match === null) continue;
    const depth = (match[1] ?? '').length;
    while (stack.length > 0 && (stack[stack.length - 1] as { depth: number }).depth >= depth) stack.pop();
    const parent = stack[stack.length - 1]?.path ?? '';
    const path = parent === '' ? (match[2] as string) : `${parent === '/' ? '/' : parent}${match[2]}`;
    stack.push({ depth, path });
    for (const method of (match[3] as string).split(', '))
      if (method !== 'HEAD') out.push(`${method} ${path}`);
  }
  return out;
}

interface RouteCase {
  /** What the route needs of the account. */
  need: AccountNeed;
  payload?: (ids: { orderId: string; confirmationId: string }) => unknown;
}

/**
 * Every route with an account in its path (the operators' `/v1/admin/…` routes take the admin token, not a
 * session, and are tested with the admin API), and the need each enforces.
 */
const ACCOUNT_ROUTES: Record<string, RouteCase> = {
  'GET /v1/accounts/:accountId': { need: 'view' },
  'GET /v1/accounts/:accountId/orders': { need: 'view' },
  'POST /v1/accounts/:accountId/orders': {
    need: 'trade',
    payload: () => ({
      clientOrderId: `route-${Math.random().toString(36).slice(2)}`,
      instrumentId: AAPL.id,
      side: 'BUY',
      type: 'MKT',
      quantity: 1,
      tif: 'DAY',
    }),
  },
  'POST /v1/accounts/:accountId/orders/confirmations/:confirmationId': {
    need: 'trade',
    payload: () => ({ confirmed: true }),
  },
  'GET /v1/accounts/:accountId/orders/:orderId': { need: 'view' },
  'PATCH /v1/accounts/:accountId/orders/:orderId': { need: 'trade', payload: () => ({ quantity: 2 }) },
  'DELETE /v1/accounts/:accountId/orders/:orderId': { need: 'trade' },
  'GET /v1/accounts/:accountId/portfolio': { need: 'view' },
  'GET /v1/accounts/:accountId/events': { need: 'view' },
  'GET /v1/accounts/:accountId/instruments/:instrumentId/availability': { need: 'view' },
  'PUT /v1/accounts/:accountId/session-loss-policy': {
    need: 'own',
    payload: () => ({ policy: 'cancel_all' }),
  },
  // The user's own acknowledgement of what they can see: a viewer reviews for himself (readiness/service.ts).
  'POST /v1/accounts/:accountId/entity-review': { need: 'view', payload: () => ({}) },
};

/** Routes that name the account in their query or body, with the need each enforces. */
const NAMED_IN_REQUEST: { method: 'GET' | 'PUT'; url: string; need: AccountNeed; payload?: unknown }[] = [
  { method: 'GET', url: `/v1/marketdata/snapshot?instruments=${AAPL.id}&accountId=U1000001`, need: 'view' },
  { method: 'GET', url: '/v1/safety/dead-man?scope=account&accountId=U1000001', need: 'view' },
  {
    method: 'PUT',
    url: '/v1/safety/dead-man',
    need: 'trade',
    payload: { timeoutMs: 60_000, scope: 'account', accountId: 'U1000001' },
  },
];

const trader = (user: typeof ALICE) => loginTrading(gw, user);

/** Alice's resting order and an open confirmation of hers, on U1000001: real ids, so only access can refuse. */
async function aliceOrders(alice: LoggedIn) {
  const bid = gw.ctx.marketData.live(AAPL).bid;
  const order = await callAs(gw, 'POST', '/v1/accounts/U1000001/orders', alice, {
    clientOrderId: 'resting',
    instrumentId: AAPL.id,
    side: 'BUY',
    type: 'LMT',
    quantity: 1,
    limitPrice: Number((bid * 0.97).toFixed(2)),
    tif: 'GTC',
  });
  expect(order.statusCode).toBe(201);
  const asked = await callAs(gw, 'POST', '/v1/accounts/U1000001/orders', alice, {
    clientOrderId: 'far',
    instrumentId: AAPL.id,
    side: 'BUY',
    type: 'LMT',
    quantity: 1,
    limitPrice: Number((gw.ctx.marketData.live(AAPL).ask * 1.1).toFixed(2)),
    tif: 'GTC',
  });
  expect(asked.statusCode).toBe(409);
  return { orderId: json(order).id as string, confirmationId: json(asked).confirmationId as string };
}

async function snapshot() {
  const db = gw.ctx.store.db;
  return {
    orders: await db.selectFrom('orders').selectAll().orderBy('id').execute(),
    events: (await db.selectFrom('account_events').select('seq').execute()).length,
    confirmations: await db.selectFrom('order_confirmations').select(['id', 'used_at']).execute(),
    switches: await db.selectFrom('dead_man_switches').selectAll().execute(),
    policy: await db
      .selectFrom('accounts')
      .select('session_loss_policy')
      .where('id', '=', 'U1000001')
      .execute(),
  };
}

describe('one place decides account access', () => {
  it('has no other code looking a principal’s accounts or roles up to decide access', () => {
    const src = fileURLToPath(new URL('..', import.meta.url));
    const files = readdirSync(src, { recursive: true, encoding: 'utf8' }).filter(
      (f) =>
        f.endsWith('.ts') &&
        !f.endsWith('.test.ts') &&
        !f.startsWith('access') &&
        !f.startsWith('test-support'),
    );
    expect(files.length).toBeGreaterThan(50);
    // Not access decisions: the last-owner rule (who holds roles) and the demo credentials' printout.
    const holdingRoles = new Set(['identity/roles.ts', 'demo/index.ts']);
    const offenders: string[] = [];
    for (const file of files) {
      const text = readFileSync(join(src, file), 'utf8');
      text.split('\n').forEach((line, i) => {
        if (
          /profile\.accounts\.(find|some|every)\(/.test(line) ||
          (!holdingRoles.has(file) && /\brole\s*[!=]==\s*'(viewer|trader|owner)'/.test(line))
        )
          offenders.push(`${file}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(offenders).toEqual([]);
  });
});

describe.each(testDatabases())(
  'every account route goes through the account-access policy on %s',
  (_name, makeDatabase) => {
    it('has a row here for every route with an account in its path', async () => {
      gw = await gatewayOn(makeDatabase);
      const routes = routesOf(gw.app.printRoutes({ commonPrefix: false })).filter(
        (r) => r.includes(':accountId') && !r.includes('/v1/admin/'),
      );
      expect(routes).toContain('PATCH /v1/accounts/:accountId/orders/:orderId');
      expect(routes.sort()).toEqual(Object.keys(ACCOUNT_ROUTES).sort());
    });

    it('answers another user’s account as an unknown one, on every method, and changes nothing', async () => {
      gw = await gatewayOn(makeDatabase);
      const ids = await aliceOrders(await trader(ALICE));
      const bruno = await trader(BRUNO);
      const before = await snapshot();
      for (const [route, { payload }] of Object.entries(ACCOUNT_ROUTES)) {
        const [method, path] = route.split(' ') as ['GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', string];
        const url = path
          .replace(':accountId', 'U1000001')
          .replace(':orderId', ids.orderId)
          .replace(':confirmationId', ids.confirmationId)
          .replace(':instrumentId', String(AAPL.id));
        const response = await callAs(gw, method, url, bruno, payload?.(ids));
        expect(`${route}: ${errorCode(response)}`).toBe(`${route}: ACCOUNT_NOT_FOUND`);
        expect(response.statusCode).toBe(404);
      }
      for (const { method, url, payload } of NAMED_IN_REQUEST) {
        const response = await callAs(gw, method, url, bruno, payload);
        expect(`${method} ${url}: ${errorCode(response)}`).toBe(`${method} ${url}: ACCOUNT_NOT_FOUND`);
      }
      expect(await snapshot()).toEqual(before);
    });

    it('lets a viewer look, and refuses everything else with ROLE_NOT_ALLOWED, changing nothing', async () => {
      gw = await gatewayOn(makeDatabase);
      const ids = await aliceOrders(await trader(ALICE));
      const viktor = await trader(VIKTOR);
      const before = await snapshot();
      const outcomes: string[] = [];
      const expected: string[] = [];
      for (const [route, { need, payload }] of Object.entries(ACCOUNT_ROUTES)) {
        const [method, path] = route.split(' ') as ['GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', string];
        const url = path
          .replace(':accountId', 'U1000001')
          .replace(':orderId', ids.orderId)
          .replace(':confirmationId', ids.confirmationId)
          .replace(':instrumentId', String(AAPL.id));
        const response = await callAs(gw, method, url, viktor, payload?.(ids));
        outcomes.push(`${route}: ${response.statusCode < 300 ? 'ok' : errorCode(response)}`);
        expected.push(`${route}: ${need === 'view' ? 'ok' : 'ROLE_NOT_ALLOWED'}`);
      }
      for (const { method, url, need, payload } of NAMED_IN_REQUEST) {
        const response = await callAs(gw, method, url, viktor, payload);
        outcomes.push(`${method} ${url}: ${response.statusCode < 300 ? 'ok' : errorCode(response)}`);
        expected.push(`${method} ${url}: ${need === 'view' ? 'ok' : 'ROLE_NOT_ALLOWED'}`);
      }
      expect(outcomes).toEqual(expected);
      expect(await snapshot()).toEqual(before);
      // The stream: resuming the account's events is a view, so the viewer may; another account is unknown.
      const session = json(await callAs(gw, 'GET', '/v1/session', viktor)) as {
        accounts: { id: string; role: string }[];
      };
      expect(session.accounts).toEqual([expect.objectContaining({ id: 'U1000001', role: 'viewer' })]);
    });
  },
);
