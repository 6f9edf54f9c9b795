/**
 * API clients: register a personal client for a bot (its public key, the accounts and scopes it may use, and what
 * happens to its orders if its session is lost), list the clients and apps holding grants, and revoke them. The
 * consent page answers a third-party app's pushed authorization request (PAR) for the logged-in user.
 */
import {
  type ApiClientView,
  type AuthorizationRequestView,
  SCOPES,
  type Scope,
  type SessionLossPolicy,
} from '@gatehouse/protocol';
import { useCallback, useEffect, useId, useState } from 'react';
import { api, fieldErrors } from '../api.js';
import { ErrorText, Notice, TextField, useAction, useStepUpAction } from '../components.js';
import { duration } from '../format.js';
import { useSession } from '../session.js';

const SCOPE_TEXT: Record<Scope, string> = {
  read: 'Read accounts, orders and positions',
  trade: 'Place, change and cancel orders',
  marketdata: 'Receive market data',
};
const LOSS_TEXT: Record<SessionLossPolicy, string> = {
  none: 'Leave its orders working',
  cancel_day: 'Cancel its day orders',
  cancel_all: 'Cancel all its orders',
};

export function ApiClientsPage() {
  const [clients, setClients] = useState<ApiClientView[] | null>(null);
  const load = useAction();
  const revoke = useAction();
  const reload = useCallback(
    () =>
      load.run(async () =>
        setClients((await api<{ clients: ApiClientView[] }>('GET', '/v1/oauth/clients')).clients),
      ),
    [load.run],
  );
  useEffect(() => {
    void reload();
  }, [reload]);
  return (
    <div className="page">
      <h1>API clients</h1>
      <p>
        Programs act for you with their own key and sender-constrained tokens (DPoP). Each one gets only the
        accounts and scopes you choose, and you can revoke it at any time.
      </p>
      <ErrorText error={load.error} />
      <section aria-labelledby="clients-h">
        <h2 id="clients-h">Clients and apps with access</h2>
        {clients?.length === 0 && <p>No client has access.</p>}
        <ul className="list">
          {clients?.map((c) => (
            <li key={c.clientId} className="row">
              <span>
                <strong>{c.name}</strong> · {c.kind === 'personal' ? 'personal client' : 'app'} ·{' '}
                <code>{c.clientId}</code>
                <br />
                {c.grants.map((g) => (
                  <span key={g.grantId} className="muted">
                    {g.scopes.join(', ')} on {g.accounts.join(', ')} since{' '}
                    {new Date(g.createdAt).toLocaleDateString()}
                  </span>
                ))}
              </span>
              <button
                type="button"
                className="danger"
                aria-label={`Revoke ${c.name}`}
                onClick={() =>
                  void revoke.run(async () => {
                    await api('DELETE', `/v1/oauth/clients/${encodeURIComponent(c.clientId)}`);
                    await reload();
                  })
                }
              >
                Revoke
              </button>
            </li>
          ))}
        </ul>
        <ErrorText error={revoke.error} />
      </section>
      <RegisterClient onRegistered={() => void reload()} />
    </div>
  );
}

/** A key pair made in this browser: the public JWK for the form, the private one for a single download. */
interface GeneratedKey {
  publicJwk: JsonWebKey & { kid: string };
  /** A `blob:` URL of the private JWK; revoked once it has been downloaded (it is offered once). */
  privateUrl: string | null;
}

/**
 * An ES256 (P-256) key pair made with WebCrypto: nothing leaves the browser but the public key, which the form
 * registers. The private key is offered once as a JWK file (what the SDK's `importPrivateJwk` reads).
 */
async function generateKeyPair(): Promise<GeneratedKey> {
  const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ]);
  const pub = await crypto.subtle.exportKey('jwk', pair.publicKey);
  const kid = `key-${new Date().toISOString().slice(0, 10)}-${crypto.randomUUID().slice(0, 8)}`;
  const publicJwk = { kty: pub.kty, crv: pub.crv, x: pub.x, y: pub.y, kid, alg: 'ES256', use: 'sig' };
  const priv = { ...(await crypto.subtle.exportKey('jwk', pair.privateKey)), kid, alg: 'ES256' };
  const blob = new Blob([`${JSON.stringify(priv, null, 2)}\n`], { type: 'application/json' });
  return { publicJwk, privateUrl: URL.createObjectURL(blob) };
}

/** What the program does next with its new client: the SDK's client-credentials login, as code to copy. */
function nextSteps(clientId: string, origin: string): string {
  return [
    "import { readFile } from 'node:fs/promises';",
    "import { importPrivateJwk, PersonalClientAuth, SessionSupervisor, newDpopKey } from '@gatehouse/sdk';",
    '',
    'const bot = new SessionSupervisor({',
    `  baseUrl: '${origin}',`,
    '  auth: new PersonalClientAuth({',
    `    clientId: '${clientId}',`,
    "    clientKey: await importPrivateJwk(JSON.parse(await readFile('gatehouse-client-key.jwk', 'utf8'))),",
    `    issuer: '${origin}',`,
    '  }),',
    '  dpopKey: await newDpopKey(),',
    '});',
    'await bot.start(); // POST /oauth2/token: client_credentials with a private_key_jwt assertion, DPoP-bound',
  ].join('\n');
}

function RegisterClient({ onRegistered }: { onRegistered: () => void }) {
  const { me } = useSession();
  const [name, setName] = useState('');
  const [key, setKey] = useState('');
  const [accounts, setAccounts] = useState<string[]>([]);
  const [scopes, setScopes] = useState<Scope[]>(['read']);
  const [policy, setPolicy] = useState<SessionLossPolicy>('cancel_day');
  const [created, setCreated] = useState<ApiClientView | null>(null);
  const [generated, setGenerated] = useState<GeneratedKey | null>(null);
  // Field-level problems found before submitting; the gateway's own (`details.issues`) join them after.
  const [checked, setChecked] = useState<Record<string, string>>({});
  const action = useStepUpAction();
  const generating = useAction();
  const ids = {
    key: useId(),
    policy: useId(),
    accounts: useId(),
    keyError: useId(),
    nameError: useId(),
    scopesError: useId(),
  };
  const toggle = <T,>(list: T[], value: T) =>
    list.includes(value) ? list.filter((v) => v !== value) : [...list, value];
  const problems = { ...fieldErrors(action.error), ...checked };
  const generalError = Object.keys(fieldErrors(action.error)).length > 0 ? null : action.error;

  const validate = (): Record<string, string> => {
    const found: Record<string, string> = {};
    if (name.trim() === '') found.name = 'Give the client a name.';
    if (key.trim() === '') found.keys = 'Paste a public key, or generate a key pair.';
    if (accounts.length === 0) found.accounts = 'Choose at least one account';
    if (scopes.length === 0) found.scopes = 'Choose at least one scope.';
    return found;
  };

  return (
    <section aria-labelledby="register-h" className="card">
      <h2 id="register-h">Register a personal client</h2>
      <form
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          const form = e.currentTarget;
          const found = validate();
          setChecked(found);
          if (Object.keys(found).length > 0) {
            // Focus the first field to fix, once it is marked.
            requestAnimationFrame(() => form.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus());
            return;
          }
          void action.run(async () => {
            let jwk: unknown;
            try {
              jwk = JSON.parse(key);
            } catch {
              throw new Error(
                'The public key must be a JWK in JSON, e.g. {"kty":"EC","crv":"P-256","x":"…","y":"…"}.',
              );
            }
            const client = await api<ApiClientView>('POST', '/v1/oauth/clients', {
              name: name.trim(),
              keys: Array.isArray((jwk as { keys?: unknown }).keys)
                ? (jwk as { keys: unknown[] }).keys
                : [jwk],
              accounts,
              scopes,
              sessionLossPolicy: policy,
            });
            setCreated(client);
            onRegistered();
          });
        }}
      >
        <TextField label="Name" value={name} onChange={setName} />
        <FieldError id={ids.nameError} text={problems.name} />
        <div className="field">
          <label htmlFor={ids.key}>Public key (JWK or JWKS; the private key stays with the program)</label>
          <textarea
            id={ids.key}
            rows={4}
            value={key}
            onChange={(e) => setKey(e.target.value)}
            spellCheck={false}
            aria-invalid={problems.keys !== undefined}
            aria-describedby={problems.keys === undefined ? undefined : ids.keyError}
          />
          <FieldError id={ids.keyError} text={problems.keys} />
          <div className="actions wrap">
            <button
              type="button"
              className="secondary"
              disabled={generating.busy}
              onClick={() =>
                void generating.run(async () => {
                  if (generated?.privateUrl != null) URL.revokeObjectURL(generated.privateUrl);
                  const made = await generateKeyPair();
                  setGenerated(made);
                  setKey(JSON.stringify(made.publicJwk, null, 2));
                })
              }
            >
              Generate a key pair in this browser
            </button>
            <input
              type="file"
              accept=".json,.jwk,application/json"
              aria-label="Upload a public key file"
              onChange={(e) => {
                const file = e.target.files?.[0];
                if (file !== undefined) void file.text().then(setKey);
              }}
            />
          </div>
          <ErrorText error={generating.error} />
          {generated !== null && (
            <div className="notice" role="status">
              {generated.privateUrl === null ? (
                <p>The private key was downloaded. This page no longer holds it.</p>
              ) : (
                <>
                  <p>
                    A new ES256 key pair: its public key is filled in above. Download the private key now — it
                    is offered once, and the program signs with it.
                  </p>
                  <a
                    className="button"
                    href={generated.privateUrl}
                    download="gatehouse-client-key.jwk"
                    onClick={() => {
                      const url = generated.privateUrl;
                      // After the browser has taken the file, the page forgets the key.
                      setTimeout(() => {
                        if (url !== null) URL.revokeObjectURL(url);
                      }, 1_000);
                      setGenerated({ ...generated, privateUrl: null });
                    }}
                  >
                    Download the private key (JWK)
                  </a>
                </>
              )}
            </div>
          )}
        </div>
        <fieldset aria-describedby={problems.accounts === undefined ? undefined : ids.accounts}>
          <legend>Accounts</legend>
          {me?.accounts.map((a, i) => (
            <label key={a.id} className="inline">
              <input
                type="checkbox"
                checked={accounts.includes(a.id)}
                aria-invalid={i === 0 && problems.accounts !== undefined ? true : undefined}
                onChange={() => {
                  setAccounts(toggle(accounts, a.id));
                  setChecked(({ accounts: _gone, ...rest }) => rest);
                }}
              />{' '}
              {a.id} · {a.title}
            </label>
          ))}
          <FieldError id={ids.accounts} text={problems.accounts} />
        </fieldset>
        <fieldset>
          <legend>Scopes</legend>
          {SCOPES.map((s) => (
            <label key={s} className="inline">
              <input
                type="checkbox"
                checked={scopes.includes(s)}
                onChange={() => setScopes(toggle(scopes, s))}
              />{' '}
              {SCOPE_TEXT[s]}
            </label>
          ))}
          <FieldError id={ids.scopesError} text={problems.scopes} />
        </fieldset>
        <div className="field">
          <label htmlFor={ids.policy}>If its session is lost</label>
          <select
            id={ids.policy}
            value={policy}
            onChange={(e) => setPolicy(e.target.value as SessionLossPolicy)}
          >
            {(Object.keys(LOSS_TEXT) as SessionLossPolicy[]).map((p) => (
              <option key={p} value={p}>
                {LOSS_TEXT[p]}
              </option>
            ))}
          </select>
        </div>
        <ErrorText error={generalError} />
        <button type="submit" disabled={action.busy}>
          Register
        </button>
      </form>
      {/* Outside the registration form: the step-up prompt is a form of its own, and forms do not nest. */}
      {action.prompt}
      {created !== null && (
        <section aria-label="Next steps" className="next-steps">
          <Notice>
            Registered {created.name}. Its client id is <code>{created.clientId}</code>; the program
            authenticates with private_key_jwt and this id.
          </Notice>
          <h3>Next steps</h3>
          <ol>
            <li>Keep the private key file beside the program, readable only by it.</li>
            <li>
              Install the SDK: <code>npm install @gatehouse/sdk</code>
            </li>
            <li>Start a session with the client id and the key:</li>
          </ol>
          <pre className="snippet">
            <code>{nextSteps(created.clientId, window.location.origin)}</code>
          </pre>
        </section>
      )}
    </section>
  );
}

/** A field's problem, beside it; read out when it appears. */
function FieldError({ id, text }: { id: string; text: string | undefined }) {
  return text === undefined ? null : (
    <p id={id} className="error field-error" role="alert">
      {text}
    </p>
  );
}

/** `/oauth2/authorize?client_id=…&request_uri=…`: what the app asks for, and the person's answer. */
export function ConsentPage() {
  const query = new URLSearchParams(window.location.search);
  const clientId = query.get('client_id') ?? '';
  const requestUri = query.get('request_uri') ?? '';
  const [request, setRequest] = useState<AuthorizationRequestView | null>(null);
  const [accounts, setAccounts] = useState<string[]>([]);
  const load = useAction();
  const answer = useStepUpAction();
  useEffect(() => {
    void load.run(async () => {
      const view = await api<AuthorizationRequestView>(
        'GET',
        `/oauth2/authorize?client_id=${encodeURIComponent(clientId)}&request_uri=${encodeURIComponent(requestUri)}`,
      );
      setRequest(view);
    });
  }, [clientId, requestUri, load.run]);

  const decide = (approve: boolean) =>
    answer.run(async () => {
      const { redirectTo } = await api<{ redirectTo: string }>('POST', '/oauth2/authorize/consent', {
        clientId,
        requestUri,
        approve,
        accounts: approve ? accounts : [],
      });
      window.location.assign(redirectTo);
    });

  return (
    <div className="page consent">
      <h1>Authorize an app</h1>
      <ErrorText error={load.error} />
      {request !== null && (
        <section className="card" aria-labelledby="consent-h">
          <h2 id="consent-h">{request.client.name} asks to act for you</h2>
          <p>It will be able to:</p>
          <ul>
            {request.scopes.map((s) => (
              <li key={s}>{SCOPE_TEXT[s as Scope] ?? s}</li>
            ))}
          </ul>
          <fieldset>
            <legend>On these accounts</legend>
            {request.accounts.map((a) => (
              <label key={a.id} className="inline">
                <input
                  type="checkbox"
                  disabled={!a.grantable}
                  checked={accounts.includes(a.id)}
                  onChange={() =>
                    setAccounts(
                      accounts.includes(a.id) ? accounts.filter((x) => x !== a.id) : [...accounts, a.id],
                    )
                  }
                />{' '}
                {a.id} · {a.title}
                {a.grantable ? '' : ` (${a.role}: cannot grant this)`}
              </label>
            ))}
          </fieldset>
          <p>
            The access lasts until you revoke it, at most {duration(request.lifetime.absoluteLifetimeMs)}, and
            ends after {duration(request.lifetime.idleTimeoutMs)} unused.
          </p>
          <p className="muted">You will return to {new URL(request.redirectUri).origin}.</p>
          {answer.prompt}
          <ErrorText error={answer.error} />
          <div className="actions">
            <button
              type="button"
              disabled={answer.busy || accounts.length === 0}
              onClick={() => void decide(true)}
            >
              Allow
            </button>
            <button
              type="button"
              className="secondary"
              disabled={answer.busy}
              onClick={() => void decide(false)}
            >
              Deny
            </button>
          </div>
        </section>
      )}
    </div>
  );
}
