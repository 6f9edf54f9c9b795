/**
 * Security: the password (change it, optionally signing out every other session), second factors (enrol TOTP and a
 * mobile device with QR codes, security keys, an SMS number, recovery codes shown once), the backup-factor warning,
 * devices, trips announced (`travel.tsx`), sessions and security events (`security-activity.tsx`). Changes to the password, factors, devices and other
 * sessions need a recent second factor: when the gateway answers `STEP_UP_REQUIRED`, the page asks for one and
 * repeats the change.
 */
import type {
  DeviceView,
  FactorView,
  MonitoredSession,
  PasswordChanged,
  SmsSentView,
} from '@gatehouse/protocol';
import { startRegistration } from '@simplewebauthn/browser';
import { useCallback, useEffect, useState } from 'react';
import { api } from '../api.js';
import { ErrorText, Notice, QrCode, Table, TextField, useAction, useStepUpAction } from '../components.js';
import { when } from '../format.js';
import { Link } from '../router.js';
import { useSession } from '../session.js';
import { useStream } from '../stream.js';
import { AddDevice } from './add-device.js';
import { Devices, Events, Sessions } from './security-activity.js';
import { Travel } from './travel.js';

interface FactorList {
  factors: FactorView[];
  /** `outdated`: unused codes of the earlier, shorter format, which a new set replaces. */
  recoveryCodes: { remaining: number; outdated: number };
  backupFactorMissing: boolean;
}

const FACTOR_NAMES: Record<FactorView['type'], string> = {
  push: 'Mobile device',
  webauthn: 'Security key',
  totp: 'Authenticator app',
  sms: 'Text message',
  recovery_code: 'Recovery codes',
};

/** Sends one change, then reloads what the page shows; a failure stays with `action` to be displayed. */
function applyChange(
  action: { run(work: () => Promise<unknown>): Promise<unknown> },
  onChange: () => Promise<void>,
  method: string,
  path: string,
  body?: unknown,
) {
  return action.run(async () => {
    await api(method, path, body);
    await onChange();
  });
}

export function SecurityPage() {
  const [factors, setFactors] = useState<FactorList | null>(null);
  const [devices, setDevices] = useState<DeviceView[] | null>(null);
  const [sessions, setSessions] = useState<MonitoredSession[] | null>(null);
  // Counts reloads: the events list (paged on its own) reloads its page with the rest.
  const [version, setVersion] = useState(0);
  const load = useAction();

  const reload = useCallback(async () => {
    await load.run(async () => {
      const [f, d, s] = await Promise.all([
        api<FactorList>('GET', '/v1/factors'),
        api<{ devices: DeviceView[] }>('GET', '/v1/devices'),
        api<{ sessions: MonitoredSession[] }>('GET', '/v1/sessions'),
      ]);
      setFactors(f);
      setDevices(d.devices);
      setSessions(s.sessions);
      setVersion((v) => v + 1);
    });
  }, [load.run]);
  const currentDeviceId = sessions?.find((s) => s.current)?.device?.id ?? null;

  useEffect(() => {
    void reload();
  }, [reload]);
  useStream((m) => {
    if (m.topic === 'session' && (m.type === 'competing' || m.type === 'brokerage_acquired')) void reload();
  });

  return (
    <div className="page">
      <h1>Security</h1>
      <ErrorText error={load.error} />
      {factors?.backupFactorMissing === true && (
        <div className="banner warning" role="alert">
          <p>
            You have only one way to prove it is you. Add a second factor or recovery codes, so that losing a
            phone or key does not lock you out.
          </p>
        </div>
      )}
      <Password onChange={reload} />
      <Factors list={factors} onChange={reload} />
      <Devices devices={devices} currentDeviceId={currentDeviceId} onChange={reload} />
      <Travel />
      <Sessions sessions={sessions} onChange={reload} />
      <Events devices={devices} version={version} />
    </div>
  );
}

/**
 * Shown under the navigation while the password is an initial one an operator set (a new account, a reset): it
 * stops working at `passwordExpiresAt`, so the user is asked to choose their own.
 */
export function PasswordChangeBanner() {
  const { me } = useSession();
  if (me?.passwordChangeRequired !== true) return null;
  const until = me.passwordExpiresAt === null ? null : new Date(me.passwordExpiresAt).toLocaleString();
  return (
    <div className="banner warning" role="alert">
      <p>
        Your password was set by the broker’s support. Choose your own now
        {until === null ? '' : `: the one you have stops working on ${until}`}.
      </p>
      <Link to="/security#password">Change your password</Link>
    </div>
  );
}

/**
 * Changes the password: the current one and a new one, typed into masked fields that password managers fill and
 * paste works in (ASVS 5.0 6.2.6, 6.2.7), and the choice to sign out every other session (7.4.3).
 */
function Password({ onChange }: { onChange: () => Promise<void> }) {
  const { me, refresh } = useSession();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [endOthers, setEndOthers] = useState(false);
  const [done, setDone] = useState<string | null>(null);
  const action = useStepUpAction();
  // The password banner links here.
  useEffect(() => {
    if (window.location.hash === '#password') document.getElementById('password')?.scrollIntoView();
  }, []);
  return (
    <section id="password" aria-labelledby="password-h">
      <h2 id="password-h">Password</h2>
      <form
        className="card"
        aria-label="Change your password"
        onSubmit={(e) => {
          e.preventDefault();
          setDone(null);
          void action.run(async () => {
            const changed = await api<PasswordChanged>('POST', '/v1/password', {
              currentPassword: current,
              newPassword: next,
              endOtherSessions: endOthers,
            });
            setCurrent('');
            setNext('');
            setDone(
              changed.endedSessions === 0
                ? 'Your password is changed.'
                : `Your password is changed, and ${changed.endedSessions} other session${changed.endedSessions === 1 ? ' was' : 's were'} signed out.`,
            );
            await refresh();
            await onChange();
          });
        }}
      >
        {/* The account the password belongs to, for password managers. */}
        <input type="hidden" name="username" autoComplete="username" value={me?.user.username ?? ''} />
        <TextField
          label="Current password"
          name="current-password"
          type="password"
          autoComplete="current-password"
          value={current}
          onChange={setCurrent}
        />
        <TextField
          label="New password"
          name="new-password"
          type="password"
          autoComplete="new-password"
          value={next}
          onChange={setNext}
        />
        <p className="hint">
          At least 12 characters. Several unrelated words make a strong password. It may not be a common one,
          nor contain your name or username, or the name of this service or the broker.
        </p>
        <label className="inline">
          <input type="checkbox" checked={endOthers} onChange={(e) => setEndOthers(e.target.checked)} /> Sign
          out all my other sessions
        </label>
        {action.prompt}
        <ErrorText error={action.error} />
        <button type="submit" disabled={action.busy}>
          Change password
        </button>
      </form>
      {done !== null && <Notice>{done}</Notice>}
    </section>
  );
}

function Factors({ list, onChange }: { list: FactorList | null; onChange: () => Promise<void> }) {
  const action = useStepUpAction();
  const [adding, setAdding] = useState<'totp' | 'sms' | 'webauthn' | 'mobile' | null>(null);
  const [codes, setCodes] = useState<string[] | null>(null);
  return (
    <section id="factors" aria-labelledby="factors-h">
      <h2 id="factors-h">Second factors</h2>
      {/* Below 600 px each row is a card (styles.css `.stacked`), its cells labelled by `data-label`. */}
      <div className="stacked">
        <Table caption="Your second factors" columns={['Factor', 'Name', 'Status', 'Last used']} actions>
          {list?.factors.map((f) => (
            <tr key={f.id}>
              <td data-label="Factor">{FACTOR_NAMES[f.type]}</td>
              <td data-label="Name">
                {f.label}
                {f.phone !== undefined ? ` (${f.phone})` : ''}
              </td>
              <td data-label="Status">{f.status}</td>
              <td data-label="Last used">{when(f.lastUsedAt)}</td>
              <td className="cell-actions">
                <button
                  type="button"
                  className="secondary"
                  aria-label={`Remove ${FACTOR_NAMES[f.type]} ${f.label}`}
                  onClick={() =>
                    void applyChange(action, onChange, 'DELETE', `/v1/factors/${encodeURIComponent(f.id)}`)
                  }
                >
                  Remove
                </button>
              </td>
            </tr>
          ))}
          <tr>
            <td data-label="Factor">Recovery codes</td>
            <td colSpan={4} data-label="Unused">
              {list === null ? '' : `${list.recoveryCodes.remaining} unused`}
              {list !== null && list.recoveryCodes.outdated > 0 && (
                <span className="hint">
                  {' '}
                  · {list.recoveryCodes.outdated} of the older, shorter kind: generate new recovery codes to
                  replace them.
                </span>
              )}
            </td>
          </tr>
        </Table>
      </div>
      <div className="actions wrap">
        <button type="button" onClick={() => setAdding('totp')}>
          Add authenticator app
        </button>
        <button type="button" onClick={() => setAdding('webauthn')}>
          Add security key
        </button>
        <button type="button" onClick={() => setAdding('sms')}>
          Add phone number
        </button>
        {/* The Readiness page's links to push (`#push`) and to recovery codes (`#recovery`) land on these buttons. */}
        <button id="push" type="button" onClick={() => setAdding('mobile')}>
          Add mobile device
        </button>
        <button
          id="recovery"
          type="button"
          onClick={() =>
            void action.run(async () => {
              const made = await api<{ codes: string[] }>('POST', '/v1/factors/recovery-codes', {});
              setCodes(made.codes);
              await onChange();
            })
          }
        >
          New recovery codes
        </button>
      </div>
      {action.prompt}
      <ErrorText error={action.error} />
      {codes !== null && (
        <section className="card" aria-label="Recovery codes">
          <h3>Your recovery codes</h3>
          <p>They are shown once. Keep them offline; each works once. New codes replace the old ones.</p>
          <ol className="codes">
            {codes.map((c) => (
              <li key={c}>
                <code>{c}</code>
              </li>
            ))}
          </ol>
          <button type="button" onClick={() => setCodes(null)}>
            I have saved them
          </button>
        </section>
      )}
      {adding === 'totp' && <AddTotp onDone={() => void onChange().then(() => setAdding(null))} />}
      {adding === 'sms' && <AddSms onDone={() => void onChange().then(() => setAdding(null))} />}
      {adding === 'webauthn' && <AddSecurityKey onDone={() => void onChange().then(() => setAdding(null))} />}
      {adding === 'mobile' && <AddDevice onClose={() => void onChange().then(() => setAdding(null))} />}
    </section>
  );
}

function ConfirmCode({ factorId, onDone }: { factorId: string; onDone: () => void }) {
  const [code, setCode] = useState('');
  const action = useStepUpAction();
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        void action.run(async () => {
          await api('POST', `/v1/factors/${encodeURIComponent(factorId)}/confirm`, { code: code.trim() });
          onDone();
        });
      }}
    >
      <TextField
        label="Code"
        value={code}
        onChange={setCode}
        autoComplete="one-time-code"
        inputMode="numeric"
      />
      {action.prompt}
      <ErrorText error={action.error} />
      <button type="submit" disabled={action.busy}>
        Confirm
      </button>
    </form>
  );
}

function AddTotp({ onDone }: { onDone: () => void }) {
  const [enrolment, setEnrolment] = useState<{ factorId: string; secret: string; uri: string } | null>(null);
  const action = useStepUpAction();
  useEffect(() => {
    void action.run(async () => {
      setEnrolment(await api('POST', '/v1/factors/totp', { label: 'Authenticator app' }));
    });
  }, [action.run]);
  return (
    <section className="card" aria-label="Add an authenticator app">
      <h3>Add an authenticator app</h3>
      {action.prompt}
      <ErrorText error={action.error} />
      {enrolment !== null && (
        <>
          <p>Scan this code with your authenticator app, then enter the code it shows.</p>
          <QrCode value={enrolment.uri} label="QR code for your authenticator app" />
          <details>
            <summary>Can’t scan? Enter the key by hand</summary>
            <code className="secret">{enrolment.secret}</code>
          </details>
          <ConfirmCode factorId={enrolment.factorId} onDone={onDone} />
        </>
      )}
    </section>
  );
}

function AddSms({ onDone }: { onDone: () => void }) {
  const [phone, setPhone] = useState('');
  const [pending, setPending] = useState<(SmsSentView & { factorId: string }) | null>(null);
  const action = useStepUpAction();
  return (
    <section className="card" aria-label="Add a phone number">
      <h3>Add a phone number</h3>
      <p className="muted">
        Text messages are the weakest second factor: a number can be moved to another SIM card, and messages
        can be intercepted. Keep one as a backup to an authenticator app, a phone enrolled with Gatehouse or a
        security key. A session signed in by text message cannot change your factors.
      </p>
      {pending === null ? (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void action.run(async () =>
              setPending(await api('POST', '/v1/factors/sms', { phone: phone.trim() })),
            );
          }}
        >
          <TextField
            label="Phone number (international, e.g. +14155550100)"
            value={phone}
            onChange={setPhone}
            type="tel"
            inputMode="tel"
            autoComplete="tel"
          />
          <button type="submit" disabled={action.busy}>
            Send a code
          </button>
        </form>
      ) : (
        <>
          <Notice>
            A code was sent to {phone}. {pending.remainingThisHour} more can be sent this hour.
          </Notice>
          <ConfirmCode factorId={pending.factorId} onDone={onDone} />
        </>
      )}
      {action.prompt}
      <ErrorText error={action.error} />
    </section>
  );
}

function AddSecurityKey({ onDone }: { onDone: () => void }) {
  const [label, setLabel] = useState('Security key');
  const action = useStepUpAction();
  return (
    <form
      className="card"
      aria-label="Add a security key"
      onSubmit={(e) => {
        e.preventDefault();
        void action.run(async () => {
          const optionsJSON = await api<Parameters<typeof startRegistration>[0]['optionsJSON']>(
            'POST',
            '/v1/factors/webauthn/options',
            {},
          );
          const response = await startRegistration({ optionsJSON }).catch(() => {
            throw new Error('The security key did not answer, or the request was cancelled. Try again.');
          });
          await api('POST', '/v1/factors/webauthn', { label: label.trim(), response });
          onDone();
        });
      }}
    >
      <h3>Add a security key</h3>
      <TextField label="Name for this key" value={label} onChange={setLabel} />
      {action.prompt}
      <ErrorText error={action.error} />
      <button type="submit" disabled={action.busy}>
        Register the key
      </button>
    </form>
  );
}
