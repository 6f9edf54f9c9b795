/** @module marketdata — the simulated feed and what each account may see of it. */
export { blackScholes, brownian, type FeedOptions, type Quote, SimulatedFeed, toTick } from './feed.js';
export { DELAY_MS, type EntitledQuote, type Entitlement, entitlementFor, MarketData } from './view.js';
