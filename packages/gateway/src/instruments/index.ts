/**
 * @module instruments — the instrument catalogue: what can be traded and quoted, by asset class, region and
 * market-data bundle, found by symbol or name, with the funds that track the same index. Trading, market data and
 * entitlements all read it; it depends on nothing but core.
 */
export {
  ASSET_CLASSES,
  type AssetClass,
  findInstrument,
  INSTRUMENTS,
  type Instrument,
  MARKET_DATA_BUNDLES,
  MARKET_REGIONS,
  type MarketDataBundle,
  type MarketRegion,
  requireInstruments,
  type TradingHours,
} from './catalogue.js';
export { equivalentsOf, type InstrumentQuery, searchInstruments } from './search.js';
