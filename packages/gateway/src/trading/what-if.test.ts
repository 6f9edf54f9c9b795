/**
 * What-if before placing (issue 22, item 2): `POST /v1/accounts/{id}/orders/what-if` answers what placing the order
 * would answer now — for every outcome of the pre-trade gate the same code, rule id, words and questions, shown
 * side by side with placing the same order — with its effect on buying power, margin, net liquidation and position
 * (the figures the portfolio shows once the order filled), and changes nothing: no order, event, confirmation,
 * audit entry or reservation. The request's own errors (another user's account, a viewer, a program without the
 * `trade` scope, no CSRF token, an unknown instrument, a bad order) answer as placing's do.
 */
import { type WhatIf, whatIfSchema } from '@gatehouse/protocol';
import type { LightMyRequestResponse } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { deviceProof, generateDeviceKey, parseActivationUri } from '../authenticator/index.js';
import { DEMO_USERS } from '../demo/index.js';
import { changeEntitlements, type EntitlementChange } from '../entitlements/index.js';
import { INSTRUMENTS, type Instrument } from '../instruments/index.js';
import {
  ALICE,
  BRUNO,
  callAs,
  errorCode,
  json,
  type LoggedIn,
  loginAs,
  loginTrading,
  mobileLoginBody,
  startTestGateway,
  TEST_PUBLIC_URL,
  type TestGateway,
  VIKTOR,
} from '../test-support/gateway.js';
import { botToken, registerBot } from '../test-support/program.js';
import { GATE_CHECKS } from './gate.js';

let gw: TestGateway;
afterEach(async () => {
  await gw?.close();
});

const bySymbol = (symbol: string) => INSTRUMENTS.find((i) => i.symbol === symbol) as Instrument;
const AAPL = bySymbol('AAPL');
const SPY = bySymbol('SPY');
const CSPX = bySymbol('CSPX');
const SXR8 = bySymbol('SXR8');
const VOD = bySymbol('VOD');
const CALL = INSTRUMENTS.find((i) => i.option?.right === 'C' && i.region === 'US') as Instrument;
const FUTURE = INSTRUMENTS.find(
  (i) => i.assetClass === 'FUT' && i.future?.cryptoUnderlying === false,
) as Instrument;
const user = (name: string) => DEMO_USERS.find((u) => u.username === name) as (typeof DEMO_USERS)[number];
const CHARLOTTE = user('charlotte');
const HANA = user('hana');

let n = 0;
const order = (o: Record<string, unknown>) => {
  n += 1;
  return {
    clientOrderId: `wi-${n}`,
    instrumentId: AAPL.id,
    side: 'BUY',
    type: 'MKT',
    quantity: 10,
    tif: 'DAY',
    ...o,
  };
};
const quote = (i: Instrument) => gw.ctx.marketData.live(i);
const through = (i: Instrument, fraction: number) => Number((quote(i).ask * (1 + fraction)).toFixed(2));

/** The same request to the what-if and to order entry: a web session, optionally from another address. */
const send = (path: 'orders' | 'orders/what-if', as: LoggedIn, account: string, body: unknown, ip?: string) =>
  gw.app.inject({
    method: 'POST',
    url: `/v1/accounts/${account}/${path}`,
    headers: { cookie: as.cookie, 'x-csrf-token': as.csrf },
    payload: body as Record<string, unknown>,
    ...(ip === undefined ? {} : { remoteAddress: ip }),
  });

function answer(response: LightMyRequestResponse): WhatIf {
  expect(response.statusCode, response.body).toBe(200);
  return whatIfSchema.parse(response.json());
}

type Table = 'orders' | 'account_events' | 'order_confirmations' | 'audit_log';
const count = async (table: Table) =>
  Number(
    (
      await gw.ctx.store.db
        .selectFrom(table)
        .select((e) => e.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );

/** Everything a what-if must leave as it was. */
async function state(alice: LoggedIn) {
  return {
    orders: await count('orders'),
    events: await count('account_events'),
    confirmations: await count('order_confirmations'),
    audit: await count('audit_log'),
    portfolio: json(await callAs(gw, 'GET', '/v1/accounts/U1000001/portfolio', alice)),
  };
}

async function entitle(account: string, change: EntitlementChange) {
  await changeEntitlements({ db: gw.ctx.store.db, clock: gw.clock, bus: gw.ctx.bus }, account, change, {
    userId: null,
    ip: null,
    via: 'admin_api',
  });
}

type Expected =
  | { outcome: 'refused'; code: string; ruleId?: string }
  | { outcome: 'confirmation_required'; questions: string[] }
  | { outcome: 'accepted' };

interface Row {
  /** The gate's check that decides (`GATE_CHECKS`), or the outcome. */
  check: string;
  as: LoggedIn;
  account: string;
  order: Record<string, unknown>;
  ip?: string;
  expected: Expected;
}

/** What-ifs the row, checks nothing changed, places the same order, and holds the two answers side by side. */
async function sideBySide(row: Row) {
  const counts = () => Promise.all((['orders', 'account_events', 'order_confirmations'] as const).map(count));
  const before = await counts();
  const what = answer(await send('orders/what-if', row.as, row.account, row.order, row.ip));
  expect(await counts(), row.check).toEqual(before);
  const placed = await send('orders', row.as, row.account, row.order, row.ip);
  expect(what.outcome, row.check).toBe(row.expected.outcome);
  switch (row.expected.outcome) {
    case 'refused':
      expect(placed.statusCode, row.check).toBeGreaterThanOrEqual(400);
      expect(what.refusal, row.check).toEqual((placed.json() as { error: unknown }).error);
      expect(what.refusal?.code, row.check).toBe(row.expected.code);
      expect(what.refusal?.ruleId, row.check).toBe(row.expected.ruleId);
      expect(what.questions).toBeUndefined();
      break;
    case 'confirmation_required':
      expect(placed.statusCode, row.check).toBe(409);
      expect(what.questions, row.check).toEqual(json(placed).questions);
      expect(what.questions?.map((q) => q.id)).toEqual(row.expected.questions);
      expect(what.refusal).toBeUndefined();
      break;
    case 'accepted':
      expect(placed.statusCode, row.check).toBe(201);
      expect(what.questions).toBeUndefined();
      expect(what.refusal).toBeUndefined();
  }
}

describe('what-if before placing', () => {
  it('answers every outcome of the gate as placing the same order does: the same code, rule, words and questions', async () => {
    gw = await startTestGateway();
    // Alice's first trading session loses trading to her second: it is competing.
    const competing = await loginTrading(gw, ALICE);
    const alice = await loginTrading(gw, ALICE);
    const readOnly = await loginAs(gw, ALICE);
    const bruno = await loginTrading(gw, BRUNO);
    const charlotte = await loginTrading(gw, CHARLOTTE);
    const hana = await loginTrading(gw, HANA);
    await entitle('U3000003', { closingOnly: true });
    await entitle('U4000004', { grantPermissions: [{ assetClass: 'FUT', region: 'US' }] });
    const rows: Row[] = [
      {
        check: 'session: no trading held',
        as: readOnly,
        account: 'U1000001',
        order: order({}),
        expected: { outcome: 'refused', code: 'BROKERAGE_REQUIRED' },
      },
      {
        check: 'session: competing',
        as: competing,
        account: 'U1000001',
        order: order({}),
        expected: { outcome: 'refused', code: 'SESSION_COMPETING' },
      },
      {
        check: 'account_flags: frozen',
        as: alice,
        account: 'U1000009',
        order: order({}),
        expected: { outcome: 'refused', code: 'ACCOUNT_FROZEN' },
      },
      {
        check: 'account_flags: closing only',
        as: charlotte,
        account: 'U3000003',
        order: order({ instrumentId: VOD.id }),
        expected: { outcome: 'refused', code: 'ACCOUNT_CLOSING_ONLY' },
      },
      {
        check: 'product_rules',
        as: bruno,
        account: 'U2000002',
        order: order({ instrumentId: SPY.id, quantity: 1 }),
        expected: { outcome: 'refused', code: 'PRODUCT_NOT_ELIGIBLE', ruleId: 'PRIIPS_KID' },
      },
      {
        check: 'permission',
        as: alice,
        account: 'U1000001',
        order: order({ instrumentId: CSPX.id, quantity: 1 }),
        expected: { outcome: 'refused', code: 'PERMISSION_MISSING' },
      },
      {
        check: 'options_level',
        as: alice,
        account: 'U1000001',
        order: order({ instrumentId: CALL.id, side: 'SELL', quantity: 1 }),
        expected: { outcome: 'refused', code: 'OPTIONS_LEVEL_INSUFFICIENT' },
      },
      {
        check: 'margin_type',
        as: bruno,
        account: 'U2000002',
        order: order({ instrumentId: SXR8.id, side: 'SELL', quantity: 1 }),
        expected: { outcome: 'refused', code: 'MARGIN_NOT_ALLOWED' },
      },
      {
        check: 'disclosures',
        as: hana,
        account: 'U4000004',
        order: order({ instrumentId: FUTURE.id, quantity: 1 }),
        expected: { outcome: 'refused', code: 'DISCLOSURE_REQUIRED' },
      },
      {
        check: 'buying_power',
        as: alice,
        account: 'U1000001',
        order: order({ quantity: 100_000 }),
        expected: { outcome: 'refused', code: 'INSUFFICIENT_BUYING_POWER', ruleId: 'REG_T' },
      },
      {
        check: 'price_band: beyond the outer band',
        as: alice,
        account: 'U1000001',
        order: order({ type: 'LMT', limitPrice: through(AAPL, 0.5), quantity: 1 }),
        expected: { outcome: 'refused', code: 'PRICE_OUT_OF_BAND' },
      },
      {
        check: 'market_data: delayed',
        as: bruno,
        account: 'U2000002',
        order: order({ instrumentId: SXR8.id, quantity: 1 }),
        expected: { outcome: 'confirmation_required', questions: ['delayed_market_data'] },
      },
      {
        check: 'price_band: far through the market',
        as: alice,
        account: 'U1000001',
        order: order({ type: 'LMT', limitPrice: through(AAPL, 0.1), quantity: 1 }),
        expected: { outcome: 'confirmation_required', questions: ['price_far_through_market'] },
      },
      {
        check: 'market_data and price_band: every question',
        as: bruno,
        account: 'U2000002',
        order: order({ instrumentId: SXR8.id, type: 'LMT', limitPrice: through(SXR8, 0.1), quantity: 1 }),
        expected: {
          outcome: 'confirmation_required',
          questions: ['delayed_market_data', 'price_far_through_market'],
        },
      },
      {
        check: 'accepted',
        as: alice,
        account: 'U1000001',
        order: order({}),
        expected: { outcome: 'accepted' },
      },
      {
        // Last: from another network the session must step up, for every order after.
        check: 'session: step-up required',
        as: alice,
        account: 'U1000001',
        order: order({}),
        ip: '203.0.113.5',
        expected: { outcome: 'refused', code: 'STEP_UP_REQUIRED' },
      },
    ];
    // Every check of the gate has its row here (the channel's order types: the next test, on a phone).
    const covered = GATE_CHECKS.map((c) => c.name).filter(
      (name) => name === 'order_type' || rows.some((r) => r.check.split(/:| and /).includes(name)),
    );
    expect(covered).toEqual(GATE_CHECKS.map((c) => c.name));
    for (const row of rows) await sideBySide(row);
  });

  it('answers an order type the channel may not send as placing does (a mobile session, a stop-limit order)', async () => {
    gw = await startTestGateway();
    const alice = await loginAs(gw, ALICE);
    const enroll = await callAs(gw, 'POST', '/v1/devices/mobile/enroll', alice);
    const { code } = parseActivationUri((json(enroll) as { activationUri: string }).activationUri);
    const key = generateDeviceKey();
    const activated = await gw.app.inject({
      method: 'POST',
      url: '/v1/devices/mobile/activate',
      payload: {
        activationCode: code,
        publicKey: key.publicKey,
        name: 'iPhone',
        platform: 'ios',
        pin: '2468',
      },
    });
    const { deviceId } = json(activated) as { deviceId: string };
    const login = await gw.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: mobileLoginBody({ deviceId, privateKey: key.privateKey }, '2468', gw.clock.now()),
    });
    expect(login.statusCode, login.body).toBe(200);
    const { token } = json(login) as { token: string };
    const phone = (path: string, payload: unknown) =>
      gw.app.inject({
        method: 'POST',
        url: path,
        headers: {
          authorization: `Bearer ${token}`,
          'x-device-proof': deviceProof(key, 'POST', `${TEST_PUBLIC_URL}${path}`, token, gw.clock.now()),
        },
        payload: payload as Record<string, unknown>,
      });
    expect((await phone('/v1/session/brokerage', { compete: true })).statusCode).toBe(200);
    const stopLimit = order({
      type: 'STP_LMT',
      stopPrice: through(AAPL, 0.01),
      limitPrice: through(AAPL, 0.02),
    });
    const what = answer(await phone('/v1/accounts/U1000001/orders/what-if', stopLimit));
    const placed = await phone('/v1/accounts/U1000001/orders', stopLimit);
    expect(what).toMatchObject({ outcome: 'refused', refusal: { code: 'ORDER_TYPE_NOT_ALLOWED' } });
    expect(what.refusal).toEqual((placed.json() as { error: unknown }).error);
    // The types it may send are judged on.
    const stop = order({ type: 'STP', stopPrice: through(AAPL, 0.01), quantity: 1 });
    expect(answer(await phone('/v1/accounts/U1000001/orders/what-if', stop)).outcome).toBe('accepted');
  });

  it('shows the effect of an accepted buy and sell: the figures the portfolio shows once each filled', async () => {
    gw = await startTestGateway();
    const alice = await loginTrading(gw, ALICE);
    const portfolio = async () =>
      json(await callAs(gw, 'GET', '/v1/accounts/U1000001/portfolio', alice)) as {
        netLiquidation: number;
        initialMargin: number;
        buyingPower: number;
        positions: { instrumentId: number; quantity: number }[];
      };
    const q = quote(AAPL);
    const mid = (q.bid + q.ask) / 2;
    const buy = order({ quantity: 10 });
    const bought = answer(await send('orders/what-if', alice, 'U1000001', buy));
    expect(bought).toMatchObject({
      outcome: 'accepted',
      effect: {
        currency: 'USD',
        baseCurrency: 'USD',
        price: q.ask,
        commission: 1,
        position: { before: 0, after: 10 },
        initialMargin: { before: 0 },
        netLiquidation: { before: 250_000 },
        buyingPower: { before: 250_000 },
      },
    });
    const e = bought.effect;
    // Reg T: half the order's value, and its commission.
    expect(e.buyingPower.required).toBeCloseTo(0.5 * 10 * q.ask + 1, 1);
    expect(e.initialMargin.after).toBeCloseTo(0.5 * 10 * mid, 1);
    expect(e.netLiquidation.after).toBeCloseTo(250_000 - 1 - 10 * (q.ask - mid), 1);
    expect(e.buyingPower.after).toBeCloseTo(e.netLiquidation.after - e.initialMargin.after, 1);
    expect(e.buyingPower.after).toBeLessThan(e.buyingPower.before - 0.5 * 10 * mid);
    expect((await send('orders', alice, 'U1000001', buy)).statusCode).toBe(201);
    const held = await portfolio();
    expect(held.positions).toEqual([expect.objectContaining({ instrumentId: AAPL.id, quantity: 10 })]);
    expect(held.netLiquidation).toBeCloseTo(e.netLiquidation.after, 1);
    expect(held.initialMargin).toBeCloseTo(e.initialMargin.after, 1);
    expect(held.buyingPower).toBeCloseTo(e.buyingPower.after, 1);

    const sell = order({ side: 'SELL', quantity: 4 });
    const sold = answer(await send('orders/what-if', alice, 'U1000001', sell));
    expect(sold).toMatchObject({
      outcome: 'accepted',
      effect: { price: q.bid, commission: 1, position: { before: 10, after: 6 } },
    });
    const s = sold.effect;
    expect(s.netLiquidation.before).toBeCloseTo(held.netLiquidation, 1);
    expect(s.buyingPower.before).toBeCloseTo(held.buyingPower, 1);
    // Selling part of a long position frees margin: buying power grows by it, less the commission and the spread.
    expect(s.initialMargin.after).toBeCloseTo(0.5 * 6 * mid, 1);
    expect(s.netLiquidation.after).toBeCloseTo(held.netLiquidation - 1 - 4 * (mid - q.bid), 1);
    expect(s.buyingPower.after).toBeGreaterThan(s.buyingPower.before);
    expect((await send('orders', alice, 'U1000001', sell)).statusCode).toBe(201);
    const after = await portfolio();
    expect(after.positions).toEqual([expect.objectContaining({ instrumentId: AAPL.id, quantity: 6 })]);
    expect(after.netLiquidation).toBeCloseTo(s.netLiquidation.after, 1);
    expect(after.initialMargin).toBeCloseTo(s.initialMargin.after, 1);
    expect(after.buyingPower).toBeCloseTo(s.buyingPower.after, 1);
  });

  it('fills a marketable limit at the touch, as the engine does, and shows a resting one at its limit with no paper gain', async () => {
    gw = await startTestGateway();
    const alice = await loginTrading(gw, ALICE);
    const q = quote(AAPL);
    const through = answer(
      await send(
        'orders/what-if',
        alice,
        'U1000001',
        order({ type: 'LMT', limitPrice: Math.round(q.ask * 105) / 100, quantity: 10 }),
      ),
    );
    expect(through.effect).toMatchObject({ price: q.ask, fillsNow: true, position: { after: 10 } });
    const below = Math.round(q.bid * 90) / 100;
    const resting = answer(
      await send(
        'orders/what-if',
        alice,
        'U1000001',
        order({ type: 'LMT', limitPrice: below, quantity: 10 }),
      ),
    );
    expect(resting.outcome).toBe('accepted');
    expect(resting.effect).toMatchObject({
      price: below,
      fillsNow: false,
      position: { before: 0, after: 10 },
    });
    // Filled at its limit and valued there: only the commission leaves the account.
    const e = resting.effect;
    expect(e.netLiquidation.after).toBeCloseTo(e.netLiquidation.before - e.commission, 2);
    // An IOC limit the quote does not fill is cancelled: nothing would change.
    const ioc = answer(
      await send(
        'orders/what-if',
        alice,
        'U1000001',
        order({ type: 'LMT', limitPrice: below, quantity: 10, tif: 'IOC' }),
      ),
    );
    expect(ioc.effect).toMatchObject({ fillsNow: false, position: { before: 0, after: 0 } });
    expect(ioc.effect.netLiquidation.after).toBe(ioc.effect.netLiquidation.before);
  });

  it('answers for every instrument of the catalogue, bought and sold, on a margin and a cash account', async () => {
    gw = await startTestGateway();
    const alice = await loginTrading(gw, ALICE);
    const bruno = await loginTrading(gw, BRUNO);
    for (const [as, account] of [
      [alice, 'U1000001'],
      [bruno, 'U2000002'],
    ] as const)
      for (const instrument of INSTRUMENTS)
        for (const side of ['BUY', 'SELL']) {
          const asked = order({ instrumentId: instrument.id, side, quantity: instrument.lotSize });
          const { effect } = answer(await send('orders/what-if', as, account, asked));
          expect(effect.currency).toBe(instrument.currency);
          expect(Number.isFinite(effect.buyingPower.after), instrument.symbol).toBe(true);
          expect(Number.isFinite(effect.netLiquidation.after), instrument.symbol).toBe(true);
        }
    expect(await count('orders')).toBe(0);
  });

  it('changes nothing: no order, event, confirmation, audit entry or reserved buying power', async () => {
    gw = await startTestGateway();
    const alice = await loginTrading(gw, ALICE);
    const before = await state(alice);
    const bp = (before.portfolio as { buyingPower: number }).buyingPower;
    // Nearly all the buying power, so that a reservation would refuse the order placed next.
    const big = order({ quantity: Math.floor((bp * 0.9) / (0.5 * quote(AAPL).ask)) });
    const answers = [
      await send('orders/what-if', alice, 'U1000001', big),
      await send('orders/what-if', alice, 'U1000001', big),
      await send('orders/what-if', alice, 'U1000001', order({ type: 'LMT', limitPrice: through(AAPL, 0.1) })),
      await send('orders/what-if', alice, 'U1000001', order({ quantity: 100_000 })),
      await send('orders/what-if', alice, 'U1000009', order({})),
    ].map(answer);
    expect(answers.map((a) => a.outcome)).toEqual([
      'accepted',
      'accepted',
      'confirmation_required',
      'refused',
      'refused',
    ]);
    expect(await state(alice)).toEqual(before);
    expect((await send('orders', alice, 'U1000001', big)).statusCode).toBe(201);
  });

  it('meets a sandbox fault as placing would, without counting a hit', async () => {
    gw = await startTestGateway({ config: { sandbox: { enabled: true } } });
    const sandbox = gw.ctx.sandbox;
    if (sandbox === null) throw new Error('sandbox off');
    const alice = await loginTrading(gw, ALICE);
    const injected = await sandbox.inject(
      {
        kind: 'marketdata.revoked',
        target: { type: 'account', id: 'U1000001' },
        params: { bundle: 'US_EQUITY' },
      },
      { type: 'operator' },
    );
    const hits = async () => (await sandbox.list()).find((f) => f.id === injected.id)?.hits;
    const asked = order({});
    for (let i = 0; i < 3; i += 1)
      expect(answer(await send('orders/what-if', alice, 'U1000001', asked))).toMatchObject({
        outcome: 'confirmation_required',
        questions: [{ id: 'delayed_market_data' }],
      });
    expect(await hits()).toBe(0);
    expect((await send('orders', alice, 'U1000001', asked)).statusCode).toBe(409);
    expect(await hits()).toBe(1);
  });

  it('answers the request’s own errors as placing does, and changes nothing', async () => {
    gw = await startTestGateway({ config: { secrets: { adminApiToken: 'a'.repeat(40) } } });
    const alice = await loginTrading(gw, ALICE);
    const bruno = await loginTrading(gw, BRUNO);
    const viktor = await loginAs(gw, VIKTOR);
    const before = await state(alice);
    const both = async (
      as: LoggedIn,
      account: string,
      body: unknown,
      headers: Record<string, string> = {},
    ): Promise<[number, string | undefined]> => {
      const call = (path: string) => callAs(gw, 'POST', `/v1/accounts/${account}/${path}`, as, body, headers);
      const what = await call('orders/what-if');
      const placed = await call('orders');
      expect(what.statusCode).toBe(placed.statusCode);
      expect(errorCode(what)).toBe(errorCode(placed));
      return [what.statusCode, errorCode(what)];
    };
    // Another user's account is answered as an unknown one.
    expect(await both(bruno, 'U1000001', order({}))).toEqual([404, 'ACCOUNT_NOT_FOUND']);
    expect(await both(bruno, 'U9999999', order({}))).toEqual([404, 'ACCOUNT_NOT_FOUND']);
    // A viewer does not trade.
    expect(await both(viktor, 'U1000001', order({}))).toEqual([403, 'ROLE_NOT_ALLOWED']);
    // A browser session without its CSRF token.
    const noCsrf = await gw.app.inject({
      method: 'POST',
      url: '/v1/accounts/U1000001/orders/what-if',
      headers: { cookie: alice.cookie },
      payload: order({}),
    });
    expect(noCsrf.statusCode).toBe(403);
    expect(errorCode(noCsrf)).toBe('CSRF_TOKEN_INVALID');
    expect(
      errorCode(
        await callAs(gw, 'POST', '/v1/accounts/U1000001/orders/what-if', alice, order({}), {
          'x-csrf-token': 'wrong',
        }),
      ),
    ).toBe('CSRF_TOKEN_INVALID');
    // No session at all.
    const anonymous = await gw.app.inject({
      method: 'POST',
      url: '/v1/accounts/U1000001/orders/what-if',
      payload: order({}),
    });
    expect(errorCode(anonymous)).toBe('UNAUTHENTICATED');
    // An unknown instrument, an order the instrument does not take, a body that is not an order.
    expect(await both(alice, 'U1000001', order({ instrumentId: 999_999_999 }))).toEqual([
      404,
      'INSTRUMENT_NOT_FOUND',
    ]);
    expect(await both(alice, 'U1000001', order({ quantity: 0 }))).toEqual([422, 'QUANTITY_INVALID']);
    expect(await both(alice, 'U1000001', order({ type: 'LMT' }))).toEqual([422, 'LIMIT_PRICE_REQUIRED']);
    const [shapeStatus] = await both(alice, 'U1000001', { instrumentId: AAPL.id, side: 'BUY' });
    expect(shapeStatus).toBe(400);
    // A program with the `trade` scope may ask; one without it is refused as placing refuses it.
    const trader = await registerBot(gw, alice, { accounts: ['DU1000001'], scopes: ['read', 'trade'] });
    const tradeToken = await botToken(trader);
    expect(
      (await trader.call('POST', '/v1/session/brokerage', tradeToken, { compete: true })).statusCode,
    ).toBe(200);
    const traded = await trader.call('POST', '/v1/accounts/DU1000001/orders/what-if', tradeToken, order({}));
    expect(answer(traded).outcome).toBe('accepted');
    const reader = await registerBot(gw, alice, { accounts: ['DU1000001'], scopes: ['read'] });
    const token = await botToken(reader);
    for (const path of ['orders/what-if', 'orders']) {
      const refused = await reader.call('POST', `/v1/accounts/DU1000001/${path}`, token, order({}));
      expect(refused.statusCode).toBe(403);
      expect(errorCode(refused)).toBe('SCOPE_REQUIRED');
    }
    // Registering the two programs is audited; nothing else is.
    expect({ ...(await state(alice)), audit: 0 }).toEqual({ ...before, audit: 0 });
  });
});
