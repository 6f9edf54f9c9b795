/**
 * Web login: username and password, then a second factor. A push is sent when the person asks for it ("Send a
 * push to my phone"), never merely because the step opened: a prompt nobody asked for trains people to approve
 * without reading. It shows the number to match and a countdown; when the push is not delivered in time the other
 * factors are offered while the push stays pending (an approval that arrives later still logs in). Each push ends
 * in the one final state the gateway decided — approved, denied, wrong number, expired — which the phone shows too;
 * the countdown stops there. TOTP, SMS with its resend limits, a security key (WebAuthn) and a recovery code.
 */
import type { FactorType, LoginStep, SmsSentView } from '@gatehouse/protocol';
import { startAuthentication } from '@simplewebauthn/browser';
import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError, api, attemptsLeft, TOO_MANY_WRONG_CODES } from '../api.js';
import { ErrorText, Notice, TextField, useAction } from '../components.js';
import { focusHeadingAfterSignIn } from '../focus.js';
import { useSession } from '../session.js';

const FACTOR_LABELS: Record<FactorType, string> = {
  push: 'Approve on my phone',
  webauthn: 'Security key',
  totp: 'Authenticator app code',
  sms: 'Text message code',
  recovery_code: 'Recovery code',
};
const FACTOR_ORDER: readonly FactorType[] = ['push', 'webauthn', 'totp', 'sms', 'recovery_code'];

type Authenticated = Extract<LoginStep, { status: 'authenticated' }>;

export function LoginPage() {
  const { endedReason, refresh } = useSession();
  const [loginId, setLoginId] = useState<string | null>(null);
  const [factors, setFactors] = useState<FactorType[]>([]);
  const [done, setDone] = useState<Authenticated | null>(null);
  // Why the factor step went back to the start (its codes are spent), read out above the password form.
  const [restarted, setRestarted] = useState<string | null>(null);
  // Back at the start: focus goes to the username, the first field of the new step.
  useEffect(() => {
    if (restarted !== null && loginId === null)
      document.querySelector<HTMLInputElement>('input[autocomplete="username"]')?.focus();
  }, [restarted, loginId]);

  const finish = async (result: Authenticated) => {
    // Logging in with a recovery code is worth a pause: fewer are left. A missing backup factor is shown as a
    // warning on the Security page instead of in the way of every login.
    if (result.notice === 'recovery_code_used') {
      setDone(result);
      return;
    }
    focusHeadingAfterSignIn();
    await refresh();
  };

  return (
    <main className="login">
      <h1>Gatehouse</h1>
      <p className="subtitle">Client Portal · paper trading</p>
      {endedReason !== null && loginId === null && <Notice>{endedReason}</Notice>}
      {restarted !== null && loginId === null && (
        <p className="error" role="alert">
          {restarted}
        </p>
      )}
      {done !== null ? (
        <AfterLogin
          result={done}
          onContinue={() => {
            focusHeadingAfterSignIn();
            void refresh();
          }}
        />
      ) : loginId === null ? (
        <Credentials
          onStarted={(id, available) => {
            setRestarted(null);
            setLoginId(id);
            setFactors(FACTOR_ORDER.filter((f) => available.includes(f)));
          }}
        />
      ) : (
        <SecondFactor
          loginId={loginId}
          factors={factors}
          onAuthenticated={finish}
          onRestart={(reason) => {
            setRestarted(reason ?? null);
            setLoginId(null);
          }}
        />
      )}
    </main>
  );
}

function Credentials({ onStarted }: { onStarted: (loginId: string, factors: FactorType[]) => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const { busy, error, run } = useAction();
  return (
    <form
      className="card"
      aria-label="Log in"
      onSubmit={(e) => {
        e.preventDefault();
        void run(async () => {
          const step = await api<LoginStep>('POST', '/v1/auth/login', { username, password, channel: 'web' });
          if (step.status === 'second_factor_required' && step.loginId !== undefined)
            onStarted(
              step.loginId,
              step.factors.map((f) => f.type),
            );
        });
      }}
    >
      <TextField label="Username" value={username} onChange={setUsername} autoComplete="username" />
      <TextField
        label="Password"
        type="password"
        value={password}
        onChange={setPassword}
        autoComplete="current-password"
      />
      <ErrorText error={error} />
      <button type="submit" disabled={busy}>
        Continue
      </button>
    </form>
  );
}

/** How a push ended, as the gateway decided and told the phone too; `pending` until then. */
type PushOutcome = 'pending' | 'wrong_number' | 'denied' | 'expired';

interface PushState {
  number: string;
  expiresAt: number;
  fallback: FactorType[] | null;
  outcome: PushOutcome;
}

/** The login poll's refusals that are a push's final state, not a failure of the page. */
const OUTCOME_OF_ERROR: Record<string, PushOutcome> = {
  WRONG_NUMBER: 'wrong_number',
  PUSH_DENIED: 'denied',
  PUSH_EXPIRED: 'expired',
};

function SecondFactor(props: {
  loginId: string;
  factors: FactorType[];
  onAuthenticated: (result: Authenticated) => Promise<void>;
  /** Back to the password step; `reason` is said there (the login's codes are all spent). */
  onRestart: (reason?: string) => void;
}) {
  const { loginId, onAuthenticated } = props;
  // A login out of codes cannot complete: Verify must not stay, so the page goes back to the password.
  const exhausted = () => props.onRestart(TOO_MANY_WRONG_CODES);
  const [chosen, setChosen] = useState<FactorType>(props.factors[0] ?? 'totp');
  // The step takes the focus at its first choice, read out with the group's name (not left on the page's body).
  const choice = useRef<HTMLFieldSetElement>(null);
  useEffect(() => {
    choice.current?.querySelector<HTMLInputElement>('input:checked')?.focus();
  }, []);
  const [push, setPush] = useState<PushState | null>(null);
  const [pushError, setPushError] = useState<unknown>(null);
  const polling = useRef(false);
  // Giving the login up ("Start again", or the page closing while it is open) ends it on the gateway, which takes
  // its pending push off the phone at once (no stale prompt to approve without reading).
  const abandon = useCallback(
    () => navigator.sendBeacon(`/v1/auth/login/${encodeURIComponent(loginId)}/abandon`),
    [loginId],
  );
  useEffect(() => {
    window.addEventListener('pagehide', abandon);
    return () => window.removeEventListener('pagehide', abandon);
  }, [abandon]);
  const finished = useRef(false);

  const complete = async (result: LoginStep) => {
    if (result.status !== 'authenticated' || finished.current) return;
    finished.current = true;
    await onAuthenticated(result);
  };

  // Long-polls a pending push until it is decided, expires, or the login ends another way.
  const poll = async () => {
    if (polling.current) return;
    polling.current = true;
    try {
      while (!finished.current) {
        const state = await api<LoginStep>(
          'GET',
          `/v1/auth/login/${encodeURIComponent(loginId)}?waitMs=20000`,
        );
        if (state.status === 'authenticated') {
          await complete(state);
          return;
        }
        if (state.status === 'second_factor_required') {
          setPush((p) => (p === null ? p : { ...p, outcome: 'expired' }));
          return;
        }
        const fallback = state.fallbackFactors?.map((f) => f.type) ?? null;
        if (fallback !== null) setPush((p) => (p === null ? p : { ...p, fallback }));
      }
    } catch (error) {
      const outcome = error instanceof ApiError ? OUTCOME_OF_ERROR[error.code] : undefined;
      if (outcome !== undefined) setPush((p) => (p === null ? p : { ...p, outcome }));
      else if (!finished.current) setPushError(error);
    } finally {
      polling.current = false;
    }
  };

  const sendPush = async () => {
    setPushError(null);
    // A previous request's number is void (expired or denied): never show it next to the new request.
    setPush(null);
    try {
      const started = await api<LoginStep>('POST', `/v1/auth/login/${encodeURIComponent(loginId)}/factor`, {
        type: 'push',
      });
      if (started.status !== 'push_pending') return;
      setPush({
        number: started.number,
        expiresAt: Date.parse(started.expiresAt ?? '') || Date.now() + 60_000,
        fallback: null,
        outcome: 'pending',
      });
      void poll();
    } catch (error) {
      setPushError(error);
    }
  };

  const others = push?.fallback ?? props.factors.filter((f) => f !== 'push');
  return (
    <section className="card" aria-label="Second factor">
      <h2>Verify it is you</h2>
      <fieldset className="factor-choice" ref={choice}>
        <legend>Choose a second factor</legend>
        {props.factors.map((f) => (
          <label key={f} className="inline">
            <input
              type="radio"
              name="factor"
              value={f}
              checked={chosen === f}
              onChange={() => setChosen(f)}
            />{' '}
            {FACTOR_LABELS[f]}
          </label>
        ))}
      </fieldset>

      {chosen === 'push' && (
        <PushPanel
          push={push}
          error={pushError}
          onSend={() => void sendPush()}
          others={others}
          onChoose={setChosen}
        />
      )}
      {(chosen === 'totp' || chosen === 'recovery_code') && (
        <CodeFactor loginId={loginId} type={chosen} onAuthenticated={complete} onExhausted={exhausted} />
      )}
      {chosen === 'sms' && <SmsFactor loginId={loginId} onAuthenticated={complete} onExhausted={exhausted} />}
      {chosen === 'webauthn' && <SecurityKeyFactor loginId={loginId} onAuthenticated={complete} />}
      {push !== null && chosen !== 'push' && push.outcome === 'pending' && (
        <p className="hint">
          Your push request is still waiting; approving it on your phone also logs you in.
        </p>
      )}
      <button
        type="button"
        className="link"
        onClick={() => {
          abandon();
          props.onRestart();
        }}
      >
        Start again
      </button>
    </section>
  );
}

function useCountdown(until: number | null): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (until === null) return;
    const timer = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(timer);
  }, [until]);
  return until === null ? 0 : Math.max(0, Math.ceil((until - now) / 1000));
}

/** What the login screen says of each final state: the same outcome the phone shows. */
const OUTCOME_TEXT: Record<Exclude<PushOutcome, 'pending'>, string> = {
  wrong_number:
    'Wrong number — this request was cancelled. Send another push and type the number it shows. If your phone showed a request you did not make, someone else knows your password.',
  denied: 'The request was denied on your phone. No further push is sent for this login; use another factor:',
  expired: 'The request expired without an answer.',
};

function PushPanel(props: {
  push: PushState | null;
  error: unknown;
  onSend: () => void;
  others: FactorType[];
  onChoose: (f: FactorType) => void;
}) {
  const { push } = props;
  const outcome = push?.outcome ?? 'pending';
  // The countdown stops with the push's final state (or its end).
  const seconds = useCountdown(push !== null && outcome === 'pending' ? push.expiresAt : null);
  const ended = push !== null && (outcome !== 'pending' || seconds === 0);
  const finalText =
    push === null
      ? null
      : outcome !== 'pending'
        ? OUTCOME_TEXT[outcome]
        : ended
          ? OUTCOME_TEXT.expired
          : null;
  const again = useRef<HTMLButtonElement>(null);
  const numberRef = useRef<HTMLOutputElement>(null);
  // A push just sent: the focus moves to its number (the button that sent it is gone).
  useEffect(() => {
    if (push?.number !== undefined) numberRef.current?.focus();
  }, [push?.number]);
  // The next step takes the focus: the button that sends another push, once this one ended.
  useEffect(() => {
    if (ended && outcome !== 'denied') again.current?.focus();
  }, [ended, outcome]);
  if (push === null) {
    return (
      <div className="push">
        <p>We send a request to the Gatehouse authenticator on your phone, with a number to type there.</p>
        <button type="button" onClick={props.onSend}>
          Send a push to my phone
        </button>
        <ErrorText error={props.error} />
      </div>
    );
  }
  return (
    <div className="push">
      <p>Open the Gatehouse authenticator on your phone and approve the request showing this number:</p>
      <output
        className={ended ? 'push-number ended' : 'push-number'}
        aria-label="Number to match"
        tabIndex={-1}
        ref={numberRef}
      >
        {push.number}
      </output>
      {finalText === null && <p className="countdown">{`Expires in ${seconds} s`}</p>}
      {/* Always in the page, so that the final state is announced as it arrives. */}
      <p className="push-outcome" role="status">
        {finalText ?? ''}
      </p>
      {push.fallback !== null && !ended && (
        <div className="fallback" role="status">
          <p>Your phone has not received the request. Keep waiting, or use another factor:</p>
          <FactorButtons others={props.others} onChoose={props.onChoose} />
        </div>
      )}
      {outcome === 'denied' && (
        <div className="fallback">
          <FactorButtons others={props.others} onChoose={props.onChoose} />
        </div>
      )}
      {ended && outcome !== 'denied' && (
        <button type="button" ref={again} onClick={props.onSend}>
          Send another push
        </button>
      )}
      <ErrorText error={props.error} />
    </div>
  );
}

function FactorButtons(props: { others: FactorType[]; onChoose: (f: FactorType) => void }) {
  return (
    <ul className="factor-buttons">
      {props.others.map((f) => (
        <li key={f}>
          <button type="button" className="secondary" onClick={() => props.onChoose(f)}>
            {FACTOR_LABELS[f]}
          </button>
        </li>
      ))}
    </ul>
  );
}

function CodeFactor(props: {
  loginId: string;
  type: 'totp' | 'recovery_code' | 'sms';
  onAuthenticated: (result: LoginStep) => Promise<void>;
  /** The login has no code left to try. */
  onExhausted: () => void;
}) {
  const [code, setCode] = useState('');
  const { busy, error, run } = useAction();
  const label =
    props.type === 'totp'
      ? '6-digit code from your authenticator app'
      : props.type === 'sms'
        ? 'Code from the text message'
        : 'One of your recovery codes';
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        void run(async () => {
          const result = await api<LoginStep>(
            'POST',
            `/v1/auth/login/${encodeURIComponent(props.loginId)}/factor`,
            { type: props.type, code: code.replace(/\s/g, '') },
          ).catch((caught: unknown) => {
            if (attemptsLeft(caught) === 0) props.onExhausted();
            throw caught;
          });
          await props.onAuthenticated(result);
        });
      }}
    >
      <TextField
        label={label}
        value={code}
        onChange={setCode}
        autoComplete="one-time-code"
        inputMode={props.type === 'recovery_code' ? 'text' : 'numeric'}
        name="code"
      />
      <ErrorText error={error} />
      <button type="submit" disabled={busy}>
        Verify
      </button>
    </form>
  );
}

function SmsFactor(props: {
  loginId: string;
  onAuthenticated: (result: LoginStep) => Promise<void>;
  onExhausted: () => void;
}) {
  const [sent, setSent] = useState<SmsSentView | null>(null);
  // When the next code may be asked for: from the last send, or from the gateway's refusal of an early one.
  const [resendAt, setResendAt] = useState<number | null>(null);
  const { busy, error, run } = useAction();
  const resendIn = useCountdown(resendAt);
  const send = () =>
    run(async () => {
      try {
        const answer = await api<SmsSentView>(
          'POST',
          `/v1/auth/login/${encodeURIComponent(props.loginId)}/sms`,
          {},
        );
        setSent(answer);
        setResendAt(Date.parse(answer.resendAvailableAt));
      } catch (caught) {
        const wait = caught instanceof ApiError ? caught.details.retryAfterMs : undefined;
        if (typeof wait === 'number') setResendAt(Date.now() + wait);
        throw caught;
      }
    });
  return (
    <div>
      <button type="button" className="secondary" disabled={busy || resendIn > 0} onClick={() => void send()}>
        {resendIn > 0 ? `Resend in ${resendIn} s` : sent === null ? 'Send me a code' : 'Resend the code'}
      </button>
      <p className="hint" role="status">
        {sent === null
          ? 'Codes are limited to 5 per hour, 30 seconds apart.'
          : `Code sent. ${sent.remainingThisHour} more can be sent this hour.`}
      </p>
      <ErrorText error={error} />
      {sent?.simulatedTexts === true && <SimulatedTexts loginId={props.loginId} />}
      <CodeFactor
        loginId={props.loginId}
        type="sms"
        onAuthenticated={props.onAuthenticated}
        onExhausted={props.onExhausted}
      />
    </div>
  );
}

/**
 * A demo instance stores texts instead of sending them: the person logging in may read the text of this login
 * (the gateway shows no other login's), so the SMS factor can be tried without a phone.
 */
function SimulatedTexts({ loginId }: { loginId: string }) {
  const [messages, setMessages] = useState<{ id: string; to: string; body: string }[] | null>(null);
  const { busy, error, run } = useAction();
  const show = () =>
    run(async () => {
      const answer = await api<{ messages: { id: string; to: string; body: string }[] }>(
        'GET',
        `/v1/auth/login/${encodeURIComponent(loginId)}/simulated-texts`,
      );
      setMessages(answer.messages);
    });
  return (
    <div className="simulated-texts">
      <p className="hint">This is a demo: texts are simulated, not sent to a phone.</p>
      <button type="button" className="link" disabled={busy} onClick={() => void show()}>
        View simulated texts
      </button>
      <ErrorText error={error} />
      {messages !== null && (
        <section aria-label="Simulated texts for this login" aria-live="polite">
          {messages.length === 0 ? (
            <p>No text yet for this login.</p>
          ) : (
            <ul className="list">
              {messages.map((m) => (
                <li key={m.id}>
                  To {m.to}: {m.body}
                </li>
              ))}
            </ul>
          )}
        </section>
      )}
    </div>
  );
}

function SecurityKeyFactor(props: {
  loginId: string;
  onAuthenticated: (result: LoginStep) => Promise<void>;
}) {
  const { busy, error, run } = useAction();
  return (
    <div>
      <p>Insert or touch your security key when the browser asks.</p>
      <button
        type="button"
        disabled={busy}
        onClick={() =>
          void run(async () => {
            const base = `/v1/auth/login/${encodeURIComponent(props.loginId)}`;
            const optionsJSON = await api<Parameters<typeof startAuthentication>[0]['optionsJSON']>(
              'POST',
              `${base}/webauthn/options`,
              {},
            );
            const response = await startAuthentication({ optionsJSON }).catch(() => {
              throw new Error('The security key did not answer, or the request was cancelled. Try again.');
            });
            await props.onAuthenticated(
              await api<LoginStep>('POST', `${base}/factor`, { type: 'webauthn', response }),
            );
          })
        }
      >
        Use security key
      </button>
      <ErrorText error={error} />
    </div>
  );
}

function AfterLogin({ result, onContinue }: { result: Authenticated; onContinue: () => void }) {
  return (
    <section className="card" aria-label="Before you continue">
      {result.notice === 'recovery_code_used' && (
        <Notice>
          You logged in with a recovery code. {result.remainingRecoveryCodes ?? 0} codes are left.{' '}
          {result.suggestion}
        </Notice>
      )}
      <button type="button" onClick={onContinue}>
        Continue
      </button>
    </section>
  );
}
