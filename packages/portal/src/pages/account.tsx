/**
 * Account: the legal entity with its regulator and investor-protection scheme, what the account may trade
 * (permissions, options level, disclosures), market data per exchange group (live, delayed 15 min, or none), and
 * the entity's product rules in force — the reason a product is not available.
 */
import type { AccountView } from '@gatehouse/protocol';
import { useEffect, useState } from 'react';
import { useAccountChoice } from '../account-picker.js';
import { api } from '../api.js';
import { ErrorText, Table, useAction } from '../components.js';

const ACCESS_TEXT = { live: 'Live', delayed: 'Delayed 15 min', none: 'None' } as const;
const OPTIONS_LEVELS = [
  'No options',
  'Level 1: covered calls, protective puts',
  'Level 2: long calls and puts',
  'Level 3: spreads',
  'Level 4: uncovered writing',
];

export function AccountPage() {
  const [accountId, picker] = useAccountChoice();
  const [view, setView] = useState<AccountView | null>(null);
  const { error, run } = useAction();
  useEffect(() => {
    if (accountId === null) return;
    void run(async () =>
      setView(await api<AccountView>('GET', `/v1/accounts/${encodeURIComponent(accountId)}`)),
    );
  }, [accountId, run]);

  return (
    <div className="page">
      <h1>Account</h1>
      {picker}
      <ErrorText error={error} />
      {view !== null && (
        <>
          <section aria-labelledby="entity-h" className="card">
            <h2 id="entity-h">{view.entity.legalName}</h2>
            <dl className="facts">
              <dt>Regulator</dt>
              <dd>{view.entity.regulator}</dd>
              <dt>Investor protection</dt>
              <dd>
                {view.entity.investorProtection}: {view.entity.protectionLimit}
              </dd>
              {view.entity.notes !== '' && (
                <>
                  <dt>Notes</dt>
                  <dd>{view.entity.notes}</dd>
                </>
              )}
              <dt>Account type</dt>
              <dd>
                {view.type.replace('_', ' ')} · {view.clientCategory} client · base {view.baseCurrency}
                {view.paper ? ' · paper trading' : ''}
              </dd>
              <dt>Status</dt>
              <dd>
                {view.frozen ? 'Frozen: no orders' : view.closingOnly ? 'Closing only' : 'Open for trading'}
              </dd>
              <dt>Your role</dt>
              <dd>{view.role}</dd>
            </dl>
          </section>
          <section aria-labelledby="perm-h">
            <h2 id="perm-h">Trading permissions</h2>
            <ul className="chips">
              {view.permissions.map((p) => (
                <li key={`${p.assetClass}:${p.region}`}>
                  {p.assetClass} · {p.region}
                </li>
              ))}
            </ul>
            <p>Options: {OPTIONS_LEVELS[view.optionsLevel] ?? `level ${view.optionsLevel}`}</p>
            <h3>Risk disclosures</h3>
            <ul className="list">
              {view.disclosures.map((d) => (
                <li key={d.disclosure}>
                  {d.disclosure.replace('_', ' ')}: {d.accepted ? 'accepted' : 'not accepted'}
                </li>
              ))}
            </ul>
          </section>
          <section id="market-data" aria-labelledby="md-h">
            <h2 id="md-h">Market data</h2>
            <Table caption="Market data by exchange group" columns={['Exchange group', 'Data']}>
              {view.marketData.map((m) => (
                <tr key={m.bundle}>
                  <td>{m.name}</td>
                  <td>
                    <span className={`badge ${m.access}`}>{ACCESS_TEXT[m.access]}</span>
                    {m.professional ? ' (professional)' : ''}
                  </td>
                </tr>
              ))}
            </Table>
          </section>
          <section aria-labelledby="rules-h">
            <h2 id="rules-h">Why a product may not be available</h2>
            <p>The rules of {view.entity.code} that apply to this account’s orders:</p>
            <ul className="list rules">
              {view.rules.map((r) => (
                <li key={r.id}>
                  <strong>{r.id}</strong>: {r.description}
                </li>
              ))}
            </ul>
          </section>
        </>
      )}
    </div>
  );
}
