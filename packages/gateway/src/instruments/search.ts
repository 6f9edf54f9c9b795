/**
 * @module instruments/search
 * Finding instruments: by symbol prefix, or by words of the name or of the tracked index ("S&P 500" finds SPY, CSPX,
 * SXR8, VUSA; "apple" finds AAPL), case-insensitive; and a fund's equivalents — the other funds tracking its index.
 */
import { type AssetClass, INSTRUMENTS, type Instrument } from './catalogue.js';

export interface InstrumentQuery {
  /** A symbol prefix. */
  symbol?: string;
  /** Free text: a symbol prefix, or words each found in the name or the tracked index. */
  q?: string;
  assetClass?: AssetClass;
}

const fold = (s: string) => s.toLocaleLowerCase('en');

/**
 * How well `instrument` answers free text `q` (lower is better; undefined: not at all): the exact symbol, then a
 * symbol prefix, then every word of `q` in the name or the tracked index.
 */
function rank(instrument: Instrument, q: string): number | undefined {
  const symbol = fold(instrument.symbol);
  if (symbol === q) return 0;
  if (symbol.startsWith(q)) return 1;
  const text = fold(`${instrument.name} ${instrument.tracks ?? ''}`);
  return q.split(/\s+/).every((word) => text.includes(word)) ? 2 : undefined;
}

/** Searches the catalogue (see the module's header), best matches first; at most `limit` results. */
export function searchInstruments(query: InstrumentQuery, limit = 50): Instrument[] {
  const prefix = query.symbol === undefined ? undefined : fold(query.symbol);
  const q = query.q === undefined ? undefined : fold(query.q.trim());
  const found: { instrument: Instrument; rank: number; order: number }[] = [];
  INSTRUMENTS.forEach((instrument, order) => {
    if (query.assetClass !== undefined && instrument.assetClass !== query.assetClass) return;
    if (prefix !== undefined && !fold(instrument.symbol).startsWith(prefix)) return;
    const r = q === undefined || q === '' ? 1 : rank(instrument, q);
    if (r !== undefined) found.push({ instrument, rank: r, order });
  });
  return found
    .sort((a, b) => a.rank - b.rank || a.order - b.order)
    .slice(0, limit)
    .map((f) => f.instrument);
}

/** The other funds tracking the index `instrument` tracks, in catalogue order (none when it tracks none). */
export function equivalentsOf(instrument: Instrument): Instrument[] {
  const { tracks } = instrument;
  if (tracks === undefined) return [];
  return INSTRUMENTS.filter((i) => i.id !== instrument.id && i.tracks === tracks);
}
