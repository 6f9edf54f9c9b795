/**
 * @module supervisor
 * `SessionSupervisor` keeps a program's trading session alive, correctly:
 *
 * - **States**: `disconnected → authenticating → syncing → ready`, then `degraded` (trading paused: competing,
 *   step-up, refresh failing for now) and `lost` (the grant is gone; a person must act). Every transition is an
 *   event.
 * - **Tokens**: refreshed proactively at about 80 % of the access token's lifetime (with jitter, so a fleet of bots
 *   does not refresh in step), and on demand when one is about to expire. Refresh is **single-flight**: every call
 *   that needs a token while a refresh is running waits for that one refresh, so a server that rotates refresh
 *   tokens never sees the same token twice from a healthy client. A refresh whose response is lost is retried with
 *   the same token and the same DPoP key, which the server's reuse leeway answers with the same successor. Network
 *   failures back off exponentially (capped, with jitter): the supervisor never spins.
 * - **Requests**: every call carries the current token and a fresh DPoP proof. A call refused for its token
 *   (`INVALID_TOKEN`: refused before anything happened) gets a fresh token and one more try; nothing else is ever
 *   retried by itself.
 * - **Orders** (`placeOrder`) always carry a `clientOrderId` and are never retried blindly: a placement whose
 *   response is lost is reconciled by its `clientOrderId` before the result is reported.
 * - **The stream** (when a WebSocket factory is given): account events arrive in sequence; every reconnect (bounded
 *   backoff) resumes after the last event seen per account, so nothing is missed or seen twice, even across a
 *   gateway restart; then the open orders are reconciled: `orphanedOrder` for an order open on the server that this
 *   client does not know, `missedCancel` for one it asked to cancel that is still open.
 */
import {
  type ConfirmationRequired,
  DEAD_MAN_MIN_MS,
  type DeadManState,
  type OrderRequest,
  type OrderView,
  type SessionState,
  type TokenResponse,
} from '@gatehouse/protocol';
import type { AuthStrategy } from './auth.js';
import { realScheduler, type Scheduler, ServerClock } from './clock.js';
import { GatehouseApiError, NetworkError, NotReadyError, OAuthApiError } from './errors.js';
import { MemoryTokenStore, type StoredTokens, type TokenStore } from './token-store.js';
import { type DpopKey, type Fetch, Transport } from './transport.js';

export type SupervisorState = 'disconnected' | 'authenticating' | 'syncing' | 'ready' | 'degraded' | 'lost';

/** The part of a WebSocket the supervisor uses (the `ws` package in Node; browsers authenticate streams by cookie). */
export interface StreamSocket {
  on(event: 'message', listener: (data: unknown) => void): void;
  on(event: 'close', listener: () => void): void;
  on(event: 'error', listener: (error: unknown) => void): void;
  on(event: 'open', listener: () => void): void;
  close(): void;
}

export type StreamFactory = (url: string, headers: Record<string, string>) => StreamSocket;

/** An order as this client knows it from its events. */
export interface KnownOrder {
  id: string;
  accountId: string;
  clientOrderId: string | null;
  status: string;
}

export interface SupervisorEvents {
  state: { from: SupervisorState; to: SupervisorState; reason?: string };
  /** An account event, in sequence, once. */
  orderEvent: {
    accountId: string;
    eventSeq: number;
    type: string;
    orderId: string | null;
    data: Record<string, unknown>;
  };
  /** Open on the server after a reconnect, unknown to this client. */
  orphanedOrder: { order: OrderView };
  /** This client asked to cancel it; after a reconnect it is still open on the server. */
  missedCancel: { order: OrderView };
  streamConnected: { resumed: Record<string, number> };
  tokenRefreshed: { expiresAt: number };
  competing: Record<string, never>;
  stepUpRequired: Record<string, never>;
  safeFail: { reason: string; action: string };
}

/** A handler of one supervisor event. */
export type Listener<T> = (event: T) => void;

/**
 * What to do when trading is lost (competing, grant revoked): `pause` (stop sending orders, the default),
 * `cancel-all` (have the gateway cancel this session's orders within 5 s: its dead-man switch, armed at the
 * minimum, since a session that lost trading may not cancel), `flatten` (also try to close every position with
 * market orders, where the session may still trade), or the program's own function.
 */
export type SessionLossAction =
  | 'pause'
  | 'cancel-all'
  | 'flatten'
  | ((context: { reason: string }) => Promise<void>);

export interface SupervisorOptions {
  baseUrl: string;
  auth: AuthStrategy;
  dpopKey: DpopKey;
  tokenStore?: TokenStore;
  /** Tokens to start from (an app's first set, from `exchangeCode`). */
  initialTokens?: TokenResponse;
  /** Take the brokerage capability when starting (`compete: true` takes it over from another session). */
  trading?: { compete: boolean };
  /** Refresh at this fraction of the token's lifetime (default 0.8), give or take `refreshJitter` (0.05). */
  refreshAt?: number;
  refreshJitter?: number;
  /** Backoff after a failed refresh: first wait and cap (default 250 ms and 30 s). */
  backoff?: { initialMs: number; maxMs: number };
  /** What to do when the session is lost for trading (competing, grant revoked). Default `pause`. */
  onSessionLoss?: SessionLossAction;
  /**
   * Keeps the session from idling out while the program is quiet: a tickle after this long without a request
   * (default 5 minutes; `null` turns it off).
   */
  keepAliveMs?: number | null;
  /**
   * Arms the server's dead-man switch at `ready` and re-arms it every third of its timeout. An `account` switch
   * cancels every order of the account when it fires, so arming one needs trading (`trading`); a `session` switch
   * covers this session's own orders and needs nothing more.
   */
  deadMan?: { timeoutMs: number; scope: 'session' | 'account'; accountId?: string; excludeGtc?: boolean };
  /** Time of a placement before its outcome counts as unknown and is reconciled (default 10 s). */
  placementTimeoutMs?: number;
  /** Opens `/v1/stream` (Node: `(url, headers) => new WebSocket(url, { headers })` with the `ws` package). */
  stream?: StreamFactory;
  scheduler?: Scheduler;
  fetch?: Fetch;
}

export type PlaceOrderResult =
  | { status: 'accepted' | 'existing'; order: OrderView; reconciled?: boolean }
  | ({ status: 'confirmation_required'; confirm: () => Promise<PlaceOrderResult> } & ConfirmationRequired)
  /**
   * The response was lost and the server, asked after a moment, has no order with this clientOrderId. It most likely
   * never arrived; to place it, send it again with the same clientOrderId (the gateway makes at most one order).
   */
  | { status: 'not_found'; clientOrderId: string }
  /** The response was lost and the server could not be asked: resubmit the same clientOrderId, or check later. */
  | { status: 'unknown'; clientOrderId: string };

export class SessionSupervisor {
  readonly transport: Transport;
  readonly clock: ServerClock;
  readonly #o: SupervisorOptions;
  readonly #store: TokenStore;
  readonly #scheduler: Scheduler;
  readonly #listeners = new Map<keyof SupervisorEvents, Set<Listener<never>>>();
  #state: SupervisorState = 'disconnected';
  #tokens: StoredTokens | undefined;
  #refreshing: Promise<StoredTokens> | null = null;
  #refreshTimer: unknown;
  #deadManTimer: unknown;
  /** The session-loss action armed the session's switch at its minimum: it is not re-armed later. */
  #safeFailed = false;
  #keepAliveTimer: unknown;
  #lastRequestAt = 0;
  #failures = 0;
  #stopped = false;
  /** Counters a program (or a test) can read. */
  readonly stats = { refreshes: 0, refreshFailures: 0, requests: 0, reconnects: 0 };
  /** The last event sequence seen per account (what a reconnect resumes after). */
  readonly lastSeq = new Map<string, number>();
  /** Orders as this client knows them, from their events. */
  readonly orders = new Map<string, KnownOrder>();
  readonly #cancelsAsked = new Set<string>();
  #accounts: string[] = [];
  #socket: StreamSocket | null = null;
  #streamFailures = 0;

  constructor(options: SupervisorOptions) {
    this.#o = options;
    this.#store = options.tokenStore ?? new MemoryTokenStore();
    this.#scheduler = options.scheduler ?? realScheduler;
    this.clock = new ServerClock(this.#scheduler);
    this.transport = new Transport(
      options.baseUrl.replace(/\/+$/, ''),
      options.dpopKey,
      this.clock,
      options.fetch,
    );
  }

  get state(): SupervisorState {
    return this.#state;
  }

  on<K extends keyof SupervisorEvents>(event: K, listener: Listener<SupervisorEvents[K]>): () => void {
    let set = this.#listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as Listener<never>);
    return () => set.delete(listener as Listener<never>);
  }

  #emit<K extends keyof SupervisorEvents>(event: K, payload: SupervisorEvents[K]): void {
    for (const listener of this.#listeners.get(event) ?? [])
      (listener as Listener<SupervisorEvents[K]>)(payload);
  }

  #to(state: SupervisorState, reason?: string): void {
    if (state === this.#state) return;
    const from = this.#state;
    this.#state = state;
    this.#emit('state', { from, to: state, ...(reason === undefined ? {} : { reason }) });
  }

  // ---- lifecycle -------------------------------------------------------------------------------------------------

  /** Authenticates (or resumes stored tokens), reads the session, takes trading if asked, and is `ready`. */
  async start(): Promise<void> {
    this.#stopped = false;
    this.#to('authenticating');
    const stored =
      this.#o.initialTokens !== undefined
        ? this.#fromResponse(this.#o.initialTokens)
        : await this.#store.load();
    if (stored !== undefined) {
      this.#tokens = stored;
      await this.#store.save(stored);
      if (this.#expiresSoon(stored)) await this.#token(true);
    } else {
      await this.#singleFlight(() => this.#o.auth.authenticate(this.transport));
    }
    this.#scheduleRefresh();
    this.#to('syncing');
    const session = await this.request<{ accounts: { id: string }[] }>('GET', '/v1/session');
    this.#accounts = session.accounts.map((a) => a.id);
    if (this.#o.stream !== undefined) {
      for (const account of this.#accounts) await this.#catchUp(account);
      await this.#openStream();
    }
    if (this.#o.trading !== undefined) await this.acquireTrading(this.#o.trading);
    this.#to('ready');
    if (this.#o.deadMan !== undefined) await this.#armDeadMan();
    this.#scheduleKeepAlive();
  }

  #scheduleKeepAlive(): void {
    const every = this.#o.keepAliveMs === undefined ? 5 * 60_000 : this.#o.keepAliveMs;
    if (every === null || this.#stopped) return;
    this.#scheduler.clearTimeout(this.#keepAliveTimer);
    const quietFor = this.#scheduler.now() - this.#lastRequestAt;
    this.#keepAliveTimer = this.#scheduler.setTimeout(
      () => {
        const due = this.#scheduler.now() - this.#lastRequestAt >= every;
        (due ? this.tickle().then(() => {}) : Promise.resolve())
          .catch(() => {})
          .finally(() => this.#scheduleKeepAlive());
      },
      Math.max(0, every - quietFor),
    );
  }

  /** Resolves once no refresh is in flight (tests and soaks step time with it). */
  async settled(): Promise<void> {
    while (this.#refreshing !== null) await this.#refreshing.catch(() => {});
  }

  /** Stops timers (the session itself lives on at the server until it expires). */
  stop(): void {
    this.#stopped = true;
    this.#scheduler.clearTimeout(this.#refreshTimer);
    this.#scheduler.clearTimeout(this.#deadManTimer);
    this.#scheduler.clearTimeout(this.#keepAliveTimer);
    this.#socket?.close();
    this.#socket = null;
    this.#to('disconnected');
  }

  // ---- the stream and reconciliation -----------------------------------------------------------------------------

  /** Applies an account event once, in sequence (older and repeated ones are dropped). */
  #apply(e: SupervisorEvents['orderEvent']): void {
    const last = this.lastSeq.get(e.accountId) ?? 0;
    if (e.eventSeq <= last) return;
    this.lastSeq.set(e.accountId, e.eventSeq);
    if (e.orderId !== null) {
      const known = this.orders.get(e.orderId);
      const status =
        e.type === 'accepted'
          ? 'working'
          : ['filled', 'cancelled', 'expired'].includes(e.type)
            ? e.type
            : known?.status;
      this.orders.set(e.orderId, {
        id: e.orderId,
        accountId: e.accountId,
        clientOrderId: (e.data.clientOrderId as string | undefined) ?? known?.clientOrderId ?? null,
        status: status ?? 'working',
      });
    }
    this.#emit('orderEvent', e);
  }

  /** Reads the account's events after the last one seen (a start, or a reconnect without the stream's replay). */
  async #catchUp(accountId: string): Promise<void> {
    for (;;) {
      const after = this.lastSeq.get(accountId) ?? 0;
      const { events } = await this.request<{
        events: { seq: number; type: string; orderId: string | null; data: Record<string, unknown> }[];
      }>('GET', `/v1/accounts/${encodeURIComponent(accountId)}/events?after=${after}&limit=1000`);
      for (const e of events)
        this.#apply({ accountId, eventSeq: e.seq, type: e.type, orderId: e.orderId, data: e.data });
      if (events.length < 1000) return;
    }
  }

  async #openStream(): Promise<void> {
    const factory = this.#o.stream;
    if (factory === undefined || this.#stopped) return;
    const resumed = Object.fromEntries(this.#accounts.map((a) => [a, this.lastSeq.get(a) ?? 0]));
    const resume = Object.entries(resumed)
      .map(([a, seq]) => `${a}:${seq}`)
      .join(',');
    const path = `/v1/stream${resume === '' ? '' : `?resumeAfter=${resume}`}`;
    const token = await this.#token();
    const url = `${this.transport.baseUrl}${path}`;
    const proof = await this.transport.dpop.proof('GET', url, this.clock.now(), token);
    const socket = factory(url.replace(/^http/, 'ws'), { authorization: `DPoP ${token}`, dpop: proof });
    this.#socket = socket;
    socket.on('open', () => {
      this.#streamFailures = 0;
      this.#emit('streamConnected', { resumed });
      this.#reconcileOpenOrders().catch(() => {});
    });
    socket.on('message', (data) => this.#onStreamMessage(String(data)));
    socket.on('error', () => {});
    socket.on('close', () => {
      if (this.#socket !== socket || this.#stopped) return;
      this.#socket = null;
      this.stats.reconnects += 1;
      this.#streamFailures += 1;
      this.#scheduler.setTimeout(() => {
        this.#openStream().catch(() => {
          // The next close (or the failed token) schedules the next try.
          this.#scheduler.setTimeout(
            () => this.#openStream().catch(() => {}),
            this.backoffMs(++this.#streamFailures),
          );
        });
      }, this.backoffMs(this.#streamFailures));
    });
  }

  #onStreamMessage(raw: string): void {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return;
    }
    if (
      message.topic === 'orders' &&
      typeof message.eventSeq === 'number' &&
      typeof message.accountId === 'string'
    ) {
      this.#apply({
        accountId: message.accountId,
        eventSeq: message.eventSeq,
        type: String(message.type),
        orderId: (message.orderId as string | null | undefined) ?? null,
        data: (message.data as Record<string, unknown> | undefined) ?? {},
      });
    } else if (message.topic === 'session') {
      if (message.type === 'competing') this.#competing();
      if (message.type === 'step_up_required') this.#emit('stepUpRequired', {});
    }
  }

  /** After a reconnect: orders open on the server that this client does not know, or asked to cancel. */
  async #reconcileOpenOrders(): Promise<void> {
    for (const accountId of this.#accounts) {
      const { orders } = await this.request<{ orders: OrderView[] }>(
        'GET',
        `/v1/accounts/${encodeURIComponent(accountId)}/orders?status=open`,
      );
      for (const order of orders) {
        if (this.#cancelsAsked.has(order.id)) this.#emit('missedCancel', { order });
        else if (!this.orders.has(order.id)) this.#emit('orphanedOrder', { order });
      }
    }
  }

  /** Cancels an order; remembered, so a reconnect can tell whether the cancel was missed. */
  async cancelOrder(accountId: string, orderId: string): Promise<OrderView> {
    this.#cancelsAsked.add(orderId);
    return this.request<OrderView>(
      'DELETE',
      `/v1/accounts/${encodeURIComponent(accountId)}/orders/${encodeURIComponent(orderId)}`,
    );
  }

  // ---- tokens ----------------------------------------------------------------------------------------------------

  #fromResponse(response: TokenResponse): StoredTokens {
    return {
      accessToken: response.access_token,
      expiresAt: this.clock.now() + response.expires_in * 1000,
      scope: response.scope,
      ...(response.refresh_token === undefined ? {} : { refreshToken: response.refresh_token }),
    };
  }

  #expiresSoon(tokens: StoredTokens): boolean {
    // Within 5 s of expiry a token may die in flight: get the next one first.
    return tokens.expiresAt - this.clock.now() < 5_000;
  }

  /** The current access token, refreshed first when it is about to expire (or when `force`). */
  async #token(force = false): Promise<string> {
    const tokens = this.#tokens;
    if (!force && tokens !== undefined && !this.#expiresSoon(tokens)) return tokens.accessToken;
    const current = tokens;
    return (
      await this.#singleFlight(() =>
        current === undefined
          ? this.#o.auth.authenticate(this.transport)
          : this.#o.auth.refresh(this.transport, current),
      )
    ).accessToken;
  }

  /** One refresh at a time: whoever asks while one runs gets its result. */
  #singleFlight(run: () => Promise<TokenResponse>): Promise<StoredTokens> {
    if (this.#refreshing !== null) return this.#refreshing;
    const flight = (async () => {
      for (;;) {
        try {
          const tokens = this.#fromResponse(await run());
          this.#tokens = tokens;
          await this.#store.save(tokens);
          this.#failures = 0;
          this.stats.refreshes += 1;
          this.#emit('tokenRefreshed', { expiresAt: tokens.expiresAt });
          if (this.#state === 'degraded' && this.#degradedBy === 'refresh') this.#to('ready');
          return tokens;
        } catch (error) {
          this.stats.refreshFailures += 1;
          if (!(error instanceof NetworkError) || this.#stopped) {
            // The grant or the client is gone: no retry brings it back; a person must act.
            if (error instanceof OAuthApiError && error.error === 'invalid_grant')
              await this.#lose('grant_revoked');
            if (
              error instanceof OAuthApiError &&
              error.error === 'invalid_client' &&
              this.#state !== 'authenticating'
            )
              await this.#lose('client_revoked');
            throw error;
          }
          // The response may have been lost: the same refresh again after a bounded, jittered wait.
          this.#failures += 1;
          if (this.#state === 'ready') {
            this.#degradedBy = 'refresh';
            this.#to('degraded', 'refresh_failing');
          }
          await this.#sleep(this.backoffMs(this.#failures));
        }
      }
    })();
    this.#refreshing = flight.finally(() => {
      this.#refreshing = null;
    });
    return this.#refreshing;
  }

  #degradedBy: 'refresh' | 'competing' | null = null;

  /** The wait before the `attempt`-th retry: exponential from `initialMs`, capped at `maxMs`, with ±20 % jitter. */
  backoffMs(attempt: number): number {
    const { initialMs, maxMs } = this.#o.backoff ?? { initialMs: 250, maxMs: 30_000 };
    const base = Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt - 1));
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.#scheduler.setTimeout(resolve, ms));
  }

  #scheduleRefresh(): void {
    this.#scheduler.clearTimeout(this.#refreshTimer);
    const tokens = this.#tokens;
    if (tokens === undefined || this.#stopped) return;
    const lifetime = Math.max(0, tokens.expiresAt - this.clock.now());
    const at = this.#o.refreshAt ?? 0.8;
    const jitter = this.#o.refreshJitter ?? 0.05;
    const delay = lifetime * (at + (Math.random() * 2 - 1) * jitter);
    this.#refreshTimer = this.#scheduler.setTimeout(() => {
      this.#token(true)
        .catch(() => {})
        .finally(() => this.#scheduleRefresh());
    }, delay);
  }

  // ---- requests --------------------------------------------------------------------------------------------------

  /** An API call with the current token; a call refused for its token gets a fresh one and one more try. */
  async request<T>(method: string, path: string, json?: unknown, timeoutMs?: number): Promise<T> {
    return (await this.requestWithStatus<T>(method, path, json, timeoutMs)).body;
  }

  async requestWithStatus<T>(
    method: string,
    path: string,
    json?: unknown,
    timeoutMs?: number,
  ): Promise<{ status: number; body: T }> {
    this.stats.requests += 1;
    this.#lastRequestAt = this.#scheduler.now();
    const send = async (accessToken: string) =>
      this.transport.exchange<T>({
        method,
        path,
        accessToken,
        ...(json === undefined ? {} : { json }),
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
      });
    const token = await this.#token();
    try {
      return await send(token);
    } catch (error) {
      if (error instanceof GatehouseApiError) {
        if (error.code === 'INVALID_TOKEN') {
          // Refused before anything happened: safe to send again with the next token (single-flight).
          const current = this.#tokens?.accessToken;
          const next = current === token ? await this.#token(true) : await this.#token();
          return send(next);
        }
        if (error.code === 'SESSION_COMPETING') this.#competing();
        if (error.code === 'STEP_UP_REQUIRED') this.#emit('stepUpRequired', {});
      }
      throw error;
    }
  }

  // ---- trading ---------------------------------------------------------------------------------------------------

  /** Takes the brokerage (trading) capability; `compete: true` takes it over from another session. */
  async acquireTrading(input: { compete: boolean }): Promise<void> {
    await this.request('POST', '/v1/session/brokerage', input);
    if (this.#state === 'degraded' && this.#degradedBy === 'competing') {
      this.#degradedBy = null;
      this.#to('ready', 'trading_reacquired');
    }
  }

  async tickle(): Promise<SessionState> {
    return this.request<SessionState>('POST', '/v1/session/tickle', {});
  }

  /** Another session took trading over: pause (degraded), tell the program, apply the session-loss action. */
  #competing(): void {
    if (this.#state !== 'ready') return;
    this.#degradedBy = 'competing';
    this.#to('degraded', 'competing');
    this.#emit('competing', {});
    this.#safeFail('competing').catch(() => {});
  }

  /** Reports (from the program's own stream) that this session is competing. */
  competingReported(): void {
    this.#competing();
  }

  async #lose(reason: string): Promise<void> {
    this.#to('lost', reason);
    await this.#safeFail(reason);
  }

  async #safeFail(reason: string): Promise<void> {
    const action = this.#o.onSessionLoss ?? 'pause';
    this.#emit('safeFail', { reason, action: typeof action === 'function' ? 'custom' : action });
    if (typeof action === 'function') return action({ reason });
    if (action === 'pause') return undefined;
    // A competing or revoked session may no longer cancel: the gateway refuses it as it refuses orders. Its dead-man
    // switch cancels instead — armed for this session at the minimum, it fires within 5 s and cancels the orders this
    // session placed. A session-scope switch of the program's own stops being re-armed, so it cannot push that back.
    this.#safeFailed = true;
    if (this.#o.deadMan?.scope !== 'account') this.#scheduler.clearTimeout(this.#deadManTimer);
    await this.request('PUT', '/v1/safety/dead-man', { timeoutMs: DEAD_MAN_MIN_MS, scope: 'session' }).catch(
      () => {},
    );
    if (action !== 'flatten') return undefined;
    // Closing positions needs trading: it works only where this session may still trade (best effort).
    for (const accountId of this.#accounts) {
      const { positions } = await this.request<{ positions: { instrumentId: number; quantity: number }[] }>(
        'GET',
        `/v1/accounts/${encodeURIComponent(accountId)}/portfolio`,
      );
      for (const p of positions) {
        if (p.quantity === 0) continue;
        await this.request('POST', `/v1/accounts/${encodeURIComponent(accountId)}/orders`, {
          clientOrderId: crypto.randomUUID(),
          instrumentId: p.instrumentId,
          side: p.quantity > 0 ? 'SELL' : 'BUY',
          type: 'MKT',
          quantity: Math.abs(p.quantity),
          tif: 'DAY',
        }).catch(() => {});
      }
    }
    return undefined;
  }

  /**
   * Places an order, `ready` only. The `clientOrderId` (generated when absent) makes it idempotent; a lost response
   * is reconciled by that id before the result is reported, never sent blindly again.
   */
  async placeOrder(
    accountId: string,
    order: Omit<OrderRequest, 'clientOrderId'> & { clientOrderId?: string },
  ): Promise<PlaceOrderResult> {
    if (this.#state !== 'ready') throw new NotReadyError(this.#state);
    const request: OrderRequest = { ...order, clientOrderId: order.clientOrderId ?? crypto.randomUUID() };
    const path = `/v1/accounts/${encodeURIComponent(accountId)}/orders`;
    let answer: OrderView | ConfirmationRequired;
    let status: number;
    try {
      ({ status, body: answer } = await this.requestWithStatus<OrderView | ConfirmationRequired>(
        'POST',
        path,
        request,
        this.#o.placementTimeoutMs ?? 10_000,
      ));
    } catch (error) {
      if (!(error instanceof NetworkError)) throw error;
      return this.#reconcile(accountId, request.clientOrderId);
    }
    if ('confirmationId' in answer) {
      return {
        status: 'confirmation_required',
        confirmationId: answer.confirmationId,
        questions: answer.questions,
        confirm: async () => {
          const confirmed = await this.request<OrderView>(
            'POST',
            `${path}/confirmations/${encodeURIComponent(answer.confirmationId)}`,
            { confirmed: true },
          );
          return { status: 'accepted', order: confirmed };
        },
      };
    }
    return { status: status === 201 ? 'accepted' : 'existing', order: answer };
  }

  /** Asks the server what became of a placement whose answer was lost. */
  async #reconcile(accountId: string, clientOrderId: string): Promise<PlaceOrderResult> {
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      // Give a placement still on its way to the server a moment to land before asking.
      await this.#sleep(this.backoffMs(attempt));
      try {
        const { orders } = await this.request<{ orders: OrderView[] }>(
          'GET',
          `/v1/accounts/${encodeURIComponent(accountId)}/orders?clientOrderId=${encodeURIComponent(clientOrderId)}`,
        );
        const found = orders[0];
        return found === undefined
          ? { status: 'not_found', clientOrderId }
          : { status: 'accepted', order: found, reconciled: true };
      } catch (error) {
        if (!(error instanceof NetworkError)) throw error;
      }
    }
    return { status: 'unknown', clientOrderId };
  }

  // ---- the dead-man switch ---------------------------------------------------------------------------------------

  async #armDeadMan(): Promise<void> {
    const deadMan = this.#o.deadMan;
    if (deadMan === undefined || this.#stopped) return;
    if (this.#safeFailed && deadMan.scope !== 'account') return;
    try {
      await this.request<DeadManState>('PUT', '/v1/safety/dead-man', deadMan);
    } finally {
      this.#deadManTimer = this.#scheduler.setTimeout(
        () => {
          this.#armDeadMan().catch(() => {});
        },
        Math.floor(deadMan.timeoutMs / 3),
      );
    }
  }
}
