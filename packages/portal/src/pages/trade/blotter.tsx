/**
 * The blotter: working orders (to modify or cancel) and the order history (filled, cancelled, expired and rejected
 * orders) as two tabs, executions, and positions valued at their last price — each row named by side, quantity and
 * symbol. A short line says what a cancel or a change did ("Cancelled: BUY 10 AAPL LMT 150.50"). Rows are a table
 * on a wide screen and cards on a phone's.
 */
import type { AccountEvent, OrderView, PortfolioView } from '@gatehouse/protocol';
import { useEffect, useRef, useState } from 'react';
import { api } from '../../api.js';
import { ErrorText, useAction } from '../../components.js';
import { money, orderLine, price } from '../../format.js';

/** What the blotter says happened last (a cancel, a change); `settled` lines take focus. */
export interface Feedback {
  text: string;
  settled: boolean;
  /** The order it is about. */
  orderId?: string;
}

const STATUS_WORDS: Record<string, string> = {
  working: 'Working',
  filled: 'Filled',
  cancelled: 'Cancelled',
  expired: 'Expired',
  rejected: 'Rejected',
};

interface HistoryRow {
  key: string;
  at: string;
  line: string;
  status: string;
  detail: string;
}

const time = (at: string) => new Date(at).toLocaleTimeString('en-GB');
const text = (v: unknown) => (typeof v === 'string' || typeof v === 'number' ? String(v) : '');

export function Blotter(props: {
  accountId: string;
  version: number;
  canTrade: boolean;
  feedback: Feedback | null;
  onFeedback: (feedback: Feedback) => void;
  onModify: (order: OrderView) => void;
}) {
  const { accountId, version, canTrade, onFeedback } = props;
  const [orders, setOrders] = useState<OrderView[]>([]);
  const [events, setEvents] = useState<AccountEvent[]>([]);
  const [portfolio, setPortfolio] = useState<PortfolioView | null>(null);
  const [tab, setTab] = useState<'working' | 'history'>('working');
  const { error, run } = useAction();
  const cancel = useAction();
  const base = `/v1/accounts/${encodeURIComponent(accountId)}`;
  const feedbackRef = useRef<HTMLParagraphElement>(null);

  // biome-ignore lint/correctness/useExhaustiveDependencies: `version` changes when the stream reports an event
  useEffect(() => {
    void run(async () => {
      const [o, e, p] = await Promise.all([
        api<{ orders: OrderView[] }>('GET', `${base}/orders`),
        api<{ events: AccountEvent[] }>('GET', `${base}/events?limit=1000`),
        api<PortfolioView>('GET', `${base}/portfolio`),
      ]);
      setOrders(o.orders);
      setEvents(e.events);
      setPortfolio(p);
    });
  }, [base, version, run]);

  // A settled line (a cancel done, a change made) takes focus: the row whose button was pressed may have gone.
  useEffect(() => {
    if (props.feedback?.settled === true) feedbackRef.current?.focus();
  }, [props.feedback]);

  const byId = new Map(orders.map((o) => [o.id, o]));
  const working = orders.filter((o) => o.status === 'working');
  const history: HistoryRow[] = [
    ...orders
      .filter((o) => o.status !== 'working')
      .map((o) => ({
        key: o.id,
        at: o.updatedAt,
        line: orderLine(o),
        status: o.status,
        detail:
          o.filledQuantity > 0
            ? `${o.filledQuantity} filled at ${price(o.avgFillPrice)}`
            : o.status === 'expired'
              ? 'expired unfilled'
              : '',
      })),
    ...events
      .filter((e) => e.type === 'rejected')
      .map((e) => ({
        key: `rejected-${e.seq}`,
        at: e.at,
        line:
          e.data.symbol === undefined
            ? 'An order'
            : `${text(e.data.side)} ${text(e.data.quantity)} ${text(e.data.symbol)}${
                typeof e.data.limitPrice === 'number' ? ` LMT ${price(e.data.limitPrice)}` : ''
              }`,
        status: 'rejected',
        detail: text(e.data.reason) || text(e.data.code),
      })),
  ]
    .sort((a, b) => b.at.localeCompare(a.at))
    .slice(0, 50);
  const fills = events
    .filter((x) => x.type === 'filled' || x.type === 'partially_filled')
    .slice(-20)
    .reverse();

  const cancelOrder = (o: OrderView) => {
    const line = orderLine(o);
    onFeedback({ text: `Cancelling ${line}…`, settled: false, orderId: o.id });
    void cancel.run(async () => {
      try {
        const ended = await api<OrderView>('DELETE', `${base}/orders/${encodeURIComponent(o.id)}`);
        onFeedback({ text: `Cancelled: ${orderLine(ended)}`, settled: true, orderId: o.id });
      } catch (error) {
        onFeedback({ text: `Not cancelled: ${line}`, settled: true, orderId: o.id });
        throw error;
      }
    });
  };

  const tabs = [
    ['working', `Working orders (${working.length})`],
    ['history', 'Order history'],
  ] as const;
  return (
    <div className="blotter">
      {error !== null && <ErrorText error={error} />}
      <section aria-labelledby="orders-h" className="card">
        <h2 id="orders-h">Orders</h2>
        <p className="feedback" role="status" tabIndex={-1} ref={feedbackRef}>
          {props.feedback?.text ?? ''}
        </p>
        {cancel.error !== null && <ErrorText error={cancel.error} />}
        <div role="tablist" aria-label="Orders" className="tabs">
          {tabs.map(([id, label]) => (
            <button
              key={id}
              type="button"
              role="tab"
              id={`tab-${id}`}
              aria-selected={tab === id}
              aria-controls={`panel-${id}`}
              tabIndex={tab === id ? 0 : -1}
              onClick={() => setTab(id)}
              onKeyDown={(e) => {
                if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
                const next = id === 'working' ? 'history' : 'working';
                setTab(next);
                document.getElementById(`tab-${next}`)?.focus();
              }}
            >
              {label}
            </button>
          ))}
        </div>
        <div role="tabpanel" id="panel-working" aria-labelledby="tab-working" hidden={tab !== 'working'}>
          {working.length === 0 ? (
            <p>No working orders.</p>
          ) : (
            <table className="rows">
              <caption className="sr-only">Working orders</caption>
              <thead>
                <tr>
                  <th scope="col">Order</th>
                  <th scope="col">Time in force</th>
                  <th scope="col">Filled</th>
                  <th scope="col">Placed</th>
                  {canTrade && (
                    <th scope="col">
                      <span className="sr-only">Actions</span>
                    </th>
                  )}
                </tr>
              </thead>
              <tbody>
                {working.map((o) => (
                  <tr key={o.id} data-order={o.id}>
                    <th scope="row" data-label="Order">
                      {orderLine(o)}
                    </th>
                    <td data-label="Time in force">{o.tif}</td>
                    <td data-label="Filled">
                      {o.filledQuantity} of {o.quantity}
                    </td>
                    <td data-label="Placed">
                      <time dateTime={o.createdAt}>{time(o.createdAt)}</time>
                    </td>
                    {canTrade && (
                      <td className="row-actions">
                        <button
                          type="button"
                          className="secondary"
                          aria-label={`Modify ${orderLine(o)}`}
                          onClick={() => props.onModify(o)}
                        >
                          Modify
                        </button>
                        <button
                          type="button"
                          className="secondary"
                          aria-label={`Cancel ${orderLine(o)}`}
                          disabled={cancel.busy}
                          onClick={() => cancelOrder(o)}
                        >
                          Cancel
                        </button>
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
        <div role="tabpanel" id="panel-history" aria-labelledby="tab-history" hidden={tab !== 'history'}>
          {history.length === 0 ? (
            <p>No filled, cancelled or rejected orders yet.</p>
          ) : (
            <table className="rows">
              <caption className="sr-only">Order history</caption>
              <thead>
                <tr>
                  <th scope="col">Order</th>
                  <th scope="col">Status</th>
                  <th scope="col">Detail</th>
                  <th scope="col">Time</th>
                </tr>
              </thead>
              <tbody>
                {history.map((h) => (
                  <tr key={h.key}>
                    <th scope="row" data-label="Order">
                      {h.line}
                    </th>
                    <td data-label="Status">
                      <span className={`status ${h.status}`}>{STATUS_WORDS[h.status] ?? h.status}</span>
                    </td>
                    <td data-label="Detail">{h.detail}</td>
                    <td data-label="Time">
                      <time dateTime={h.at}>{time(h.at)}</time>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      </section>
      <section aria-labelledby="exec-h" className="card">
        <h2 id="exec-h">Executions</h2>
        {fills.length === 0 ? (
          <p>No executions yet.</p>
        ) : (
          <ul className="list">
            {fills.map((f) => {
              const order = f.orderId === null ? undefined : byId.get(f.orderId);
              const symbol = text(f.data.symbol) || order?.symbol || 'an instrument';
              const side = text(f.data.side) || order?.side || '';
              return (
                <li key={f.seq}>
                  <time dateTime={f.at}>{time(f.at)}</time> {side} {text(f.data.quantity)} {symbol} @{' '}
                  {typeof f.data.price === 'number' ? price(f.data.price) : ''} {text(f.data.currency)}
                  {f.type === 'partially_filled' ? ' (partial)' : ''}
                </li>
              );
            })}
          </ul>
        )}
      </section>
      <section aria-labelledby="pos-h" className="card">
        <h2 id="pos-h">Positions</h2>
        {portfolio === null || portfolio.positions.length === 0 ? (
          <p>No positions.</p>
        ) : (
          <table className="rows">
            <caption className="sr-only">Positions</caption>
            <thead>
              <tr>
                <th scope="col">Instrument</th>
                <th scope="col">Quantity</th>
                <th scope="col">Average cost</th>
                <th scope="col">Last</th>
                <th scope="col">Market value</th>
                <th scope="col">Unrealised P&amp;L</th>
              </tr>
            </thead>
            <tbody>
              {portfolio.positions.map((p) => (
                <tr key={p.instrumentId}>
                  <th scope="row" data-label="Instrument">
                    {p.symbol ?? `instrument ${p.instrumentId}`}
                  </th>
                  <td data-label="Quantity">{p.quantity}</td>
                  <td data-label="Average cost">{price(p.avgCost)}</td>
                  <td data-label="Last">{price(p.lastPrice)}</td>
                  <td data-label="Market value">
                    {p.marketValue === null ? '—' : money(p.marketValue, p.currency)}
                  </td>
                  <td
                    data-label="Unrealised P&L"
                    className={p.unrealizedPnl === null ? '' : p.unrealizedPnl < 0 ? 'loss' : 'gain'}
                  >
                    {p.unrealizedPnl === null
                      ? '—'
                      : `${p.unrealizedPnl > 0 ? '+' : ''}${money(p.unrealizedPnl, p.currency)}`}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
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
    </div>
  );
}
