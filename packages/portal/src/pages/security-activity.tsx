/**
 * The Security page's lists of what acts for the user and what happened: devices (rename, trust, revoke), sessions
 * on every channel (revoke one, or all others) and the security events, a page at a time in words. Each device
 * says where and when it was first seen, and the one in use is marked; each destructive action is confirmed in a
 * dialog and its result announced. Below 600 px each list is a column of cards: nothing scrolls sideways and every
 * button stays in view.
 */
import type { DeviceView, MonitoredSession, SecurityEvent } from '@gatehouse/protocol';
import { useCallback, useEffect, useId, useRef, useState } from 'react';
import { api } from '../api.js';
import { ErrorText, Notice, TextField, useAction, useStepUpAction } from '../components.js';
import { countryWords, when } from '../format.js';
import { describeEvent } from '../security-events.js';

const day = (iso: string) =>
  new Date(iso).toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });

const KINDS: Record<DeviceView['kind'], string> = {
  browser: 'Browser',
  mobile: 'Phone',
  desktop: 'Desktop app',
};
const CHANNELS: Record<string, string> = {
  web: 'Web',
  mobile: 'Phone app',
  desktop: 'Desktop app',
  api: 'API',
  cpapi: 'IBKR-compatible API',
};

export interface Confirmation {
  title: string;
  body: string;
  confirm: string;
  run: () => Promise<void>;
}

/**
 * A modal question before a destructive action: focus moves into it (`showModal` focuses its first button, the safe "Cancel"), Tab stays inside,
 * Escape or "Cancel" closes it without acting, and focus returns to what opened it.
 */
export function ConfirmDialog({ ask, onClose }: { ask: Confirmation | null; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const bodyId = useId();
  useEffect(() => {
    const dialog = ref.current;
    if (dialog === null) return;
    if (ask !== null && !dialog.open) dialog.showModal();
    if (ask === null && dialog.open) dialog.close();
  }, [ask]);
  return (
    <dialog
      ref={ref}
      className="confirm"
      aria-labelledby={titleId}
      aria-describedby={bodyId}
      onClose={onClose}
      onCancel={onClose}
    >
      {ask !== null && (
        <>
          <h2 id={titleId}>{ask.title}</h2>
          <p id={bodyId}>{ask.body}</p>
          <div className="actions">
            <button type="button" className="secondary" onClick={onClose}>
              Cancel
            </button>
            <button
              type="button"
              className="danger"
              onClick={() => {
                onClose();
                void ask.run();
              }}
            >
              {ask.confirm}
            </button>
          </div>
        </>
      )}
    </dialog>
  );
}

export function Devices({
  devices,
  currentDeviceId,
  onChange,
}: {
  devices: DeviceView[] | null;
  currentDeviceId: string | null;
  onChange: () => Promise<void>;
}) {
  const action = useStepUpAction();
  const [renaming, setRenaming] = useState<{ id: string; name: string } | null>(null);
  const [ask, setAsk] = useState<Confirmation | null>(null);
  const [result, setResult] = useState<string | null>(null);
  const act = (work: () => Promise<unknown>, done?: string) => {
    setResult(null);
    return action.run(async () => {
      await work();
      await onChange();
      if (done !== undefined) setResult(done);
    });
  };
  return (
    <section id="devices" aria-labelledby="devices-h">
      <h2 id="devices-h">Devices</h2>
      {devices?.length === 0 && <p>No devices yet.</p>}
      <ul className="cards" aria-label="Your devices">
        {devices?.map((d) => {
          const current = d.id === currentDeviceId;
          return (
            <li key={d.id} className="card item" data-device-id={d.id}>
              {renaming?.id === d.id ? (
                <form
                  className="inline-form"
                  onSubmit={(e) => {
                    e.preventDefault();
                    void act(async () => {
                      await api('PATCH', `/v1/devices/${encodeURIComponent(d.id)}`, { name: renaming.name });
                      setRenaming(null);
                    }, 'Device renamed.');
                  }}
                >
                  <TextField
                    label={`New name for ${d.name}`}
                    value={renaming.name}
                    onChange={(name) => setRenaming({ id: d.id, name })}
                  />
                  <button type="submit">Save</button>
                </form>
              ) : (
                <h3 className="item-title">
                  {d.name}
                  {current && <span className="badge">This device</span>}
                </h3>
              )}
              <p className="muted">
                {KINDS[d.kind]} · {d.trusted ? 'trusted' : 'not trusted'}
              </p>
              <p className="first-seen">
                First seen {day(d.firstSeenAt)}
                {d.firstSeenNetwork === null ? '' : ` from network ${d.firstSeenNetwork}`}
                <br />
                Last seen {when(d.lastSeenAt)}
                {d.countries.length > 0 && (
                  <>
                    <br />
                    Seen from {d.countries.map(countryWords).join(', ')}
                  </>
                )}
              </p>
              <div className="actions wrap">
                <button
                  type="button"
                  className="secondary"
                  aria-label={`Rename ${d.name}`}
                  onClick={() => setRenaming({ id: d.id, name: d.name })}
                >
                  Rename
                </button>
                <button
                  type="button"
                  className="secondary"
                  aria-label={`${d.trusted ? 'Stop trusting' : 'Trust'} ${d.name}`}
                  onClick={() =>
                    void act(
                      () => api('PATCH', `/v1/devices/${encodeURIComponent(d.id)}`, { trusted: !d.trusted }),
                      d.trusted ? `${d.name} is no longer trusted.` : `${d.name} is trusted.`,
                    )
                  }
                >
                  {d.trusted ? 'Stop trusting' : 'Trust'}
                </button>
                <button
                  type="button"
                  className="danger"
                  aria-label={`Revoke ${d.name}`}
                  onClick={() =>
                    setAsk({
                      title: `Revoke ${d.name}?`,
                      body: current
                        ? 'This is the device you are using: you will be signed out here, and it will have to log in again as a new device.'
                        : 'It can no longer log in or approve requests, and its sessions are signed out.',
                      confirm: 'Revoke',
                      run: () =>
                        act(
                          () => api('DELETE', `/v1/devices/${encodeURIComponent(d.id)}`),
                          `${d.name} revoked.`,
                        ),
                    })
                  }
                >
                  Revoke
                </button>
              </div>
            </li>
          );
        })}
      </ul>
      <ConfirmDialog ask={ask} onClose={() => setAsk(null)} />
      {action.prompt}
      <ErrorText error={action.error} />
      {result !== null && <Notice>{result}</Notice>}
    </section>
  );
}

export function Sessions({
  sessions,
  onChange,
}: {
  sessions: MonitoredSession[] | null;
  onChange: () => Promise<void>;
}) {
  // Ending other sessions needs a recent second factor, as factor changes do: a step-up is asked for when it is due.
  const action = useStepUpAction();
  const [ask, setAsk] = useState<Confirmation | null>(null);
  const [result, setResult] = useState<string | null>(null);
  const act = (work: () => Promise<string>) => {
    setResult(null);
    return action.run(async () => {
      const done = await work();
      await onChange();
      setResult(done);
    });
  };
  const others = sessions?.filter((s) => !s.current).length ?? 0;
  return (
    <section aria-labelledby="sessions-h">
      <h2 id="sessions-h">Sessions</h2>
      <ul className="cards" aria-label="Your sessions on every channel">
        {sessions?.map((s) => {
          const channel = CHANNELS[s.channel] ?? s.channel;
          const from = s.device?.name ?? s.userAgent.slice(0, 40);
          return (
            <li key={s.id} className="card item" data-session-id={s.id}>
              <h3 className="item-title">
                {channel} · {from}
                {s.current && <span className="badge">This session</span>}
              </h3>
              <p>
                {s.tier === 'brokerage' ? 'Trading' : 'Read-only'}
                {s.competing ? ' · another session took over trading' : ''}
              </p>
              <p className="muted">
                Network {s.network ?? s.ip} · signed in {when(s.createdAt)} · last seen {when(s.lastSeenAt)}
              </p>
              {!s.current && (
                <div className="actions">
                  <button
                    type="button"
                    className="danger"
                    aria-label={`Revoke the ${s.channel} session last seen ${when(s.lastSeenAt)}`}
                    onClick={() =>
                      setAsk({
                        title: `Sign out the ${channel.toLowerCase()} session on ${from}?`,
                        body: 'It ends at once; whoever uses it has to log in again.',
                        confirm: 'Sign out',
                        run: () =>
                          act(async () => {
                            await api('DELETE', `/v1/sessions/${encodeURIComponent(s.id)}`);
                            return `The ${channel.toLowerCase()} session on ${from} is signed out.`;
                          }),
                      })
                    }
                  >
                    Revoke
                  </button>
                </div>
              )}
            </li>
          );
        })}
      </ul>
      <button
        type="button"
        className="secondary"
        disabled={action.busy || others === 0}
        onClick={() =>
          setAsk({
            title: 'Sign out all other sessions?',
            body: `Every session but this one ends at once (${others} now), on every channel.`,
            confirm: 'Sign out others',
            run: () =>
              act(async () => {
                const { count } = await api<{ count: number }>('POST', '/v1/sessions/revoke-others', {});
                return `${count} other session${count === 1 ? '' : 's'} signed out.`;
              }),
          })
        }
      >
        Sign out all other sessions
      </button>
      <ConfirmDialog ask={ask} onClose={() => setAsk(null)} />
      {action.prompt}
      <ErrorText error={action.error} />
      {result !== null && <Notice>{result}</Notice>}
    </section>
  );
}

/** How many events one page shows. */
export const EVENTS_PER_PAGE = 20;

interface EventPage {
  events: SecurityEvent[];
  nextBefore: number | null;
}

/**
 * The security events, newest first, a page at a time (`?before=&limit=`): "Older" follows the page's
 * `nextBefore`, "Newer" goes back along the pages already seen.
 */
export function Events({ devices, version }: { devices: DeviceView[] | null; version: number }) {
  const [page, setPage] = useState<EventPage | null>(null);
  // The `before` of each page shown so far; the last is the current page's (undefined: the newest).
  const [trail, setTrail] = useState<(number | undefined)[]>([undefined]);
  const load = useAction();
  const before = trail.at(-1);
  const show = useCallback(
    (from: number | undefined) =>
      load.run(async () => {
        const query = `limit=${EVENTS_PER_PAGE}${from === undefined ? '' : `&before=${from}`}`;
        setPage(await api<EventPage>('GET', `/v1/security/events?${query}`));
      }),
    [load.run],
  );
  // biome-ignore lint/correctness/useExhaustiveDependencies: reloaded when the page's data changes (`version`)
  useEffect(() => {
    void show(before);
  }, [show, before, version]);
  const names = new Map(devices?.map((d) => [d.id, d.name]));
  const context = { deviceName: (id: string) => names.get(id) };
  const pageNumber = trail.length;
  return (
    <section aria-labelledby="events-h">
      <h2 id="events-h">Security events</h2>
      <ErrorText error={load.error} />
      <ol className="list events" aria-label={`Security events, page ${pageNumber}`}>
        {page?.events.map((e) => (
          <li key={e.seq}>
            <span className="event-text">{describeEvent(e, context)}</span>{' '}
            <span className="muted">
              <time dateTime={e.at}>{new Date(e.at).toLocaleString()}</time>
              {e.ip === null ? '' : ` · from ${e.ip}`}
            </span>
          </li>
        ))}
      </ol>
      {page?.events.length === 0 && <p>No events yet.</p>}
      <nav className="actions pager" aria-label="Security event pages">
        <button
          type="button"
          className="secondary"
          disabled={pageNumber === 1 || load.busy}
          onClick={() => setTrail(trail.slice(0, -1))}
        >
          Newer
        </button>
        <span role="status">Page {pageNumber}</span>
        <button
          type="button"
          className="secondary"
          disabled={page?.nextBefore == null || load.busy}
          onClick={() => {
            const next = page?.nextBefore;
            if (next != null) setTrail([...trail, next]);
          }}
        >
          Older
        </button>
      </nav>
    </section>
  );
}
