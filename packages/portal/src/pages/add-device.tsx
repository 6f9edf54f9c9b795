/**
 * Adding a phone as a second factor (Security page → "Add mobile device"): a QR code holding the https link of the
 * authenticator page on the gateway's public URL (a phone's camera opens it, ready to activate), the link itself
 * to copy, the activation confirmed here as it happens ("Pixel activated ✓"), and a test push the phone receives
 * and answers, with the gateway's verdict shown here.
 */
import type { DeviceView, PushStatusName, TestPushSent } from '@gatehouse/protocol';
import { useEffect, useRef, useState } from 'react';
import { api } from '../api.js';
import { ErrorText, QrCode, useAction, useStepUpAction } from '../components.js';

interface Activation {
  activationLink: string;
  expiresAt: string;
}

/** How often the page looks for the new phone, and for the test push's outcome. */
const POLL_MS = 1_000;

const TEST_OUTCOME: Record<Exclude<PushStatusName, 'pending'>, string> = {
  approved: 'approved on the phone ✓',
  denied: 'denied on the phone. It works: the phone receives and answers requests.',
  wrong_number:
    'answered with another number, so it was cancelled. Try again and type the number shown here.',
  expired: 'expired without an answer. Is the authenticator page open on the phone?',
  cancelled: 'was cancelled.',
};

export function AddDevice({ onClose }: { onClose: () => void }) {
  const [activation, setActivation] = useState<Activation | null>(null);
  const [activated, setActivated] = useState<DeviceView | null>(null);
  const action = useStepUpAction();
  const heading = useRef<HTMLHeadingElement>(null);
  const done = useRef<HTMLParagraphElement>(null);

  useEffect(() => {
    heading.current?.focus();
    void action.run(async () => setActivation(await api('POST', '/v1/devices/mobile/enroll', {})));
  }, [action.run]);

  // Waits for the phone: the first mobile device that was not there when the code was made.
  useEffect(() => {
    if (activation === null || activated !== null) return;
    let stopped = false;
    let before: Set<string> | null = null;
    const look = async () => {
      try {
        const { devices } = await api<{ devices: DeviceView[] }>('GET', '/v1/devices');
        const phones = devices.filter((d) => d.kind === 'mobile' && d.status === 'active');
        if (before === null) before = new Set(phones.map((d) => d.id));
        const known = before;
        const added = phones.find((d) => !known.has(d.id));
        if (added !== undefined && !stopped) {
          setActivated(added);
          return;
        }
      } catch {
        // A failed look is retried; the code stays valid until it expires.
      }
      if (!stopped) timer = setTimeout(() => void look(), POLL_MS);
    };
    let timer = setTimeout(() => void look(), 0);
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [activation, activated]);

  useEffect(() => {
    if (activated !== null) done.current?.focus();
  }, [activated]);

  return (
    <section className="card" aria-labelledby="add-device-h">
      <h3 id="add-device-h" tabIndex={-1} ref={heading}>
        Add a mobile device
      </h3>
      {action.prompt}
      <ErrorText error={action.error} />
      {activation !== null && activated === null && (
        <>
          <p>
            Scan with your phone’s camera: the code opens the Gatehouse authenticator page on the phone, ready
            to activate. It works once, until {new Date(activation.expiresAt).toLocaleTimeString()}.
          </p>
          <QrCode value={activation.activationLink} label="QR code to activate a mobile device" />
          <label className="field">
            Activation link, to open on the phone instead
            <input readOnly value={activation.activationLink} onFocus={(e) => e.currentTarget.select()} />
          </label>
          <p className="hint" role="status">
            Waiting for the phone…
          </p>
        </>
      )}
      {activated !== null && (
        <>
          <p className="notice" role="status" tabIndex={-1} ref={done}>
            {activated.name} activated ✓
          </p>
          <TestPush device={activated} />
        </>
      )}
      <button type="button" onClick={onClose}>
        Done
      </button>
    </section>
  );
}

/** A push to the new phone that logs nobody in: the phone shows it, the person answers, this page shows the verdict. */
function TestPush({ device }: { device: DeviceView }) {
  const [sent, setSent] = useState<TestPushSent | null>(null);
  const [status, setStatus] = useState<PushStatusName | null>(null);
  const { busy, error, run } = useAction();

  useEffect(() => {
    if (sent === null) return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const look = async () => {
      try {
        const state = await api<{ status: PushStatusName }>(
          'GET',
          `/v1/devices/push/${encodeURIComponent(sent.challengeId)}`,
        );
        if (stopped) return;
        setStatus(state.status);
        if (state.status !== 'pending') return;
      } catch {
        // Retried below.
      }
      if (!stopped) timer = setTimeout(() => void look(), POLL_MS);
    };
    void look();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [sent]);

  const pending = sent !== null && (status === null || status === 'pending');
  return (
    <div className="test-push">
      <p>Check that the phone receives requests: send it a test push, which logs nobody in.</p>
      <button
        type="button"
        className="secondary"
        disabled={busy || pending}
        onClick={() =>
          void run(async () => {
            setStatus(null);
            setSent(
              await api<TestPushSent>('POST', `/v1/devices/${encodeURIComponent(device.id)}/test-push`, {}),
            );
          })
        }
      >
        {sent === null ? 'Send a test push' : 'Send another test push'}
      </button>
      <p role="status">
        {sent === null
          ? ''
          : pending
            ? `Sent to ${device.name}. On the phone, type ${sent.number} and approve.`
            : status !== null && status !== 'pending'
              ? `Test push ${TEST_OUTCOME[status]}`
              : ''}
      </p>
      <ErrorText error={error} />
    </div>
  );
}
