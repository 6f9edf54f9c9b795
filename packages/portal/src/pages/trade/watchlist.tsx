/**
 * The watchlist on the Trade page (`#watchlist`): the user's own instruments (`GET`/`PUT /v1/watchlist`, kept per
 * user, not per session), each with the market data the Readiness check finds for it (live, delayed or none). The
 * instrument found with the page's search is added with one button; each row has its own Remove, and its symbol
 * shows the instrument's quote and ticket.
 */
import type { InstrumentView, Watchlist as WatchlistView } from '@gatehouse/protocol';
import { useEffect, useRef, useState } from 'react';
import { api } from '../../api.js';
import { ErrorText, useAction } from '../../components.js';
import { readinessItem, useReadiness } from '../../readiness-state.js';

const DATA_TEXT = { live: 'Live', delayed: 'Delayed 15 min', none: 'No market data' } as const;

export function Watchlist({
  picked,
  onPick,
}: {
  picked: InstrumentView | null;
  onPick: (instrument: InstrumentView) => void;
}) {
  const [list, setList] = useState<WatchlistView['instruments'] | null>(null);
  const [said, setSaid] = useState('');
  const { busy, error, run } = useAction();
  const { readiness, reload } = useReadiness();
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    void run(async () => setList((await api<WatchlistView>('GET', '/v1/watchlist')).instruments));
  }, [run]);

  const data = new Map(
    readinessItem(readiness, 'market_data')?.details.instruments.map((i) => [i.instrumentId, i]) ?? [],
  );
  // The buttons are never disabled while a change is under way (a disabled button drops the focus): a second
  // press changes nothing until the first is answered.
  const save = async (ids: number[], words: string) => {
    if (busy) return false;
    return run(async () => {
      const saved = await api<WatchlistView>('PUT', '/v1/watchlist', { instrumentIds: ids });
      setList(saved.instruments);
      setSaid(words);
      // The market data of what was added is Readiness's finding: check again.
      await reload();
      return true;
    });
  };
  const ids = list?.map((i) => i.instrumentId) ?? [];
  // The quote and ticket need the whole instrument: found by its symbol, as the page's search finds it.
  const show = (entry: WatchlistView['instruments'][number]) =>
    void run(async () => {
      const { instruments } = await api<{ instruments: InstrumentView[] }>(
        'GET',
        `/v1/instruments?symbol=${encodeURIComponent(entry.symbol)}`,
      );
      const found = instruments.find((i) => i.id === entry.instrumentId);
      if (found !== undefined) onPick(found);
    });
  const canAdd = list !== null && picked !== null && !ids.includes(picked.id);

  return (
    <section id="watchlist" aria-labelledby="watchlist-h" className="card watchlist">
      <h2 id="watchlist-h" ref={heading} tabIndex={-1}>
        Watchlist
      </h2>
      <p className="hint">Readiness checks your market data for these instruments before you need them.</p>
      {list !== null && list.length === 0 && (
        <p>Nothing yet: search for an instrument above and add it here.</p>
      )}
      {list !== null && list.length > 0 && (
        <ul className="list watchlist-rows">
          {list.map((i) => {
            const found = data.get(i.instrumentId);
            return (
              <li key={i.instrumentId} className="row" data-instrument={i.symbol}>
                <span>
                  <button
                    type="button"
                    className="link"
                    aria-label={`Trade ${i.symbol}`}
                    aria-current={picked?.id === i.instrumentId ? 'true' : undefined}
                    onClick={() => show(i)}
                  >
                    <strong>{i.symbol}</strong>
                  </button>{' '}
                  <span className="muted">{i.name}</span>
                </span>
                <span className={`badge ${found?.data ?? 'none'}`}>
                  {found !== undefined
                    ? DATA_TEXT[found.data]
                    : readiness === null
                      ? 'Market data unknown'
                      : 'Checking…'}
                </span>
                {found !== undefined && found.data !== 'live' && found.bundle !== null && (
                  <span className="hint">Live with {found.bundle}</span>
                )}
                <button
                  type="button"
                  className="secondary"
                  aria-label={`Remove ${i.symbol} from the watchlist`}
                  onClick={() =>
                    void save(
                      ids.filter((id) => id !== i.instrumentId),
                      `${i.symbol} removed from your watchlist.`,
                    ).then((saved) => saved && heading.current?.focus())
                  }
                >
                  Remove
                </button>
              </li>
            );
          })}
        </ul>
      )}
      {canAdd && (
        <button
          type="button"
          onClick={() =>
            // The button goes once the instrument is on the list: the focus goes to the list's heading.
            void save([...ids, picked.id], `${picked.symbol} added to your watchlist.`).then(
              (saved) => saved && heading.current?.focus(),
            )
          }
        >
          Add {picked.symbol} to the watchlist
        </button>
      )}
      <p role="status" className="hint">
        {said}
      </p>
      <ErrorText error={error} />
    </section>
  );
}
