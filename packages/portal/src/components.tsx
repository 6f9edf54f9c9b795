/** Small pieces every page uses: coded-error text, QR codes, a step-up prompt, and a one-shot async action. */
import QRCode from 'qrcode';
import { useCallback, useEffect, useId, useRef, useState } from 'react';
import { ApiError, api, describeError } from './api.js';
import { focusOrHeading } from './focus.js';

/**
 * A table that scrolls sideways inside its box on a narrow screen. `actions` adds a last column for buttons, named
 * for screen readers only; the caption, when given, is for screen readers too.
 */
export function Table(props: {
  caption?: string;
  columns: string[];
  actions?: boolean;
  children: React.ReactNode;
}) {
  return (
    <div className="table-scroll">
      <table>
        {props.caption !== undefined && <caption className="sr-only">{props.caption}</caption>}
        <thead>
          <tr>
            {props.columns.map((c) => (
              <th key={c} scope="col">
                {c}
              </th>
            ))}
            {props.actions === true && (
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            )}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}

/** A line for an error; it keeps its height when empty so the page does not jump. */
export function ErrorText({ error }: { error: unknown }) {
  return (
    <p className="error" role="alert" aria-live="assertive">
      {error === null || error === undefined ? '' : describeError(error)}
    </p>
  );
}

export function Notice({ children }: { children: React.ReactNode }) {
  return (
    <p className="notice" role="status">
      {children}
    </p>
  );
}

/** A QR code drawn in the page (no request leaves it); `label` is read to screen readers. */
export function QrCode({ value, label }: { value: string; label: string }) {
  const [src, setSrc] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    void QRCode.toDataURL(value, { margin: 2, width: 220, errorCorrectionLevel: 'M' }).then((url) => {
      if (live) setSrc(url);
    });
    return () => {
      live = false;
    };
  }, [value]);
  return (
    <div className="qr">
      {src === null ? (
        <div className="qr-placeholder" />
      ) : (
        <img src={src} alt={label} width={220} height={220} />
      )}
    </div>
  );
}

export function TextField(props: {
  label: string;
  value: string;
  onChange: (value: string) => void;
  type?: string;
  autoComplete?: string;
  inputMode?: 'numeric' | 'text' | 'tel';
  name?: string;
  required?: boolean;
}) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      <input
        id={id}
        name={props.name}
        type={props.type ?? 'text'}
        value={props.value}
        autoComplete={props.autoComplete}
        inputMode={props.inputMode}
        required={props.required ?? true}
        onChange={(e) => props.onChange(e.target.value)}
      />
    </div>
  );
}

/** Runs an async action once at a time, keeping its error for display. */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const run = useCallback(async <T,>(action: () => Promise<T>): Promise<T | undefined> => {
    setBusy(true);
    setError(null);
    try {
      return await action();
    } catch (caught) {
      setError(caught);
      return undefined;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, setError, run };
}

/**
 * Verifies a second factor again in this session (`POST /v1/session/step-up`), for actions that need a fresh one:
 * changing factors, registering an API client, approving an app. `strong`: the gateway answered `FACTOR_TOO_WEAK`
 * (the session's last factor was a text message), so a text message is not offered.
 */
export function StepUp({
  onDone,
  onCancel,
  strong = false,
}: {
  onDone: () => void;
  onCancel: () => void;
  strong?: boolean;
}) {
  const [type, setType] = useState<'totp' | 'sms' | 'recovery_code'>('totp');
  const [code, setCode] = useState('');
  const [sent, setSent] = useState<string | null>(null);
  const { busy, error, run } = useAction();
  // The prompt takes the focus at its heading; once answered or cancelled, focus goes back to what opened it (or,
  // when that is gone, to the page's heading), never to the page's body.
  const heading = useRef<HTMLHeadingElement>(null);
  const opener = useRef<Element | null>(null);
  useEffect(() => {
    opener.current = document.activeElement;
    heading.current?.focus();
  }, []);
  const leave = () => setTimeout(() => focusOrHeading(opener.current), 0);
  return (
    <form
      className="card stepup"
      aria-label="Confirm it is you"
      onSubmit={(e) => {
        e.preventDefault();
        // Where a page renders the prompt inside the form of the change it confirms, React would pass this submit on
        // to that form too, sending the change again before the step-up is through.
        e.stopPropagation();
        void run(async () => {
          await api('POST', '/v1/session/step-up', { type, code: code.trim() });
          onDone();
          leave();
        });
      }}
    >
      <h3 ref={heading} tabIndex={-1}>
        Confirm it is you
      </h3>
      <p>
        {strong
          ? 'A text message cannot confirm this change. Verify with your authenticator app or a recovery code.'
          : 'This change needs a second factor verified again.'}
      </p>
      <fieldset>
        <legend>Factor</legend>
        {(
          [
            ['totp', 'Authenticator app'],
            ['sms', 'Text message'],
            ['recovery_code', 'Recovery code'],
          ] as const
        )
          .filter(([value]) => !(strong && value === 'sms'))
          .map(([value, text]) => (
            <label key={value} className="inline">
              <input
                type="radio"
                name="stepup-type"
                checked={type === value}
                onChange={() => setType(value)}
              />{' '}
              {text}
            </label>
          ))}
      </fieldset>
      {type === 'sms' && (
        <button
          type="button"
          disabled={busy}
          onClick={() =>
            void run(async () => {
              await api('POST', '/v1/session/step-up/sms', {});
              setSent('A code was sent to your phone.');
            })
          }
        >
          Send code
        </button>
      )}
      {sent !== null && <Notice>{sent}</Notice>}
      <TextField
        label={type === 'recovery_code' ? 'Recovery code' : 'Code'}
        value={code}
        onChange={setCode}
        autoComplete="one-time-code"
        inputMode={type === 'recovery_code' ? 'text' : 'numeric'}
      />
      <ErrorText error={error} />
      <div className="actions">
        <button type="submit" disabled={busy}>
          Verify
        </button>
        <button
          type="button"
          className="secondary"
          onClick={() => {
            onCancel();
            leave();
          }}
        >
          Cancel
        </button>
      </div>
    </form>
  );
}

/**
 * Runs `action`; when the gateway asks for a step-up first (`STEP_UP_REQUIRED`), or for a stronger factor than the
 * text message the session last used (`FACTOR_TOO_WEAK`), shows the prompt and runs it again afterwards.
 */
export function useStepUpAction() {
  const base = useAction();
  const [pending, setPending] = useState<{ action: () => Promise<unknown>; strong: boolean } | null>(null);
  const run = useCallback(
    async (action: () => Promise<unknown>) => {
      await base.run(async () => {
        try {
          await action();
        } catch (error) {
          if (
            error instanceof ApiError &&
            (error.code === 'STEP_UP_REQUIRED' || error.code === 'FACTOR_TOO_WEAK')
          ) {
            setPending({ action, strong: error.code === 'FACTOR_TOO_WEAK' });
            return;
          }
          throw error;
        }
      });
    },
    [base.run],
  );
  const prompt =
    pending === null ? null : (
      <StepUp
        strong={pending.strong}
        onCancel={() => setPending(null)}
        onDone={() => {
          const { action } = pending;
          setPending(null);
          void base.run(action);
        }}
      />
    );
  return { ...base, run, prompt };
}
