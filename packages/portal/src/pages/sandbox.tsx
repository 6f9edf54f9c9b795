/**
 * Sandbox: on a gateway whose failure sandbox is on (`/v1/session` says `sandbox: true`), make a broker's failures
 * happen to one's own session, self or account — a button per fault kind, grouped by family — and see the faults,
 * active and past, with a Clear button each and Clear all. The rest of the portal reacts as it would to the real
 * failure: a network change asks for a step-up, a competing login makes the session read-only, an expiry signs out.
 */
import type { AccountView, Fault } from '@gatehouse/protocol';
import { useCallback, useEffect, useId, useMemo, useState } from 'react';
import { useAccountChoice } from '../account-picker.js';
import { api } from '../api.js';
import { ErrorText, Notice, Table, useAction } from '../components.js';
import {
  clearable,
  describeTarget,
  faultRequest,
  type KindOffer,
  kindLabel,
  type Own,
  offersByFamily,
  type ParamChoice,
} from '../sandbox-faults.js';
import { useSession } from '../session.js';
import { useTradingState } from '../trading-state.js';

const FAULTS = '/v1/sandbox/faults';
const DURATIONS = [
  { value: '60000', label: '1 minute' },
  { value: '300000', label: '5 minutes' },
  { value: '900000', label: '15 minutes' },
  { value: '', label: 'Until cleared' },
];
const time = (iso: string | null) => (iso === null ? '—' : new Date(iso).toLocaleTimeString());

export function SandboxPage() {
  const { me, refresh } = useSession();
  const { retry } = useTradingState();
  const [accountId, picker] = useAccountChoice();
  const [faults, setFaults] = useState<Fault[] | null>(null);
  const [account, setAccount] = useState<AccountView | null>(null);
  const [duration, setDuration] = useState('300000');
  const [notice, setNotice] = useState<string | null>(null);
  const { busy, error, run } = useAction();
  const durationId = useId();

  const load = useCallback(async () => {
    setFaults((await api<{ faults: Fault[] }>('GET', `${FAULTS}?state=all`)).faults);
  }, []);
  useEffect(() => {
    void run(load);
  }, [run, load]);
  useEffect(() => {
    if (accountId === null) return;
    void api<AccountView>('GET', `/v1/accounts/${encodeURIComponent(accountId)}`).then(setAccount, () =>
      setAccount(null),
    );
  }, [accountId]);

  const groups = useMemo(() => offersByFamily(), []);
  if (me === null || me === undefined) return null;
  if (me.sandbox !== true)
    return (
      <div className="page">
        <h1>Sandbox</h1>
        <p>The failure sandbox is off on this gateway.</p>
      </div>
    );
  const own: Own = { userId: me.user.id, sessionId: me.session.id, accountId };

  const inject = (offer: KindOffer, values: Record<string, string>) =>
    run(async () => {
      const request = faultRequest(offer, own, values, duration === '' ? null : Number(duration));
      if (request === null) throw new Error('Choose an account first.');
      const fault = await api<Fault>('POST', FAULTS, request);
      setNotice(`${offer.label}: ${fault.state === 'scheduled' ? 'scheduled' : 'injected'}.`);
      await load();
      // See the session as the gateway now does: a step-up asked, trading taken over, the session ended.
      if (offer.family === 'sessions' || offer.family === 'transport') {
        await refresh();
        await retry();
      }
    });

  const clear = (id?: string) =>
    run(async () => {
      const { cleared } = await api<{ cleared: number }>(
        'DELETE',
        id === undefined ? FAULTS : `${FAULTS}?id=${encodeURIComponent(id)}`,
      );
      setNotice(`${cleared} ${cleared === 1 ? 'fault' : 'faults'} cleared.`);
      await load();
    });

  const active = (faults ?? []).filter(clearable);
  return (
    <div className="page sandbox">
      <h1>Sandbox</h1>
      <p className="banner warning">
        This gateway runs the failure sandbox: logins, sessions and orders here may fail on purpose.
      </p>
      <ErrorText error={error} />
      {notice !== null && <Notice>{notice}</Notice>}

      <section aria-labelledby="faults-h">
        <h2 id="faults-h">Faults</h2>
        {faults !== null && faults.length === 0 ? (
          <p className="muted">No faults yet.</p>
        ) : (
          <Table
            caption="Your faults"
            columns={['Kind', 'Target', 'State', 'Starts', 'Ends', 'Hits']}
            actions
          >
            {(faults ?? []).map((f) => (
              <tr key={f.id}>
                <td>{kindLabel(f.kind)}</td>
                <td>{describeTarget(f.target, own)}</td>
                <td>{f.state}</td>
                <td>{time(f.startsAt)}</td>
                <td>{time(f.endsAt)}</td>
                <td>{f.hits}</td>
                <td>
                  {clearable(f) && (
                    <button
                      type="button"
                      className="secondary"
                      disabled={busy}
                      aria-label={`Clear ${kindLabel(f.kind)}`}
                      onClick={() => void clear(f.id)}
                    >
                      Clear
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </Table>
        )}
        <div className="actions wrap">
          <button
            type="button"
            className="danger"
            disabled={busy || active.length === 0}
            onClick={() => void clear()}
          >
            Clear all
          </button>
        </div>
      </section>

      <section aria-labelledby="inject-h">
        <h2 id="inject-h">Inject a fault</h2>
        <div className="grid">
          {picker}
          <div className="field">
            <label htmlFor={durationId}>Conditions last</label>
            <select id={durationId} value={duration} onChange={(e) => setDuration(e.target.value)}>
              {DURATIONS.map((d) => (
                <option key={d.value} value={d.value}>
                  {d.label}
                </option>
              ))}
            </select>
          </div>
        </div>
        {groups.map((group) => (
          <fieldset key={group.family} className="fault-family">
            <legend>{group.title}</legend>
            <ul className="fault-kinds">
              {group.offers.map((offer) => (
                <OfferRow key={offer.kind} offer={offer} account={account} busy={busy} onInject={inject} />
              ))}
            </ul>
          </fieldset>
        ))}
      </section>
    </div>
  );
}

const TARGET_WORDS = { session: 'this session', user: 'you', account: 'the account' } as const;

/** The choices a kind's parameter offers: fixed, or the chosen account's bundles or permissions. */
function optionsOf(choice: ParamChoice, account: AccountView | null): { value: string; label: string }[] {
  if (choice.options === 'bundles')
    return (account?.marketData ?? []).map((m) => ({ value: m.bundle, label: m.name }));
  if (choice.options === 'permissions')
    return (account?.permissions ?? []).map((p) => ({
      value: `${p.assetClass}:${p.region}`,
      label: `${p.assetClass} · ${p.region}`,
    }));
  return [...choice.options];
}

function OfferRow(props: {
  offer: KindOffer;
  account: AccountView | null;
  busy: boolean;
  onInject: (offer: KindOffer, values: Record<string, string>) => unknown;
}) {
  const { offer, account } = props;
  const [picked, setPicked] = useState<Record<string, string>>({});
  // What each select shows: the person's pick while the list still has it (the account may change), else the first.
  const shown: Record<string, string> = {};
  const lists = offer.params.map((choice) => {
    const options = optionsOf(choice, account);
    const pick = picked[choice.name];
    shown[choice.name] = options.some((o) => o.value === pick) ? (pick as string) : (options[0]?.value ?? '');
    return { choice, options };
  });
  return (
    <li className="fault-kind" data-kind={offer.kind}>
      {lists.map(({ choice, options }) => (
        <ChoiceField
          key={choice.name}
          label={choice.label}
          name={`${choice.label} for ${offer.label}`}
          options={options}
          value={shown[choice.name] ?? ''}
          onChange={(value) => setPicked((v) => ({ ...v, [choice.name]: value }))}
        />
      ))}
      <button type="button" disabled={props.busy} onClick={() => void props.onInject(offer, shown)}>
        {offer.label}
      </button>
      <span className="hint">on {TARGET_WORDS[offer.target]}</span>
    </li>
  );
}

function ChoiceField(props: {
  label: string;
  /** The name a screen reader reads: the visible label says "Delay", this which fault's. */
  name: string;
  options: { value: string; label: string }[];
  value: string;
  onChange: (value: string) => void;
}) {
  const id = useId();
  return (
    <span className="choice">
      <label htmlFor={id} aria-hidden="true">
        {props.label}
      </label>
      <select
        id={id}
        value={props.value}
        aria-label={props.name}
        onChange={(e) => props.onChange(e.target.value)}
      >
        {props.options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
    </span>
  );
}
