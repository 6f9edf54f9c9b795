/**
 * @module cpapi/routes/market
 * Contracts and market data: `trsrv/stocks`, `trsrv/secdef`, `iserver/secdef/search`, `iserver/secdef/info`,
 * `iserver/contract/{conid}/info`, `iserver/marketdata/snapshot`, `iserver/marketdata/history`,
 * `iserver/marketdata/unsubscribe`.
 *
 * Contracts come from the catalogue, whose instrument ids are IBKR-style conids. Quotes are the held session's view
 * of the simulated feed with its account's subscriptions (`TradingService.marketDataView` and `MarketData.view`,
 * as `/v1/marketdata/snapshot` answers), so the face and `/v1` agree at the same instant, delayed or absent alike.
 * The feed is a pure function of (seed, instrument, instant), so day statistics and history bars are sampled from
 * it at past instants: the same request at the same time gives the same bars. The feed has no trades; a step's
 * "last size" is the displayed size on the side the last price printed at, and volume counts one last size per
 * minute.
 *
 * Longer than most modules because the day statistics and history bars need a trading-hours calendar (regular
 * hours, overnight sessions, weekends) beside the routes.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Clock } from '../../core/index.js';
import { findInstrument, INSTRUMENTS, type Instrument } from '../../instruments/index.js';
import { type EntitledQuote, entitlementFor, type MarketData, type Quote } from '../../marketdata/index.js';
import { lastResetAt, type Principal } from '../../sessions/index.js';
import type { TradingService } from '../../trading/index.js';
import {
  compact,
  contractFields,
  decimals,
  expiryOf,
  known,
  monthCode,
  nulls,
  optionsOn,
  secType,
  smart,
  underlyingOf,
  validExchanges,
} from '../contracts.js';
import { bridged, type FaceState, IbkrError, loggedIn, parseWire } from '../kit.js';
import * as wire from '../wire/index.js';

export interface MarketRoutesDeps {
  face: FaceState;
  trading: TradingService;
  marketData: MarketData;
  clock: Clock;
}

/** IBKR's limits per snapshot request (research §5; campus "Snapshot") and per history answer (campus). */
const MAX_CONIDS = 100;
const MAX_FIELDS = 50;
const MAX_BARS = 1000;
/** The longest period or bar served: 30 years (IBKR's own history goes back about as far). */
const MAX_SPAN_MINUTES = 30 * 525_600;
/** IBKR's limit of 5 history requests at once (campus "Pacing Limitations"; research §1). */
const MAX_HISTORY_AT_ONCE = 5;
/** Steps of the bar walk: a few times the bars served, so nights and weekends never make it unbounded. */
const MAX_HISTORY_STEPS = 4 * MAX_BARS;
/** The campus example's fields, answered when a snapshot names none. */
const DEFAULT_FIELDS = ['31', '84', '86'];
/** The fields that need the day's statistics, sampled from the feed since the session opened. */
const DAY_FIELDS = ['70', '71', '82', '83', '87', '7295', '7296', '7741', '7762'];
/**
 * Field 6509 (campus "Market Data Fields", as ibind `ibkr_definitions.py` quotes it): R realtime, D delayed,
 * N not subscribed; a second `p` for consolidated data (research §5 shows `RpB`/`DPB`). The third letter, B (book),
 * is left out: the feed has a top of book only.
 */
const AVAILABILITY = { live: 'Rp', delayed: 'Dp', none: 'N' } as const;
/** History's `mdAvailability`: S streaming (ibind's real capture), D delayed (ibind `data_availability_by_key`). */
const HISTORY_AVAILABILITY = { live: 'S', delayed: 'D' } as const;
/** The history envelope's constants, as ibind's real capture has them for a stock. */
const HISTORY_FIXED = { volumeFactor: 1, priceDisplayRule: 1, negativeCapable: false, messageVersion: 2 };
const MINUTE = 60_000;
const DAY = 1440 * MINUTE;
/** Period and bar units in minutes: `min`, `h`, `d`, `w`, `m` (a month of 30 days), `y`. */
const UNITS: Record<string, number> = { min: 1, h: 60, d: 1440, w: 10_080, m: 43_200, y: 525_600 };

const conid = z.string().regex(/^\d+$/);
const decimal = z.string().regex(/^\d+(\.\d+)?$/);
const stocksQuerySchema = z.looseObject({ symbols: z.string().min(1) });
const secdefQuerySchema = z.looseObject({ conids: z.string().regex(/^\d+(,\d+)*$/) });
const searchQuerySchema = z.looseObject({
  symbol: z.string(),
  name: z.enum(['true', 'false']).optional(),
  secType: z.enum(['STK', 'IND', 'BOND']).optional(),
});
const infoQuerySchema = z.looseObject({
  conid,
  sectype: z.string().min(1),
  month: z.string().optional(),
  strike: decimal.optional(),
  right: z.enum(['C', 'P']).optional(),
});

/** A search hit; an underlying's options show as its OPT section (months `DEC26;MAR27`) and `opt` expiries. */
function searchItem(i: Instrument): wire.SecdefSearchItem {
  const expiries = [...new Set(optionsOn(i.id).map((o) => o.option?.expiry ?? ''))];
  const exchanges = [...new Set(['SMART', ...optionsOn(i.id).map((o) => o.exchange)])].join(';');
  const sections: wire.SecdefSearchItem['sections'] = [{ secType: secType(i) }];
  if (expiries.length > 0)
    sections.push({ secType: 'OPT', months: expiries.map(monthCode).join(';'), exchange: exchanges });
  return {
    conid: String(i.id),
    companyHeader: `${i.name} - ${i.exchange}`,
    companyName: i.name,
    symbol: i.symbol,
    description: i.exchange,
    ...nulls('restricted', 'fop', 'war'),
    opt: expiries.length === 0 ? null : expiries.map(compact).join(';'),
    sections,
  };
}

function infoItem(i: Instrument): wire.SecdefInfoItem {
  const underlying = underlyingOf(i);
  return {
    conid: i.id,
    ticker: underlying.symbol,
    secType: secType(i),
    listingExchange: i.exchange,
    exchange: smart(i) ? 'SMART' : i.exchange,
    companyName: underlying.name,
    currency: i.currency,
    validExchanges: validExchanges(i),
    maturityDate: compact(expiryOf(i)),
    priceRendering: null,
    ...(i.option === undefined ? {} : { right: i.option.right, strike: i.option.strike }),
  };
}

function contractInfo(i: Instrument): wire.ContractInfoResponse {
  const expiry = compact(expiryOf(i));
  const underlying = underlyingOf(i);
  return {
    con_id: i.id,
    symbol: underlying.symbol,
    company_name: underlying.name,
    instrument_type: secType(i),
    currency: i.currency,
    exchange: i.exchange,
    valid_exchanges: validExchanges(i),
    local_symbol: i.symbol,
    trading_class: underlying.symbol,
    ...nulls('cfi_code', 'cusip', 'industry', 'category', 'classifier', 'text', 'underlying_issuer'),
    contract_clarification_type: null,
    expiry_full: expiry?.slice(0, 6) ?? null,
    maturity_date: expiry,
    contract_month: expiry?.slice(0, 6) ?? null,
    allow_sell_long: false,
    is_zero_commission_security: false,
    underlying_con_id: i.option?.underlyingId ?? 0,
    r_t_h: i.hours.open !== i.hours.close,
    multiplier: i.multiplier === 1 ? null : String(i.multiplier),
    smart_available: smart(i),
  };
}

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const CLOCK_PARTS = { hourCycle: 'h23', weekday: 'short', hour: '2-digit', minute: '2-digit' } as const;
const zoneFormats = new Map<string, Intl.DateTimeFormat>();

/** Whether an instant falls in the instrument's regular hours; an overnight session belongs to the next day. */
function inSession(i: Instrument, t: number): boolean {
  const { open, close, timeZone, weekends } = i.hours;
  if (open === close && weekends) return true;
  const format = zoneFormats.get(timeZone) ?? new Intl.DateTimeFormat('en-US', { ...CLOCK_PARTS, timeZone });
  zoneFormats.set(timeZone, format);
  const parts = Object.fromEntries(format.formatToParts(t).map((p) => [p.type, p.value]));
  const hhmm = `${parts.hour}:${parts.minute}`;
  const overnight = open > close;
  const inHours = open === close || (overnight ? hhmm >= open || hhmm < close : hhmm >= open && hhmm < close);
  const day = (WEEKDAYS.indexOf(parts.weekday ?? '') + (overnight && hhmm >= open ? 1 : 0)) % 7;
  return inHours && (weekends || (day >= 1 && day <= 5));
}

/** The latest local `time` at or before `t` that passes `traded` (walking back over weekends). */
function boundary(i: Instrument, t: number, time: string, traded: (c: number) => boolean): number {
  let c = t;
  for (let k = 0; k < 8; k += 1) {
    c = lastResetAt(c, { timeZone: i.hours.timeZone, time });
    if (traded(c)) return c;
    c -= 1;
  }
  return c;
}
const sessionOpen = (i: Instrument, t: number) => boundary(i, t, i.hours.open, (c) => inSession(i, c));
const sessionClose = (i: Instrument, t: number) => boundary(i, t, i.hours.close, (c) => inSession(i, c - 1));

const lastSize = (q: Quote) => (q.last === q.bid ? q.bidSize : q.askSize);

/** Open, high, low and close of the last price over [from, to], sampled from the feed, and the span's volume. */
function sample(data: MarketData, i: Instrument, from: number, to: number) {
  const n = Math.min(16, Math.max(1, Math.ceil((to - from) / MINUTE)));
  const quotes = Array.from({ length: n + 1 }, (_, k) => data.feed.quoteAt(i, from + ((to - from) * k) / n));
  const prices = quotes.map((q) => q.last);
  const size = quotes.reduce((sum, q) => sum + lastSize(q), 0) / quotes.length;
  const v = Math.round((size * Math.max(to - from, MINUTE)) / MINUTE);
  return { o: prices[0] ?? 0, h: Math.max(...prices), l: Math.min(...prices), c: prices.at(-1) ?? 0, v };
}

/** Field 87: the day's volume with K or M (campus "Market Data Fields"). */
function formatVolume(v: number): string {
  if (v >= 1e6) return `${Number((v / 1e6).toFixed(2))}M`;
  return v >= 1e3 ? `${Number((v / 1e3).toFixed(1))}K` : String(v);
}

/** The requested fields of one instrument's snapshot row, values as strings (campus "Market Data Fields"). */
function snapshotFields(data: MarketData, i: Instrument, quote: EntitledQuote, fields: string[], at: number) {
  const { type } = quote.entitlement;
  const values: Record<string, string | number> = { '55': i.symbol, '6008': i.id, '6070': secType(i) };
  values['6509'] = AVAILABILITY[type];
  const { last, bid, ask } = quote;
  if (last !== null && bid !== null && ask !== null) {
    // Sizes 85/88 of US stocks are shown in round lots of 100 (campus "Market Data Fields").
    const lots = i.region === 'US' && (i.assetClass === 'STK' || i.assetClass === 'ETF') ? 100 : 1;
    Object.assign(values, { '31': String(last), '84': String(bid), '86': String(ask) });
    values['88'] = String((quote.bidSize ?? 0) / lots);
    values['85'] = String((quote.askSize ?? 0) / lots);
    values['7059'] = String(last === bid ? quote.bidSize : quote.askSize);
    if (fields.some((f) => DAY_FIELDS.includes(f))) {
      const open = sessionOpen(i, at);
      const closed = sessionClose(i, at);
      const day = sample(data, i, open, closed > open ? closed - 1 : at);
      const prior = data.feed.quoteAt(i, sessionClose(i, open) - 1).last;
      Object.assign(values, { '70': String(day.h), '71': String(day.l), '7295': String(day.o) });
      if (closed > open) values['7296'] = String(day.c);
      values['7741'] = String(prior);
      values['82'] = String(Number((last - prior).toFixed(decimals(i.tickSize))));
      values['83'] = ((100 * (last - prior)) / prior).toFixed(2);
      Object.assign(values, { '87': formatVolume(day.v), '7762': String(day.v) });
    }
  }
  return Object.fromEntries(fields.flatMap((f) => (values[f] === undefined ? [] : [[f, values[f]]])));
}

/** `30min`, `1h`, `2hrs`, `1d`, `1w`, `1m` (month), `1y` in milliseconds; anything else is IBKR's 400. */
function duration(text: string, name: string): number {
  const match = /^(\d{1,4})\s*(min|mins|hrs|hr|h|d|w|m|y)$/i.exec(text.trim());
  const unit = match?.[2]?.toLowerCase() ?? '';
  const minutes = UNITS[unit.startsWith('min') ? 'min' : unit.startsWith('h') ? 'h' : unit];
  const n = Number(match?.[1] ?? 0);
  if (minutes === undefined || n < 1 || n * minutes > MAX_SPAN_MINUTES)
    throw new IbkrError(400, `Bad Request: ${name} ${text} is not valid`);
  return n * minutes * MINUTE;
}

/** Too many conids or fields: IBKR's 400. */
function atMost(count: number, max: number, what: string): void {
  if (count > max) throw new IbkrError(400, `Bad Request: at most ${max} ${what} per request, not ${count}`);
}

const ibkrTime = (ms: number) =>
  new Date(ms).toISOString().replaceAll('-', '').replace('T', '-').slice(0, 17);

export async function marketRoutes(app: FastifyInstance, deps: MarketRoutesDeps): Promise<void> {
  const { face, trading, marketData, clock } = deps;
  // Snapshot subscriptions of this listener, conid → IBKR's `server_id`: gone with the login that made them.
  const subscribed = new Map<number, string>();
  let holder: string | null = null;
  let servers = 0;
  let histories = 0;
  const subscriptions = () => {
    const current = `${face.held.userId}|${face.held.wsSession}`;
    if (current !== holder) subscribed.clear();
    holder = current;
    return subscribed;
  };

  // Each listing of the symbol is one company entry; a symbol the catalogue lacks answers an empty list.
  app.get('/v1/api/trsrv/stocks', async (request): Promise<wire.TrsrvStocksResponse> => {
    await loggedIn(face);
    const answer: wire.TrsrvStocksResponse = {};
    const symbols = parseWire(stocksQuerySchema, request.query).symbols.split(',');
    for (const symbol of symbols.filter((s) => s.trim() !== '')) {
      const wanted = symbol.trim().toUpperCase();
      const listings = INSTRUMENTS.filter((i) => i.symbol.toUpperCase() === wanted && secType(i) === 'STK');
      answer[symbol.trim()] = listings.map((i) => ({
        name: i.name,
        chineseName: null,
        assetClass: 'STK',
        contracts: [{ conid: i.id, exchange: i.exchange, isUS: i.region === 'US' }],
      }));
    }
    return answer;
  });

  // Unknown conids are left out of the list.
  app.get('/v1/api/trsrv/secdef', async (request): Promise<wire.TrsrvSecdefResponse> => {
    await loggedIn(face);
    const { conids } = parseWire(secdefQuerySchema, request.query);
    const found = conids.split(',').flatMap((c) => findInstrument(Number(c)) ?? []);
    return { secdef: found.map(contractFields) };
  });

  // By symbol prefix, or by company name with `name`; options show as their underlying's OPT section.
  const search = (body: unknown) => {
    const query = parseWire(wire.secdefSearchBodySchema, body);
    const text = query.symbol.trim().toUpperCase();
    if (text === '') throw new IbkrError(400, 'Bad Request: symbol: required');
    return INSTRUMENTS.filter((i) => {
      if (i.assetClass === 'OPT' || query.secType === 'IND') return false;
      if (query.secType === 'STK' && secType(i) !== 'STK') return false;
      if (query.secType === 'BOND' && i.assetClass !== 'BOND') return false;
      return query.name === true
        ? i.name.toUpperCase().includes(text)
        : i.symbol.toUpperCase().startsWith(text);
    }).map(searchItem);
  };
  app.get('/v1/api/iserver/secdef/search', async (request) => {
    await bridged(face);
    const query = parseWire(searchQuerySchema, request.query);
    return search({ ...query, ...(query.name === undefined ? {} : { name: query.name === 'true' }) });
  });
  app.post('/v1/api/iserver/secdef/search', async (request) => {
    await bridged(face);
    return search(request.body);
  });

  // The contract itself when `sectype` is its own; otherwise its options filtered by month, strike and right.
  app.get('/v1/api/iserver/secdef/info', async (request) => {
    await bridged(face);
    const query = parseWire(infoQuerySchema, request.query);
    const base = known(Number(query.conid));
    const wanted = query.sectype.toUpperCase();
    if (secType(base) === wanted) return [infoItem(base)];
    const matches = ({ option: o }: Instrument) =>
      o !== undefined &&
      (query.month === undefined || monthCode(o.expiry) === query.month.toUpperCase()) &&
      (query.strike === undefined || o.strike === Number(query.strike)) &&
      (query.right === undefined || o.right === query.right);
    return wanted === 'OPT' ? optionsOn(base.id).filter(matches).map(infoItem) : [];
  });

  app.get('/v1/api/iserver/contract/:conid/info', async (request) => {
    await bridged(face);
    return contractInfo(known(Number(parseWire(z.looseObject({ conid }), request.params).conid)));
  });

  // The first request for a conid subscribes it and answers its metadata only (the pre-flight, research §5, §9
  // row 9); later ones carry the fields. Everything is checked before anything is subscribed.
  app.get('/v1/api/iserver/marketdata/snapshot', async (request): Promise<wire.SnapshotItem[]> => {
    const principal = await bridged(face);
    const query = parseWire(wire.snapshotQuerySchema, request.query);
    const conids = query.conids.split(',').map(Number);
    const fields = query.fields?.split(',') ?? DEFAULT_FIELDS;
    atMost(conids.length, MAX_CONIDS, 'conids');
    atMost(fields.length, MAX_FIELDS, 'fields');
    const instruments = conids.map(known);
    const { subscriptions: bundles } = await trading.marketDataView(principal);
    const held = subscriptions();
    const fresh = new Set(conids.filter((id) => !held.has(id)));
    for (const id of fresh) held.set(id, `q${servers++}`);
    const now = clock.now();
    return instruments.map((i) => {
      const serverId = held.get(i.id) ?? '';
      const row = { conid: i.id, conidEx: String(i.id), _updated: now, server_id: serverId };
      if (fresh.has(i.id)) return row;
      const quote = marketData.view(i, bundles);
      const at = now - quote.entitlement.delayMs;
      return { ...row, '6119': serverId, ...snapshotFields(marketData, i, quote, fields, at) };
    });
  });

  // Bars end at the instant the entitlement shows (15 min back when delayed); without `outsideRth`, intraday bars
  // outside regular hours are left out and a request out of hours ends at the last session's close.
  // At most 5 at once, as IBKR allows; the bar walk yields to the event loop as it goes, so a long history never
  // holds up the gateway's other requests.
  let historiesRunning = 0;
  app.get('/v1/api/iserver/marketdata/history', async (request): Promise<wire.HistoryResponse> => {
    const principal = await bridged(face);
    if (historiesRunning >= MAX_HISTORY_AT_ONCE)
      throw new IbkrError(429, `Too Many Requests (history: ${MAX_HISTORY_AT_ONCE} at once)`);
    historiesRunning += 1;
    try {
      return await history(principal, request.query);
    } finally {
      historiesRunning -= 1;
    }
  });

  async function history(principal: Principal, rawQuery: unknown): Promise<wire.HistoryResponse> {
    const query = parseWire(wire.historyQuerySchema, rawQuery);
    const i = known(Number(query.conid));
    const period = duration(query.period, 'period');
    const bar = duration(query.bar, 'bar');
    const { type, delayMs } = entitlementFor(i, (await trading.marketDataView(principal)).subscriptions);
    // IBKR's historical-data service words a missing subscription so (its error 162, TWS API).
    if (type === 'none')
      throw new IbkrError(400, `No market data permissions for ${i.exchange} ${secType(i)}`);
    const rth = query.outsideRth !== 'true';
    const now = clock.now() - delayMs;
    const end = rth && !inSession(i, now) ? sessionClose(i, now) : now;
    const opens = { timeZone: i.hours.timeZone, time: i.hours.open };
    const data: wire.HistoryBar[] = [];
    let start = bar >= DAY ? sessionOpen(i, end) : Math.floor(end / bar) * bar;
    for (
      let step = 0;
      start >= end - period && data.length < MAX_BARS && step < MAX_HISTORY_STEPS;
      step += 1
    ) {
      if (step % 64 === 63) await new Promise((resolve) => setImmediate(resolve));
      const close = bar === DAY && rth ? Math.min(sessionClose(i, start + bar), start + bar) : start + bar;
      const to = close >= end ? end : close - 1;
      // A daily bar is a session's; an intraday bar counts when it starts or ends in one.
      const traded = !rth || bar > DAY || inSession(i, start) || (bar < DAY && inSession(i, to));
      if (traded && to >= start) data.unshift({ ...sample(marketData, i, start, to), t: start });
      start = bar === DAY ? lastResetAt(start - 1, opens) : start - bar;
    }
    const factor = 10 ** decimals(i.tickSize);
    const first = data[0]?.t ?? end - period;
    const top = [...data].sort((a, b) => b.h - a.h)[0];
    const bottom = [...data].sort((a, b) => a.l - b.l)[0];
    // `"<price × priceFactor>/<volume>/<minutes from the start>"` (ibind's real capture).
    const extreme = (b: wire.HistoryBar | undefined, price: number) =>
      b === undefined ? '0/0/0' : `${Math.round(price * factor)}/${b.v}/${(b.t - first) / MINUTE}`;
    return {
      serverId: String(++histories),
      symbol: i.symbol,
      text: i.name,
      priceFactor: factor,
      startTime: ibkrTime(first),
      high: extreme(top, top?.h ?? 0),
      low: extreme(bottom, bottom?.l ?? 0),
      timePeriod: query.period,
      barLength: bar / 1000,
      mdAvailability: HISTORY_AVAILABILITY[type],
      mktDataDelay: delayMs / 1000,
      outsideRth: !rth,
      priceDisplayValue: String(decimals(i.tickSize)),
      ...HISTORY_FIXED,
      data,
      points: Math.max(0, data.length - 1),
      travelTime: 0,
    };
  }

  // ibind treats a 404 as "no such subscription" (`marketdata_unsubscribe`).
  app.post('/v1/api/iserver/marketdata/unsubscribe', async (request) => {
    await bridged(face);
    const { conid: id } = parseWire(wire.unsubscribeBodySchema, request.body);
    if (!subscriptions().delete(id))
      throw new IbkrError(404, `Not Found: no market data subscription for conid ${id}`);
    return { success: true };
  });
}
