/**
 * @module cpapi/stream/market
 * `smd+CONID+{"fields":[…]}` streams: field-coded quotes (campus "Market Data Fields"; research §6), values as
 * strings as in the snapshot, each frame carrying only the fields whose value changed since the last one the
 * socket got (the first carries every requested field that has a value). The quote is the one the held session's
 * account may see (`MarketData.view`): live, 15-minute delayed or none, which field 6509 states as the snapshot
 * does (`Rp` realtime, `Dp` delayed, `N` not subscribed; research §5); without data the price and size fields are
 * absent. The day's statistics (70, 71, 82, 83, 87, 7295, 7296, 7741, 7762), which the snapshot samples from the
 * feed, are not streamed. A stream ends by itself 10 minutes after it was asked for, as IBKR's do (ibind ws_v2
 * `ibkr_subscriptions.py` resubscribes at 9 minutes; research §6, §12): no frame says so.
 *
 * The snapshot endpoint (`cpapi/routes/market.ts`) exports no formatter, so the field coding is written here, to the
 * same values.
 */
import type { Instrument, MarketDataBundle } from '../../instruments/index.js';
import type { EntitledQuote } from '../../marketdata/index.js';
import { secType } from '../contracts.js';

/** How long an `smd` stream lives before IBKR ends it (research §6). */
export const SMD_LIFETIME_MS = 10 * 60_000;

/** The codes the stream fills; others a client names are ignored. */
export const SMD_FIELDS = [
  '31',
  '55',
  '84',
  '85',
  '86',
  '88',
  '6008',
  '6070',
  '6119',
  '6509',
  '7059',
] as const;

/** Fields sent when a client names none. */
const DEFAULT_FIELDS = ['31', '84', '85', '86', '88'];

/** A field's value: a string, but the conid (6008) is a number, as in the snapshot. */
export type FieldValue = string | number;

/** IBKR's marker of which server streams the conid (`server_id` and field 6119, research §6). */
const SERVER_ID = 'q0';

/** One conid a socket streams. */
export interface MarketWatch {
  conid: number;
  instrument: Instrument;
  fields: readonly string[];
  subscriptions: ReadonlyMap<MarketDataBundle, { professional: boolean }>;
  /** When the stream was asked for, on the gateway's clock. */
  startedAt: number;
  /** The values the socket holds, by field code: what the next frame is compared with. */
  sent: Map<string, FieldValue>;
}

export function newWatch(
  instrument: Instrument,
  fields: readonly string[],
  subscriptions: MarketWatch['subscriptions'],
  now: number,
): MarketWatch {
  const supported = new Set<string>(SMD_FIELDS);
  const asked = fields.length === 0 ? DEFAULT_FIELDS : fields.filter((f) => supported.has(f));
  return {
    conid: instrument.id,
    instrument,
    fields: [...new Set(asked)],
    subscriptions,
    startedAt: now,
    sent: new Map(),
  };
}

/** Sizes 85 and 88 count round lots of 100 for US stocks (campus "Market Data Fields"). */
function sizeOf(instrument: Instrument, size: number): string {
  const lots =
    instrument.region === 'US' && (instrument.assetClass === 'STK' || instrument.assetClass === 'ETF');
  return String(lots ? size / 100 : size);
}

/**
 * Field 6509: R realtime, D delayed, N not subscribed, with `p` for consolidated data (campus "Market Data
 * Fields"; research §5), as the snapshot sends it.
 */
const AVAILABILITY = { live: 'Rp', delayed: 'Dp', none: 'N' } as const;

/** Every supported field of a quote that has a value. */
export function fieldValues(instrument: Instrument, quote: EntitledQuote): Map<string, FieldValue> {
  const values = new Map<string, FieldValue>([
    ['55', instrument.symbol],
    ['6008', instrument.id],
    ['6070', secType(instrument)],
    ['6119', SERVER_ID],
    ['6509', AVAILABILITY[quote.entitlement.type]],
  ]);
  const { last, bid, ask, bidSize, askSize } = quote;
  if (last === null || bid === null || ask === null || bidSize === null || askSize === null) return values;
  values.set('31', String(last));
  values.set('84', String(bid));
  values.set('85', sizeOf(instrument, askSize));
  values.set('86', String(ask));
  values.set('88', sizeOf(instrument, bidSize));
  values.set('7059', String(last === bid ? bidSize : askSize));
  return values;
}

/**
 * The frame for a watch given the quote now: the requested fields whose value differs from what the socket holds,
 * or null when none changed. The watch is not updated: the caller calls `markSent` once the frame went out.
 */
export function smdFrame(
  watch: MarketWatch,
  quote: EntitledQuote,
  now: number,
): { frame: Record<string, unknown>; values: Map<string, FieldValue> } | null {
  const values = fieldValues(watch.instrument, quote);
  const changed: Record<string, FieldValue> = {};
  let any = false;
  for (const code of watch.fields) {
    const value = values.get(code);
    if (value === undefined || watch.sent.get(code) === value) continue;
    changed[code] = value;
    any = true;
  }
  if (!any) return null;
  return {
    frame: {
      topic: `smd+${watch.conid}`,
      conid: watch.conid,
      conidEx: String(watch.conid),
      server_id: SERVER_ID,
      _updated: now,
      ...changed,
    },
    values,
  };
}

/** Records what the socket now holds after a frame went out. */
export function markSent(watch: MarketWatch, values: Map<string, FieldValue>): void {
  for (const code of watch.fields) {
    const value = values.get(code);
    if (value !== undefined) watch.sent.set(code, value);
  }
}
