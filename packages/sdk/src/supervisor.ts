/**
 * @module supervisor
 * `SessionSupervisor` keeps a program's trading session alive, correctly:
 *
 * - **States**: `disconnected → authenticating → syncing → ready`, then `degraded` (trading paused, with a
 *   `DegradedReason`: held elsewhere, competing, refresh failing, gateway unreachable) and `lost` (the grant is gone;
 *   a person must act). Every transition is an event.
 * - **Tokens** (`TokenKeeper`): refreshed before they expire, single-flight, bound to the DPoP key they were asked
 *   with; a start with another key authenticates again instead of sending proofs the server refuses.
 * - **Requests**: every call carries the current token and a fresh DPoP proof. A call refused for its token
 *   (`INVALID_TOKEN`: refused before anything happened) gets a fresh token and one more try; nothing else is ever
 *   retried by itself. A call that fails on the network turns the supervisor `degraded` (`unreachable`) until the
 *   gateway answers again (probed with tickles, backing off).
 * - **Orders** (`placeOrder`) always carry a `clientOrderId`, recorded before the request leaves, and are never
 *   retried blindly: a placement whose response is lost is reconciled by its `clientOrderId`. `whatIf` asks what
 *   placing one would answer, placing nothing.
 * - **Events**: at start, the accounts' events after `resumeAfter` (`replayed: true`), then the stream (when a
 *   WebSocket factory is given), resumed after the last event seen on every reconnect; the position is saved in the
 *   token store. `orphanedOrder` and `missedCancel` after the start and each reconnect, and as foreign orders arrive.
 *
 * Longer than most modules: the supervisor is one state machine whose transitions (start, trading, safe-fail, the
 * dead-man switch, reconciliation) read each other's state; the token keeper, the stream socket and the order book
 * are modules of their own.
 */
import {
  DEAD_MAN_MIN_MS,
  type DeadManState,
  type EventType,
  type OrderRequest,
  type OrderView,
  type PortfolioView,
  type Question,
  type QuoteView,
  type SessionState,
  type WhatIf,
} from '@gatehouse/protocol';
import { AccountStream } from './account-stream.js';
import { realScheduler, type Scheduler, ServerClock } from './clock.js';
import {
  GatehouseApiError,
  GatehouseSdkError,
  NetworkError,
  NotReadyError,
  type OAuthApiError,
  TokenStoreError,
} from './errors.js';
import { thumbprint } from './jose.js';
import { type AppliedEvent, OrderBook } from './order-book.js';
import type {
  CancelAllResult,
  DegradedReason,
  KnownOrder,
  Listener,
  PlaceOrderResult,
  SupervisorEvents,
  SupervisorOptions,
  SupervisorState,
} from './supervisor-types.js';
import { TokenKeeper } from './token-keeper.js';
import { MemoryTokenStore, type StoredTokens } from './token-store.js';
import { Transport } from './transport.js';

/** Reasons that need a decision (`acquireTrading`); the others clear when the gateway answers again. */
const DECISIONS: readonly (DegradedReason | null)[] = ['held_elsewhere', 'competing'];

/** How often the event position is written to the token store while events arrive. */
const CURSOR_SAVE_MS = 1_000;

const enc = encodeURIComponent;

/**
 * Keeps a program's session with the gateway alive and safe to trade on: tokens, states, the stream,
 * reconciliation, the dead-man switch and what to do when trading is lost. See the module's description.
 */
export class SessionSupervisor {
  /** The HTTP exchange every call goes through (DPoP proofs, nonces, typed errors). */
  readonly transport: Transport;
  /** The server's time as this client estimates it. */
  readonly clock: ServerClock;
  readonly #o: SupervisorOptions;
  readonly #scheduler: Scheduler;
  readonly #listeners = new Map<keyof SupervisorEvents, Set<Listener<never>>>();
  readonly #keeper: TokenKeeper;
  readonly #book: OrderBook;
  readonly #stream: AccountStream | null;
  #state: SupervisorState = 'disconnected';
  #degradedBy: DegradedReason | null = null;
  #deadManTimer: unknown;
  #deadManOff = false;
  /** The session-loss action armed the session's switch at its minimum: it is not re-armed later. */
  #safeFailed = false;
  #keepAliveTimer: unknown;
  #cursorTimer: unknown = undefined;
  #lastRequestAt = 0;
  #probing = false;
  #stopped = false;
  /** This session took trading (`acquireTrading`) and has not lost it since: `stop()` gives it up. */
  #holdsTrading = false;
  #requests = 0;
  #accounts: string[] = [];

  constructor(options: SupervisorOptions) {
    this.#o = options;
    this.#scheduler = options.scheduler ?? realScheduler;
    this.clock = new ServerClock(this.#scheduler);
    this.transport = new Transport(
      options.baseUrl.replace(/\/+$/, ''),
      options.dpopKey,
      this.clock,
      options.fetch,
    );
    this.#book = new OrderBook(options.isOwnOrder);
    this.#keeper = new TokenKeeper(
      options.auth,
      this.transport,
      options.tokenStore ?? new MemoryTokenStore(),
      this.clock,
      this.#scheduler,
      { refreshAt: options.refreshAt ?? 0.8, refreshJitter: options.refreshJitter ?? 0.05 },
      {
        refreshed: (tokens) => {
          this.#reached();
          this.#emit('tokenRefreshed', { expiresAt: tokens.expiresAt });
        },
        failing: () => this.#degrade('refresh_failing'),
        gone: (error) => this.#gone(error),
        stopped: () => this.#stopped,
        backoffMs: (attempt) => this.backoffMs(attempt),
        extra: () => ({ resumeAfter: this.#book.cursor() }),
      },
    );
    this.#stream = options.stream === undefined ? null : this.#newStream(options.stream);
  }

  /** Where the supervisor is now. */
  get state(): SupervisorState {
    return this.#state;
  }

  /** Why it is `degraded` (null in any other state). */
  get degradedReason(): DegradedReason | null {
    return this.#state === 'degraded' ? this.#degradedBy : null;
  }

  /** Counters a program (or a test) can read. */
  get stats(): { refreshes: number; refreshFailures: number; requests: number; reconnects: number } {
    return { ...this.#keeper.stats, requests: this.#requests, reconnects: this.#stream?.reconnects ?? 0 };
  }

  /** The last event sequence seen per account (what a reconnect, and the next start, resumes after). */
  get lastSeq(): ReadonlyMap<string, number> {
    return this.#book.lastSeq;
  }

  /** Orders as this client knows them, from their events. */
  get orders(): ReadonlyMap<string, KnownOrder> {
    return this.#book.orders;
  }

  /** Subscribes to an event; answers the function that unsubscribes. */
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
    if (state !== 'degraded') this.#degradedBy = null;
    this.#emit('state', { from, to: state, ...(reason === undefined ? {} : { reason }) });
  }

  /** Pauses trading for `reason`; a reason that needs a decision is not replaced by one that clears by itself. */
  #degrade(reason: DegradedReason): void {
    if (this.#state !== 'ready' && this.#state !== 'degraded') return;
    if (DECISIONS.includes(this.#degradedBy) && !DECISIONS.includes(reason)) return;
    this.#degradedBy = reason;
    this.#to('degraded', reason);
  }

  /** The gateway answered: a degradation that clears by itself is over. */
  #reached(): void {
    if (this.#state === 'degraded' && !DECISIONS.includes(this.#degradedBy)) this.#to('ready', 'reachable');
  }

  // ---- lifecycle -------------------------------------------------------------------------------------------------

  /**
   * Authenticates (or resumes stored tokens bound to this key), reads the session and the events after
   * `resumeAfter`, reports orphans, opens the stream, takes trading if asked, and is `ready` — or `degraded`
   * (`held_elsewhere`) when another session holds trading and `trading.compete` is false.
   */
  async start(): Promise<void> {
    this.#stopped = false;
    this.#to('authenticating');
    const jkt = await thumbprint(this.#o.dpopKey.publicJwk);
    this.#keeper.jkt = jkt;
    let stored: StoredTokens | undefined =
      this.#o.initialTokens !== undefined
        ? this.#keeper.fromResponse(this.#o.initialTokens)
        : await this.#keeper.store.load();
    for (const [account, seq] of Object.entries(this.#o.resumeAfter ?? stored?.resumeAfter ?? {}))
      if (seq > (this.#book.lastSeq.get(account) ?? 0)) this.#book.lastSeq.set(account, seq);
    // Tokens bound to another key would be refused on every request ("signed by another key"): start afresh.
    const otherKey = stored?.jkt !== undefined && stored.jkt !== jkt;
    if (otherKey) stored = undefined;
    if (stored !== undefined) {
      await this.#keeper.adopt(stored);
      if (this.#keeper.expiresSoon(stored)) await this.#keeper.token(true);
    } else {
      try {
        await this.#keeper.singleFlight(() => this.#o.auth.authenticate(this.transport));
      } catch (error) {
        if (otherKey && !(error instanceof GatehouseSdkError))
          throw new TokenStoreError(
            `the stored tokens are bound to another DPoP key and cannot be renewed without the user (${(error as Error).message}); keep the key with the tokens (FileTokenStore.dpopKey()) or authorize again`,
          );
        throw error;
      }
    }
    this.#keeper.schedule();
    this.#to('syncing');
    const session = await this.request<{ accounts: { id: string }[] }>('GET', '/v1/session');
    this.#accounts = session.accounts.map((a) => a.id);
    if (this.#stream !== null) for (const account of this.#accounts) await this.#catchUp(account);
    await this.#reconcileOpenOrders();
    await this.#stream?.open();
    let held = false;
    if (this.#o.trading !== undefined) {
      try {
        await this.acquireTrading(this.#o.trading);
      } catch (error) {
        if (!(error instanceof GatehouseApiError && error.code === 'BROKERAGE_HELD_ELSEWHERE')) throw error;
        held = true;
      }
    }
    if (held) {
      this.#degradedBy = 'held_elsewhere';
      this.#to('degraded', 'held_elsewhere');
    } else this.#to('ready');
    // An account switch needs trading: while another session holds it, arming waits for `acquireTrading`.
    if (this.#o.deadMan !== undefined)
      await this.#armDeadMan().catch((e) => (held ? undefined : Promise.reject(e)));
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
    await this.#keeper.settled();
  }

  /**
   * Stops timers and the stream, and saves the event position. A session holding trading gives it up first
   * (`releaseTrading`, one try of at most 2 s), so that another session of the user — the person in the portal, the
   * next run — trades at once rather than after this one idles out; `keepTrading` keeps it. The session lives on at
   * the server until it expires, and so does an armed dead-man switch — it cancels at its deadline what its scope
   * covers, unless `disarmDeadMan` is given (the program is leaving on purpose and its orders may stay).
   */
  async stop(options: { disarmDeadMan?: boolean; keepTrading?: boolean } = {}): Promise<void> {
    if (this.#holdsTrading && options.keepTrading !== true && !this.#stopped)
      await this.releaseTrading(2_000).catch(() => {});
    this.#stopped = true;
    this.#keeper.cancel();
    this.#scheduler.clearTimeout(this.#deadManTimer);
    this.#scheduler.clearTimeout(this.#keepAliveTimer);
    this.#scheduler.clearTimeout(this.#cursorTimer);
    this.#cursorTimer = undefined;
    this.#stream?.close();
    try {
      if (options.disarmDeadMan === true && this.#o.deadMan !== undefined) await this.deadMan.disarm();
    } finally {
      await this.#keeper.save().catch(() => {});
      this.#to('disconnected');
    }
  }

  // ---- events, the stream and reconciliation ---------------------------------------------------------------------

  #newStream(factory: NonNullable<SupervisorOptions['stream']>): AccountStream {
    return new AccountStream({
      factory,
      baseUrl: this.transport.baseUrl,
      scheduler: this.#scheduler,
      credentials: async (url) => {
        const token = await this.#keeper.token();
        return { token, proof: await this.transport.dpop.proof('GET', url, this.clock.now(), token) };
      },
      cursor: () => Object.fromEntries(this.#accounts.map((a) => [a, this.#book.lastSeq.get(a) ?? 0])),
      backoffMs: (attempt) => this.backoffMs(attempt),
      stopped: () => this.#stopped,
      opened: (resumed, reconnect) => {
        this.#reached();
        this.#emit('streamConnected', { resumed });
        if (reconnect) this.#reconcileOpenOrders().catch(() => {});
      },
      closed: (opened) => {
        this.#emit('streamDisconnected', { opened });
        if (!opened) this.#unreachable();
      },
      failed: () => this.#unreachable(),
      reconnecting: (attempt, inMs) => this.#emit('reconnecting', { attempt, inMs }),
      message: (message) => this.#onStreamMessage(message),
    });
  }

  /** Applies an account event once, in sequence; a foreign order's live `accepted` event is checked for orphans. */
  #apply(e: AppliedEvent, replayed: boolean): void {
    if (!this.#book.apply(e)) return;
    this.#emit('orderEvent', { ...e, replayed });
    this.#saveCursorSoon();
    const clientOrderId = e.data.clientOrderId;
    if (
      !replayed &&
      e.type === 'accepted' &&
      e.orderId !== null &&
      typeof clientOrderId === 'string' &&
      !this.#book.sent(clientOrderId)
    )
      this.#checkForeign(e.accountId, e.orderId).catch(() => {});
  }

  /** An order someone else placed while this program runs: an orphan if it is still working once looked at. */
  async #checkForeign(accountId: string, orderId: string): Promise<void> {
    const order = await this.request<OrderView>(
      'GET',
      `/v1/accounts/${enc(accountId)}/orders/${enc(orderId)}`,
    );
    if (order.status === 'working' && this.#book.classify(order) === 'orphanedOrder')
      this.#emit('orphanedOrder', { order });
  }

  #saveCursorSoon(): void {
    if (this.#cursorTimer !== undefined || this.#stopped) return;
    this.#cursorTimer = this.#scheduler.setTimeout(() => {
      this.#cursorTimer = undefined;
      this.#keeper.save().catch(() => {});
    }, CURSOR_SAVE_MS);
  }

  /** Reads the account's events after the last one seen (the start's catch-up: they happened before it). */
  async #catchUp(accountId: string): Promise<void> {
    for (;;) {
      const after = this.#book.lastSeq.get(accountId) ?? 0;
      const { events } = await this.request<{
        events: { seq: number; type: EventType; orderId: string | null; data: Record<string, unknown> }[];
      }>('GET', `/v1/accounts/${enc(accountId)}/events?after=${after}&limit=1000`);
      for (const e of events)
        this.#apply({ accountId, eventSeq: e.seq, type: e.type, orderId: e.orderId, data: e.data }, true);
      if (events.length < 1000) return;
    }
  }

  #onStreamMessage(message: Record<string, unknown>): void {
    if (
      message.topic === 'orders' &&
      typeof message.eventSeq === 'number' &&
      typeof message.accountId === 'string'
    ) {
      this.#apply(
        {
          accountId: message.accountId,
          eventSeq: message.eventSeq,
          type: message.type as EventType,
          orderId: (message.orderId as string | null | undefined) ?? null,
          data: (message.data as Record<string, unknown> | undefined) ?? {},
        },
        false,
      );
    } else if (message.topic === 'session') {
      if (message.type === 'competing') this.#competing();
      if (message.type === 'step_up_required') this.#emit('stepUpRequired', {});
    }
  }

  /** Working orders this supervisor did not place (`orphanedOrder`, once each) or asked to cancel (`missedCancel`). */
  async #reconcileOpenOrders(): Promise<void> {
    for (const accountId of this.#accounts) {
      for (const order of await this.openOrders(accountId)) {
        const kind = this.#book.classify(order);
        if (kind !== null) this.#emit(kind, { order });
      }
    }
  }

  /** Cancels an order; remembered, so a reconnect can tell whether the cancel was missed. */
  async cancelOrder(accountId: string, orderId: string): Promise<OrderView> {
    this.#book.cancelAsked(orderId);
    return this.request<OrderView>('DELETE', `/v1/accounts/${enc(accountId)}/orders/${enc(orderId)}`);
  }

  // ---- requests --------------------------------------------------------------------------------------------------

  /** The wait before the `attempt`-th retry: exponential from `initialMs`, capped at `maxMs`, with ±20 % jitter. */
  backoffMs(attempt: number): number {
    const { initialMs, maxMs } = this.#o.backoff ?? { initialMs: 250, maxMs: 30_000 };
    const base = Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt - 1));
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.#scheduler.setTimeout(resolve, ms));
  }

  /** An API call with the current token; answers the parsed JSON body. See `requestWithStatus`. */
  async request<T>(method: string, path: string, json?: unknown, timeoutMs?: number): Promise<T> {
    return (await this.requestWithStatus<T>(method, path, json, timeoutMs)).body;
  }

  /**
   * An API call with the current token and a fresh DPoP proof; answers the HTTP status with the parsed body. A call
   * refused for its token gets a fresh one and one more try; a network failure turns the supervisor `degraded`
   * (`unreachable`) and is thrown (`NetworkError`: the call may or may not have reached the gateway).
   */
  async requestWithStatus<T>(
    method: string,
    path: string,
    json?: unknown,
    timeoutMs?: number,
  ): Promise<{ status: number; body: T }> {
    this.#requests += 1;
    this.#lastRequestAt = this.#scheduler.now();
    const send = async (accessToken: string) => {
      try {
        const answer = await this.transport.exchange<T>({
          method,
          path,
          accessToken,
          ...(json === undefined ? {} : { json }),
          ...(timeoutMs === undefined ? {} : { timeoutMs }),
        });
        this.#reached();
        return answer;
      } catch (error) {
        if (error instanceof NetworkError) this.#unreachable();
        else if (error instanceof GatehouseApiError) this.#reached();
        throw error;
      }
    };
    const token = await this.#keeper.token();
    try {
      return await send(token);
    } catch (error) {
      if (error instanceof GatehouseApiError) {
        if (error.code === 'INVALID_TOKEN') {
          // Refused before anything happened: safe to send again with the next token (single-flight).
          const current = this.#keeper.current?.accessToken;
          return send(current === token ? await this.#keeper.token(true) : await this.#keeper.token());
        }
        if (error.code === 'SESSION_COMPETING') this.#competing();
        if (error.code === 'STEP_UP_REQUIRED') this.#emit('stepUpRequired', {});
      }
      throw error;
    }
  }

  /** The gateway cannot be reached: pause, and probe with tickles (backing off) until it answers. */
  #unreachable(): void {
    this.#degrade('unreachable');
    if (this.#probing || this.#degradedBy !== 'unreachable' || this.#stopped) return;
    this.#probing = true;
    let attempt = 0;
    const next = () => {
      if (this.#stopped || this.#degradedBy !== 'unreachable' || this.#state !== 'degraded') {
        this.#probing = false;
        return;
      }
      attempt += 1;
      this.#scheduler.setTimeout(() => {
        this.tickle()
          .catch(() => {})
          .finally(next);
      }, this.backoffMs(attempt));
    };
    next();
  }

  // ---- trading ---------------------------------------------------------------------------------------------------

  /**
   * Takes the brokerage (trading) capability; `compete: true` takes it over from another session. From `degraded`
   * (held elsewhere, competing, or any other reason) a success makes the supervisor `ready`.
   */
  async acquireTrading(input: { compete: boolean }): Promise<void> {
    await this.request('POST', '/v1/session/brokerage', input);
    this.#holdsTrading = true;
    if (this.#state !== 'degraded') return;
    const waitedForTrading = DECISIONS.includes(this.#degradedBy);
    this.#to('ready', 'trading_acquired');
    if (waitedForTrading && this.#o.deadMan !== undefined) await this.#armDeadMan().catch(() => {});
  }

  /**
   * Gives trading up, so another session of the user takes it at once (`stop()` does this). Only ever this session's
   * own hold: when another session took trading over meanwhile, it stays with it. Answers whether this session held
   * it until now.
   */
  async releaseTrading(timeoutMs?: number): Promise<boolean> {
    const { released } = await this.request<{ released: boolean }>(
      'POST',
      '/v1/session/brokerage/release',
      {},
      timeoutMs,
    );
    this.#holdsTrading = false;
    return released;
  }

  /** Keeps the session from idling out; answers the session's state. */
  async tickle(): Promise<SessionState> {
    return this.request<SessionState>('POST', '/v1/session/tickle', {});
  }

  /** Another session took trading over: pause (degraded), tell the program, apply the session-loss action. */
  #competing(): void {
    this.#holdsTrading = false;
    if (this.#state !== 'ready' && this.#state !== 'degraded') return;
    if (DECISIONS.includes(this.#degradedBy)) return;
    this.#degrade('competing');
    this.#emit('competing', {});
    this.#safeFail('competing').catch(() => {});
  }

  /** Reports (from the program's own stream) that this session is competing. */
  competingReported(): void {
    this.#competing();
  }

  async #gone(error: OAuthApiError): Promise<void> {
    // A wrong client at the very start is a configuration error, thrown to the caller; later it means revoked.
    if (error.error === 'invalid_client' && this.#state === 'authenticating') return;
    this.#to('lost', error.error === 'invalid_grant' ? 'grant_revoked' : 'client_revoked');
    await this.#safeFail(error.error === 'invalid_grant' ? 'grant_revoked' : 'client_revoked');
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
      const { positions } = await this.portfolio(accountId);
      for (const p of positions) {
        if (p.quantity === 0) continue;
        const clientOrderId = crypto.randomUUID();
        this.#book.sending(clientOrderId);
        await this.request('POST', `/v1/accounts/${enc(accountId)}/orders`, {
          clientOrderId,
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
   * is reconciled by that id before the result is reported, never sent blindly again; `ACCOUNT_MOVING` (the gateway
   * node working the account died or hands it over) is waited out and the same request, same id, sent again (up to
   * three times). Questions the `answers`
   * policy answers yes are confirmed at once; any other question is handed back (`confirmation_required`).
   */
  async placeOrder(
    accountId: string,
    order: Omit<OrderRequest, 'clientOrderId'> & { clientOrderId?: string },
  ): Promise<PlaceOrderResult> {
    if (this.#state !== 'ready') throw new NotReadyError(this.#state);
    const request: OrderRequest = { ...order, clientOrderId: order.clientOrderId ?? crypto.randomUUID() };
    const path = `/v1/accounts/${enc(accountId)}/orders`;
    this.#book.sending(request.clientOrderId);
    let answer: OrderView | { confirmationId: string; questions: Question[] };
    let status: number;
    for (let attempt = 1; ; attempt += 1) {
      try {
        ({ status, body: answer } = await this.requestWithStatus<typeof answer>(
          'POST',
          path,
          request,
          this.#o.placementTimeoutMs ?? 10_000,
        ));
        break;
      } catch (error) {
        // With several gateway nodes, the node that works the account died or is handing it over: nothing was done,
        // or — if the answer was lost on its way — the order is recorded under its clientOrderId. Sending the same
        // request again after the wait asked for is safe: the gateway answers a clientOrderId it knows with its
        // order (`existing`), never a second one.
        if (error instanceof GatehouseApiError && error.code === 'ACCOUNT_MOVING' && attempt < 4) {
          const asked = Number(error.details?.retryAfterMs ?? 0);
          await this.#sleep(Math.min(Math.max(asked, 100), 15_000));
          continue;
        }
        if (!(error instanceof NetworkError)) throw error;
        return this.#reconcile(accountId, request.clientOrderId);
      }
    }
    if (!('confirmationId' in answer))
      return { status: status === 201 ? 'accepted' : 'existing', order: answer };
    const { confirmationId, questions } = answer;
    const confirm = async (): Promise<PlaceOrderResult> => {
      const confirmed = await this.request<OrderView>(
        'POST',
        `${path}/confirmations/${enc(confirmationId)}`,
        { confirmed: true },
      );
      return { status: 'accepted', order: confirmed };
    };
    if (questions.every((q) => this.#answersYes(q))) return confirm();
    return { status: 'confirmation_required', confirmationId, questions, confirm };
  }

  /**
   * What placing the order would answer now, placing nothing (`POST …/orders/what-if`): `accepted`, the
   * `questions` it would ask, or the coded `refusal` it would give (the same code, rule id and words), with its
   * commission and its effect on buying power, initial margin, net liquidation and position. Nothing is reserved:
   * an order placed next is judged on the account as it is then.
   */
  whatIf(
    accountId: string,
    order: Omit<OrderRequest, 'clientOrderId'> & { clientOrderId?: string },
  ): Promise<WhatIf> {
    const request: OrderRequest = { ...order, clientOrderId: order.clientOrderId ?? crypto.randomUUID() };
    return this.request<WhatIf>('POST', `/v1/accounts/${enc(accountId)}/orders/what-if`, request);
  }

  #answersYes(question: Question): boolean {
    const policy = this.#o.answers;
    if (policy === undefined) return false;
    return typeof policy === 'function' ? policy(question) === true : policy[question.id] === true;
  }

  /** Asks the server what became of a placement whose answer was lost. */
  async #reconcile(accountId: string, clientOrderId: string): Promise<PlaceOrderResult> {
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      // Give a placement still on its way to the server a moment to land before asking.
      await this.#sleep(this.backoffMs(attempt));
      try {
        const { orders } = await this.request<{ orders: OrderView[] }>(
          'GET',
          `/v1/accounts/${enc(accountId)}/orders?clientOrderId=${enc(clientOrderId)}`,
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

  // ---- reading and clearing ----------------------------------------------------------------------------------------

  /** Quotes as the account is entitled to see them (live, delayed or none), one per instrument, in order. */
  async quote(instrumentIds: readonly number[], accountId?: string): Promise<QuoteView[]> {
    const query = `instruments=${instrumentIds.join(',')}${accountId === undefined ? '' : `&accountId=${enc(accountId)}`}`;
    return (await this.request<{ quotes: QuoteView[] }>('GET', `/v1/marketdata/snapshot?${query}`)).quotes;
  }

  /** The account's working orders, as the server has them now. */
  async openOrders(accountId: string): Promise<OrderView[]> {
    return (
      await this.request<{ orders: OrderView[] }>('GET', `/v1/accounts/${enc(accountId)}/orders?status=open`)
    ).orders;
  }

  /** The account's balances and positions. */
  async portfolio(accountId: string): Promise<PortfolioView> {
    return this.request<PortfolioView>('GET', `/v1/accounts/${enc(accountId)}/portfolio`);
  }

  /**
   * Cancels the account's working orders — only those this supervisor placed (or `isOwnOrder` claims) with
   * `{ mine: true }` — one by one, and says which it could not cancel and why (a session that must step up:
   * `STEP_UP_REQUIRED`; an order filled meanwhile: `ORDER_NOT_CANCELLABLE`). A read-only or competing session may
   * cancel.
   */
  async cancelAll(accountId: string, options: { mine?: boolean } = {}): Promise<CancelAllResult> {
    const result: CancelAllResult = { cancelled: [], failed: [] };
    for (const order of await this.openOrders(accountId)) {
      if (options.mine === true && !this.#book.sent(order.clientOrderId) && !this.#o.isOwnOrder?.(order))
        continue;
      try {
        result.cancelled.push(await this.cancelOrder(accountId, order.id));
      } catch (error) {
        result.failed.push({ order, error: error as Error });
      }
    }
    return result;
  }

  // ---- the dead-man switch ---------------------------------------------------------------------------------------

  /**
   * The server's dead-man switch as `deadMan` configured it. `disarm()` turns it off at the server and stops
   * re-arming (orders stay when the program goes); `arm()` arms it again and resumes re-arming.
   */
  readonly deadMan = {
    /** Disarms the switch at the server and stops re-arming it; answers its state (`armed: false`). */
    disarm: async (): Promise<DeadManState> => {
      const configured: { scope: 'session' | 'account'; accountId?: string } = this.#o.deadMan ?? {
        scope: 'session',
      };
      this.#deadManOff = true;
      this.#scheduler.clearTimeout(this.#deadManTimer);
      return this.request<DeadManState>('PUT', '/v1/safety/dead-man', {
        timeoutMs: 0,
        scope: configured.scope,
        ...(configured.accountId === undefined ? {} : { accountId: configured.accountId }),
      });
    },
    /** Arms it again (as `deadMan` configured it) and resumes re-arming. */
    arm: async (): Promise<void> => {
      this.#deadManOff = false;
      await this.#armDeadMan();
    },
  };

  async #armDeadMan(): Promise<void> {
    const deadMan = this.#o.deadMan;
    this.#scheduler.clearTimeout(this.#deadManTimer);
    if (deadMan === undefined || this.#stopped || this.#deadManOff) return;
    if (this.#safeFailed && deadMan.scope !== 'account') return;
    try {
      await this.request<DeadManState>('PUT', '/v1/safety/dead-man', deadMan);
    } finally {
      if (!this.#stopped && !this.#deadManOff)
        this.#deadManTimer = this.#scheduler.setTimeout(
          () => {
            this.#armDeadMan().catch(() => {});
          },
          Math.floor(deadMan.timeoutMs / 3),
        );
    }
  }
}
