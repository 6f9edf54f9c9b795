/**
 * bench/soak-traffic.ts — the clients bench/soak.ts drives, set up over HTTP as people and programs set themselves
 * up, and the operations of its mix, each one request or one short exchange answering `ok` or the error's code:
 *
 * - web logins (password + TOTP) of `SOAK_USERS` users in turn (a code counts once, so a user logs in again only in a
 *   later 30 s step) and logouts of the oldest of those sessions, which keeps their number bounded;
 * - tickles and who-am-I reads of those sessions;
 * - orders on Alice's paper account `DU1000001` from her web session, which holds trading: limit buys far below the
 *   market that rest, modified and cancelled oldest first (the resting orders stay few), and 1-share market orders,
 *   buys and sells alternating, that fill;
 * - `/v1/stream` sockets of Alice's session opened (until `hello`) and closed a few seconds later;
 * - refresh-token grants of a third-party app Alice authorised (client assertion + DPoP proof), and a DPoP-bound
 *   who-am-I with the access token the last grant issued;
 * - brokerage takeovers between two channels of one user: her web session and her phone take trading from each
 *   other (`compete`).
 */
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { enrolDevice } from '../packages/gateway/src/authenticator/index.js';
import { DEMO_USERS } from '../packages/gateway/src/demo/index.js';
import { ASSERTION_TYPE, form, Signer, sha256 } from './dpop.js';
import { marketOrders } from './lib.js';
import {
  codeOf,
  type DeviceSession,
  deviceHeaders,
  expectOk,
  PIN,
  phoneLogin,
  post,
  type WebSession,
  type WebUser,
  webLogin,
} from './reauth-clients.js';

export const ACCOUNT = 'DU1000001';
const REDIRECT = 'https://bench.example/cb';
const TOTP_STEP_MS = 30_000;
/** Web sessions of the soak users kept logged in; a logout takes the oldest beyond this. */
const MIN_WEB_SESSIONS = 4;
/** How long a stream stays open before the client closes it. */
export const STREAM_HOLD_MS = 3_000;

type Answer = { status: number; body: Record<string, unknown> };

async function call(url: string, method: string, headers: Record<string, string>, body?: unknown) {
  const response = await fetch(url, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
  } catch {
    parsed = { error: { code: `HTTP ${response.status} (not JSON)` } };
  }
  return { status: response.status, body: parsed } satisfies Answer;
}

/** The app Alice authorised: a refresh token, the latest access token, its DPoP key. */
interface App {
  clientId: string;
  clientKey: Signer;
  dpopKey: Signer;
  refreshToken: string;
  accessToken: string;
}

async function authoriseApp(url: string, adminToken: string, alice: WebSession): Promise<App> {
  const clientKey = new Signer();
  const dpopKey = new Signer();
  const created = expectOk(
    'app registration',
    await post(
      `${url}/v1/admin/oauth/clients`,
      { name: 'soak app', keys: [clientKey.jwk], redirectUris: [REDIRECT], scopes: ['read'] },
      { authorization: `Bearer ${adminToken}` },
    ),
  );
  const clientId = created.clientId as string;
  const assertion = () => ({
    client_assertion_type: ASSERTION_TYPE,
    client_assertion: clientKey.assertion(clientId, url),
  });
  const verifier = randomBytes(32).toString('base64url');
  const par = await form(`${url}/oauth2/par`, {
    ...assertion(),
    response_type: 'code',
    redirect_uri: REDIRECT,
    scope: 'read',
    code_challenge: sha256(verifier),
    code_challenge_method: 'S256',
  });
  const consent = expectOk(
    'consent',
    await post(
      `${url}/oauth2/authorize/consent`,
      { clientId, requestUri: par.body.request_uri, approve: true, accounts: [ACCOUNT] },
      alice.headers,
    ),
  );
  const code = new URL(consent.redirectTo as string).searchParams.get('code') as string;
  const tokenUrl = `${url}/oauth2/token`;
  const tokens = await form(
    tokenUrl,
    {
      ...assertion(),
      grant_type: 'authorization_code',
      code,
      code_verifier: verifier,
      redirect_uri: REDIRECT,
    },
    dpopKey.proof('POST', tokenUrl),
  );
  if (tokens.status !== 200) throw new Error(`code exchange: ${JSON.stringify(tokens.body)}`);
  return {
    clientId,
    clientKey,
    dpopKey,
    refreshToken: tokens.body.refresh_token as string,
    accessToken: tokens.body.access_token as string,
  };
}

/** The soak's clients and its operations; `ops[name]()` answers `ok` or an error code. */
export class Traffic {
  readonly #url: string;
  readonly #users: WebUser[];
  /** The TOTP step each soak user last logged in with, and the browser's device cookie it keeps. */
  readonly #lastStep = new Map<string, { step: number; device: string | undefined }>();
  #nextUser = 0;
  /** The soak users' web sessions, oldest first. */
  readonly #web: WebSession[] = [];
  #nextWeb = 0;
  readonly #alice: WebSession;
  readonly #takerWeb: WebSession;
  readonly #takerPhone: DeviceSession;
  #takerTurn = 0;
  readonly #app: App;
  /** Alice's resting limit orders, oldest first. */
  readonly #resting: string[] = [];
  readonly #market = marketOrders(`soak-${randomBytes(3).toString('hex')}`);
  #orderN = 0;
  readonly #limitPrice: number;
  /** Streams open now (the client closes each after STREAM_HOLD_MS). */
  readonly #streams = new Set<WebSocket>();
  /** Streams the gateway closed before the client did, by close code (counted, not an error: see `streamClose`). */
  readonly streamCloses = new Map<number, number>();

  private constructor(parts: {
    url: string;
    users: WebUser[];
    alice: WebSession;
    takerWeb: WebSession;
    takerPhone: DeviceSession;
    app: App;
    limitPrice: number;
  }) {
    this.#url = parts.url;
    this.#users = parts.users;
    this.#alice = parts.alice;
    this.#takerWeb = parts.takerWeb;
    this.#takerPhone = parts.takerPhone;
    this.#app = parts.app;
    this.#limitPrice = parts.limitPrice;
  }

  /**
   * Sets the clients up: Alice's web session (trading taken, a quote for the resting orders' price), the app she
   * authorises, the taker's web session and phone (enrolled from it), and the first soak users' web sessions.
   */
  static async setUp(url: string, opts: { adminToken: string; users: WebUser[]; taker: WebUser }) {
    const aliceSpec = DEMO_USERS[0] as (typeof DEMO_USERS)[number];
    const alice = await webLogin(url, aliceSpec, 'current');
    expectOk('brokerage', await post(`${url}/v1/session/brokerage`, { compete: true }, alice.headers));
    const quote = await call(
      `${url}/v1/marketdata/snapshot?instruments=265598&accountId=${ACCOUNT}`,
      'GET',
      alice.headers,
    );
    const bid = (quote.body.quotes as { bid?: number }[] | undefined)?.[0]?.bid ?? 100;
    const app = await authoriseApp(url, opts.adminToken, alice);
    const takerWeb = await webLogin(url, opts.taker, 'current');
    const enrolment = expectOk(
      'phone enrolment',
      await post(`${url}/v1/devices/mobile/enroll`, {}, takerWeb.headers),
    );
    const phone = await enrolDevice(enrolment.activationUri as string, {
      name: 'soak phone',
      platform: 'bench',
      pin: PIN,
    });
    const takerPhone = await phoneLogin(url, phone);
    const traffic = new Traffic({
      url,
      users: opts.users,
      alice,
      takerWeb,
      takerPhone,
      app,
      // Far below the market: the buys rest until cancelled; the gate accepts them (bench/api.ts rests at 97 %).
      limitPrice: Number((bid * 0.9).toFixed(2)),
    });
    for (let i = 0; i < MIN_WEB_SESSIONS; i += 1) {
      const code = await traffic.ops.login();
      if (code !== 'ok') throw new Error(`first web logins: ${code}`);
    }
    return traffic;
  }

  /** Web sessions of the soak users now, resting orders now, streams open now. */
  get sizes() {
    return { webSessions: this.#web.length, resting: this.#resting.length, streams: this.#streams.size };
  }

  #session(): WebSession {
    const session = this.#web[this.#nextWeb++ % this.#web.length];
    if (session === undefined) throw new Error('no web session');
    return session;
  }

  readonly ops = {
    /** A web login of the next soak user whose last login was in an earlier TOTP step. */
    login: async (): Promise<string> => {
      const step = Math.floor(Date.now() / TOTP_STEP_MS);
      const user = this.#users[this.#nextUser++ % this.#users.length] as WebUser;
      const last = this.#lastStep.get(user.username);
      // Too few users for the login rate: a client-side shortfall, counted as an error (raise SOAK_USERS).
      if (last !== undefined && last.step >= step) return 'CLIENT_NO_USER_FREE';
      try {
        const session = await webLogin(this.#url, user, 'current', last?.device);
        this.#lastStep.set(user.username, { step, device: session.device || last?.device });
        this.#web.push(session);
        return 'ok';
      } catch (error) {
        return `LOGIN_FAILED ${(error as Error).message.slice(0, 80)}`;
      }
    },
    /** Logs the oldest soak session out (a tickle instead while few are logged in). */
    logout: async (): Promise<string> => {
      if (this.#web.length <= MIN_WEB_SESSIONS) return this.ops.tickle();
      const session = this.#web.shift() as WebSession;
      return codeOf(await call(`${this.#url}/v1/auth/logout`, 'POST', session.headers, {}));
    },
    tickle: async () =>
      codeOf(await call(`${this.#url}/v1/session/tickle`, 'POST', this.#session().headers, {})),
    whoami: async () => codeOf(await call(`${this.#url}/v1/session`, 'GET', this.#session().headers)),
    /** A limit buy that rests. */
    place: async (): Promise<string> => {
      this.#orderN += 1;
      const answer = await call(`${this.#url}/v1/accounts/${ACCOUNT}/orders`, 'POST', this.#alice.headers, {
        clientOrderId: `soak-lmt-${this.#orderN}-${Date.now()}`,
        instrumentId: 265598,
        side: 'BUY',
        type: 'LMT',
        quantity: 1,
        limitPrice: this.#limitPrice,
        tif: 'GTC',
      });
      if (answer.status === 201) this.#resting.push(answer.body.id as string);
      return answer.status === 201 ? 'ok' : codeOf(answer);
    },
    /**
     * Changes the oldest resting order's price (places one when none rests). The order leaves the queue while the
     * change is in flight, so that a cancel sent meanwhile (operations overlap: the load is open loop) takes
     * another: the gateway would rightly answer the later of the two `ORDER_NOT_OPEN`.
     */
    modify: async (): Promise<string> => {
      const id = this.#resting.shift();
      if (id === undefined) return this.ops.place();
      const limitPrice = Number((this.#limitPrice - 0.01 * (this.#orderN % 7)).toFixed(2));
      const answer = await call(
        `${this.#url}/v1/accounts/${ACCOUNT}/orders/${id}`,
        'PATCH',
        this.#alice.headers,
        { limitPrice },
      );
      this.#resting.push(id);
      return codeOf(answer);
    },
    /** Cancels the oldest resting order that no change is in flight for (places one when none rests). */
    cancel: async (): Promise<string> => {
      const id = this.#resting.shift();
      if (id === undefined) return this.ops.place();
      return codeOf(
        await call(`${this.#url}/v1/accounts/${ACCOUNT}/orders/${id}`, 'DELETE', this.#alice.headers),
      );
    },
    /** A 1-share market order that fills. */
    market: async (): Promise<string> => {
      const answer = await call(
        `${this.#url}/v1/accounts/${ACCOUNT}/orders`,
        'POST',
        this.#alice.headers,
        JSON.parse(this.#market()),
      );
      return answer.status === 201 ? 'ok' : codeOf(answer);
    },
    portfolio: async () =>
      codeOf(await call(`${this.#url}/v1/accounts/${ACCOUNT}/portfolio`, 'GET', this.#alice.headers)),
    /** Opens a stream of Alice's session; `ok` at its `hello`; the client closes it STREAM_HOLD_MS later. */
    stream: (): Promise<string> =>
      new Promise((resolve) => {
        const socket = new WebSocket(`${this.#url.replace(/^http/, 'ws')}/v1/stream`, {
          headers: { cookie: this.#alice.cookie },
          origin: this.#url,
          perMessageDeflate: false,
        });
        let closing = false;
        this.#streams.add(socket);
        socket.on('message', (raw: Buffer) => {
          const message = JSON.parse(raw.toString()) as { type: string };
          if (message.type !== 'hello') return;
          resolve('ok');
          setTimeout(() => {
            closing = true;
            socket.close(1000);
          }, STREAM_HOLD_MS).unref();
        });
        socket.once('close', (code: number) => {
          this.#streams.delete(socket);
          if (!closing) this.streamCloses.set(code, (this.streamCloses.get(code) ?? 0) + 1);
          resolve(`STREAM_CLOSED ${code}`);
        });
        socket.once('unexpected-response', (_request, response) => {
          this.#streams.delete(socket);
          resolve(`STREAM_UPGRADE HTTP ${response.statusCode}`);
          socket.terminate();
        });
        socket.once('error', (error) => resolve(`STREAM_ERROR ${error.message.slice(0, 60)}`));
      }),
    /** A refresh-token grant of the app (client assertion + DPoP proof). */
    refresh: async (): Promise<string> => {
      const app = this.#app;
      const tokenUrl = `${this.#url}/oauth2/token`;
      const answer = await form(
        tokenUrl,
        {
          client_assertion_type: ASSERTION_TYPE,
          client_assertion: app.clientKey.assertion(app.clientId, this.#url),
          grant_type: 'refresh_token',
          refresh_token: app.refreshToken,
        },
        app.dpopKey.proof('POST', tokenUrl),
      );
      if (answer.status !== 200) return `REFRESH ${answer.body.error ?? answer.status}`;
      app.accessToken = answer.body.access_token as string;
      if (answer.body.refresh_token !== undefined) app.refreshToken = answer.body.refresh_token;
      return 'ok';
    },
    /** The app's who-am-I with its latest access token and a fresh proof. */
    appRead: async (): Promise<string> => {
      const app = this.#app;
      const url = `${this.#url}/v1/session`;
      return codeOf(
        await call(url, 'GET', {
          authorization: `DPoP ${app.accessToken}`,
          dpop: app.dpopKey.proof('GET', url, app.accessToken),
        }),
      );
    },
    /** The taker's web session and phone take trading from each other in turn. */
    takeover: async (): Promise<string> => {
      const url = `${this.#url}/v1/session/brokerage`;
      const headers =
        this.#takerTurn++ % 2 === 0 ? this.#takerWeb.headers : deviceHeaders(this.#takerPhone, 'POST', url);
      return codeOf(await call(url, 'POST', headers, { compete: true }));
    },
  };

  /** When a daily reset ended Alice's trading, she takes it again (the next order is then accepted). */
  async retakeTrading(): Promise<void> {
    await post(`${this.#url}/v1/session/brokerage`, { compete: true }, this.#alice.headers);
  }

  /** Closes every stream still open. */
  closeStreams(): void {
    for (const socket of this.#streams) socket.terminate();
    this.#streams.clear();
  }
}

export type OpName = keyof Traffic['ops'];

/**
 * One cycle of the mix (20 operations, repeated at the fixed rate): requests per second in the proportions
 * the module's comment lists. Places equal cancels, so the resting orders stay few.
 */
export const MIX: readonly OpName[] = [
  'tickle',
  'place',
  'whoami',
  'login',
  'market',
  'tickle',
  'stream',
  'modify',
  'refresh',
  'whoami',
  'takeover',
  'cancel',
  'appRead',
  'tickle',
  'place',
  'logout',
  'portfolio',
  'whoami',
  'cancel',
  'stream',
];
