/**
 * @module marketdata/feed
 * The simulated L1 feed: a deterministic, seeded random walk per instrument, one step per `tickMs` (250 ms: four
 * quotes a second). The walk is a Brownian motion built by midpoint displacement (Lévy's construction): its value
 * at step k is found by descending a binary tree of seeded Gaussian displacements, so any instant — now, or 15
 * minutes ago for a delayed view — costs ~34 hash evaluations and no stored history, and the same seed gives the
 * same prices in every run and on every node. Options are priced from their underlying with Black–Scholes.
 */
import { findInstrument, type Instrument } from '../instruments/index.js';

export interface Quote {
  instrumentId: number;
  bid: number;
  ask: number;
  last: number;
  bidSize: number;
  askSize: number;
  /** The instant the quote describes (epoch ms). */
  at: number;
}

export interface FeedOptions {
  seed: number;
  /** Step 0 of every walk, where prices equal their base (epoch ms). */
  epoch: number;
  tickMs: number;
}

const DEPTH = 34; // 2^34 steps of 250 ms ≈ 136 years
const YEAR_MS = 365.25 * 24 * 3_600_000;
const RATE = 0.04;
/** Displayed size is 1–20 of these (times the lot size) per side. */
const DISPLAY_UNIT: Record<Instrument['assetClass'], number> = {
  STK: 100,
  ETF: 100,
  OPT: 1,
  FUT: 1,
  FX: 100_000,
  CRYPTO: 5_000,
  BOND: 10,
};

/** 32-bit avalanche mix (MurmurHash3's finaliser) of several integers: the feed's only source of randomness. */
function mix(...values: number[]): number {
  let h = 0x9e3779b9;
  for (const v of values) {
    h ^= Math.imul((v | 0) ^ ((v / 4294967296) | 0), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    h ^= h >>> 16;
  }
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

const uniform = (...values: number[]) => (mix(...values) + 0.5) / 4294967296;

/** A standard normal draw determined by the values (Box–Muller). */
function gaussian(...values: number[]): number {
  const u1 = uniform(...values, 1);
  const u2 = uniform(...values, 2);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/** W(k) of a standard random walk (variance k) for one seed and stream, k ≥ 0. */
export function brownian(seed: number, stream: number, k: number): number {
  let lo = 0;
  let hi = 2 ** DEPTH;
  let wLo = 0;
  let wHi = Math.sqrt(hi) * gaussian(seed, stream, 0, 0);
  for (let depth = 1; hi - lo > 1; depth += 1) {
    const mid = (lo + hi) / 2;
    const wMid = (wLo + wHi) / 2 + Math.sqrt((hi - lo) / 4) * gaussian(seed, stream, depth, lo);
    if (k < mid) {
      hi = mid;
      wHi = wMid;
    } else {
      lo = mid;
      wLo = wMid;
    }
  }
  return k === lo ? wLo : wHi;
}

function normalCdf(x: number): number {
  // Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7).
  const t = 1 / (1 + 0.3275911 * Math.abs(x) * Math.SQRT1_2);
  const poly =
    t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-(x * x) / 2);
  return x >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

/** Black–Scholes value of a European option. */
export function blackScholes(
  right: 'C' | 'P',
  spot: number,
  strike: number,
  years: number,
  vol: number,
): number {
  const t = Math.max(years, 1 / 365);
  const d1 = (Math.log(spot / strike) + (RATE + (vol * vol) / 2) * t) / (vol * Math.sqrt(t));
  const d2 = d1 - vol * Math.sqrt(t);
  const discount = Math.exp(-RATE * t);
  return right === 'C'
    ? spot * normalCdf(d1) - strike * discount * normalCdf(d2)
    : strike * discount * normalCdf(-d2) - spot * normalCdf(-d1);
}

/** Rounds to the instrument's tick (and trims floating-point noise). */
export function toTick(price: number, tick: number, mode: 'down' | 'up' | 'nearest' = 'nearest'): number {
  const steps = price / tick;
  const n =
    mode === 'down' ? Math.floor(steps + 1e-9) : mode === 'up' ? Math.ceil(steps - 1e-9) : Math.round(steps);
  return Number((n * tick).toFixed(10));
}

/** How many steps' quotes stay memoised: the live step, the delayed view's, and a few either side of a tick. */
const MEMO_STEPS = 8;

export class SimulatedFeed {
  readonly #o: FeedOptions;
  /**
   * Quotes already computed, per step and instrument. A quote is a pure function of (seed, instrument, step), so
   * the order gate pricing every working order at the touch, the engine matching and the streams all share one
   * computation per instrument and step instead of one walk descent each.
   */
  readonly #memo = new Map<number, Map<number, Quote>>();

  constructor(options: FeedOptions) {
    this.#o = options;
  }

  get tickMs(): number {
    return this.#o.tickMs;
  }

  /** The step that contains instant `t`. */
  step(t: number): number {
    return Math.floor((t - this.#o.epoch) / this.#o.tickMs);
  }

  /** The walk's mid price for an instrument at step `k` (before rounding). */
  #mid(instrument: Instrument, k: number): number {
    if (instrument.option !== undefined) {
      const underlying = findInstrument(instrument.option.underlyingId);
      if (underlying === undefined) return instrument.tickSize;
      const spot = this.#mid(underlying, k);
      const at = this.#o.epoch + k * this.#o.tickMs;
      const years = (Date.parse(`${instrument.option.expiry}T21:00:00Z`) - at) / YEAR_MS;
      const value = blackScholes(
        instrument.option.right,
        spot,
        instrument.option.strike,
        years,
        instrument.volatility,
      );
      return Math.max(value, instrument.tickSize);
    }
    const sigma = instrument.volatility * Math.sqrt(this.#o.tickMs / YEAR_MS);
    // Steps before the epoch walk backwards on their own stream.
    const w =
      k >= 0
        ? brownian(this.#o.seed, instrument.id, k)
        : brownian(this.#o.seed ^ 0x5bd1e995, instrument.id, -k);
    return instrument.basePrice * Math.exp(sigma * w);
  }

  /** The quote of an instrument at instant `t`: a pure function of (seed, instrument, step), so shared (frozen). */
  quoteAt(instrument: Instrument, t: number): Quote {
    const k = this.step(t);
    let quotes = this.#memo.get(k);
    if (quotes === undefined) {
      if (this.#memo.size >= MEMO_STEPS) this.#memo.delete(this.#memo.keys().next().value as number);
      quotes = new Map();
      this.#memo.set(k, quotes);
    }
    let quote = quotes.get(instrument.id);
    if (quote === undefined) {
      quote = Object.freeze(this.#quote(instrument, k));
      quotes.set(instrument.id, quote);
    }
    return quote;
  }

  #quote(instrument: Instrument, k: number): Quote {
    const tick = instrument.tickSize;
    const mid = this.#mid(instrument, k);
    const spreadTicks =
      instrument.assetClass === 'OPT'
        ? Math.max(1, Math.round((mid * 0.02) / tick))
        : 1 + (mix(this.#o.seed, instrument.id, k, 7) % 3);
    const bid = Math.max(tick, toTick(mid - (spreadTicks * tick) / 2, tick, 'down'));
    const ask = toTick(bid + spreadTicks * tick, tick);
    const lots = (salt: number) => {
      const lotsShown = 1 + (mix(this.#o.seed, instrument.id, k, salt) % 20);
      return Number((lotsShown * DISPLAY_UNIT[instrument.assetClass] * instrument.lotSize).toFixed(8));
    };
    return {
      instrumentId: instrument.id,
      bid,
      ask,
      last: mix(this.#o.seed, instrument.id, k, 3) % 2 === 0 ? bid : ask,
      bidSize: lots(4),
      askSize: lots(5),
      at: this.#o.epoch + k * this.#o.tickMs,
    };
  }
}
