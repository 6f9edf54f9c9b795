/**
 * Readiness: the broker's own checklist checked against what the gateway knows (`GET /v1/readiness`) — push
 * authentication, a backup way in with recovery codes, a pre-validated device per channel, market data for the
 * watchlist, the API clients' refresh drills, the legal entity reviewed, and the user's own re-authentication
 * times. Each item shows its state as a mark and a word (never colour alone), why it matters, what was found, and
 * the action that fixes it one click away; the legal entity is reviewed right here.
 */
import type { AccessReadiness, EntityReview, ReadinessItem, ReadinessState } from '@gatehouse/protocol';
import { useState } from 'react';
import { api } from '../api.js';
import { ErrorText, Notice, Table, useStepUpAction } from '../components.js';
import { when } from '../format.js';
import { StateBadge, useReadiness, wayName } from '../readiness-state.js';
import { Link } from '../router.js';
import './readiness.css';

export function ReadinessPage() {
  const { readiness, error, reload } = useReadiness();
  return (
    <div className="page readiness">
      <h1>Readiness</h1>
      <p>
        What you need in place before a time-sensitive trade: checked now against your factors, devices, data
        and accounts.
      </p>
      <Summary readiness={readiness} onCheck={() => void reload()} />
      <ErrorText error={error} />
      {readiness != null && (
        <ol className="readiness-items">
          {readiness.items.map((item) => (
            <li key={item.id}>
              <Item item={item} />
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}

const COUNT_WORDS: Record<ReadinessState, string> = { missing: 'missing', warn: 'to check', ok: 'OK' };

/** How many items are in each state, announced when it changes, and a button to check again. */
function Summary({
  readiness,
  onCheck,
}: {
  readiness: AccessReadiness | null | undefined;
  onCheck: () => void;
}) {
  const counts = (['missing', 'warn', 'ok'] as const)
    .map((state) => ({ state, n: readiness?.items.filter((i) => i.state === state).length ?? 0 }))
    .filter((c) => c.n > 0);
  return (
    <div className="readiness-summary">
      <p role="status" data-testid="readiness-summary">
        {readiness === undefined
          ? 'Checking…'
          : readiness === null
            ? ''
            : `${counts.map((c) => `${c.n} ${COUNT_WORDS[c.state]}`).join(', ')}. Checked ${when(readiness.checkedAt)}.`}
      </p>
      <button type="button" className="secondary" onClick={onCheck}>
        Check again
      </button>
    </div>
  );
}

function Item({ item }: { item: ReadinessItem }) {
  const headingId = `${item.id}-h`;
  // The legal entity is reviewed on this page; every other action is a page of the portal.
  const action = item.action !== null && !item.action.href.startsWith('/readiness') ? item.action : null;
  return (
    <section id={item.id} aria-labelledby={headingId} className={`card readiness-item ${item.state}`}>
      <h2 id={headingId}>
        <StateBadge state={item.state} /> {item.title}
      </h2>
      <p className="why">{item.why}</p>
      <p className="finding">{item.finding}</p>
      <Details item={item} />
      {action !== null && (
        <p className="item-action">
          <Link to={action.href}>{action.label}</Link>
        </p>
      )}
    </section>
  );
}

const CHANNEL_NAMES = { web: 'Web', desktop: 'Desktop', mobile: 'Mobile' } as const;
const DATA_TEXT = { live: 'Live', delayed: 'Delayed 15 min', none: 'No market data' } as const;
const OUTCOME_TEXT = {
  accepted: 'Accepted',
  confirmation_required: 'Asks for confirmation',
  refused: 'Refused',
} as const;

const ms = (n: number | null) => (n === null ? '—' : `${Math.round(n)} ms`);

function Details({ item }: { item: ReadinessItem }) {
  switch (item.id) {
    case 'push':
      return item.details.devices.length === 0 ? null : (
        <ul className="list">
          {item.details.devices.map((d) => (
            <li key={d.id}>
              {d.name}: last seen {when(d.lastSeenAt)}
            </li>
          ))}
        </ul>
      );
    case 'backup':
      return (
        <dl className="facts">
          <dt>Ways to log in</dt>
          <dd>{item.details.ways.length === 0 ? 'none' : item.details.ways.map(wayName).join(', ')}</dd>
          <dt>Recovery codes left</dt>
          <dd>{item.details.recoveryCodesLeft}</dd>
        </dl>
      );
    case 'devices':
      return (
        <div className="stacked">
          <Table caption="Pre-validated devices per channel" columns={['Channel', 'Traded from', 'Device']}>
            {item.details.channels.map((c) => (
              <tr key={c.channel}>
                <td data-label="Channel">{CHANNEL_NAMES[c.channel]}</td>
                <td data-label="Traded from">{c.used ? 'Yes, in the last 90 days' : 'No'}</td>
                <td data-label="Device">{c.device === null ? 'None' : c.device.name}</td>
              </tr>
            ))}
          </Table>
        </div>
      );
    case 'market_data':
      return item.details.instruments.length === 0 ? null : (
        <div className="stacked">
          <Table
            caption="Market data for your watchlist"
            columns={['Instrument', 'Market data', 'Bundle to subscribe', 'One-lot buy would be']}
          >
            {item.details.instruments.map((i) => (
              <tr key={i.instrumentId}>
                <td data-label="Instrument">{i.symbol}</td>
                <td data-label="Market data">
                  <span className={`badge ${i.data}`}>{DATA_TEXT[i.data]}</span>
                </td>
                <td data-label="Bundle to subscribe">{i.bundle ?? '—'}</td>
                <td data-label="One-lot buy would be">
                  {OUTCOME_TEXT[i.whatIf.outcome]}
                  {i.whatIf.reason === null ? '' : `: ${i.whatIf.reason}`}
                </td>
              </tr>
            ))}
          </Table>
        </div>
      );
    case 'api_clients':
      return item.details.clients.length === 0 ? null : (
        <div className="stacked">
          <Table
            caption="Refresh and drill per API client"
            columns={['Client', 'Last refresh', 'Last drill', 'Drill']}
          >
            {item.details.clients.map((c) => (
              <tr key={c.clientId}>
                <td data-label="Client">{c.name}</td>
                <td data-label="Last refresh">{when(c.lastRefreshAt)}</td>
                <td data-label="Last drill">{when(c.lastDrillAt)}</td>
                <td data-label="Drill">
                  {c.drillPassed === null ? '—' : c.drillPassed ? 'Passed' : 'Failed'}
                </td>
              </tr>
            ))}
          </Table>
        </div>
      );
    case 'legal_entity':
      return <EntityReviews accounts={item.details.accounts} />;
    case 'reauthentication':
      return <Reauthentication channels={item.details.channels} />;
  }
}

type ReviewedAccount = Extract<ReadinessItem, { id: 'legal_entity' }>['details']['accounts'][number];

/** The review button's words: a first review, or one that stands and may be renewed. */
const reviewLabel = (a: ReviewedAccount) => (a.reviewedAt === null ? 'Mark reviewed' : 'Review again');

/**
 * Each account's legal entity, regulator and protection, and the acknowledgement that the user reviewed them
 * (`POST /v1/accounts/{id}/entity-review`, audited, good for a year). The button keeps the focus; the result is
 * announced.
 */
function EntityReviews({ accounts }: { accounts: ReviewedAccount[] }) {
  const { reload } = useReadiness();
  const action = useStepUpAction();
  const [done, setDone] = useState<string | null>(null);
  const review = (account: ReviewedAccount) => {
    if (action.busy) return;
    void action.run(async () => {
      setDone(null);
      const answer = await api<EntityReview>(
        'POST',
        `/v1/accounts/${encodeURIComponent(account.accountId)}/entity-review`,
        {},
      );
      await reload();
      setDone(
        `Reviewed ${account.entityName} for ${account.accountId}; asked again after ${when(answer.reviewExpiresAt)}.`,
      );
    });
  };
  return (
    <>
      <ul className="cards entity-reviews">
        {accounts.map((a) => (
          <li key={a.accountId} className="card item">
            <h3 className="item-title">
              {a.accountId}: {a.entityName}
            </h3>
            <dl className="facts">
              <dt>Regulator</dt>
              <dd>{a.regulator}</dd>
              <dt>Investor protection</dt>
              <dd>{a.protection}</dd>
              <dt>Reviewed</dt>
              <dd>
                {a.reviewedAt === null ? 'never' : `${when(a.reviewedAt)} (until ${when(a.reviewExpiresAt)})`}
              </dd>
            </dl>
            {/* Never disabled while a review is under way: a disabled button would drop the focus. */}
            <button
              type="button"
              aria-label={`${reviewLabel(a)}: ${a.entityName} for ${a.accountId}`}
              onClick={() => review(a)}
            >
              {reviewLabel(a)}
            </button>
          </li>
        ))}
      </ul>
      {action.prompt}
      <ErrorText error={action.error} />
      {done !== null && <Notice>{done}</Notice>}
    </>
  );
}

type ReauthChannel = Extract<ReadinessItem, { id: 'reauthentication' }>['details']['channels'][number];

/** The user's own times from losing trading to trading again, per channel, and the fastest path named. */
function Reauthentication({ channels }: { channels: ReauthChannel[] }) {
  const measured = channels.filter((c) => c.p50Ms !== null);
  const fastest = measured.reduce<ReauthChannel | null>(
    (best, c) => (best === null || (c.p50Ms ?? 0) < (best.p50Ms ?? 0) ? c : best),
    null,
  );
  return (
    <>
      {fastest !== null && (
        <p className="fastest">
          Your fastest path: {fastest.fastestPath}, {ms(fastest.p50Ms)} at the median.
        </p>
      )}
      <div className="stacked">
        <Table
          caption="Your re-authentication times per channel"
          columns={['Channel', 'Measured', 'Last', 'Median', 'Fastest path']}
        >
          {channels.map((c) => (
            <tr key={c.channel}>
              <td data-label="Channel">{CHANNEL_NAMES[c.channel]}</td>
              <td data-label="Measured">
                {c.samples === 0 ? 'Not yet' : `${c.samples} time${c.samples === 1 ? '' : 's'}`}
              </td>
              <td data-label="Last">{ms(c.lastMs)}</td>
              <td data-label="Median">{ms(c.p50Ms)}</td>
              <td data-label="Fastest path">{c.fastestPath}</td>
            </tr>
          ))}
        </Table>
      </div>
    </>
  );
}
