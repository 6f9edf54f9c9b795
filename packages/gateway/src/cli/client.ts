/**
 * @module cli/client
 * `gatehouse client create`: a user registers a personal API client (their bot) with a running gateway in one
 * command, as they would on the portal's API-clients page. It logs in over HTTP on the web channel (the password,
 * then an authenticator code: typed at prompts, or read from files of mode 0600 for unattended use), generates the
 * bot's ES256 key, registers its public half with `POST /v1/oauth/clients` (the session's cookie and CSRF token),
 * keeps the private JWK in a new file of mode 0600, logs out, and prints what the bot needs as JSON: the client id,
 * the issuer and the key file, never the key. It talks to the gateway only through its public API, so it works
 * against any gateway the user can reach, and the gateway's own checks apply (a fresh second factor, the accounts
 * the user may grant, the notification the user gets).
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { chmodSync, lstatSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import {
  type ApiClientView,
  apiClientViewSchema,
  type LoginStep,
  SCOPES,
  type Scope,
  SESSION_LOSS_POLICIES,
  type SessionLossPolicy,
} from '@gatehouse/protocol';
import type { Command } from 'commander';
import { readPrivateFile } from '../app/cpapi.js';
import { isLoopbackHost } from '../config/index.js';
import { ERROR_CATALOGUE, type ErrorCode, type ErrorDetails, GatehouseError } from '../core/index.js';
import { totpCode } from '../factors/index.js';
import { Prompter } from './prompt.js';

export interface ClientCreateFlags {
  url: string;
  user: string;
  accounts: string[];
  scopes: Scope[];
  jwkOut: string;
  name?: string;
  sessionLossPolicy?: SessionLossPolicy;
  passwordFile?: string;
  totpFile?: string;
}

/** What `client create` prints: everything a bot needs besides the key, which is in `keyFile`. */
export interface CreatedClient {
  clientId: string;
  issuer: string;
  baseUrl: string;
  keyFile: string;
  keyId: string;
  name: string;
  accounts: string[];
  scopes: string[];
  sessionLossPolicy: string;
}

const list = (v: string) =>
  v
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x.length > 0);

function oneOf<T extends string>(allowed: readonly T[], what: string) {
  return (v: string): T[] => {
    const values = list(v);
    const wrong = values.filter((x) => !(allowed as readonly string[]).includes(x));
    if (values.length === 0 || wrong.length > 0) throw new Error(`${what} are ${allowed.join(', ')}`);
    return values as T[];
  };
}

export function registerClientCommands(program: Command): void {
  const client = program.command('client').description('API clients for your own programs (bots)');
  client
    .command('create')
    .description(
      'log in to a running gateway as a user and register a personal API client: an ES256 key is made, its private JWK kept in a new 0600 file; prints the client id, issuer and key file as JSON',
    )
    .requiredOption('--url <url>', 'the gateway, e.g. https://gateway.example (http:// only on this machine)')
    .requiredOption('--user <name>', 'log in as this user')
    .requiredOption('--accounts <ids>', 'comma-separated account ids the client may use', list)
    .requiredOption('--scopes <scopes>', `comma-separated: ${SCOPES.join(', ')}`, oneOf(SCOPES, 'the scopes'))
    .requiredOption('--jwk-out <file>', 'a new file for the private key (JWK, mode 0600); never overwritten')
    .option('--name <name>', 'the name the portal shows for the client')
    .option(
      '--session-loss-policy <policy>',
      `${SESSION_LOSS_POLICIES.join(' | ')}: what happens to the client's open orders when its session is lost`,
      (v: string) => {
        if (!(SESSION_LOSS_POLICIES as readonly string[]).includes(v))
          throw new Error(`a policy is ${SESSION_LOSS_POLICIES.join(' | ')}`);
        return v as SessionLossPolicy;
      },
    )
    .option('--password-file <file>', "the user's password, in a file of mode 0600 (otherwise asked)")
    .option(
      '--totp-file <file>',
      "the user's TOTP secret (base32, or an otpauth:// URI), in a file of mode 0600 (otherwise the code is asked)",
    )
    .action(async (flags: ClientCreateFlags) => {
      const prompter = new Prompter();
      try {
        const created = await createClient(flags, prompter);
        process.stdout.write(`${JSON.stringify(created, null, 2)}\n`);
      } finally {
        prompter.close();
      }
    });
}

/** Logs in, registers the client and keeps its key; see the module comment. */
export async function createClient(flags: ClientCreateFlags, prompter: Prompter): Promise<CreatedClient> {
  // Everything that can be checked here is, before a password is asked for or sent.
  const base = gatewayUrl(flags.url);
  const keyFile = resolve(flags.jwkOut);
  // lstat: a link there, even one to nowhere, is something the key would not be written through.
  if (lstatSync(keyFile, { throwIfNoEntry: false }) !== undefined)
    throw new Error(`${keyFile} exists: a key file is never overwritten (choose another --jwk-out)`);
  if (!statSync(dirname(keyFile), { throwIfNoEntry: false })?.isDirectory())
    throw new Error(`${dirname(keyFile)} is not a folder (for --jwk-out)`);
  if (flags.accounts.length === 0) throw new Error('--accounts names no account');
  const totpSecret = flags.totpFile === undefined ? undefined : totpSecretOf(flags.totpFile);
  const passwordFromFile = flags.passwordFile === undefined ? undefined : readPrivateFile(flags.passwordFile);
  const gateway = new GatewayHttp(base);
  const metadata = await gateway.call<{ issuer?: unknown }>('GET', '/.well-known/oauth-authorization-server');
  if (metadata.status !== 200 || typeof metadata.body.issuer !== 'string')
    throw new Error(`${base} does not answer as a Gatehouse gateway (no OAuth metadata)`);
  const issuer = metadata.body.issuer;
  // The issuer may differ from the URL reached (a configured public URL behind a proxy), but a bot signs for it:
  // say so when it is elsewhere.
  if (!URL.canParse(issuer)) throw new Error(`${base} names an issuer that is not a URL`);
  if (new URL(issuer).origin !== new URL(base).origin)
    process.stderr.write(
      `note: the gateway's issuer is ${printable(issuer)}, not ${base}; the bot's assertions name the issuer\n`,
    );

  const password = passwordFromFile ?? (await prompter.secret(`Password for ${flags.user}: `));
  const csrf = await logIn(gateway, flags.user, password, {
    code: async () =>
      totpSecret === undefined
        ? (await prompter.answer(`Authenticator code for ${flags.user}: `)).replace(/\s+/g, '')
        : totpCode(totpSecret, Date.now()),
    // Two unattended runs within one 30 s step would send the same code.
    refusedHint:
      totpSecret === undefined
        ? ''
        : ' (a TOTP code is accepted once: if this user logged in within the last 30 s, try again in 30 s)',
  });
  try {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const { kty, crv, x, y } = publicKey.export({ format: 'jwk' });
    // RFC 7638: the key's thumbprint names it.
    const kid = createHash('sha256').update(JSON.stringify({ crv, kty, x, y })).digest('base64url');
    const publicJwk = { kty, crv, x, y, kid, alg: 'ES256', use: 'sig' };
    // The key is on disk before the gateway trusts it (a client whose key was lost would be useless), in a file
    // only this user may read; it is removed again when the gateway refuses the client.
    writeFileSync(
      keyFile,
      `${JSON.stringify({ ...privateKey.export({ format: 'jwk' }), kid, alg: 'ES256' }, null, 2)}\n`,
      { mode: 0o600, flag: 'wx' },
    );
    chmodSync(keyFile, 0o600);
    let registered: ApiClientView;
    try {
      const answer = await gateway.call<ApiClientView>(
        'POST',
        '/v1/oauth/clients',
        {
          name: flags.name ?? `bot on ${hostname()}`.slice(0, 100),
          keys: [publicJwk],
          accounts: flags.accounts,
          scopes: flags.scopes,
          ...(flags.sessionLossPolicy === undefined ? {} : { sessionLossPolicy: flags.sessionLossPolicy }),
        },
        { 'x-csrf-token': csrf },
      );
      if (answer.status !== 201) throw remoteError(answer, 'registering the client');
      const parsed = apiClientViewSchema.safeParse(answer.body);
      if (!parsed.success)
        throw new Error(
          'registering the client: the gateway answered 201 with something that is not a client',
        );
      registered = parsed.data;
    } catch (error) {
      rmSync(keyFile, { force: true });
      throw error;
    }
    return {
      clientId: registered.clientId,
      issuer,
      baseUrl: base,
      keyFile,
      keyId: kid,
      name: registered.name,
      accounts: registered.grants[0]?.accounts ?? flags.accounts,
      scopes: registered.scopes,
      sessionLossPolicy: registered.sessionLossPolicy,
    };
  } finally {
    // The web session was only for this registration.
    await gateway.call('POST', '/v1/auth/logout', undefined, { 'x-csrf-token': csrf }).catch(() => {});
  }
}

/** The base URL: https, or http to a gateway on this machine only (a password is sent to it). */
function gatewayUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`--url ${raw} is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new Error(`--url ${raw}: give an https:// URL`);
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname))
    throw new Error(
      `--url ${raw}: a password is sent to it, so http:// only for a gateway on this machine (localhost, 127.0.0.1, ::1); give an https:// URL`,
    );
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '')
    throw new Error(`--url ${raw}: give the gateway's base URL only`);
  return url.href.replace(/\/+$/, '');
}

/** A base32 TOTP secret from a 0600 file: the secret itself, or an otpauth:// URI that carries it. */
function totpSecretOf(file: string): string {
  const line = readPrivateFile(file);
  const secret = (line.startsWith('otpauth://') ? (new URL(line).searchParams.get('secret') ?? '') : line)
    .replace(/\s+/g, '')
    .replace(/=+$/, '')
    .toUpperCase();
  if (!/^[A-Z2-7]{16,}$/.test(secret))
    throw new Error(`${file} holds no base32 TOTP secret (nor an otpauth:// URI with one)`);
  return secret;
}

/**
 * The web login, both steps; answers the session's CSRF token (its cookie stays in `gateway`). The second step is
 * an authenticator (TOTP) code, the factor a command line can give.
 */
async function logIn(
  gateway: GatewayHttp,
  username: string,
  password: string,
  factor: { code: () => Promise<string>; refusedHint: string },
): Promise<string> {
  const started = await gateway.call<LoginStep>('POST', '/v1/auth/login', {
    username,
    password,
    channel: 'web',
  });
  if (started.status !== 200) throw remoteError(started, `logging in as ${username} (password)`);
  let step = started.body;
  if (step.status === 'second_factor_required') {
    const offered = step.factors.map((f) => f.type);
    if (!offered.includes('totp'))
      throw new GatehouseError(
        'FACTOR_NOT_AVAILABLE',
        `${username} has no authenticator app (TOTP), the second factor this command uses (offered: ${offered.join(', ')}); register the client on the portal's API-clients page, or enrol one (gatehouse user add-totp ${username})`,
      );
    const done = await gateway.call<LoginStep>(
      'POST',
      `/v1/auth/login/${encodeURIComponent(step.loginId ?? '')}/factor`,
      { type: 'totp', code: await factor.code() },
    );
    if (done.status !== 200) {
      const error = remoteError(done, `logging in as ${username} (authenticator code)`);
      if (error instanceof GatehouseError && error.code === 'INVALID_CREDENTIALS')
        error.message += factor.refusedHint;
      throw error;
    }
    step = done.body;
  }
  if (step.status !== 'authenticated' || step.csrfToken === undefined)
    throw new Error(`logging in as ${username}: the gateway answered ${step.status}, not a web session`);
  return step.csrfToken;
}

/** The gateway's error envelope as an error of the same code (the CLI prints `error CODE: …`). */
function remoteError(answer: { status: number; body: unknown }, doing: string): Error {
  const error = (answer.body as { error?: { code?: unknown; message?: unknown; details?: ErrorDetails } })
    ?.error;
  if (typeof error?.code !== 'string')
    return new Error(`${doing}: the gateway answered HTTP ${answer.status}`);
  const message = `${doing}: ${printable(String(error.message ?? ''))}`;
  return error.code in ERROR_CATALOGUE
    ? new GatehouseError(error.code as ErrorCode, message, error.details)
    : new Error(`${printable(error.code)}: ${message}`);
}

/**
 * Text from the gateway as it may reach a terminal: without control characters (escape sequences could rewrite
 * the screen or the window title), bidirectional overrides, or more than 500 characters.
 */
export function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: they are what is removed
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, '?');
  return clean.length > 500 ? `${clean.slice(0, 500)}…` : clean;
}

/** The most of an answer this command reads: a gateway's answers here are a few kilobytes. */
const MAX_ANSWER_BYTES = 1_000_000;

async function readCapped(response: Response): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (declared > MAX_ANSWER_BYTES) throw new Error(`the gateway's answer is too large (${declared} bytes)`);
  const reader = response.body?.getReader();
  if (reader === undefined) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_ANSWER_BYTES) {
      await reader.cancel();
      throw new Error(`the gateway's answer is too large (over ${MAX_ANSWER_BYTES} bytes)`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** JSON over HTTP with a cookie jar, as a browser session of the web channel. */
class GatewayHttp {
  readonly #cookies = new Map<string, string>();

  constructor(readonly base: string) {}

  async call<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: T }> {
    const cookie = [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    let response: Response;
    try {
      response = await fetch(`${this.base}${path}`, {
        method,
        headers: {
          accept: 'application/json',
          'user-agent': 'gatehouse-cli',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(cookie === '' ? {} : { cookie }),
          ...headers,
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        redirect: 'manual',
        signal: AbortSignal.timeout(30_000),
      });
    } catch (error) {
      const cause = (error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message;
      throw new Error(`cannot reach the gateway at ${this.base}: ${cause}`);
    }
    for (const line of response.headers.getSetCookie()) {
      const pair = line.split(';')[0] ?? '';
      const at = pair.indexOf('=');
      if (at <= 0) continue;
      const name = pair.slice(0, at).trim();
      const value = pair.slice(at + 1).trim();
      if (value === '' || /;\s*max-age=0\b/i.test(line)) this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
    const text = await readCapped(response);
    let parsed: unknown = {};
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      parsed = {};
    }
    return { status: response.status, body: parsed as T };
  }
}
