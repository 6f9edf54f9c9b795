/**
 * The accounts and portfolio endpoints of the CPAPI face: IBKR's shapes (`cpapi/wire/accounts.ts`) holding the
 * values `/v1` answers for the same account, the selected account kept per held session, and refusals that reveal
 * nothing (another user's account answers as an unknown one), with no login, and `/iserver` without brokerage.
 */
import type { PortfolioView } from '@gatehouse/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { totpCode } from '../../factors/index.js';
import { INSTRUMENTS, type Instrument } from '../../instruments/index.js';
import { type CpapiTest, startCpapiTest } from '../../test-support/cpapi.js';
import { type TestDatabase, type TestDatabaseFactory, testDatabases } from '../../test-support/databases.js';
import { ALICE, callAs, type LoggedIn, loginTrading, VIKTOR } from '../../test-support/gateway.js';
import { DEFAULT_IDENTITY } from '../face.js';
import {
  errorBodySchema,
  iserverAccountsResponseSchema,
  ledgerResponseSchema,
  pnlPartitionedResponseSchema,
  portfolioAccountsResponseSchema,
  portfolioMetaResponseSchema,
  portfolioSubaccountsResponseSchema,
  portfolioSummaryResponseSchema,
  positionByConidResponseSchema,
  positionsResponseSchema,
  switchAccountResponseSchema,
} from '../wire/index.js';

let t: CpapiTest | undefined;
let database: TestDatabase | undefined;
afterEach(async () => {
  await t?.close();
  await database?.drop();
  t = undefined;
  database = undefined;
});

async function open(
  makeDatabase: TestDatabaseFactory,
  user: typeof ALICE | null = ALICE,
): Promise<CpapiTest> {
  database = await makeDatabase();
  t = await startCpapiTest({ database, user });
  return t;
}

const AAPL = INSTRUMENTS.find((i) => i.symbol === 'AAPL') as Instrument;
const MSFT = INSTRUMENTS.find((i) => i.symbol === 'MSFT') as Instrument;
const BRUNOS = 'U2000002';
const UNKNOWN = 'U9999999';
const accountPaths = (id: string) => [
  `/portfolio/${id}/meta`,
  `/portfolio/${id}/summary`,
  `/portfolio/${id}/ledger`,
  `/portfolio/${id}/positions/0`,
  `/portfolio/${id}/position/${AAPL.id}`,
];

/** Alice buys 10 AAPL at market on U1000001 through `/v1` (taking brokerage from the face) and it fills. */
async function aliceBuysAapl(c: CpapiTest): Promise<LoggedIn> {
  const web = await loginTrading(c.gw, ALICE);
  const placed = await callAs(c.gw, 'POST', '/v1/accounts/U1000001/orders', web, {
    clientOrderId: 'cpapi-accounts-1',
    instrumentId: AAPL.id,
    side: 'BUY',
    type: 'MKT',
    quantity: 10,
    tif: 'DAY',
  });
  expect(placed.statusCode).toBe(201);
  await c.gw.ctx.trading.matchAll();
  return web;
}

async function portfolioOf(c: CpapiTest, web: LoggedIn, accountId: string): Promise<PortfolioView> {
  const response = await callAs(c.gw, 'GET', `/v1/accounts/${accountId}/portfolio`, web);
  expect(response.statusCode).toBe(200);
  return response.json() as PortfolioView;
}

describe.each(testDatabases())('cpapi accounts and portfolio on %s', (_name, makeDatabase) => {
  it('lists the accounts in iserver/accounts and switches the selected account', async () => {
    // A listener for whoever logs in at its page (one configured for a user logs in no one else).
    const c = await open(makeDatabase, null);
    await loginOnPage(c, ALICE);
    const principal = await c.listener.held.principal();
    const ids = principal.profile.accounts.map((a) => a.id);
    expect(ids).toEqual(expect.arrayContaining(['U1000001', 'DU1000001', 'U1000009']));

    const first = iserverAccountsResponseSchema.parse((await c.call('GET', '/iserver/accounts')).json());
    expect(first).toMatchObject({
      accounts: ids,
      selectedAccount: ids[0],
      serverInfo: DEFAULT_IDENTITY.serverInfo,
      isFT: false,
      isPaper: false,
      groups: [],
      profiles: [],
    });
    expect(Object.keys(first.acctProps)).toEqual(ids);
    expect(first.aliases).toEqual(Object.fromEntries(ids.map((id) => [id, id])));
    expect(first.sessionId).toMatch(/^[0-9a-f]{7}\.[0-9a-f]{8}$/);
    expect(first.sessionId).not.toContain(principal.session.id);

    const other = ids[1] as string;
    const switched = await c.call('POST', '/iserver/account', { acctId: other });
    expect(switchAccountResponseSchema.parse(switched.json())).toEqual({ set: true, acctId: other });
    const selected = () =>
      c.call('GET', '/iserver/accounts').then((r) => iserverAccountsResponseSchema.parse(r.json()));
    expect((await selected()).selectedAccount).toBe(other);

    // Another user's account, an unknown one, and no account at all change nothing.
    for (const acctId of [BRUNOS, UNKNOWN]) {
      const refused = await c.call('POST', '/iserver/account', { acctId });
      expect(refused.statusCode).toBe(400);
      expect(refused.json()).toEqual({
        error: `Bad Request: accountId is not valid: ${acctId}`,
        statusCode: 400,
      });
    }
    const bad = await c.call('POST', '/iserver/account', {});
    expect(bad.statusCode).toBe(400);
    expect(errorBodySchema.parse(bad.json()).error).toMatch(/^Bad Request: acctId/);
    expect((await selected()).selectedAccount).toBe(other);

    // Another user logs in on the listener's page: his first account is selected; Alice again starts at hers.
    await loginOnPage(c, VIKTOR);
    expect(await selected()).toMatchObject({ accounts: ['U1000001'], selectedAccount: 'U1000001' });
    expect((await c.call('POST', '/iserver/account', { acctId: 'DU1000001' })).statusCode).toBe(400);
    await loginOnPage(c, ALICE);
    expect((await selected()).selectedAccount).toBe(ids[0]);
  });

  it('answers portfolio accounts, summary, ledger, positions and P&L with the values /v1 answers', async () => {
    const c = await open(makeDatabase);
    const web = await aliceBuysAapl(c);
    const portfolio = await portfolioOf(c, web, 'U1000001');
    expect(portfolio.positions).toEqual([expect.objectContaining({ instrumentId: AAPL.id, quantity: 10 })]);
    const principal = await c.listener.held.principal();
    expect((await c.gw.ctx.trading.summary(principal, 'U1000001')).netLiquidation).toBe(
      portfolio.netLiquidation,
    );

    // Only a login is needed for /portfolio: the face's session is competing now.
    const accounts = portfolioAccountsResponseSchema.parse(
      (await c.call('GET', '/portfolio/accounts')).json(),
    );
    expect(accounts.map((a) => a.id)).toEqual(principal.profile.accounts.map((a) => a.id));
    const byId = new Map(accounts.map((a) => [a.id, a]));
    expect(byId.get('U1000001')).toMatchObject({
      accountId: 'U1000001',
      accountTitle: 'Alice – US margin',
      currency: 'USD',
      type: 'INDIVIDUAL',
      tradingType: 'STKMRGN',
      ibEntity: 'IBLLC',
      noClientTrading: false,
    });
    expect(byId.get('DU1000001')).toMatchObject({ type: 'DEMO' });
    expect(byId.get('U1000009')).toMatchObject({ tradingType: 'STKCASH', noClientTrading: true });
    const subaccounts = await c.call('GET', '/portfolio/subaccounts');
    expect(portfolioSubaccountsResponseSchema.parse(subaccounts.json())).toEqual(accounts);
    const meta = await c.call('GET', '/portfolio/U1000001/meta');
    expect(portfolioMetaResponseSchema.parse(meta.json())).toEqual(byId.get('U1000001'));

    const quote = c.gw.ctx.marketData.live(AAPL);
    const mid = (quote.bid + quote.ask) / 2;
    const positions = positionsResponseSchema.parse(
      (await c.call('GET', '/portfolio/U1000001/positions/0')).json(),
    );
    expect(positions).toHaveLength(1);
    const [aapl] = positions;
    expect(aapl).toMatchObject({
      acctId: 'U1000001',
      conid: AAPL.id,
      contractDesc: 'AAPL',
      ticker: 'AAPL',
      assetClass: 'STK',
      currency: 'USD',
      position: 10,
      avgPrice: portfolio.positions[0]?.avgCost,
      avgCost: portfolio.positions[0]?.avgCost,
      pageSize: 100,
      isUS: true,
      hasOptions: true,
    });
    const cash = portfolio.cash.USD ?? 0;
    expect(aapl?.mktPrice).toBeCloseTo(mid, 6);
    expect(aapl?.mktValue).toBeCloseTo(10 * mid, 6);
    expect(aapl?.unrealizedPnl).toBeCloseTo(10 * (mid - (aapl?.avgPrice ?? 0)), 6);
    expect(cash + (aapl?.mktValue ?? 0)).toBeCloseTo(portfolio.netLiquidation, 6);
    expect((await c.call('GET', '/portfolio/U1000001/positions/1')).json()).toEqual([]);
    const byConid = await c.call('GET', `/portfolio/U1000001/position/${AAPL.id}`);
    expect(positionByConidResponseSchema.parse(byConid.json())).toEqual(positions);
    expect((await c.call('GET', `/portfolio/U1000001/position/${MSFT.id}`)).json()).toEqual([]);
    expect((await c.call('GET', '/portfolio/U1000001/positions/x')).statusCode).toBe(400);
    expect((await c.call('GET', '/portfolio/U1000001/position/AAPL')).statusCode).toBe(400);

    const summary = portfolioSummaryResponseSchema.parse(
      (await c.call('GET', '/portfolio/U1000001/summary')).json(),
    );
    expect(summary.accountcode).toMatchObject({ value: 'U1000001', currency: null, isNull: false });
    expect(summary.netliquidation).toMatchObject({ amount: portfolio.netLiquidation, currency: 'USD' });
    expect(summary.totalcashvalue?.amount).toBeCloseTo(cash, 6);
    expect(summary.initmarginreq?.amount).toBe(portfolio.initialMargin);
    expect(summary.availablefunds?.amount).toBe(portfolio.buyingPower);
    expect(summary.buyingpower?.amount).toBe(portfolio.buyingPower);
    expect(summary.grosspositionvalue?.amount).toBeCloseTo(aapl?.mktValue ?? 0, 6);
    expect(summary.excessliquidity?.amount).toBeCloseTo(
      portfolio.netLiquidation - portfolio.initialMargin,
      6,
    );
    expect(summary.netliquidation?.timestamp).toBe(c.gw.clock.now());

    const ledger = ledgerResponseSchema.parse((await c.call('GET', '/portfolio/U1000001/ledger')).json());
    expect(Object.keys(ledger)).toEqual(['BASE', 'USD']);
    expect(ledger.BASE).toMatchObject({ acctcode: 'U1000001', currency: 'BASE', exchangerate: 1 });
    expect(ledger.BASE?.netliquidationvalue).toBe(portfolio.netLiquidation);
    expect(ledger.USD).toMatchObject({
      currency: 'USD',
      secondkey: 'USD',
      endofbundle: 1,
      cashbalance: cash,
    });
    expect(ledger.USD?.stockmarketvalue).toBeCloseTo(aapl?.mktValue ?? 0, 6);
    expect(ledger.USD?.unrealizedpnl).toBeCloseTo(aapl?.unrealizedPnl ?? 0, 6);
    expect(ledger.USD?.netliquidationvalue).toBeCloseTo(portfolio.netLiquidation, 6);
    expect(ledger.BASE?.timestamp).toBe(Math.floor(c.gw.clock.now() / 1000));
    expect(ledger.BASE?.endofbundle).toBeUndefined();

    // The web login took brokerage: /iserver answers IBKR's `no bridge` until the face competes it back.
    for (const [method, path] of [
      ['GET', '/iserver/accounts'],
      ['POST', '/iserver/account'],
      ['GET', '/iserver/account/pnl/partitioned'],
    ] as const) {
      const refused = await c.call(method, path, method === 'POST' ? { acctId: 'U1000001' } : undefined);
      expect(refused.statusCode).toBe(400);
      expect(refused.json()).toEqual({ error: 'Bad Request: no bridge', statusCode: 400 });
    }
    expect(
      (await c.call('POST', '/iserver/auth/ssodh/init', { publish: true, compete: true })).statusCode,
    ).toBe(200);
    const pnl = pnlPartitionedResponseSchema.parse(
      (await c.call('GET', '/iserver/account/pnl/partitioned')).json(),
    );
    expect(Object.keys(pnl.upnl).sort()).toEqual(
      principal.profile.accounts.map((a) => `${a.id}.Core`).sort(),
    );
    expect(pnl.upnl['U1000001.Core']).toMatchObject({ rowType: 1, nl: portfolio.netLiquidation });
    expect(pnl.upnl['U1000001.Core']?.mv).toBeCloseTo(aapl?.mktValue ?? 0, 6);
    expect(pnl.upnl['U1000001.Core']?.upl).toBeCloseTo(aapl?.unrealizedPnl ?? 0, 6);
    const paper = await portfolioOf(c, web, 'DU1000001');
    expect(pnl.upnl['DU1000001.Core']).toMatchObject({ nl: paper.netLiquidation, mv: 0, upl: 0 });
  });

  it("refuses another user's account exactly as an unknown one, and everything without a login", async () => {
    const c = await open(makeDatabase);
    for (const path of accountPaths('U1000001')) expect((await c.call('GET', path)).statusCode).toBe(200);
    for (const [theirs, unknown] of accountPaths(BRUNOS).map((p, i) => [p, accountPaths(UNKNOWN)[i]])) {
      const refused = await c.call('GET', theirs as string);
      expect(refused.statusCode).toBe(404);
      expect(errorBodySchema.parse(refused.json())).toMatchObject({ statusCode: 404 });
      expect(refused.json().error).toContain('[Gatehouse ACCOUNT_NOT_FOUND]');
      expect(refused.body).not.toContain(BRUNOS);
      expect(refused.body).toBe((await c.call('GET', unknown as string)).body);
    }
    const pnl = pnlPartitionedResponseSchema.parse(
      (await c.call('GET', '/iserver/account/pnl/partitioned')).json(),
    );
    expect(Object.keys(pnl.upnl)).not.toContain(`${BRUNOS}.Core`);

    await c.call('POST', '/logout');
    for (const [method, path] of [
      ['GET', '/iserver/accounts'],
      ['POST', '/iserver/account'],
      ['GET', '/iserver/account/pnl/partitioned'],
      ['GET', '/portfolio/accounts'],
      ['GET', '/portfolio/subaccounts'],
      ...accountPaths('U1000001').map((p) => ['GET', p] as const),
    ] as const) {
      const response = await c.call(method, path, method === 'POST' ? { acctId: 'U1000001' } : undefined);
      expect(response.statusCode, path).toBe(401);
      expect(response.json()).toEqual({ error: 'not authenticated', statusCode: 401 });
    }
  });

  it('lets a viewer read the account he views, and no other', async () => {
    const c = await open(makeDatabase, VIKTOR);
    const accounts = portfolioAccountsResponseSchema.parse(
      (await c.call('GET', '/portfolio/accounts')).json(),
    );
    expect(accounts).toEqual([expect.objectContaining({ id: 'U1000001', noClientTrading: true })]);
    for (const path of accountPaths('U1000001')) expect((await c.call('GET', path)).statusCode).toBe(200);
    const summary = portfolioSummaryResponseSchema.parse(
      (await c.call('GET', '/portfolio/U1000001/summary')).json(),
    );
    const principal = await c.listener.held.principal();
    const view = await c.gw.ctx.trading.summary(principal, 'U1000001');
    expect(summary.netliquidation?.amount).toBe(view.netLiquidation);
    for (const path of accountPaths('DU1000001')) expect((await c.call('GET', path)).statusCode).toBe(404);
    const iserver = iserverAccountsResponseSchema.parse((await c.call('GET', '/iserver/accounts')).json());
    expect(iserver).toMatchObject({ accounts: ['U1000001'], selectedAccount: 'U1000001' });
  });
});

/** Logs `user` in on the listener's own `/sso/Login` page (password, then an authenticator code). */
async function loginOnPage(c: CpapiTest, user: { username: string; password: string; totpSecret: string }) {
  c.gw.clock.advance(30_000);
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const started = await c.listener.app.inject({
    method: 'POST',
    url: '/sso/Login',
    headers: form,
    payload: new URLSearchParams({ username: user.username, password: user.password }).toString(),
  });
  const cookie = started.cookies.find((k) => k.name === 'gh_cpapi_login');
  expect(cookie).toBeDefined();
  const done = await c.listener.app.inject({
    method: 'POST',
    url: '/sso/Login/factor',
    headers: { ...form, cookie: `gh_cpapi_login=${cookie?.value}` },
    payload: new URLSearchParams({
      type: 'totp',
      code: totpCode(user.totpSecret, c.gw.clock.now()),
    }).toString(),
  });
  expect(done.body).toContain('Client login succeeds');
}
