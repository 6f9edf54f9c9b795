/**
 * The gate counts the account's working orders (security review F1). On the code before, every order was judged
 * against cash and filled positions alone: three buys each for 60 % of the buying power were all accepted and drove
 * a cash account to about −1.8 million; two resting sells of a whole holding, changed to marketable prices, opened
 * a short in a cash account; concurrent orders all passed together. Each test here failed then.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { changeEntitlements } from '../entitlements/index.js';
import { INSTRUMENTS, type Instrument } from '../instruments/index.js';
import { type TestDatabase, type TestDatabaseFactory, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  callAs,
  errorCode,
  json,
  type LoggedIn,
  loginTrading,
  startTestGateway,
  type TestGateway,
  type TestGatewayOptions,
} from '../test-support/gateway.js';

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
const ACCOUNT = 'DU1000001'; // Alice's paper account: USD 1,000,000
let n = 0;

const order = (as: LoggedIn, body: Record<string, unknown>) => {
  n += 1;
  return callAs(gw, 'POST', `/v1/accounts/${ACCOUNT}/orders`, as, {
    clientOrderId: `w-${n}`,
    instrumentId: AAPL.id,
    side: 'BUY',
    type: 'LMT',
    tif: 'GTC',
    ...body,
  });
};

async function buyingPower(as: LoggedIn): Promise<number> {
  return (json(await callAs(gw, 'GET', `/v1/accounts/${ACCOUNT}/portfolio`, as)) as { buyingPower: number })
    .buyingPower;
}

/** A resting limit 5 % under the bid, for `share` of the account's buying power. */
async function restingBuy(as: LoggedIn, share: number) {
  const limit = Number((gw.ctx.marketData.live(AAPL).bid * 0.95).toFixed(2));
  const quantity = Math.floor(((await buyingPower(as)) * share) / limit);
  return order(as, { quantity, limitPrice: limit });
}

async function asCashAccount() {
  await changeEntitlements(
    { db: gw.ctx.store.db, clock: gw.clock, bus: gw.ctx.bus },
    ACCOUNT,
    { type: 'cash' },
    { userId: null, ip: null, via: 'admin_api' },
  );
}

describe.each(testDatabases())(
  'the gate counts working orders (security review F1) on %s',
  (_name, makeDatabase) => {
    it('reserves buying power for working orders: a second order beyond what is left is refused', async () => {
      gw = await gatewayOn(makeDatabase);
      const alice = await loginTrading(gw, ALICE);
      await asCashAccount();
      const before = await buyingPower(alice);
      expect((await restingBuy(alice, 0.6)).statusCode).toBe(201);
      const second = await restingBuy(alice, 0.6);
      expect(errorCode(second)).toBe('INSUFFICIENT_BUYING_POWER');
      expect(
        (json(second) as { error: { details: { available: number } } }).error.details.available,
      ).toBeLessThan(before * 0.41);
      // What is left still serves: a third order within it passes.
      expect((await order(alice, { quantity: 1, limitPrice: 100 })).statusCode).toBe(201);
    });

    it('judges concurrent orders on one account one after another: they cannot all pass together', async () => {
      gw = await gatewayOn(makeDatabase);
      const alice = await loginTrading(gw, ALICE);
      await asCashAccount();
      const limit = Number((gw.ctx.marketData.live(AAPL).bid * 0.95).toFixed(2));
      const quantity = Math.floor(((await buyingPower(alice)) * 0.3) / limit);
      const results = await Promise.all(
        Array.from({ length: 6 }, () => order(alice, { quantity, limitPrice: limit })),
      );
      const outcomes = results.map((r) => (r.statusCode === 201 ? 'accepted' : errorCode(r)));
      expect(outcomes.filter((o) => o === 'accepted')).toHaveLength(3);
      expect(outcomes.filter((o) => o === 'INSUFFICIENT_BUYING_POWER')).toHaveLength(3);
    });

    it('judges a change against what the other working orders leave', async () => {
      gw = await gatewayOn(makeDatabase);
      const alice = await loginTrading(gw, ALICE);
      await asCashAccount();
      const first = json(await restingBuy(alice, 0.45)) as { id: string; quantity: number };
      expect(first.id).toBeDefined();
      expect((await restingBuy(alice, 0.45)).statusCode).toBe(201);
      // Alone the first could grow to 90 %; beside the second it cannot pass 55 %.
      const grown = await callAs(gw, 'PATCH', `/v1/accounts/${ACCOUNT}/orders/${first.id}`, alice, {
        quantity: Math.floor(first.quantity * 1.5),
      });
      expect(errorCode(grown)).toBe('INSUFFICIENT_BUYING_POWER');
      // Its own reservation is not counted twice: a small change of it passes.
      const nudged = await callAs(gw, 'PATCH', `/v1/accounts/${ACCOUNT}/orders/${first.id}`, alice, {
        quantity: first.quantity + 1,
      });
      expect(nudged.statusCode).toBe(200);
    });

    it('does not let sells already offered cover another: a cash account cannot go short that way, nor closing-only', async () => {
      gw = await gatewayOn(makeDatabase);
      const alice = await loginTrading(gw, ALICE);
      // Buy 10 shares at the market (they fill at once), then hold them in a cash account.
      expect(json(await order(alice, { type: 'MKT', quantity: 10, tif: 'DAY' }))).toMatchObject({
        status: 'filled',
      });
      await asCashAccount();
      const above = Number((gw.ctx.marketData.live(AAPL).ask * 1.05).toFixed(2));
      const sell = (quantity: number) => order(alice, { side: 'SELL', quantity, limitPrice: above });
      expect((await sell(10)).statusCode).toBe(201);
      // The holding is already offered: another sale of it would be a short sale.
      expect(errorCode(await sell(10))).toBe('MARGIN_NOT_ALLOWED');
      expect(errorCode(await sell(1))).toBe('MARGIN_NOT_ALLOWED');
      await changeEntitlements(
        { db: gw.ctx.store.db, clock: gw.clock, bus: gw.ctx.bus },
        ACCOUNT,
        { type: 'margin', closingOnly: true },
        { userId: null, ip: null, via: 'admin_api' },
      );
      expect(errorCode(await sell(1))).toBe('ACCOUNT_CLOSING_ONLY');
      // A buy does not count the offered shares against it either way.
      expect((await order(alice, { quantity: 1, limitPrice: 1 })).statusCode).toBe(422);
    });
  },
);
