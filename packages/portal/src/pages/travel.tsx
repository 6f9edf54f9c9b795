/**
 * "Travelling?" on the Security page: announce a trip (a country and its first and last day) so that signing in
 * from there on those days needs no extra check before trading, and list or cancel the trips announced. Announcing
 * one needs a recent second factor: when the gateway asks for it (`STEP_UP_REQUIRED`), the form asks and repeats.
 */
import { COUNTRY_CODES, type TravelNotice } from '@gatehouse/protocol';
import { useCallback, useEffect, useId, useRef, useState } from 'react';
import { api } from '../api.js';
import { ErrorText, TextField, useAction, useStepUpAction } from '../components.js';
import { countryWords } from '../format.js';

/** A UTC day `days` from today, `YYYY-MM-DD`, as the date inputs and the gateway take it. */
function dayFromToday(days: number): string {
  return new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
}

/** Every country a notice may name, by its English name. */
const COUNTRIES = COUNTRY_CODES.map((code) => ({ code, name: countryWords(code) })).sort((a, b) =>
  a.name.localeCompare(b.name, 'en'),
);

export function Travel() {
  const [notices, setNotices] = useState<TravelNotice[] | null>(null);
  const [country, setCountry] = useState('');
  const [from, setFrom] = useState(dayFromToday(0));
  const [to, setTo] = useState(dayFromToday(7));
  const [status, setStatus] = useState('');
  const load = useAction();
  const announce = useStepUpAction();
  const cancel = useAction();
  const countryId = useId();
  const statusRef = useRef<HTMLParagraphElement>(null);

  const reload = useCallback(async () => {
    await load.run(async () => {
      setNotices((await api<{ notices: TravelNotice[] }>('GET', '/v1/travel')).notices);
    });
  }, [load.run]);
  useEffect(() => {
    void reload();
  }, [reload]);

  const said = (text: string) => {
    setStatus(text);
    // The result is announced (role=status) and focus moves to it, so the next step starts there.
    requestAnimationFrame(() => statusRef.current?.focus());
  };

  return (
    <section aria-labelledby="travel-h">
      <h2 id="travel-h">Travelling?</h2>
      <p className="hint">
        Signing in from a country you have not signed in from before asks you to confirm it is you before you
        can trade, and you are told about it. Tell us about a trip here, and signing in from that country on
        those days needs no extra check (you are still told).
      </p>
      <form
        className="card"
        aria-label="Announce a trip"
        onSubmit={(e) => {
          e.preventDefault();
          setStatus('');
          void announce.run(async () => {
            const notice = await api<TravelNotice>('POST', '/v1/travel', { country, from, to });
            await reload();
            said(`Trip to ${notice.countryName} from ${notice.from} to ${notice.to} announced.`);
          });
        }}
      >
        <div className="field">
          <label htmlFor={countryId}>Country</label>
          <select id={countryId} value={country} required onChange={(e) => setCountry(e.target.value)}>
            <option value="">Choose a country</option>
            {COUNTRIES.map((c) => (
              <option key={c.code} value={c.code}>
                {c.name}
              </option>
            ))}
          </select>
        </div>
        <TextField label="First day" type="date" value={from} onChange={setFrom} />
        <TextField label="Last day" type="date" value={to} onChange={setTo} />
        {announce.prompt}
        <ErrorText error={announce.error} />
        <button type="submit" disabled={announce.busy}>
          Announce trip
        </button>
      </form>
      <p role="status" tabIndex={-1} ref={statusRef} className="hint">
        {status}
      </p>
      <ErrorText error={load.error ?? cancel.error} />
      {notices !== null && notices.length === 0 && <p>No trips announced.</p>}
      {notices !== null && notices.length > 0 && (
        <ul aria-label="Trips announced" className="cards">
          {notices.map((n) => (
            <li key={n.id} className="card item">
              <span>
                {n.countryName}: {n.from} to {n.to}
              </span>{' '}
              <button
                type="button"
                className="secondary"
                disabled={cancel.busy}
                aria-label={`Cancel the trip to ${n.countryName} from ${n.from} to ${n.to}`}
                onClick={() => {
                  void cancel.run(async () => {
                    await api('DELETE', `/v1/travel/${n.id}`);
                    await reload();
                    said(`Trip to ${n.countryName} cancelled.`);
                  });
                }}
              >
                Cancel
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
