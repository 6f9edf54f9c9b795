import { afterEach, describe, expect, it } from 'vitest';
import { findInstrument, INSTRUMENTS, type Instrument } from '../../instruments/index.js';
import { type CpapiTest, startCpapiTest } from '../../test-support/cpapi.js';
import { ALICE, loginTrading } from '../../test-support/gateway.js';
import {
  contractInfoResponseSchema,
  errorBodySchema,
  historyResponseSchema,
  secdefInfoResponseSchema,
  secdefSearchResponseSchema,
  snapshotResponseSchema,
  trsrvSecdefResponseSchema,
  trsrvStocksResponseSchema,
  unsubscribeResponseSchema,
} from '../wire/index.js';

const AAPL = 265598;
const MSFT = 272093;
/** Xetra: Alice has no EU_EQUITY subscription, so its quotes are 15 minutes delayed. */
const SAP = 14093;
/** The Treasury: the bond desk has no free delayed feed, so Alice sees no prices at all. */
const BOND = 566015563;
const AAPL_CALL = INSTRUMENTS.find(
  (i) =>
    i.option?.underlyingId === AAPL &&
    i.option.expiry === '2026-12-18' &&
    i.option.strike === 230 &&
    i.option.right === 'C',
) as Instrument;
const ALL_FIELDS = '31,84,86,85,88,55,6008,6070,6509,7059,70,71,82,83,87,7295,7296,7741,7762';

let t: CpapiTest | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

async function start(): Promise<CpapiTest> {
  t = await startCpapiTest();
  return t;
}

/** The quote the held session's account sees on `/v1` at this instant. */
async function viewOf(c: CpapiTest, id: number) {
  const principal = await c.listener.held.principal();
  const { subscriptions } = await c.gw.ctx.trading.marketDataView(principal);
  return c.gw.ctx.marketData.view(findInstrument(id) as Instrument, subscriptions);
}

function snapshot(c: CpapiTest, conids: readonly (number | string)[], fields = ALL_FIELDS) {
  return c.call('GET', `/iserver/marketdata/snapshot?conids=${conids.join(',')}&fields=${fields}`);
}

async function rows(c: CpapiTest, conids: readonly number[], fields = ALL_FIELDS) {
  const reply = await snapshot(c, conids, fields);
  expect(reply.statusCode).toBe(200);
  return snapshotResponseSchema.parse(reply.json());
}

function expectIbkrError(reply: { statusCode: number; json(): unknown }, status: number, text?: RegExp) {
  expect(reply.statusCode).toBe(status);
  const body = errorBodySchema.parse(reply.json());
  if (text !== undefined) expect(body.error).toMatch(text);
  return body;
}

describe('cpapi contract endpoints', () => {
  it('answer from the catalogue in IBKR shapes, unknown symbols and conids as IBKR answers them', async () => {
    const c = await start();
    const stocks = trsrvStocksResponseSchema.parse(
      (await c.call('GET', '/trsrv/stocks?symbols=AAPL,MSFT,NOPE')).json(),
    );
    expect(stocks.AAPL).toEqual([
      {
        name: 'Apple Inc.',
        chineseName: null,
        assetClass: 'STK',
        contracts: [{ conid: AAPL, exchange: 'NASDAQ', isUS: true }],
      },
    ]);
    expect(stocks.MSFT?.[0]?.contracts[0]?.conid).toBe(MSFT);
    expect(stocks.NOPE).toEqual([]);

    const secdef = trsrvSecdefResponseSchema.parse(
      (await c.call('GET', `/trsrv/secdef?conids=${AAPL},${AAPL_CALL.id},1`)).json(),
    );
    expect(secdef.secdef.map((s) => s.conid)).toEqual([AAPL, AAPL_CALL.id]);
    expect(secdef.secdef[0]).toMatchObject({
      ticker: 'AAPL',
      assetClass: 'STK',
      currency: 'USD',
      hasOptions: true,
    });
    expect(secdef.secdef[1]).toMatchObject({
      assetClass: 'OPT',
      ticker: 'AAPL',
      putOrCall: 'C',
      strike: '230',
      undConid: AAPL,
      expiry: '20261218',
      multiplier: 100,
      incrementRules: [{ lowerEdge: 0, increment: AAPL_CALL.tickSize }],
    });

    const bySymbol = secdefSearchResponseSchema.parse(
      (await c.call('GET', '/iserver/secdef/search?symbol=AAPL')).json(),
    );
    expect(bySymbol.map((h) => h.conid)).toEqual([String(AAPL)]);
    expect(bySymbol[0]?.sections).toContainEqual({
      secType: 'OPT',
      months: 'DEC26;MAR27',
      exchange: 'SMART;CBOE',
    });
    const byName = secdefSearchResponseSchema.parse(
      (await c.call('POST', '/iserver/secdef/search', { symbol: 'apple', name: true })).json(),
    );
    expect(byName.map((h) => h.companyName)).toEqual(['Apple Inc.']);
    const bonds = secdefSearchResponseSchema.parse(
      (await c.call('POST', '/iserver/secdef/search', { symbol: 'T', secType: 'BOND' })).json(),
    );
    expect(bonds.map((h) => h.conid)).toEqual([String(BOND)]);
    expect((await c.call('GET', '/iserver/secdef/search?symbol=ZZZZ')).json()).toEqual([]);
    expectIbkrError(await c.call('POST', '/iserver/secdef/search', { name: true }), 400, /symbol/);

    const option = secdefInfoResponseSchema.parse(
      (
        await c.call('GET', `/iserver/secdef/info?conid=${AAPL}&sectype=OPT&month=DEC26&strike=230&right=C`)
      ).json(),
    );
    expect(option).toEqual([expect.objectContaining({ conid: AAPL_CALL.id, ticker: 'AAPL', right: 'C' })]);
    expect(option[0]?.maturityDate).toBe('20261218');
    const stock = secdefInfoResponseSchema.parse(
      (await c.call('GET', `/iserver/secdef/info?conid=${AAPL}&sectype=STK`)).json(),
    );
    expect(stock.map((s) => s.conid)).toEqual([AAPL]);

    const info = contractInfoResponseSchema.parse(
      (await c.call('GET', `/iserver/contract/${AAPL}/info`)).json(),
    );
    expect(info).toMatchObject({
      con_id: AAPL,
      symbol: 'AAPL',
      company_name: 'Apple Inc.',
      instrument_type: 'STK',
    });
    expect(info).toMatchObject({ currency: 'USD', exchange: 'NASDAQ', multiplier: null, r_t_h: true });
    expectIbkrError(await c.call('GET', '/iserver/contract/1/info'), 400, /conid 1/);
    expectIbkrError(await c.call('GET', '/iserver/contract/AAPL/info'), 400);
  });
});

describe('cpapi market data snapshot', () => {
  it('answers the first request for a conid without prices, then the entitled quote as strings', async () => {
    const c = await start();
    const first = await rows(c, [AAPL, SAP]);
    expect(first.map((r) => r.conid)).toEqual([AAPL, SAP]);
    for (const row of first) {
      expect(row.conidEx).toBe(String(row.conid));
      expect(row._updated).toBe(c.gw.clock.now());
      for (const code of ['31', '84', '86', '6509']) expect(row).not.toHaveProperty(code);
    }

    const [aapl, sap] = await rows(c, [AAPL, SAP]);
    const live = await viewOf(c, AAPL);
    expect(live.entitlement.type).toBe('live');
    expect(aapl).toMatchObject({
      '31': String(live.last),
      '84': String(live.bid),
      '86': String(live.ask),
      '88': String((live.bidSize ?? 0) / 100),
      '85': String((live.askSize ?? 0) / 100),
      '55': 'AAPL',
      '6070': 'STK',
      '6509': 'Rp',
      server_id: first[0]?.server_id,
    });
    const [last, low, high, prior] = ['31', '71', '70', '7741'].map((code) => Number(aapl?.[code]));
    expect(low).toBeLessThanOrEqual(last as number);
    expect(high).toBeGreaterThanOrEqual(last as number);
    expect(Number(aapl?.['82'])).toBeCloseTo((last as number) - (prior as number), 6);
    expect(Number(aapl?.['7762'])).toBeGreaterThan(0);
    expect(aapl?.['87']).toMatch(/^\d+(\.\d+)?[KM]?$/);

    // Alice has no EU_EQUITY subscription: delayed, with the delayed prices `/v1` shows her.
    const delayed = await viewOf(c, SAP);
    expect(delayed.entitlement.type).toBe('delayed');
    expect(sap).toMatchObject({ '6509': 'Dp', '31': String(delayed.last), '84': String(delayed.bid) });
  });

  it('shows an instrument without market data as not subscribed, with no prices', async () => {
    const c = await start();
    await rows(c, [BOND]);
    const [bond] = await rows(c, [BOND]);
    expect((await viewOf(c, BOND)).entitlement.type).toBe('none');
    expect(bond).toMatchObject({ conid: BOND, '6509': 'N', '55': 'T 4 1/4 11/15/34' });
    for (const code of ['31', '84', '86', '70', '7059']) expect(bond).not.toHaveProperty(code);
  });

  it('starts the pre-flight over after an unsubscribe or a new login', async () => {
    const c = await start();
    await rows(c, [AAPL], '31');
    expect((await rows(c, [AAPL], '31'))[0]).toHaveProperty('31');
    const done = await c.call('POST', '/iserver/marketdata/unsubscribe', { conid: AAPL });
    expect(unsubscribeResponseSchema.parse(done.json())).toEqual({ success: true });
    expect((await rows(c, [AAPL], '31'))[0]).not.toHaveProperty('31');
    expect((await rows(c, [AAPL], '31'))[0]?.['31']).toEqual(expect.any(String));
    expectIbkrError(await c.call('POST', '/iserver/marketdata/unsubscribe', { conid: MSFT }), 404);
    expectIbkrError(await c.call('POST', '/iserver/marketdata/unsubscribe', { conid: 'AAPL' }), 400);

    await c.call('POST', '/logout');
    c.gw.clock.advance(30_000);
    await c.listener.held.loginHeadless();
    expect((await rows(c, [AAPL], '31'))[0]).not.toHaveProperty('31');
  });

  it('refuses more than 100 conids or 50 fields, and bad conids, subscribing nothing', async () => {
    const c = await start();
    const many = Array.from({ length: 101 }, () => AAPL);
    expectIbkrError(await snapshot(c, many), 400, /at most 100 conids/);
    expect(await rows(c, many.slice(1), '31')).toHaveLength(100);
    const fields = Array.from({ length: 51 }, (_, k) => String(7000 + k)).join(',');
    expectIbkrError(await snapshot(c, [MSFT], fields), 400, /at most 50 fields/);
    expectIbkrError(await snapshot(c, [MSFT, 'AAPL']), 400, /conids/);
    expectIbkrError(await snapshot(c, [MSFT, 1]), 400, /conid 1 is not valid/);
    expectIbkrError(await c.call('GET', `/iserver/marketdata/snapshot?conids=${MSFT}&fields=last`), 400);
    // None of the refused requests subscribed MSFT: its first answer is still the pre-flight.
    expect((await rows(c, [MSFT], '31'))[0]).not.toHaveProperty('31');
  });
});

describe('cpapi market data history', () => {
  const history = (c: CpapiTest, query: string) => c.call('GET', `/iserver/marketdata/history?${query}`);

  it('answers deterministic bars from the simulated feed, ending at the entitled quote', async () => {
    const c = await start();
    const query = `conid=${AAPL}&period=1h&bar=5min&outsideRth=true`;
    const reply = await history(c, query);
    expect(reply.statusCode).toBe(200);
    const body = historyResponseSchema.parse(reply.json());
    expect(body).toMatchObject({ symbol: 'AAPL', barLength: 300, mdAvailability: 'S', mktDataDelay: 0 });
    expect(body).toMatchObject({ priceFactor: 100, outsideRth: true, points: body.data.length - 1 });
    expect(body.data.length).toBeGreaterThanOrEqual(12);
    expect(body.data.length).toBeLessThanOrEqual(13);
    for (const [k, bar] of body.data.entries()) {
      expect(bar.t % 300_000).toBe(0);
      if (k > 0) expect(bar.t - (body.data[k - 1]?.t ?? 0)).toBe(300_000);
      expect(bar.l).toBeLessThanOrEqual(Math.min(bar.o, bar.c));
      expect(bar.h).toBeGreaterThanOrEqual(Math.max(bar.o, bar.c));
      expect(bar.v).toBeGreaterThan(0);
    }
    expect(body.data.at(-1)?.c).toBe((await viewOf(c, AAPL)).last);
    const again = historyResponseSchema.parse((await history(c, query)).json());
    expect(again.data).toEqual(body.data);

    // Regular hours only: the session opened at 09:30 New York (14:30 UTC) on this Monday.
    const rth = historyResponseSchema.parse((await history(c, `conid=${AAPL}&period=1h&bar=5min`)).json());
    expect(rth.data.length).toBeGreaterThan(0);
    expect(rth.data.length).toBeLessThan(body.data.length);
    for (const bar of rth.data) expect(bar.t).toBeGreaterThanOrEqual(Date.UTC(2026, 0, 5, 14, 30));
    const daily = historyResponseSchema.parse((await history(c, `conid=${AAPL}&period=1w&bar=1d`)).json());
    expect(daily.data.length).toBeGreaterThanOrEqual(4);
    for (const bar of daily.data) {
      const at = new Date(bar.t);
      expect([at.getUTCDay() >= 1 && at.getUTCDay() <= 5, at.getUTCHours(), at.getUTCMinutes()]).toEqual([
        true,
        14,
        30,
      ]);
    }
  });

  it('shows delayed bars 15 minutes back, refuses an instrument without market data and bad bars', async () => {
    const c = await start();
    const delayed = historyResponseSchema.parse(
      (await history(c, `conid=${SAP}&period=30min&bar=1min`)).json(),
    );
    expect(delayed).toMatchObject({ mdAvailability: 'D', mktDataDelay: 900, symbol: 'SAP' });
    expect(delayed.data.at(-1)?.c).toBe((await viewOf(c, SAP)).last);
    expect(delayed.data.at(-1)?.t).toBeLessThanOrEqual(c.gw.clock.now() - 15 * 60_000);
    expectIbkrError(await history(c, `conid=${BOND}&period=1d&bar=1h`), 400, /No market data permissions/);
    expectIbkrError(await history(c, `conid=${AAPL}&period=1d&bar=7x`), 400, /bar 7x/);
    expectIbkrError(await history(c, `conid=AAPL&period=1d&bar=1h`), 400);
    // Beyond 30 years, or a number no period has: IBKR's 400, never a date out of range.
    expectIbkrError(await history(c, `conid=${AAPL}&period=300001y&bar=300000y`), 400, /period 300001y/);
    expectIbkrError(await history(c, `conid=${AAPL}&period=31y&bar=1d`), 400, /period 31y/);
    // The longest answer: 1,000 daily bars, the walk bounded.
    const long = historyResponseSchema.parse((await history(c, `conid=${AAPL}&period=30y&bar=1d`)).json());
    expect(long.data).toHaveLength(1000);
  });
});

describe('cpapi market data gates', () => {
  it('answers 401 without a login and no bridge without the brokerage session', async () => {
    const c = await start();
    await loginTrading(c.gw, ALICE);
    // The web login took the brokerage session: the face's session is competing, read-only.
    expect((await c.call('GET', '/trsrv/stocks?symbols=AAPL')).statusCode).toBe(200);
    for (const reply of [
      await snapshot(c, [AAPL]),
      await c.call('GET', `/iserver/marketdata/history?conid=${AAPL}&period=1d&bar=1h`),
      await c.call('GET', '/iserver/secdef/search?symbol=AAPL'),
      await c.call('POST', '/iserver/marketdata/unsubscribe', { conid: AAPL }),
    ])
      expect(expectIbkrError(reply, 400)).toEqual({ error: 'Bad Request: no bridge', statusCode: 400 });

    await c.call('POST', '/logout');
    for (const reply of [
      await c.call('GET', '/trsrv/stocks?symbols=AAPL'),
      await c.call('GET', `/trsrv/secdef?conids=${AAPL}`),
      await snapshot(c, [AAPL]),
      await c.call('GET', `/iserver/contract/${AAPL}/info`),
    ])
      expectIbkrError(reply, 401);
  });
});
