/**
 * `/authenticator`: a phone-sized mobile authenticator in the browser. It enrols with the activation link that
 * the Security page shows (as a QR code), keeps a non-extractable P-256 key (WebCrypto) in IndexedDB — the key can
 * sign but can never be read out — opens its device socket with a signed, single-use query, acknowledges each push
 * request and signs the person's decision. The number shown on the login screen must be typed to approve: a number
 * to type, rather than one to pick among a few, leaves a tired user being push-bombed 1 chance in 90, not 1 in 3.
 */
import {
  deviceStreamAuthMessage,
  type PushRequestMessage,
  type PushStatusName,
  pushDecisionMessage,
} from '@gatehouse/protocol';
import { useCallback, useEffect, useId, useRef, useState } from 'react';
import { ErrorText, Notice, TextField, useAction } from '../components.js';

interface Identity {
  deviceId: string;
  name: string;
  enrolledAt: string;
  privateKey: CryptoKey;
}

const DB_NAME = 'gatehouse-authenticator';
const STORE = 'identity';

function database(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function withStore<T>(
  mode: IDBTransactionMode,
  work: (store: IDBObjectStore) => IDBRequest<T>,
): Promise<T> {
  const db = await database();
  return new Promise((resolve, reject) => {
    const request = work(db.transaction(STORE, mode).objectStore(STORE));
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

const loadIdentity = () => withStore<Identity | undefined>('readonly', (s) => s.get('device'));
const saveIdentity = (identity: Identity) => withStore('readwrite', (s) => s.put(identity, 'device'));
const forgetIdentity = () => withStore('readwrite', (s) => s.delete('device'));

function base64url(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let text = '';
  for (const b of view) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** ECDSA P-256 / SHA-256; WebCrypto's signature is the raw r‖s (IEEE P1363) form the gateway verifies. */
async function signText(key: CryptoKey, text: string): Promise<string> {
  const signature = await crypto.subtle.sign(
    { name: 'ECDSA', hash: 'SHA-256' },
    key,
    new TextEncoder().encode(text),
  );
  return base64url(signature);
}

/**
 * The activation code in what the person pasted or scanned: the QR code's link to this page
 * (`https://…/authenticator?activate=CODE`), an app's `gatehouse://activate?server=…&code=…`, or the bare code.
 * A link for another gateway is refused: the key would be enrolled with a server this page does not talk to.
 */
function parseActivation(text: string): { code: string } {
  const value = text.trim();
  const notALink =
    'That is not an activation link. Scan the QR code on the Security page, or paste its link.';
  if (/^[A-Za-z0-9_-]{8,128}$/.test(value)) return { code: value };
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(notALink);
  }
  const server = url.protocol === 'gatehouse:' ? url.searchParams.get('server') : url.origin;
  const code = url.searchParams.get(url.protocol === 'gatehouse:' ? 'code' : 'activate');
  if (server === null || code === null || !/^(https?|gatehouse):$/.test(url.protocol))
    throw new Error(notALink);
  if (new URL(server).origin !== window.location.origin)
    throw new Error(`This link is for ${server}; open the authenticator page there.`);
  return { code };
}

export function AuthenticatorPage() {
  const [identity, setIdentity] = useState<Identity | null | undefined>(undefined);
  useEffect(() => {
    document.title = 'Authenticator · Gatehouse';
    loadIdentity().then(
      (found) => setIdentity(found ?? null),
      () => setIdentity(null),
    );
  }, []);
  return (
    <main className="authenticator">
      <h1>Gatehouse Authenticator</h1>
      {identity === undefined ? (
        <p aria-busy="true">Opening…</p>
      ) : identity === null ? (
        <Enrol onEnrolled={setIdentity} />
      ) : (
        <Device
          identity={identity}
          onForget={() => {
            void forgetIdentity().then(() => setIdentity(null));
          }}
        />
      )}
    </main>
  );
}

function Enrol({ onEnrolled }: { onEnrolled: (identity: Identity) => void }) {
  // Opened from the QR code: the link itself fills the field.
  const initial = new URLSearchParams(window.location.search).has('activate') ? window.location.href : '';
  const [link, setLink] = useState(initial);
  const [name, setName] = useState('My phone');
  const { busy, error, run } = useAction();
  return (
    <form
      className="card"
      aria-label="Activate this device"
      onSubmit={(e) => {
        e.preventDefault();
        void run(async () => {
          const { code } = parseActivation(link);
          // The private key is created non-extractable: it can sign here and nowhere else.
          const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, [
            'sign',
            'verify',
          ]);
          const jwk = await crypto.subtle.exportKey('jwk', pair.publicKey);
          const response = await fetch('/v1/devices/mobile/activate', {
            method: 'POST',
            headers: { 'content-type': 'application/json', accept: 'application/json' },
            body: JSON.stringify({
              activationCode: code,
              publicKey: { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y },
              name: name.trim(),
              platform: 'web',
            }),
          });
          const body = (await response.json()) as { deviceId?: string; error?: { message: string } };
          if (!response.ok || body.deviceId === undefined)
            throw new Error(body.error?.message ?? `Activation failed (${response.status}).`);
          const identity: Identity = {
            deviceId: body.deviceId,
            name: name.trim(),
            enrolledAt: new Date().toISOString(),
            privateKey: pair.privateKey,
          };
          await saveIdentity(identity);
          onEnrolled(identity);
        });
      }}
    >
      <p>
        {initial === ''
          ? 'On the Security page of the Client Portal, choose “Add mobile device” and scan its QR code with your phone’s camera: it opens this page ready to activate. Or paste its link here.'
          : 'Name this device and activate it.'}
      </p>
      <TextField
        label="Activation link"
        value={link}
        onChange={setLink}
        name="activation"
        autoComplete="off"
      />
      <TextField label="Name of this device" value={name} onChange={setName} />
      <ErrorText error={error} />
      <button type="submit" disabled={busy}>
        Activate
      </button>
    </form>
  );
}

type Connection = 'connecting' | 'connected' | 'offline' | 'refused' | 'revoked';

/** A push's final state, as the gateway decided it and told this device (`push_state`). */
type FinalStatus = Exclude<PushStatusName, 'pending'>;

interface Ended {
  challengeId: string;
  status: FinalStatus;
  purpose: 'login' | 'test';
}

/** What the phone says of each final state: the same outcome the login screen shows, in the phone's words. */
const ENDED_TEXT: Record<FinalStatus, string> = {
  approved: 'Approved. You can return to the login.',
  denied: 'Denied. The login was stopped.',
  wrong_number:
    'Wrong number — this request was cancelled. If you are logging in, send another push from the login screen. If you are not, someone else knows your password: change it.',
  expired: 'This request expired without an answer.',
  cancelled: 'This request was cancelled: its login finished another way or ended. Nothing to do.',
};

const TEST_TEXT: Partial<Record<FinalStatus, string>> = {
  approved: 'Test approved. This phone receives and answers requests.',
  denied: 'Test denied. This phone receives and answers requests.',
};

/** Close code of a revoked device's stream (factors/device-hub.ts). */
const REVOKED_CLOSE = 4001;

function Device({ identity, onForget }: { identity: Identity; onForget: () => void }) {
  const [connection, setConnection] = useState<Connection>('connecting');
  const [requests, setRequests] = useState<PushRequestMessage[]>([]);
  const [sending, setSending] = useState<Set<string>>(new Set());
  const [ended, setEnded] = useState<Ended | null>(null);
  const [error, setError] = useState<unknown>(null);
  const socket = useRef<WebSocket | null>(null);
  const known = useRef(new Map<string, PushRequestMessage>());

  useEffect(() => {
    let stopped = false;
    let attempt = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    // The gateway decides every outcome: a prompt leaves the screen only when it says the push ended.
    const end = (challengeId: string, status: FinalStatus) => {
      const push = known.current.get(challengeId);
      if (push === undefined) return;
      known.current.delete(challengeId);
      setRequests((list) => list.filter((r) => r.challengeId !== challengeId));
      setSending((set) => {
        const next = new Set(set);
        next.delete(challengeId);
        return next;
      });
      setEnded({ challengeId, status, purpose: push.purpose ?? 'login' });
    };
    const revoked = () => {
      stopped = true;
      known.current.clear();
      setRequests([]);
      setEnded(null);
      setError(null);
      setConnection('revoked');
    };
    const connect = async () => {
      const ts = Date.now();
      const nonce = base64url(crypto.getRandomValues(new Uint8Array(16)));
      const sig = await signText(identity.privateKey, deviceStreamAuthMessage(identity.deviceId, ts, nonce));
      const query = new URLSearchParams({ deviceId: identity.deviceId, ts: String(ts), nonce, sig });
      const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
      const ws = new WebSocket(`${scheme}://${window.location.host}/v1/devices/stream?${query.toString()}`);
      socket.current = ws;
      let opened = false;
      ws.onmessage = (event) => {
        const message = JSON.parse(String(event.data)) as {
          type: string;
          challengeId?: string;
          status?: PushStatusName;
          error?: { code: string; message: string };
        };
        if (message.type === 'ready') {
          opened = true;
          attempt = 0;
          setConnection('connected');
        } else if (message.type === 'push') {
          const push = message as PushRequestMessage;
          ws.send(JSON.stringify({ type: 'receipt', challengeId: push.challengeId }));
          known.current.set(push.challengeId, push);
          setEnded(null);
          setRequests((list) => [...list.filter((r) => r.challengeId !== push.challengeId), push]);
        } else if (message.type === 'push_state' && message.challengeId !== undefined) {
          if (message.status !== undefined && message.status !== 'pending')
            end(message.challengeId, message.status);
        } else if (message.type === 'revoked') {
          revoked();
        } else if (message.type === 'error') {
          // A wrong number is answered both ways; its push_state says what it means.
          if (message.error?.code === 'WRONG_NUMBER') return;
          if (message.challengeId !== undefined)
            setSending((set) => {
              const next = new Set(set);
              next.delete(message.challengeId as string);
              return next;
            });
          setError(new Error(message.error?.message ?? 'The gateway refused the answer.'));
        }
      };
      ws.onclose = (event) => {
        socket.current = null;
        if (event.code === REVOKED_CLOSE) revoked();
        if (stopped) return;
        // Refused before opening, again and again: revoked on the server, or the gateway is unreachable. A browser
        // is not told which; the page says both and keeps trying.
        setConnection(!opened && attempt >= 2 ? 'refused' : 'offline');
        attempt += 1;
        timer = setTimeout(() => void connect(), Math.min(10_000, 500 * 2 ** attempt));
      };
    };
    void connect();
    return () => {
      stopped = true;
      clearTimeout(timer);
      socket.current?.close();
    };
  }, [identity]);

  const decide = useCallback(
    async (push: PushRequestMessage, decision: 'approve' | 'deny', number: string) => {
      setError(null);
      const ws = socket.current;
      if (ws === null) {
        setError(new Error('Not connected; the answer could not be sent. Try again when connected.'));
        return;
      }
      const signature = await signText(
        identity.privateKey,
        pushDecisionMessage(push.challengeId, decision, number),
      );
      setSending((set) => new Set(set).add(push.challengeId));
      ws.send(
        JSON.stringify({ type: 'decision', challengeId: push.challengeId, decision, number, signature }),
      );
    },
    [identity],
  );

  if (connection === 'revoked') {
    return (
      <div>
        <p className="status revoked" role="status">
          {identity.name} was revoked on the Security page. It receives no more requests. Remove it from this
          browser; to use this phone again, activate it again.
        </p>
        <button type="button" className="danger" onClick={onForget}>
          Remove from this browser
        </button>
      </div>
    );
  }

  return (
    <div>
      <p className={`status ${connection}`} role="status">
        {identity.name} ·{' '}
        {connection === 'connected'
          ? 'Ready for requests'
          : connection === 'connecting'
            ? 'Connecting…'
            : connection === 'refused'
              ? 'The gateway refuses this device or cannot be reached. If it was revoked, remove it and activate again; retrying…'
              : 'Offline; reconnecting…'}
      </p>
      {requests.length === 0 && ended === null && connection === 'connected' && (
        <p className="hint">No login waiting. Requests appear here as soon as they are made.</p>
      )}
      {requests.map((push) => (
        <PushCard
          key={push.challengeId}
          push={push}
          sending={sending.has(push.challengeId)}
          onDecide={decide}
        />
      ))}
      {ended !== null && requests.length === 0 && (
        <Notice>
          {(ended.purpose === 'test' ? TEST_TEXT[ended.status] : undefined) ?? ENDED_TEXT[ended.status]}
        </Notice>
      )}
      <ErrorText error={error} />
      <details>
        <summary>This device</summary>
        <p>
          Device id <code>{identity.deviceId}</code>, activated{' '}
          {new Date(identity.enrolledAt).toLocaleString()}. Its key cannot leave this browser.
        </p>
        <button type="button" className="danger" onClick={onForget}>
          Remove from this browser
        </button>
      </details>
    </div>
  );
}

function PushCard(props: {
  push: PushRequestMessage;
  /** The answer is on its way: the gateway's verdict replaces the card. */
  sending: boolean;
  onDecide: (push: PushRequestMessage, decision: 'approve' | 'deny', number: string) => Promise<void>;
}) {
  const { push, sending } = props;
  const test = push.purpose === 'test';
  const [typed, setTyped] = useState('');
  const numberId = useId();
  const heading = useRef<HTMLHeadingElement>(null);
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(timer);
  }, []);
  // A new request takes the focus, so that it is read out and answered from the keyboard.
  useEffect(() => heading.current?.focus(), []);
  const left = Math.max(0, Math.ceil((Date.parse(push.expiresAt) - now) / 1000));
  const complete = /^\d{2}$/.test(typed);
  const { context } = push;
  return (
    <section className="card push-request" aria-labelledby={`push-${push.challengeId}`}>
      <h2 id={`push-${push.challengeId}`} tabIndex={-1} ref={heading}>
        {test ? 'Test request from the Security page' : 'Log in to Gatehouse?'}
      </h2>
      <dl className="facts">
        <dt>{test ? 'Sent from' : 'Login from'}</dt>
        <dd>
          {context.requestingDevice} · {context.ip}
          {context.network === null ? '' : ` (${context.network})`}
        </dd>
        <dt>Asked by</dt>
        <dd>{test ? 'The Security page (test)' : `${context.channel} login`}</dd>
        <dt>When</dt>
        <dd>{new Date(context.time).toLocaleTimeString()}</dd>
      </dl>
      <div className="field number">
        <label htmlFor={numberId}>
          {test ? 'Type the number shown on the Security page' : 'Type the number shown on the login screen'}
        </label>
        <input
          id={numberId}
          inputMode="numeric"
          autoComplete="off"
          maxLength={2}
          value={typed}
          disabled={sending}
          onChange={(e) => setTyped(e.target.value.replace(/\D/g, '').slice(0, 2))}
        />
      </div>
      <p className="countdown">
        {sending ? 'Sending your answer…' : left > 0 ? `Expires in ${left} s` : 'Expired'}
      </p>
      <div className="actions">
        <button
          type="button"
          disabled={!complete || left === 0 || sending}
          onClick={() => complete && void props.onDecide(push, 'approve', typed)}
        >
          Approve
        </button>
        <button
          type="button"
          className="danger"
          disabled={sending}
          onClick={() => void props.onDecide(push, 'deny', push.number)}
        >
          Deny
        </button>
      </div>
    </section>
  );
}
