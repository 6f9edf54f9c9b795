/**
 * @module instruments/catalogue
 * The instrument catalogue (seed data): US stocks and ETFs, European and UK listings with and without a PRIIPs KID,
 * option chains on three underlyings, futures (one a crypto derivative), FX pairs, crypto and a Treasury bond.
 * Each has an integer contract id (as IBKR's conid), its exchange, currency, asset class, region, tick size, lot
 * size, multiplier, KID flag, trading hours and the market-data bundle that carries its quotes. `basePrice` and
 * `volatility` seed the simulated feed.
 *
 * Longer than most modules because the catalogue itself (`INSTRUMENTS`, some 260 lines of seed data) is here.
 */
import { GatehouseError } from '../core/index.js';

export const ASSET_CLASSES = ['STK', 'ETF', 'OPT', 'FUT', 'FX', 'CRYPTO', 'BOND'] as const;
export type AssetClass = (typeof ASSET_CLASSES)[number];
export const MARKET_REGIONS = ['US', 'CA', 'UK', 'EU', 'HK', 'JP', 'AU', 'GLOBAL'] as const;
export type MarketRegion = (typeof MARKET_REGIONS)[number];

/**
 * Market-data bundles, per exchange group. Delayed (15 min) data is free for listed products (research/broker-
 * sessions.md §5); FX and crypto quotes are live for everyone; the bond desk has no delayed feed, so without a
 * subscription a bond has no data at all.
 */
export const MARKET_DATA_BUNDLES = {
  US_EQUITY: { name: 'US equities (NYSE, NASDAQ, ARCA)', free: 'delayed' },
  US_OPTIONS: { name: 'US options (OPRA)', free: 'delayed' },
  CME: { name: 'CME futures', free: 'delayed' },
  EU_EQUITY: { name: 'European equities (Xetra, Euronext)', free: 'delayed' },
  UK_EQUITY: { name: 'London Stock Exchange', free: 'delayed' },
  HK_EQUITY: { name: 'Hong Kong Exchange', free: 'delayed' },
  FX: { name: 'IDEALPRO FX', free: 'live' },
  CRYPTO: { name: 'Crypto (PAXOS)', free: 'live' },
  BONDS: { name: 'US Treasuries', free: 'none' },
} as const;
export type MarketDataBundle = keyof typeof MARKET_DATA_BUNDLES;

export interface TradingHours {
  timeZone: string;
  /** Local HH:MM; `open === close` means around the clock. */
  open: string;
  close: string;
  /** Trades on weekends too (crypto). */
  weekends: boolean;
}

export interface Instrument {
  id: number;
  symbol: string;
  name: string;
  exchange: string;
  currency: string;
  assetClass: AssetClass;
  region: MarketRegion;
  tickSize: number;
  lotSize: number;
  multiplier: number;
  /** A PRIIPs key information document exists (needed for EU/UK retail opening buys of packaged products). */
  kid: boolean;
  hours: TradingHours;
  bundle: MarketDataBundle;
  basePrice: number;
  /** Annualised volatility of the simulated price. */
  volatility: number;
  /** Options: the underlying, right, strike and expiry (YYYY-MM-DD). */
  option?: { underlyingId: number; right: 'C' | 'P'; strike: number; expiry: string };
  /** Futures: expiry, and whether the underlying is a crypto-asset (a crypto derivative). */
  future?: { expiry: string; cryptoUnderlying: boolean; initialMarginRate: number };
  /** FX pairs: the base currency bought or sold against `currency`. */
  fx?: { base: string };
  /** Funds: the index the fund tracks; funds tracking the same index are equivalents of one another. */
  tracks?: string;
}

const NYSE: TradingHours = { timeZone: 'America/New_York', open: '09:30', close: '16:00', weekends: false };
const CME_HOURS: TradingHours = {
  timeZone: 'America/Chicago',
  open: '17:00',
  close: '16:00',
  weekends: false,
};
const XETRA: TradingHours = { timeZone: 'Europe/Berlin', open: '09:00', close: '17:30', weekends: false };
const LSE: TradingHours = { timeZone: 'Europe/London', open: '08:00', close: '16:30', weekends: false };
const HKEX: TradingHours = { timeZone: 'Asia/Hong_Kong', open: '09:30', close: '16:00', weekends: false };
const FX_HOURS: TradingHours = {
  timeZone: 'America/New_York',
  open: '17:15',
  close: '17:00',
  weekends: false,
};
const ALWAYS: TradingHours = { timeZone: 'UTC', open: '00:00', close: '00:00', weekends: true };

type Base = Omit<Instrument, 'hours' | 'bundle' | 'tickSize' | 'lotSize' | 'multiplier' | 'kid'> &
  Partial<Pick<Instrument, 'tickSize' | 'lotSize' | 'multiplier' | 'kid'>>;

function listed(
  spec: Base & { hours: TradingHours; bundle: MarketDataBundle; kid?: boolean; tickSize?: number },
): Instrument {
  return { tickSize: 0.01, lotSize: 1, multiplier: 1, kid: false, ...spec };
}

/** A US-listed stock or ETF: NASDAQ unless said otherwise, USD, New York hours, the US equities bundle. */
function usListed(spec: Omit<Base, 'exchange' | 'currency' | 'region'> & { exchange?: string }): Instrument {
  return listed({
    exchange: 'NASDAQ',
    currency: 'USD',
    region: 'US',
    hours: NYSE,
    bundle: 'US_EQUITY',
    ...spec,
  });
}

const UNDERLYINGS = [
  usListed({
    id: 265598,
    symbol: 'AAPL',
    name: 'Apple Inc.',
    assetClass: 'STK',
    basePrice: 230,
    volatility: 0.28,
  }),
  usListed({
    id: 272093,
    symbol: 'MSFT',
    name: 'Microsoft Corp.',
    assetClass: 'STK',
    basePrice: 420,
    volatility: 0.25,
  }),
  usListed({
    id: 756733,
    symbol: 'SPY',
    name: 'SPDR S&P 500 ETF Trust',
    exchange: 'ARCA',
    assetClass: 'ETF',
    tracks: 'S&P 500',
    basePrice: 580,
    volatility: 0.16,
  }),
];

const OPTION_EXPIRIES = ['2026-12-18', '2027-03-19'];

/** Calls and puts at three strikes around each underlying's base price, for two expiries. */
function optionChain(underlying: Instrument, firstId: number): Instrument[] {
  const step = underlying.basePrice >= 400 ? 10 : 5;
  const atm = Math.round(underlying.basePrice / step) * step;
  const chain: Instrument[] = [];
  let id = firstId;
  for (const expiry of OPTION_EXPIRIES) {
    for (const strike of [atm - step, atm, atm + step]) {
      for (const right of ['C', 'P'] as const) {
        chain.push({
          id: id++,
          symbol: `${underlying.symbol} ${expiry.replaceAll('-', '').slice(2)} ${strike} ${right}`,
          name: `${underlying.symbol} ${expiry} ${strike} ${right === 'C' ? 'call' : 'put'}`,
          exchange: 'CBOE',
          currency: 'USD',
          assetClass: 'OPT',
          region: 'US',
          tickSize: 0.01,
          lotSize: 1,
          multiplier: 100,
          kid: false,
          hours: NYSE,
          bundle: 'US_OPTIONS',
          basePrice: 0,
          volatility: underlying.volatility,
          option: { underlyingId: underlying.id, right, strike, expiry },
        });
      }
    }
  }
  return chain;
}

export const INSTRUMENTS: readonly Instrument[] = [
  ...UNDERLYINGS,
  usListed({
    id: 4815747,
    symbol: 'NVDA',
    name: 'NVIDIA Corp.',
    assetClass: 'STK',
    basePrice: 140,
    volatility: 0.5,
  }),
  usListed({
    id: 76792991,
    symbol: 'TSLA',
    name: 'Tesla Inc.',
    assetClass: 'STK',
    basePrice: 250,
    volatility: 0.6,
  }),
  usListed({
    id: 320227571,
    symbol: 'QQQ',
    name: 'Invesco QQQ Trust',
    assetClass: 'ETF',
    tracks: 'Nasdaq-100',
    basePrice: 500,
    volatility: 0.2,
  }),
  usListed({
    id: 229726316,
    symbol: 'VTI',
    name: 'Vanguard Total Stock Market ETF',
    exchange: 'ARCA',
    assetClass: 'ETF',
    tracks: 'CRSP US Total Market',
    basePrice: 290,
    volatility: 0.16,
  }),
  listed({
    id: 14093,
    symbol: 'SAP',
    name: 'SAP SE',
    exchange: 'IBIS',
    currency: 'EUR',
    assetClass: 'STK',
    region: 'EU',
    hours: XETRA,
    bundle: 'EU_EQUITY',
    basePrice: 230,
    volatility: 0.25,
  }),
  listed({
    id: 117902840,
    symbol: 'ASML',
    name: 'ASML Holding NV',
    exchange: 'AEB',
    currency: 'EUR',
    assetClass: 'STK',
    region: 'EU',
    hours: XETRA,
    bundle: 'EU_EQUITY',
    basePrice: 680,
    volatility: 0.35,
  }),
  listed({
    id: 478149849,
    symbol: 'VWCE',
    name: 'Vanguard FTSE All-World UCITS ETF (Acc)',
    exchange: 'IBIS',
    currency: 'EUR',
    assetClass: 'ETF',
    region: 'EU',
    hours: XETRA,
    bundle: 'EU_EQUITY',
    kid: true,
    tracks: 'FTSE All-World',
    basePrice: 125,
    volatility: 0.15,
  }),
  listed({
    id: 100292038,
    symbol: 'IWDA',
    name: 'iShares Core MSCI World UCITS ETF',
    exchange: 'AEB',
    currency: 'EUR',
    assetClass: 'ETF',
    region: 'EU',
    hours: XETRA,
    bundle: 'EU_EQUITY',
    kid: true,
    tracks: 'MSCI World',
    basePrice: 100,
    volatility: 0.15,
  }),
  listed({
    id: 75776072,
    symbol: 'CSPX',
    name: 'iShares Core S&P 500 UCITS ETF',
    exchange: 'LSEETF',
    currency: 'USD',
    assetClass: 'ETF',
    region: 'UK',
    hours: LSE,
    bundle: 'UK_EQUITY',
    kid: true,
    tracks: 'S&P 500',
    basePrice: 600,
    volatility: 0.16,
  }),
  // UCITS funds on EU venues tracking the same indices as the US ETFs above: what an EU or UK retail client may buy
  // instead (a UCITS fund publishes a KID; a US ETF does not, so PRIIPS_KID blocks opening it).
  listed({
    id: 85234560,
    symbol: 'SXR8',
    name: 'iShares Core S&P 500 UCITS ETF (Acc)',
    exchange: 'IBIS',
    currency: 'EUR',
    assetClass: 'ETF',
    region: 'EU',
    hours: XETRA,
    bundle: 'EU_EQUITY',
    kid: true,
    tracks: 'S&P 500',
    basePrice: 560,
    volatility: 0.16,
  }),
  listed({
    id: 85234561,
    symbol: 'VUSA',
    name: 'Vanguard S&P 500 UCITS ETF (Dist)',
    exchange: 'AEB',
    currency: 'EUR',
    assetClass: 'ETF',
    region: 'EU',
    hours: XETRA,
    bundle: 'EU_EQUITY',
    kid: true,
    tracks: 'S&P 500',
    basePrice: 105,
    volatility: 0.16,
  }),
  listed({
    id: 85234562,
    symbol: 'EQQQ',
    name: 'Invesco EQQQ Nasdaq-100 UCITS ETF',
    exchange: 'IBIS',
    currency: 'EUR',
    assetClass: 'ETF',
    region: 'EU',
    hours: XETRA,
    bundle: 'EU_EQUITY',
    kid: true,
    tracks: 'Nasdaq-100',
    basePrice: 480,
    volatility: 0.2,
  }),
  listed({
    id: 35098,
    symbol: 'VOD',
    name: 'Vodafone Group plc',
    exchange: 'LSE',
    currency: 'GBP',
    assetClass: 'STK',
    region: 'UK',
    hours: LSE,
    bundle: 'UK_EQUITY',
    tickSize: 0.0002,
    basePrice: 0.72,
    volatility: 0.25,
  }),
  listed({
    id: 35099,
    symbol: 'HSBA',
    name: 'HSBC Holdings plc',
    exchange: 'LSE',
    currency: 'GBP',
    assetClass: 'STK',
    region: 'UK',
    hours: LSE,
    bundle: 'UK_EQUITY',
    tickSize: 0.001,
    basePrice: 8.9,
    volatility: 0.22,
  }),
  listed({
    id: 52197301,
    symbol: '700',
    name: 'Tencent Holdings Ltd',
    exchange: 'SEHK',
    currency: 'HKD',
    assetClass: 'STK',
    region: 'HK',
    hours: HKEX,
    bundle: 'HK_EQUITY',
    tickSize: 0.2,
    lotSize: 100,
    basePrice: 420,
    volatility: 0.3,
  }),
  listed({
    id: 1410,
    symbol: '5',
    name: 'HSBC Holdings (HK)',
    exchange: 'SEHK',
    currency: 'HKD',
    assetClass: 'STK',
    region: 'HK',
    hours: HKEX,
    bundle: 'HK_EQUITY',
    tickSize: 0.05,
    lotSize: 400,
    basePrice: 92,
    volatility: 0.22,
  }),
  ...optionChain(UNDERLYINGS[0] as Instrument, 700_000_001),
  ...optionChain(UNDERLYINGS[1] as Instrument, 700_000_101),
  ...optionChain(UNDERLYINGS[2] as Instrument, 700_000_201),
  ...(
    [
      [495512551, 'ESZ6', 'E-mini S&P 500 Dec 2026', 0.25, 50, 5900, 0.16, false],
      [495512552, 'NQZ6', 'E-mini Nasdaq-100 Dec 2026', 0.25, 20, 20800, 0.2, false],
      [495512553, 'CLF7', 'Crude Oil Jan 2027', 0.01, 1000, 72, 0.35, false],
      [495512554, 'MBTZ6', 'Micro Bitcoin Dec 2026', 5, 0.1, 98000, 0.6, true],
    ] as const
  ).map(
    ([id, symbol, name, tickSize, multiplier, basePrice, volatility, cryptoUnderlying]): Instrument => ({
      id,
      symbol,
      name,
      exchange: 'CME',
      currency: 'USD',
      assetClass: 'FUT',
      region: 'US',
      tickSize,
      lotSize: 1,
      multiplier,
      kid: true,
      hours: CME_HOURS,
      bundle: 'CME',
      basePrice,
      volatility,
      future: { expiry: '2026-12-18', cryptoUnderlying, initialMarginRate: cryptoUnderlying ? 0.4 : 0.06 },
    }),
  ),
  ...(
    [
      [12087792, 'EUR', 'USD', 1.08, 0.00005],
      [12087797, 'GBP', 'USD', 1.27, 0.00005],
      [15016059, 'USD', 'JPY', 150, 0.005],
      [12087820, 'USD', 'CHF', 0.88, 0.00005],
      [14433401, 'AUD', 'USD', 0.66, 0.00005],
      [12087817, 'USD', 'HKD', 7.8, 0.00005],
    ] as const
  ).map(
    ([id, base, quote, basePrice, tickSize]): Instrument => ({
      id,
      symbol: `${base}.${quote}`,
      name: `${base}/${quote}`,
      exchange: 'IDEALPRO',
      currency: quote,
      assetClass: 'FX',
      region: 'GLOBAL',
      tickSize,
      lotSize: 1,
      multiplier: 1,
      kid: true,
      hours: FX_HOURS,
      bundle: 'FX',
      basePrice,
      volatility: 0.08,
      fx: { base },
    }),
  ),
  ...(
    [
      [479624278, 'BTC.USD', 'Bitcoin', 98000, 0.25],
      [495759171, 'ETH.USD', 'Ether', 3400, 0.25],
    ] as const
  ).map(
    ([id, symbol, name, basePrice, tickSize]): Instrument => ({
      id,
      symbol,
      name,
      exchange: 'PAXOS',
      currency: 'USD',
      assetClass: 'CRYPTO',
      region: 'US',
      tickSize,
      lotSize: 0.0001,
      multiplier: 1,
      kid: true,
      hours: ALWAYS,
      bundle: 'CRYPTO',
      basePrice,
      volatility: 0.6,
    }),
  ),
  {
    id: 566015563,
    symbol: 'T 4 1/4 11/15/34',
    name: 'US Treasury 4.25% 2034',
    exchange: 'SMART',
    currency: 'USD',
    assetClass: 'BOND',
    region: 'US',
    tickSize: 0.001,
    lotSize: 1,
    multiplier: 10,
    kid: true,
    hours: NYSE,
    bundle: 'BONDS',
    basePrice: 98.5,
    volatility: 0.05,
  },
];

const BY_ID = new Map(INSTRUMENTS.map((i) => [i.id, i]));

export function findInstrument(id: number): Instrument | undefined {
  return BY_ID.get(id);
}

/** The instruments with these ids, in order; `INSTRUMENT_NOT_FOUND` names the first unknown id. */
export function requireInstruments(ids: readonly number[]): Instrument[] {
  return ids.map((id) => {
    const instrument = BY_ID.get(id);
    if (instrument === undefined)
      throw new GatehouseError('INSTRUMENT_NOT_FOUND', undefined, { instrumentId: id });
    return instrument;
  });
}
