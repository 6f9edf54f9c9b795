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
 */
import type {
  ConfirmationRequired,
  DeadManState,
  OrderRequest,
  OrderView,
  SessionState,
  TokenResponse,
} from '@gatehouse/protocol';
import type { AuthStrategy } from './auth.js';
import { realScheduler, type Scheduler, ServerClock } from './clock.js';
import { GatehouseApiError, NetworkError, NotReadyError, OAuthApiError } from './errors.js';
import { MemoryTokenStore, type StoredTokens, type TokenStore } from './token-store.js';
import { type DpopKey, type Fetch, Transport } from './transport.js';

export type SupervisorState = 'disconnected' | 'authenticating' | 'syncing' | 'ready' | 'degraded' | 'lost';

export interface SupervisorEvents {
  state: { from: SupervisorState; to: SupervisorState; reason?: string };
  tokenRefreshed: { expiresAt: number };
  competing: Record<string, never>;
  stepUpRequired: Record<string, never>;
  safeFail: { reason: string; action: string };
}

type Listener<T> = (event: T) => void;

export type SessionLossAction = 'pause' | 'cancel-all' | ((context: { reason: string }) => Promise<void>);

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
  /** Arms the server's dead-man switch at `ready` and re-arms it every third of its timeout. */
  deadMan?: { timeoutMs: number; scope: 'session' | 'account'; accountId?: string; excludeGtc?: boolean };
  /** Time of a placement before its outcome counts as unknown and is reconciled (default 10 s). */
  placementTimeoutMs?: number;
  scheduler?: Scheduler;
  fetch?: Fetch;
}

export type PlaceOrderResult =
  | { status: 'accepted' | 'existing'; order: OrderView; reconciled?: boolean }
  | ({ status: 'confirmation_required'; confirm: () => Promise<PlaceOrderResult> } & ConfirmationRequired)
  /** The response was lost and reconciliation found no order with this clientOrderId: it was not placed. */
  | { status: 'not_placed'; clientOrderId: string }
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
  #failures = 0;
  #stopped = false;
  /** Counters a program (or a test) can read. */
  readonly stats = { refreshes: 0, refreshFailures: 0, requests: 0 };

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
    await this.request<unknown>('GET', '/v1/session');
    if (this.#o.trading !== undefined) await this.acquireTrading(this.#o.trading);
    this.#to('ready');
    if (this.#o.deadMan !== undefined) await this.#armDeadMan();
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
    this.#to('disconnected');
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
            if (error instanceof OAuthApiError && error.error === 'invalid_grant')
              await this.#lose('grant_revoked');
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
    if (typeof action === 'function') await action({ reason });
    // `cancel-all` needs the server to accept this session's calls, which a competing session still may for cancels.
    else if (action === 'cancel-all' && this.#o.deadMan?.accountId !== undefined) {
      const { orders } = await this.request<{ orders: OrderView[] }>(
        'GET',
        `/v1/accounts/${this.#o.deadMan.accountId}/orders?status=open`,
      );
      for (const order of orders)
        await this.request('DELETE', `/v1/accounts/${order.accountId}/orders/${order.id}`).catch(() => {});
    }
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
      try {
        const { orders } = await this.request<{ orders: OrderView[] }>(
          'GET',
          `/v1/accounts/${encodeURIComponent(accountId)}/orders?clientOrderId=${encodeURIComponent(clientOrderId)}`,
        );
        const found = orders[0];
        return found === undefined
          ? { status: 'not_placed', clientOrderId }
          : { status: 'accepted', order: found, reconciled: true };
      } catch (error) {
        if (!(error instanceof NetworkError)) throw error;
        await this.#sleep(this.backoffMs(attempt));
      }
    }
    return { status: 'unknown', clientOrderId };
  }

  // ---- the dead-man switch ---------------------------------------------------------------------------------------

  async #armDeadMan(): Promise<void> {
    const deadMan = this.#o.deadMan;
    if (deadMan === undefined || this.#stopped) return;
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
