/**
 * Restrictions before any order: the quote's availability badge for the selected account ("Not available to EU
 * retail clients: no KID — closing only", "ETF · UK not permitted on this account"), what buying and selling would
 * meet, the market data the account gets, and the funds tracking the same index, each with its own availability and
 * one click to open its quote. The gateway decides (`GET …/instruments/{id}/availability`, the pre-trade gate's own
 * checks); this page only shows its words.
 */
import type { Availability, InstrumentView, Restriction } from '@gatehouse/protocol';
import { useEffect, useRef, useState } from 'react';
import { api } from '../api.js';
import { ErrorText, useAction } from '../components.js';
import './instrument-availability.css';

const DATA = { live: 'Live', delayed: 'Delayed 15 min', none: 'No market data' } as const;

/** A restriction's explanation: its message without the label the badge already shows. */
function why(restriction: Restriction | undefined): string {
  if (restriction === undefined) return '';
  const label = `${restriction.summary}. `;
  return restriction.message.startsWith(label)
    ? restriction.message.slice(label.length)
    : restriction.message;
}

function Badge({ status, children }: { status: Availability['status']; children: React.ReactNode }) {
  return <span className={`availability-badge ${status}`}>{children}</span>;
}

/** The availability of `instrument` on `accountId`, with its equivalents; `onPick` opens another quote. */
export function InstrumentAvailability(props: {
  instrument: InstrumentView;
  accountId: string;
  onPick: (instrument: InstrumentView) => void;
}) {
  const { instrument, accountId, onPick } = props;
  const [answer, setAnswer] = useState<Availability | null>(null);
  const { error, run } = useAction();
  const heading = useRef<HTMLHeadingElement>(null);
  const picked = useRef(false);

  useEffect(() => {
    setAnswer(null);
    void run(async () => {
      setAnswer(
        await api<Availability>(
          'GET',
          `/v1/accounts/${encodeURIComponent(accountId)}/instruments/${instrument.id}/availability`,
        ),
      );
    });
  }, [instrument.id, accountId, run]);

  // After an equivalent is opened, focus moves to its availability, which is read out.
  useEffect(() => {
    if (answer !== null && picked.current) {
      picked.current = false;
      heading.current?.focus();
    }
  }, [answer]);

  const current = answer?.instrumentId === instrument.id ? answer : null;
  return (
    <section aria-labelledby="availability-h" className="card availability">
      <h2 id="availability-h" ref={heading} tabIndex={-1}>
        Can I trade {instrument.symbol}?
      </h2>
      <div role="status" aria-live="polite">
        {current === null ? (
          <p className="muted">{error === null ? 'Checking this account…' : ''}</p>
        ) : (
          <>
            <p>
              <Badge status={current.status}>{current.summary}</Badge>
            </p>
            <ul className="list availability-facts">
              <li>
                Buy: {current.open.allowed ? 'allowed' : `not allowed — ${why(current.open.restriction)}`}
              </li>
              <li>
                Sell what you hold:{' '}
                {current.close.allowed ? 'allowed' : `not allowed — ${why(current.close.restriction)}`}
              </li>
              <li>
                Market data: {DATA[current.marketData.type]} ({current.marketData.name})
              </li>
              {instrument.assetClass === 'OPT' && (
                <li>Options level on this account: {current.optionsLevel}</li>
              )}
            </ul>
          </>
        )}
      </div>
      <ErrorText error={error} />
      {current !== null && current.equivalents.length > 0 && (
        <>
          <h3>
            Funds tracking the {instrument.tracks ?? 'same index'}
            {current.equivalents.some((e) => e.status === 'available') ? ' you may buy instead' : ''}
          </h3>
          <ul className="list equivalents" aria-label={`Equivalents of ${instrument.symbol}`}>
            {current.equivalents.map((e) => (
              <li key={e.instrumentId}>
                <button
                  type="button"
                  className="link"
                  aria-label={`Open ${e.instrument.symbol} quote`}
                  onClick={() => {
                    picked.current = true;
                    onPick(e.instrument);
                  }}
                >
                  {e.instrument.symbol}
                </button>{' '}
                <span>
                  {e.instrument.name} · {e.instrument.exchange} · {e.instrument.currency}
                </span>{' '}
                <Badge status={e.status}>{e.summary}</Badge>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
