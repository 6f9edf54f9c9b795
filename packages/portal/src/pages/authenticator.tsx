/**
 * `/authenticator`: a phone-sized mobile authenticator in the browser. It enrols with the activation link that
 * the Security page shows (as a QR code), keeps a non-extractable P-256 key (WebCrypto) in IndexedDB — the key can
 * sign but can never be read out — opens its device socket with a signed, single-use query, acknowledges each push
 * request and signs the person's decision. The number shown on the login screen must be typed to approve: a number
 * to type, rather than one to pick among a few, leaves a tired user being push-bombed 1 chance in 90, not 1 in 3.
 */
import { deviceStreamAuthMessage, type PushRequestMessage, pushDecisionMessage } from '@gatehouse/protocol';
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

function parseActivation(link: string): { server: string; code: string } {
  let url: URL;
  try {
    url = new URL(link.trim());
  } catch {
    throw new Error('That is not an activation link. It starts with gatehouse://activate.');
  }
  const server = url.searchParams.get('server');
  const code = url.searchParams.get('code');
  if (url.protocol !== 'gatehouse:' || server === null || code === null)
    throw new Error('That is not an activation link. It starts with gatehouse://activate.');
  if (new URL(server).origin !== window.location.origin)
    throw new Error(`This link is for ${server}; open the authenticator page there.`);
  return { server, code };
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
  const initial = new URLSearchParams(window.location.search).get('activate') ?? '';
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
        Scan the QR code on the Security page of the Client Portal with your camera, or paste its link here.
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

type Connection = 'connecting' | 'connected' | 'offline' | 'refused';

interface Decided {
  challengeId: string;
  /** `wrong_number`: the gateway denied the request because the number typed was not the login screen's. */
  outcome: 'approve' | 'deny' | 'wrong_number';
}

function Device({ identity, onForget }: { identity: Identity; onForget: () => void }) {
  const [connection, setConnection] = useState<Connection>('connecting');
  const [requests, setRequests] = useState<PushRequestMessage[]>([]);
  const [last, setLast] = useState<Decided | null>(null);
  const [error, setError] = useState<unknown>(null);
  const socket = useRef<WebSocket | null>(null);
  // Decisions sent and not yet answered: the outcome shown is the gateway's answer, not what was sent.
  const sent = useRef(new Map<string, 'approve' | 'deny'>());

  useEffect(() => {
    let stopped = false;
    let attempt = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
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
          for?: string;
          challengeId?: string;
          error?: { code: string; message: string };
        };
        const decided = message.challengeId === undefined ? undefined : sent.current.get(message.challengeId);
        if (message.type === 'ready') {
          opened = true;
          attempt = 0;
          setConnection('connected');
        } else if (message.type === 'push') {
          const push = message as PushRequestMessage;
          ws.send(JSON.stringify({ type: 'receipt', challengeId: push.challengeId }));
          setRequests((list) => [...list.filter((r) => r.challengeId !== push.challengeId), push]);
        } else if (message.type === 'ack' && message.for === 'decision' && decided !== undefined) {
          sent.current.delete(message.challengeId as string);
          setLast({ challengeId: message.challengeId as string, outcome: decided });
        } else if (message.type === 'error') {
          if (message.challengeId !== undefined) sent.current.delete(message.challengeId);
          if (decided !== undefined && message.error?.code === 'WRONG_NUMBER')
            setLast({ challengeId: message.challengeId as string, outcome: 'wrong_number' });
          else setError(new Error(message.error?.message ?? 'The gateway refused the answer.'));
        }
      };
      ws.onclose = () => {
        socket.current = null;
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
      sent.current.set(push.challengeId, decision);
      ws.send(
        JSON.stringify({ type: 'decision', challengeId: push.challengeId, decision, number, signature }),
      );
      setRequests((list) => list.filter((r) => r.challengeId !== push.challengeId));
      setLast(null);
    },
    [identity],
  );

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
      {requests.length === 0 && connection === 'connected' && (
        <p className="hint">No login waiting. Requests appear here as soon as they are made.</p>
      )}
      {requests.map((push) => (
        <PushCard key={push.challengeId} push={push} onDecide={decide} />
      ))}
      {last !== null && requests.length === 0 && (
        <Notice>
          {last.outcome === 'approve'
            ? 'Approved. You can return to the login.'
            : last.outcome === 'deny'
              ? 'Denied. The login was stopped.'
              : 'That was not the number on the login screen, so the request was denied. If you are logging in, send a new request from the login screen. If you are not, someone else knows your password: change it.'}
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
  onDecide: (push: PushRequestMessage, decision: 'approve' | 'deny', number: string) => Promise<void>;
}) {
  const { push } = props;
  const [typed, setTyped] = useState('');
  const numberId = useId();
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(timer);
  }, []);
  const left = Math.max(0, Math.ceil((Date.parse(push.expiresAt) - now) / 1000));
  const complete = /^\d{2}$/.test(typed);
  return (
    <section className="card push-request" aria-labelledby={`push-${push.challengeId}`}>
      <h2 id={`push-${push.challengeId}`}>Log in to Gatehouse?</h2>
      <dl className="facts">
        <dt>Where</dt>
        <dd>
          {push.context.channel} · {push.context.requestingDevice}
        </dd>
        <dt>From</dt>
        <dd>
          {push.context.ip}
          {push.context.network === null ? '' : ` (${push.context.network})`}
        </dd>
        <dt>When</dt>
        <dd>{new Date(push.context.time).toLocaleTimeString()}</dd>
      </dl>
      <div className="field number">
        <label htmlFor={numberId}>Type the number shown on the login screen</label>
        <input
          id={numberId}
          inputMode="numeric"
          autoComplete="off"
          maxLength={2}
          value={typed}
          onChange={(e) => setTyped(e.target.value.replace(/\D/g, '').slice(0, 2))}
        />
      </div>
      <p className="countdown">{left > 0 ? `Expires in ${left} s` : 'Expired'}</p>
      <div className="actions">
        <button
          type="button"
          disabled={!complete || left === 0}
          onClick={() => complete && void props.onDecide(push, 'approve', typed)}
        >
          Approve
        </button>
        <button
          type="button"
          className="danger"
          onClick={() => void props.onDecide(push, 'deny', push.number)}
        >
          Deny
        </button>
      </div>
    </section>
  );
}
