/**
 * Restrictions before any order (issue 20, item 6): `GET /v1/accounts/{id}/instruments/{conid}/availability`
 * answers with the pre-trade gate's own verdict in plain words — an EU retail client may close but not open a US
 * ETF without a KID, a UK listing needs its permission — offers the UCITS funds tracking the same index with their
 * own availability, tells a viewer the role does not trade, and refuses another user's account and unknown ids.
 * The refusal after ordering anyway says the same words and keeps its code, rule id and details; instrument search
 * matches names as well as symbols.
 */
import type { Availability } from '@gatehouse/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { DEMO_USERS } from '../demo/index.js';
import { INSTRUMENTS, type Instrument } from '../instruments/index.js';
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
import { botToken, registerBot } from '../test-support/program.js';

let gw: TestGateway;
afterEach(async () => {
  await gw?.close();
});

const bySymbol = (symbol: string) => INSTRUMENTS.find((i) => i.symbol === symbol) as Instrument;
const SPY = bySymbol('SPY');
const CSPX = bySymbol('CSPX');
const SXR8 = bySymbol('SXR8');
const VUSA = bySymbol('VUSA');

const CHARLOTTE = DEMO_USERS.find((u) => u.username === 'charlotte') as (typeof DEMO_USERS)[number];

const availability = async (as: LoggedIn, account: string, id: number | string) =>
  callAs(gw, 'GET', `/v1/accounts/${account}/instruments/${id}/availability`, as);
const read = async (as: LoggedIn, account: string, id: number) =>
  json(await availability(as, account, id)) as unknown as Availability;

async function search(as: LoggedIn, query: string): Promise<string[]> {
  const response = await callAs(gw, 'GET', `/v1/instruments?${query}`, as);
  expect(response.statusCode).toBe(200);
  return (json(response) as { instruments: { symbol: string }[] }).instruments.map((i) => i.symbol);
}

describe('instrument availability', () => {
  it('tells an EU retail client a US ETF without a KID is closing only, and offers the UCITS funds on the S&P 500', async () => {
    gw = await startTestGateway();
    const bruno = await loginAs(gw, BRUNO);
    const spy = await read(bruno, 'U2000002', SPY.id);
    expect(spy).toMatchObject({
      accountId: 'U2000002',
      instrumentId: SPY.id,
      status: 'closing_only',
      summary: 'Not available to EU retail clients: no KID — closing only',
      canTrade: true,
      open: {
        allowed: false,
        restriction: { code: 'PRODUCT_NOT_ELIGIBLE', ruleId: 'PRIIPS_KID' },
      },
      close: { allowed: true },
      marketData: { type: 'delayed', bundle: 'US_EQUITY' },
      optionsLevel: 0,
    });
    expect(spy.open.restriction?.message).toBe(
      'Not available to EU retail clients: no KID — closing only. SPY has no key information document (KID), which EU retail clients need to buy it; selling what you hold is allowed.',
    );
    // The equivalents, available first: the EU listings he is permitted, then the London one he is not.
    expect(spy.equivalents.map((e) => [e.instrument.symbol, e.status, e.summary])).toEqual([
      ['SXR8', 'available', 'Available on this account'],
      ['VUSA', 'available', 'Available on this account'],
      ['CSPX', 'not_available', 'ETF · UK not permitted on this account'],
    ]);
    expect(spy.equivalents[2]?.open.restriction).toMatchObject({
      code: 'PERMISSION_MISSING',
      details: { permission: 'ETF:UK' },
    });
    expect(spy.equivalents.every((e) => e.instrument.tracks === 'S&P 500')).toBe(true);
    // An instrument he may buy offers nothing else.
    const sxr8 = await read(bruno, 'U2000002', SXR8.id);
    expect(sxr8).toMatchObject({ status: 'available', equivalents: [] });
  });

  it('tells a US client the same ETF is available, with live data', async () => {
    gw = await startTestGateway();
    const alice = await loginAs(gw, ALICE);
    const spy = await read(alice, 'U1000001', SPY.id);
    expect(spy).toMatchObject({
      status: 'available',
      summary: 'Available on this account',
      canTrade: true,
      open: { allowed: true },
      close: { allowed: true },
      marketData: { type: 'live', name: 'US equities (NYSE, NASDAQ, ARCA)' },
      optionsLevel: 2,
      equivalents: [],
    });
    // A frozen account: neither opening nor closing.
    const frozen = await read(alice, 'U1000009', bySymbol('AAPL').id);
    expect(frozen).toMatchObject({
      status: 'not_available',
      summary: 'Account frozen — no orders',
      open: { restriction: { code: 'ACCOUNT_FROZEN' } },
    });
    // UCITS funds in London: no UK permission on her account.
    expect(await read(alice, 'U1000001', CSPX.id)).toMatchObject({
      status: 'not_available',
      summary: 'ETF · UK not permitted on this account',
    });
  });

  it('tells a UK retail client what binds her, in UK words, and that the London fund is available to her', async () => {
    gw = await startTestGateway();
    const charlotte = await loginAs(gw, CHARLOTTE);
    // No US ETF permission: neither side; the badge names what blocks closing too.
    const spy = await read(charlotte, 'U3000003', SPY.id);
    expect(spy).toMatchObject({
      status: 'not_available',
      summary: 'ETF · US not permitted on this account',
      open: {
        restriction: {
          ruleId: 'PRIIPS_KID',
          summary: 'Not available to UK retail clients: no KID — closing only',
        },
      },
      close: { restriction: { code: 'PERMISSION_MISSING' } },
    });
    expect(spy.equivalents.map((e) => [e.instrument.symbol, e.status])).toEqual([
      ['CSPX', 'available'],
      ['SXR8', 'not_available'],
      ['VUSA', 'not_available'],
    ]);
    expect(spy.equivalents[1]?.summary).toBe('ETF · EU not permitted on this account');
    // An option on a margin account without the options permission or level.
    const option = INSTRUMENTS.find((i) => i.assetClass === 'OPT') as Instrument;
    expect(await read(charlotte, 'U3000003', option.id)).toMatchObject({
      status: 'not_available',
      summary: 'Options · US not permitted on this account',
    });
  });

  it('tells a viewer the role does not trade, and answers what the gate would', async () => {
    gw = await startTestGateway();
    const viktor = await loginAs(gw, VIKTOR);
    const spy = await read(viktor, 'U1000001', SPY.id);
    expect(spy).toMatchObject({
      status: 'view_only',
      canTrade: false,
      summary: 'View only — your role on this account does not trade',
      open: { allowed: false, restriction: { code: 'ROLE_NOT_ALLOWED' } },
      close: { allowed: false, restriction: { code: 'ROLE_NOT_ALLOWED' } },
      marketData: { type: 'live' },
    });
  });

  it('answers a program through its grant: view only without the trade scope, unknown outside the grant', async () => {
    gw = await startTestGateway();
    const alice = await loginAs(gw, ALICE);
    const reader = await registerBot(gw, alice, { accounts: ['DU1000001'], scopes: ['read'] });
    const readerToken = await botToken(reader);
    const url = (account: string) => `/v1/accounts/${account}/instruments/${SPY.id}/availability`;
    const seen = await reader.call('GET', url('DU1000001'), readerToken);
    expect(seen.statusCode).toBe(200);
    expect(json(seen)).toMatchObject({
      status: 'view_only',
      canTrade: false,
      summary: 'View only — this access token has no trade scope',
      open: { restriction: { code: 'SCOPE_REQUIRED' } },
    });
    expect(errorCode(await reader.call('GET', url('U1000001'), readerToken))).toBe('ACCOUNT_NOT_FOUND');
    const trader = await registerBot(gw, alice, { accounts: ['DU1000001'], scopes: ['read', 'trade'] });
    const traded = await trader.call('GET', url('DU1000001'), await botToken(trader));
    expect(json(traded)).toMatchObject({ status: 'available', canTrade: true });
  });

  it('refuses another user’s account as an unknown one, unknown or malformed ids, and anyone signed out', async () => {
    gw = await startTestGateway();
    const alice = await loginAs(gw, ALICE);
    const bruno = await loginAs(gw, BRUNO);
    const theirs = await availability(alice, 'U2000002', SPY.id);
    expect(theirs.statusCode).toBe(404);
    expect(errorCode(theirs)).toBe('ACCOUNT_NOT_FOUND');
    expect(errorCode(await availability(bruno, 'U9999999', SPY.id))).toBe('ACCOUNT_NOT_FOUND');
    const unknown = await availability(bruno, 'U2000002', 999_999_999);
    expect(unknown.statusCode).toBe(404);
    expect(json(unknown).error).toMatchObject({
      code: 'INSTRUMENT_NOT_FOUND',
      details: { instrumentId: 999_999_999 },
    });
    for (const bad of ['abc', '-5', '0', '1.5', '9'.repeat(20)]) {
      const response = await availability(bruno, 'U2000002', bad);
      expect(response.statusCode, bad).toBe(400);
      expect(errorCode(response), bad).toBe('INVALID_REQUEST');
    }
    const anonymous = await gw.app.inject({
      method: 'GET',
      url: `/v1/accounts/U2000002/instruments/${SPY.id}/availability`,
    });
    expect(anonymous.statusCode).toBe(401);
  });

  it('answers a session that does not hold trading: availability is a read', async () => {
    gw = await startTestGateway();
    const first = await loginAs(gw, BRUNO);
    expect((await callAs(gw, 'POST', '/v1/session/brokerage', first, { compete: true })).statusCode).toBe(
      200,
    );
    const second = await loginAs(gw, BRUNO);
    expect(await read(second, 'U2000002', VUSA.id)).toMatchObject({ status: 'available' });
  });

  it('refuses an order anyway with the same plain words, its code, rule id and details unchanged', async () => {
    gw = await startTestGateway();
    const bruno = await loginAs(gw, BRUNO);
    expect((await callAs(gw, 'POST', '/v1/session/brokerage', bruno, { compete: true })).statusCode).toBe(
      200,
    );
    const order = { clientOrderId: 'r-1', side: 'BUY', type: 'MKT', quantity: 1, tif: 'DAY' };
    const spy = await callAs(gw, 'POST', '/v1/accounts/U2000002/orders', bruno, {
      ...order,
      instrumentId: SPY.id,
    });
    expect(spy.statusCode).toBe(422);
    expect(json(spy).error).toMatchObject({
      code: 'PRODUCT_NOT_ELIGIBLE',
      ruleId: 'PRIIPS_KID',
      message:
        'Not available to EU retail clients: no KID — closing only. SPY has no key information document (KID), which EU retail clients need to buy it; selling what you hold is allowed.',
    });
    const cspx = await callAs(gw, 'POST', '/v1/accounts/U2000002/orders', bruno, {
      ...order,
      clientOrderId: 'r-2',
      instrumentId: CSPX.id,
    });
    expect(json(cspx).error).toMatchObject({
      code: 'PERMISSION_MISSING',
      details: { permission: 'ETF:UK' },
      message:
        'ETF · UK not permitted on this account. The account has no trading permission for ETFs in the UK.',
    });
  });
});

describe('instrument search by name', () => {
  it('finds funds by index and companies by name, case-insensitive, the symbol first', async () => {
    gw = await startTestGateway();
    const alice = await loginAs(gw, ALICE);
    expect(await search(alice, 'q=S%26P%20500&assetClass=ETF')).toEqual(['SPY', 'CSPX', 'SXR8', 'VUSA']);
    expect(await search(alice, 'q=s%26p%20500')).toContain('ESZ6');
    expect(await search(alice, 'q=apple')).toEqual(['AAPL']);
    expect(await search(alice, 'q=APPLE%20inc')).toEqual(['AAPL']);
    expect((await search(alice, 'q=spy'))[0]).toBe('SPY');
    expect(await search(alice, 'q=nasdaq-100&assetClass=ETF')).toEqual(['QQQ', 'EQQQ']);
    expect(await search(alice, 'q=no%20such%20thing')).toEqual([]);
    // The symbol prefix search is as it was.
    expect(await search(alice, 'symbol=AAP&assetClass=STK')).toEqual(['AAPL']);
  });

  it('refuses bad input with a coded error', async () => {
    gw = await startTestGateway();
    const alice = await loginAs(gw, ALICE);
    for (const query of [
      'q=',
      'q=%20%20',
      `q=${'x'.repeat(65)}`,
      'q=a%00b',
      'q=a&colour=red',
      'assetClass=SHOE',
    ]) {
      const response = await callAs(gw, 'GET', `/v1/instruments?${query}`, alice);
      expect(response.statusCode, query).toBe(400);
      expect(errorCode(response), query).toBe('INVALID_REQUEST');
    }
  });
});
