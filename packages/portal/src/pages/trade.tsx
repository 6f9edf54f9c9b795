/**
 * Paper trading: instrument search, a quote with its entitlement badge, the order ticket with every gate outcome
 * shown as the gateway words it (a confirmation question is asked, never answered for the person), open orders,
 * executions, positions and cash per currency — updated live from `/v1/stream`.
 */
import type {
  AccountEvent,
  ConfirmationRequired,
  InstrumentView,
  OrderRequest,
  OrderView,
  PortfolioView,
  QuoteView,
} from '@gatehouse/protocol';
import { useCallback, useEffect, useId, useRef, useState } from 'react';
import { useAccountChoice, useAccountRole } from '../account-picker.js';
import { ApiError, api } from '../api.js';
import { ErrorText, Notice, Table, TextField, useAction } from '../components.js';
import { useQuoteWatch, useStream } from '../stream.js';
import { useTradingState } from '../trading-state.js';

const BADGE = { live: 'Live', delayed: 'Delayed 15 min', none: 'No market data' } as const;
const symbols = new Map<number, string>();

const money = (n: number, currency?: string) =>
  `${n.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 })}${currency === undefined ? '' : ` ${currency}`}`;

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
              {viewer ? (
                <section className="card" aria-label="Order ticket">
                  <Notice>
                    You look on this account as a viewer: its owner or a trader places and cancels orders.
                  </Notice>
                </section>
              ) : (
                <OrderTicket instrument={instrument} accountId={accountId} onPlaced={bump} />
              )}
            </>
          )}
        </div>
        <div>
          {accountId !== null && <Blotter accountId={accountId} version={version} canCancel={!viewer} />}
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
              `/v1/instruments?symbol=${encodeURIComponent(symbol.trim())}`,
            );
            for (const i of instruments) symbols.set(i.id, i.symbol);
            const exact = instruments.find((i) => i.symbol.toUpperCase() === symbol.trim().toUpperCase());
            // An exact symbol is picked at once; otherwise the matches are offered.
            setFound(exact === undefined ? instruments : null);
            if (exact !== undefined) onPick(exact);
          });
        }}
      >
        <TextField label="Symbol" value={symbol} onChange={setSymbol} name="symbol" />
        <button type="submit">Search</button>
      </form>
      <ErrorText error={error} />
      {found !== null && found.length === 0 && <p>No instrument starts with that symbol.</p>}
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

type Outcome =
  | { kind: 'accepted'; order: OrderView }
  | { kind: 'confirm'; confirmation: ConfirmationRequired };

function OrderTicket(props: { instrument: InstrumentView; accountId: string; onPlaced: () => void }) {
  const { instrument, accountId } = props;
  const trading = useTradingState();
  const [side, setSide] = useState<'BUY' | 'SELL'>('BUY');
  const [quantity, setQuantity] = useState('1');
  const [type, setType] = useState<'MKT' | 'LMT'>('MKT');
  const [limit, setLimit] = useState('');
  const [tif, setTif] = useState<'DAY' | 'GTC' | 'IOC'>('DAY');
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const { busy, error, run, setError } = useAction();
  const ids = { side: useId(), type: useId(), tif: useId(), blocked: useId() };
  const base = `/v1/accounts/${encodeURIComponent(accountId)}/orders`;
  // One client order id per ticket: a retried submission is recognised by the gateway, never doubled.
  const clientOrderId = useRef(crypto.randomUUID());

  const answered = (result: OrderView | ConfirmationRequired) => {
    if ('confirmationId' in result) {
      setOutcome({ kind: 'confirm', confirmation: result });
      return;
    }
    setOutcome({ kind: 'accepted', order: result });
    clientOrderId.current = crypto.randomUUID();
    props.onPlaced();
  };

  return (
    <section aria-labelledby="ticket-h" className="card">
      <h2 id="ticket-h">Order ticket</h2>
      <form
        aria-label="Order ticket"
        onSubmit={(e) => {
          e.preventDefault();
          setOutcome(null);
          void run(async () => {
            const order: OrderRequest = {
              clientOrderId: clientOrderId.current,
              instrumentId: instrument.id,
              side,
              type,
              quantity: Number(quantity),
              tif,
              ...(type === 'LMT' ? { limitPrice: Number(limit) } : {}),
            };
            try {
              answered(await api<OrderView | ConfirmationRequired>('POST', base, order));
            } catch (error) {
              // A coded refusal ends this ticket's attempt; a lost response keeps the id, so a retry is recognised.
              if (error instanceof ApiError && error.code !== 'NETWORK')
                clientOrderId.current = crypto.randomUUID();
              throw error;
            }
          });
        }}
      >
        <div className="grid">
          <div className="field">
            <label htmlFor={ids.side}>Side</label>
            <select
              id={ids.side}
              value={side}
              disabled={!trading.canPlace}
              onChange={(e) => setSide(e.target.value as 'BUY' | 'SELL')}
            >
              <option value="BUY">Buy</option>
              <option value="SELL">Sell</option>
            </select>
          </div>
          <TextField
            label="Quantity"
            value={quantity}
            onChange={setQuantity}
            inputMode="numeric"
            name="quantity"
          />
          <div className="field">
            <label htmlFor={ids.type}>Order type</label>
            <select id={ids.type} value={type} onChange={(e) => setType(e.target.value as 'MKT' | 'LMT')}>
              <option value="MKT">Market</option>
              <option value="LMT">Limit</option>
            </select>
          </div>
          {type === 'LMT' && (
            <TextField label="Limit price" value={limit} onChange={setLimit} inputMode="text" />
          )}
          <div className="field">
            <label htmlFor={ids.tif}>Time in force</label>
            <select
              id={ids.tif}
              value={tif}
              onChange={(e) => setTif(e.target.value as 'DAY' | 'GTC' | 'IOC')}
            >
              <option value="DAY">Day</option>
              <option value="GTC">Good till cancelled</option>
              <option value="IOC">Immediate or cancel</option>
            </select>
          </div>
        </div>
        <button
          type="submit"
          disabled={busy || !trading.canPlace}
          aria-describedby={trading.placeBlockedReason === null ? undefined : ids.blocked}
        >
          {side === 'BUY' ? 'Buy' : 'Sell'} {instrument.symbol}
        </button>
        {trading.placeBlockedReason !== null && (
          <p className="hint" id={ids.blocked}>
            {trading.placeBlockedReason}
          </p>
        )}
      </form>
      <div className="outcome" aria-live="polite">
        <ErrorText error={error} />
        {outcome?.kind === 'accepted' && (
          <Notice>
            Order accepted: {outcome.order.side === 'BUY' ? 'buy' : 'sell'} {outcome.order.quantity}{' '}
            {instrument.symbol},{' '}
            {outcome.order.status === 'filled'
              ? `filled at ${outcome.order.avgFillPrice}`
              : outcome.order.status}
            .
          </Notice>
        )}
        {outcome?.kind === 'confirm' && (
          <div className="card confirm" role="alertdialog" aria-labelledby="confirm-h">
            <h3 id="confirm-h">Please confirm</h3>
            <ul>
              {outcome.confirmation.questions.map((q) => (
                <li key={q.id} data-question={q.id}>
                  {q.message}
                </li>
              ))}
            </ul>
            <div className="actions">
              <button
                type="button"
                disabled={busy}
                onClick={() =>
                  void run(async () => {
                    const { confirmationId } = outcome.confirmation;
                    answered(
                      await api<OrderView | ConfirmationRequired>(
                        'POST',
                        `${base}/confirmations/${encodeURIComponent(confirmationId)}`,
                        { confirmed: true },
                      ),
                    );
                  })
                }
              >
                Confirm and send
              </button>
              <button
                type="button"
                className="secondary"
                onClick={() => {
                  setOutcome(null);
                  setError(null);
                }}
              >
                Don’t send
              </button>
            </div>
          </div>
        )}
      </div>
    </section>
  );
}

function Blotter({
  accountId,
  version,
  canCancel,
}: {
  accountId: string;
  version: number;
  canCancel: boolean;
}) {
  const [orders, setOrders] = useState<OrderView[]>([]);
  const [fills, setFills] = useState<AccountEvent[]>([]);
  const [portfolio, setPortfolio] = useState<PortfolioView | null>(null);
  const { error, run } = useAction();
  const cancel = useAction();
  const base = `/v1/accounts/${encodeURIComponent(accountId)}`;

  // biome-ignore lint/correctness/useExhaustiveDependencies: `version` changes when the stream reports an event
  useEffect(() => {
    void run(async () => {
      const [o, e, p] = await Promise.all([
        api<{ orders: OrderView[] }>('GET', `${base}/orders?status=open`),
        api<{ events: AccountEvent[] }>('GET', `${base}/events?limit=1000`),
        api<PortfolioView>('GET', `${base}/portfolio`),
      ]);
      setOrders(o.orders);
      setFills(
        e.events
          .filter((x) => x.type === 'filled' || x.type === 'partially_filled')
          .slice(-20)
          .reverse(),
      );
      setPortfolio(p);
      for (const position of p.positions)
        if (position.symbol !== null) symbols.set(position.instrumentId, position.symbol);
    });
  }, [base, version, run]);

  const symbolOf = (id: number) => symbols.get(id) ?? `#${id}`;
  return (
    <>
      {error !== null && <ErrorText error={error} />}
      <section aria-labelledby="open-h" className="card">
        <h2 id="open-h">Open orders</h2>
        {orders.length === 0 ? (
          <p>No open orders.</p>
        ) : (
          <Table columns={['Instrument', 'Side', 'Qty', 'Type', 'Filled']} actions={canCancel}>
            {orders.map((o) => (
              <tr key={o.id}>
                <td>{symbolOf(o.instrumentId)}</td>
                <td>{o.side}</td>
                <td>{o.quantity}</td>
                <td>
                  {o.type}
                  {o.limitPrice === null ? '' : ` ${o.limitPrice}`} {o.tif}
                </td>
                <td>{o.filledQuantity}</td>
                {canCancel && (
                  <td>
                    <button
                      type="button"
                      className="secondary"
                      aria-label={`Cancel ${o.side} ${o.quantity} ${symbolOf(o.instrumentId)}`}
                      onClick={() =>
                        void cancel.run(() => api('DELETE', `${base}/orders/${encodeURIComponent(o.id)}`))
                      }
                    >
                      Cancel
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </Table>
        )}
        <ErrorText error={cancel.error} />
      </section>
      <section aria-labelledby="exec-h" className="card">
        <h2 id="exec-h">Executions</h2>
        {fills.length === 0 ? (
          <p>No executions yet.</p>
        ) : (
          <ul className="list">
            {fills.map((f) => (
              <li key={f.seq}>
                <time dateTime={f.at}>{new Date(f.at).toLocaleTimeString()}</time> {String(f.data.quantity)} @{' '}
                {String(f.data.price)} {String(f.data.currency)}
              </li>
            ))}
          </ul>
        )}
      </section>
      <section aria-labelledby="pos-h" className="card">
        <h2 id="pos-h">Positions</h2>
        {portfolio === null || portfolio.positions.length === 0 ? (
          <p>No positions.</p>
        ) : (
          <Table columns={['Instrument', 'Quantity', 'Average cost']}>
            {portfolio.positions.map((p) => (
              <tr key={p.instrumentId}>
                <td>{p.symbol ?? `#${p.instrumentId}`}</td>
                <td>{p.quantity}</td>
                <td>{money(p.avgCost)}</td>
              </tr>
            ))}
          </Table>
        )}
        <h3>Cash</h3>
        <ul className="list" aria-label="Cash per currency">
          {portfolio !== null &&
            Object.entries(portfolio.cash).map(([currency, amount]) => (
              <li key={currency}>{money(amount, currency)}</li>
            ))}
        </ul>
        {portfolio !== null && (
          <p className="muted">
            Net liquidation {money(portfolio.netLiquidation, portfolio.baseCurrency)} · buying power{' '}
            {money(portfolio.buyingPower, portfolio.baseCurrency)}
          </p>
        )}
      </section>
    </>
  );
}
