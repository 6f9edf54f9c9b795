/**
 * @module marketdata/view
 * What a session sees of the feed depends on its account's subscriptions (research/broker-sessions.md §5): live
 * with a subscription to the instrument's bundle; otherwise the bundle's free view — 15-minute delayed for listed
 * products, live for FX and crypto, nothing for bonds. Every quote carries its entitlement `{type, delayMs}`, so
 * a client can never mistake a delayed price for a live one.
 *
 * The failure sandbox's `marketdata.revoked` fault on an instrument acts here, on every quote of it, as if the
 * subscription to its bundle were gone; on an account, user, session or client it acts where the account's
 * subscriptions are read (`EntitlementsCache`).
 */

import type { QuoteView } from '@gatehouse/protocol';
import { type Clock, type FaultProbe, noFaults } from '../core/index.js';
import { type Instrument, MARKET_DATA_BUNDLES, type MarketDataBundle } from '../instruments/index.js';
import type { Quote, SimulatedFeed } from './feed.js';

export const DELAY_MS = 15 * 60_000;

export interface Entitlement {
  type: 'live' | 'delayed' | 'none';
  delayMs: number;
  bundle: MarketDataBundle;
  professional: boolean;
}

/** The wire quote (`QuoteView`), its entitlement naming the bundle by its catalogue key. */
export interface EntitledQuote extends Omit<QuoteView, 'entitlement'> {
  entitlement: Entitlement;
}

export function entitlementFor(
  instrument: Instrument,
  subscriptions: ReadonlyMap<MarketDataBundle, { professional: boolean }>,
): Entitlement {
  const subscribed = subscriptions.get(instrument.bundle);
  if (subscribed !== undefined)
    return { type: 'live', delayMs: 0, bundle: instrument.bundle, professional: subscribed.professional };
  const free = MARKET_DATA_BUNDLES[instrument.bundle].free;
  return {
    type: free,
    delayMs: free === 'delayed' ? DELAY_MS : 0,
    bundle: instrument.bundle,
    professional: false,
  };
}

export class MarketData {
  constructor(
    readonly feed: SimulatedFeed,
    readonly clock: Clock,
    readonly faults: FaultProbe = noFaults,
  ) {}

  /** The true current quote (the paper engine and the gate's price band use it, never a session). */
  live(instrument: Instrument): Quote {
    return this.feed.quoteAt(instrument, this.clock.now());
  }

  /** The quote as an account with these subscriptions may see it. */
  view(
    instrument: Instrument,
    subscriptions: ReadonlyMap<MarketDataBundle, { professional: boolean }>,
  ): EntitledQuote {
    const entitlement = entitlementFor(
      instrument,
      this.faults.armed ? this.#withoutRevoked(instrument, subscriptions) : subscriptions,
    );
    if (entitlement.type === 'none') {
      return {
        instrumentId: instrument.id,
        symbol: instrument.symbol,
        bid: null,
        ask: null,
        last: null,
        bidSize: null,
        askSize: null,
        at: null,
        entitlement,
      };
    }
    const q = this.feed.quoteAt(instrument, this.clock.now() - entitlement.delayMs);
    return {
      instrumentId: instrument.id,
      symbol: instrument.symbol,
      bid: q.bid,
      ask: q.ask,
      last: q.last,
      bidSize: q.bidSize,
      askSize: q.askSize,
      at: new Date(q.at).toISOString(),
      entitlement,
    };
  }

  /** The subscriptions less the instrument's bundle while a `marketdata.revoked` fault on the instrument holds. */
  #withoutRevoked(
    instrument: Instrument,
    subscriptions: ReadonlyMap<MarketDataBundle, { professional: boolean }>,
  ): ReadonlyMap<MarketDataBundle, { professional: boolean }> {
    const fault = this.faults.holds('marketdata.revoked', { instrument: instrument.symbol });
    if (fault?.params.bundle !== instrument.bundle || !subscriptions.has(instrument.bundle))
      return subscriptions;
    const kept = new Map(subscriptions);
    kept.delete(instrument.bundle);
    return kept;
  }
}
