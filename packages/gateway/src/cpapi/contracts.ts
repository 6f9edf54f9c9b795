/**
 * @module cpapi/contracts
 * The catalogue's instruments as IBKR describes contracts: the security type, the contract fields that
 * `trsrv/secdef` answers and every position carries (ibind `positions`, a real capture), and the small vocabulary
 * both share (expiries as `YYYYMMDD`, month codes as `DEC26`, the exchanges an order may route to). Instrument ids
 * are IBKR-style conids already.
 */
import { findInstrument, INSTRUMENTS, type Instrument } from '../instruments/index.js';
import { IbkrError } from './kit.js';
import type * as wire from './wire/index.js';

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
/** ISO country of a listing: by exchange (the EU region's), else by region. */
const COUNTRY: Record<string, string> = {
  US: 'US',
  CA: 'CA',
  UK: 'GB',
  HK: 'HK',
  JP: 'JP',
  AU: 'AU',
  IBIS: 'DE',
  AEB: 'NL',
  SBF: 'FR',
};

/** IBKR's `secType`: an ETF trades as a stock, FX as `CASH`. */
export const secType = (i: Instrument): string =>
  i.assetClass === 'ETF' ? 'STK' : i.assetClass === 'FX' ? 'CASH' : i.assetClass;
/** Every security type the catalogue has, in IBKR's words. */
export const SEC_TYPES = [...new Set(INSTRUMENTS.map(secType))];
/** Keys IBKR sends as null where Gatehouse has nothing to say. */
export const nulls = <K extends string>(...keys: K[]) =>
  Object.fromEntries(keys.map((k) => [k, null])) as Record<K, null>;
export const expiryOf = (i: Instrument) => i.option?.expiry ?? i.future?.expiry ?? null;
export const compact = (iso: string | null) => (iso === null ? null : iso.replaceAll('-', ''));
export const monthCode = (iso: string) => `${MONTHS[Number(iso.slice(5, 7)) - 1]}${iso.slice(2, 4)}`;
export const optionsOn = (id: number) => INSTRUMENTS.filter((o) => o.option?.underlyingId === id);
export const underlyingOf = (i: Instrument) =>
  i.option === undefined ? i : (findInstrument(i.option.underlyingId) ?? i);
export const decimals = (tick: number) => (String(tick).split('.')[1] ?? '').length;
export const smart = (i: Instrument) =>
  i.exchange !== 'SMART' && i.assetClass !== 'FX' && i.assetClass !== 'CRYPTO';
export const validExchanges = (i: Instrument) => (smart(i) ? `SMART,${i.exchange}` : i.exchange);

/** The instrument a conid names, or IBKR's 400. */
export function known(id: number): Instrument {
  const instrument = findInstrument(id);
  if (instrument === undefined) throw new IbkrError(400, `Bad Request: conid ${id} is not valid`);
  return instrument;
}

/** A `trsrv/secdef` entry: the contract fields a position carries too (ibind `positions`). */
export function contractFields(i: Instrument): wire.TrsrvSecdefResponse['secdef'][number] {
  const expiry = compact(expiryOf(i));
  const step = { decimalDigits: decimals(i.tickSize), lowerEdge: 0, wholeDigits: 4 };
  return {
    conid: i.id,
    currency: i.currency,
    assetClass: secType(i),
    name: i.name,
    ticker: underlyingOf(i).symbol,
    fullName: i.symbol,
    listingExchange: i.exchange,
    allExchanges: validExchanges(i),
    countryCode: COUNTRY[i.exchange] ?? COUNTRY[i.region] ?? null,
    expiry,
    lastTradingDay: expiry,
    putOrCall: i.option?.right ?? null,
    strike: String(i.option?.strike ?? 0),
    multiplier: i.assetClass === 'STK' || i.assetClass === 'ETF' ? 0 : i.multiplier,
    undConid: i.option?.underlyingId ?? 0,
    ...nulls('chineseName', 'group', 'sector', 'sectorGroup'),
    type: i.assetClass === 'ETF' ? 'ETF' : i.assetClass === 'STK' ? 'COMMON' : null,
    hasOptions: optionsOn(i.id).length > 0,
    isUS: i.region === 'US',
    isEventContract: false,
    incrementRules: [{ lowerEdge: 0, increment: i.tickSize }],
    displayRule: { magnification: 0, displayRuleStep: [step] },
  };
}
