/**
 * @module cpapi/pacing
 * Pacing as IBKR enforces it on the Client Portal Web API, so a bot meets here the 429s it meets there: a global
 * limit per client address, limits of their own on some endpoints, and a penalty box for an address that keeps
 * going over (every request answers 429 until it is released).
 *
 * The defaults are IBKR's published figures (campus documentation, "Pacing Limitations"; research/ibkr-cpapi.md
 * §1): 10 requests a second through the local gateway; `/tickle` 1 a second; `/sso/validate` 1 a minute;
 * `/iserver/account/orders`, `/iserver/account/trades` and `/portfolio/accounts` 1 every 5 s;
 * `/iserver/marketdata/snapshot` 10 a second; a penalty box of 10 minutes (the older documentation says 15). How
 * many refusals make an address a "repeat offender" IBKR does not publish: 3 within a minute here, a setting like
 * every other figure. Counting is per address and rule, in fixed windows of each rule's length.
 */
import type { Clock } from '../core/index.js';

export interface PacingLimit {
  /** Requests allowed per window. */
  limit: number;
  /** The window, in ms. */
  perMs: number;
}

export interface PacingRule extends PacingLimit {
  /** The endpoint the rule counts, as a path under `/v1/api` (`/tickle`), matched exactly. */
  path: string;
}

export interface PacingOptions {
  global: PacingLimit;
  endpoints: readonly PacingRule[];
  /** Refusals within `offenceWindowMs` that send an address to the penalty box. */
  offencesForPenalty: number;
  offenceWindowMs: number;
  /** How long the penalty box holds an address, in ms. */
  penaltyMs: number;
}

export const IBKR_PACING: PacingOptions = {
  global: { limit: 10, perMs: 1_000 },
  endpoints: [
    { path: '/tickle', limit: 1, perMs: 1_000 },
    { path: '/sso/validate', limit: 1, perMs: 60_000 },
    { path: '/iserver/account/orders', limit: 1, perMs: 5_000 },
    { path: '/iserver/account/trades', limit: 1, perMs: 5_000 },
    { path: '/portfolio/accounts', limit: 1, perMs: 5_000 },
    { path: '/iserver/marketdata/snapshot', limit: 10, perMs: 1_000 },
  ],
  offencesForPenalty: 3,
  offenceWindowMs: 60_000,
  penaltyMs: 10 * 60_000,
};

export type PacingVerdict =
  | { allowed: true }
  | {
      allowed: false;
      /** When the address may try again, in ms from now (the `Retry-After` the face sends). */
      retryAfterMs: number;
      /** The rule that refused: `global`, an endpoint's path, or `penalty_box`. */
      rule: string;
    };

interface Window {
  start: number;
  count: number;
}

interface Address {
  windows: Map<string, Window>;
  /** Times of recent refusals, oldest first. */
  offences: number[];
  boxedUntil: number;
}

/** The pacing state of one face: per client address, bounded (the least recently seen address goes first). */
export class Pacing {
  readonly #o: PacingOptions;
  readonly #clock: Clock;
  readonly #rules: Map<string, PacingRule>;
  readonly #addresses = new Map<string, Address>();
  readonly #maxAddresses: number;

  constructor(options: PacingOptions, clock: Clock, maxAddresses = 10_000) {
    this.#o = options;
    this.#clock = clock;
    this.#rules = new Map(options.endpoints.map((rule) => [rule.path, rule]));
    this.#maxAddresses = maxAddresses;
  }

  /**
   * Counts a request from `address` to `path` (under `/v1/api`) and says whether it may go on. A refused request
   * counts as an offence, not as a request.
   */
  admit(address: string, path: string): PacingVerdict {
    const now = this.#clock.now();
    const state = this.#address(address);
    if (now < state.boxedUntil)
      return { allowed: false, retryAfterMs: state.boxedUntil - now, rule: 'penalty_box' };
    const endpoint = this.#rules.get(path);
    const checks: [string, PacingLimit][] = [['global', this.#o.global]];
    if (endpoint !== undefined) checks.push([endpoint.path, endpoint]);
    for (const [name, limit] of checks) {
      const window = this.#window(state, name, limit, now);
      if (window.count >= limit.limit)
        return this.#offence(state, name, window.start + limit.perMs - now, now);
    }
    for (const [name, limit] of checks) this.#window(state, name, limit, now).count += 1;
    return { allowed: true };
  }

  #offence(state: Address, rule: string, retryAfterMs: number, now: number): PacingVerdict {
    const since = now - this.#o.offenceWindowMs;
    state.offences = state.offences.filter((at) => at > since);
    state.offences.push(now);
    if (state.offences.length >= this.#o.offencesForPenalty) {
      state.offences = [];
      state.boxedUntil = now + this.#o.penaltyMs;
      return { allowed: false, retryAfterMs: this.#o.penaltyMs, rule: 'penalty_box' };
    }
    return { allowed: false, retryAfterMs, rule };
  }

  #window(state: Address, name: string, limit: PacingLimit, now: number): Window {
    let window = state.windows.get(name);
    if (window === undefined || now >= window.start + limit.perMs) {
      window = { start: now, count: 0 };
      state.windows.set(name, window);
    }
    return window;
  }

  #address(address: string): Address {
    let state = this.#addresses.get(address);
    if (state !== undefined) {
      // Most recently seen last: re-insert.
      this.#addresses.delete(address);
    } else {
      state = { windows: new Map(), offences: [], boxedUntil: 0 };
      if (this.#addresses.size >= this.#maxAddresses) {
        const oldest = this.#addresses.keys().next();
        if (oldest.done !== true) this.#addresses.delete(oldest.value);
      }
    }
    this.#addresses.set(address, state);
    return state;
  }
}
