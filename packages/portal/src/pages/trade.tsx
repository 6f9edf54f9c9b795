/**
 * Paper trading: instrument search and a quote with its entitlement badge (this file), the order ticket with every
 * gate outcome shown as the gateway words it (`trade/ticket`), and the blotter — working orders to modify or cancel,
 * order history, executions, positions and cash (`trade/blotter`) — updated live from `/v1/stream`; and the
 * watchlist Readiness checks market data for (`trade/watchlist`).
 */
import type { InstrumentView, OrderView, QuoteView } from '@gatehouse/protocol';
import { useCallback, useEffect, useRef, useState } from 'react';
import { useAccountChoice, useAccountRole } from '../account-picker.js';
import { api } from '../api.js';
import { ErrorText, Notice, TextField, useAction } from '../components.js';
import { orderLine } from '../format.js';
import { useQuoteWatch, useStream } from '../stream.js';
import { InstrumentAvailability } from './instrument-availability.js';
import { Blotter, type Feedback } from './trade/blotter.js';
import { OrderTicket } from './trade/ticket.js';
import { Watchlist } from './trade/watchlist.js';
import './trade/trade.css';

const BADGE = { live: 'Live', delayed: 'Delayed 15 min', none: 'No market data' } as const;

export function TradePage() {
  const [accountId, picker] = useAccountChoice();
  // A viewer looks on: no ticket and no cancel buttons (the gateway refuses them with ROLE_NOT_ALLOWED anyway).
  const viewer = useAccountRole(accountId) === 'viewer';
  const [instrument, setInstrument] = useState<InstrumentView | null>(null);
  const [version, setVersion] = useState(0);
  const bump = useCallback(() => setVersion((v) => v + 1), []);
  useStream((m) => {
    if (m.topic === 'orders' && m.accountId === accountId) bump();
  });
  // The working order being changed in the ticket, and what the last cancel or change did.
  const [modifying, setModifying] = useState<OrderView | null>(null);
  const [feedback, setFeedback] = useState<Feedback | null>(null);
  // biome-ignore lint/correctness/useExhaustiveDependencies: another account: its orders are not this one's
  useEffect(() => {
    setModifying(null);
    setFeedback(null);
  }, [accountId]);
  const modify = (order: OrderView) => {
    setModifying(order);
    setFeedback(null);
    // The quote of the order's instrument, beside the ticket.
    if (instrument?.id !== order.instrumentId && order.symbol !== null)
      void api<{ instruments: InstrumentView[] }>(
        'GET',
        `/v1/instruments?symbol=${encodeURIComponent(order.symbol)}`,
      ).then(
        ({ instruments }) => {
          const found = instruments.find((i) => i.id === order.instrumentId);
          if (found !== undefined) setInstrument(found);
        },
        () => {},
      );
  };

  return (
    <div className="page trade">
      <h1>Trade</h1>
      {picker}
      <div className="columns">
        <div>
          <InstrumentSearch onPick={setInstrument} />
          {instrument !== null && accountId !== null && (
            <>
              <Quote instrument={instrument} accountId={accountId} />
              <InstrumentAvailability instrument={instrument} accountId={accountId} onPick={setInstrument} />
              {viewer ? (
                <section className="card" aria-label="Order ticket">
                  <Notice>
                    You look on this account as a viewer: its owner or a trader places and cancels orders.
                  </Notice>
                </section>
              ) : (
                modifying === null && (
                  <OrderTicket instrument={instrument} accountId={accountId} onPlaced={bump} />
                )
              )}
            </>
          )}
          {modifying !== null && accountId !== null && !viewer && (
            <ModifyTicket
              key={modifying.id}
              order={modifying}
              accountId={accountId}
              onPlaced={bump}
              onClose={() => {
                setModifying(null);
                // Back to the order's row, where the change began.
                setTimeout(() => {
                  document.querySelector<HTMLElement>(`[data-order="${modifying.id}"] button`)?.focus();
                }, 0);
              }}
              onChanged={(order) => {
                setModifying(null);
                setFeedback({ text: `Order changed: ${orderLine(order)}`, settled: true });
                bump();
              }}
            />
          )}
          <Watchlist picked={instrument} onPick={setInstrument} />
        </div>
        <div>
          {accountId !== null && (
            <Blotter
              accountId={accountId}
              version={version}
              canTrade={!viewer}
              feedback={feedback}
              onFeedback={(f) => {
                setFeedback(f);
                // The order being changed was cancelled (or could not be): its change ends too.
                if (f.settled && f.orderId === modifying?.id) setModifying(null);
              }}
              onModify={modify}
            />
          )}
        </div>
      </div>
    </div>
  );
}

function InstrumentSearch({ onPick }: { onPick: (i: InstrumentView) => void }) {
  const [symbol, setSymbol] = useState('');
  const [found, setFound] = useState<InstrumentView[] | null>(null);
  const { error, run } = useAction();
  return (
    <section aria-labelledby="search-h" className="card">
      <h2 id="search-h">Instrument</h2>
      <form
        aria-label="Search instruments"
        onSubmit={(e) => {
          e.preventDefault();
          void run(async () => {
            const { instruments } = await api<{ instruments: InstrumentView[] }>(
              'GET',
              `/v1/instruments?q=${encodeURIComponent(symbol.trim())}`,
            );
            const exact = instruments.find((i) => i.symbol.toUpperCase() === symbol.trim().toUpperCase());
            // An exact symbol is picked at once; otherwise the matches are offered.
            setFound(exact === undefined ? instruments : null);
            if (exact !== undefined) onPick(exact);
          });
        }}
      >
        <TextField label="Symbol or name" value={symbol} onChange={setSymbol} name="symbol" />
        <button type="submit">Search</button>
      </form>
      <ErrorText error={error} />
      {found !== null && found.length === 0 && <p>No instrument matches that symbol or name.</p>}
      {found !== null && found.length > 0 && (
        <ul className="list results">
          {found.slice(0, 10).map((i) => (
            <li key={i.id}>
              <button
                type="button"
                className="link"
                onClick={() => {
                  onPick(i);
                  setFound(null);
                }}
              >
                {i.symbol}
              </button>{' '}
              {i.name} · {i.exchange} · {i.currency}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Quote({ instrument, accountId }: { instrument: InstrumentView; accountId: string }) {
  const [quote, setQuote] = useState<QuoteView | null>(null);
  const { error, run } = useAction();
  // The snapshot shows the quote at once; the stream keeps it current.
  useEffect(() => {
    void run(async () => {
      const { quotes } = await api<{ quotes: QuoteView[] }>(
        'GET',
        `/v1/marketdata/snapshot?instruments=${instrument.id}&accountId=${encodeURIComponent(accountId)}`,
      );
      setQuote(quotes[0] ?? null);
    });
  }, [instrument.id, accountId, run]);
  useQuoteWatch(instrument.id, accountId);
  useStream((m) => {
    const streamed = m.topic === 'marketdata' && m.type === 'quote' ? (m.quote as QuoteView) : undefined;
    if (streamed?.instrumentId === instrument.id) setQuote(streamed);
  });
  const price = (n: number | null | undefined) => (n === null || n === undefined ? '—' : n.toFixed(2));
  return (
    <section aria-labelledby="quote-h" className="card quote">
      <h2 id="quote-h">
        {instrument.symbol} <span className="muted">{instrument.name}</span>
      </h2>
      <p>
        <span className={`badge ${quote?.entitlement.type ?? 'none'}`} data-testid="entitlement">
          {quote === null ? ' ' : BADGE[quote.entitlement.type]}
        </span>{' '}
        {instrument.exchange} · {instrument.currency}
      </p>
      <dl className="prices">
        <dt>Bid</dt>
        <dd>{price(quote?.bid)}</dd>
        <dt>Ask</dt>
        <dd>{price(quote?.ask)}</dd>
        <dt>Last</dt>
        <dd>{price(quote?.last)}</dd>
      </dl>
      <ErrorText error={error} />
    </section>
  );
}

/** The ticket for a change to a working order; its heading takes focus when it opens. */
function ModifyTicket(props: {
  order: OrderView;
  accountId: string;
  onPlaced: () => void;
  onClose: () => void;
  onChanged: (order: OrderView) => void;
}) {
  const { order } = props;
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    ref.current?.querySelector<HTMLElement>('h2')?.focus();
    ref.current?.scrollIntoView({ block: 'nearest' });
  }, []);
  return (
    <div ref={ref}>
      <OrderTicket
        instrument={{ id: order.instrumentId, symbol: order.symbol ?? `instrument ${order.instrumentId}` }}
        accountId={props.accountId}
        onPlaced={props.onPlaced}
        modifying={order}
        onChanged={props.onChanged}
        onClose={props.onClose}
      />
    </div>
  );
}
