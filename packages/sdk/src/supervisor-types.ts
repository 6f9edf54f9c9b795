/**
 * @module supervisor-types
 * What a program sees of a `SessionSupervisor`: its states and why it is degraded, its events, its options, and the
 * results of placing an order.
 */
import type {
  ConfirmationRequired,
  EventType,
  OrderView,
  Question,
  TokenResponse,
} from '@gatehouse/protocol';
import type { AuthStrategy } from './auth.js';
import type { Scheduler } from './clock.js';
import type { TokenStore } from './token-store.js';
import type { DpopKey, Fetch } from './transport.js';

/**
 * Where the supervisor is: `disconnected → authenticating → syncing → ready ⇄ degraded → lost`. Orders are sent in
 * `ready` only.
 */
export type SupervisorState = 'disconnected' | 'authenticating' | 'syncing' | 'ready' | 'degraded' | 'lost';

/**
 * Why the supervisor is `degraded` (the `reason` of its `state` event):
 * - `held_elsewhere`: another session holds trading and the start did not compete for it;
 * - `competing`: another session took trading over;
 * - `refresh_failing`: the token cannot be refreshed for now (network);
 * - `unreachable`: the gateway cannot be reached (requests fail on the network, the stream cannot reconnect).
 *
 * The first two need a decision (`acquireTrading({ compete: true })`); the last two clear by themselves.
 */
export type DegradedReason = 'held_elsewhere' | 'competing' | 'refresh_failing' | 'unreachable';

/** The part of a WebSocket the supervisor uses (the `ws` package in Node; browsers authenticate streams by cookie). */
export interface StreamSocket {
  /** A message arrived (a JSON text). */
  on(event: 'message', listener: (data: unknown) => void): void;
  /** The socket closed. */
  on(event: 'close', listener: () => void): void;
  /** The socket failed (a close follows). */
  on(event: 'error', listener: (error: unknown) => void): void;
  /** The socket is open. */
  on(event: 'open', listener: () => void): void;
  /** Closes the socket. */
  close(): void;
}

/** Opens a WebSocket to `url` with these headers (Node: `(url, headers) => new WebSocket(url, { headers })`). */
export type StreamFactory = (url: string, headers: Record<string, string>) => StreamSocket;

/** An order as this client knows it from its events. */
export interface KnownOrder {
  id: string;
  accountId: string;
  clientOrderId: string | null;
  status: string;
}

/** The supervisor's events, by name, with what each carries. */
export interface SupervisorEvents {
  /** A change of state; `reason` says why (for `degraded`, a `DegradedReason`). */
  state: { from: SupervisorState; to: SupervisorState; reason?: string };
  /**
   * An account event, in sequence, once. `replayed` is true for events that happened before this `start()` (read
   * from the account's history at start, after `resumeAfter`), false for those that happen while it runs —
   * including the ones a reconnect's resume delivers late.
   */
  orderEvent: {
    accountId: string;
    eventSeq: number;
    type: EventType;
    orderId: string | null;
    data: Record<string, unknown>;
    replayed: boolean;
  };
  /**
   * A working order on a watched account that this supervisor did not place in this run and `isOwnOrder` does not
   * claim: placed from the portal or another program, or by an earlier run of this program. Reported once per order:
   * at start (before `ready`), after each stream reconnect, and when its `accepted` event arrives.
   */
  orphanedOrder: { order: OrderView };
  /** This client asked to cancel it; after a reconnect it is still open on the server. */
  missedCancel: { order: OrderView };
  /** The stream is open; `resumed` is the event sequence it resumed after, per account. */
  streamConnected: { resumed: Record<string, number> };
  /** The stream closed; a reconnect follows (`reconnecting`) unless the supervisor was stopped. */
  streamDisconnected: { opened: boolean };
  /** The next attempt to open the stream, after `inMs` (bounded exponential backoff). */
  reconnecting: { attempt: number; inMs: number };
  /** A new access token, valid until `expiresAt` (server time, ms). */
  tokenRefreshed: { expiresAt: number };
  /** Another session took trading over. */
  competing: Record<string, never>;
  /** The gateway asks this session to step up (a network change): a person must re-authenticate. */
  stepUpRequired: Record<string, never>;
  /** Trading was lost; `action` is what the supervisor did about it (`onSessionLoss`). */
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

/**
 * How `placeOrder` answers the gate's confirmation questions by itself: per question id (`no_market_data`,
 * `delayed_market_data`, `price_far_through_market`), `true` to answer yes; or a function of the question. A question
 * the policy does not answer yes is handed back (`confirmation_required`), as without a policy.
 */
export type AnswerPolicy = Readonly<Record<string, boolean>> | ((question: Question) => boolean);

/** How a `SessionSupervisor` runs. Only `baseUrl`, `auth` and `dpopKey` are required. */
export interface SupervisorOptions {
  /** The gateway's base URL (its issuer), e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** How tokens are obtained: `PersonalClientAuth` (a user's own bot) or `AppAuth`. */
  auth: AuthStrategy;
  /** The key every token is bound to. Keep it with the tokens: `await fileStore.dpopKey()` in Node. */
  dpopKey: DpopKey;
  /** Where tokens (and the event position, `resumeAfter`) are kept between runs. Memory by default. */
  tokenStore?: TokenStore;
  /** Tokens to start from (an app's first set, from `exchangeCode`). */
  initialTokens?: TokenResponse;
  /**
   * Take the brokerage capability when starting. `compete: true` takes it over from another session; with `false`,
   * a start while another session holds it settles in `degraded` (`held_elsewhere`).
   */
  trading?: { compete: boolean };
  /**
   * Read account events after these sequence numbers at start (per account); the rest of the history is skipped.
   * Without it, the position saved in the token store by the previous run is used, or else the whole history.
   */
  resumeAfter?: Record<string, number>;
  /** Claims an order as this program's own (e.g. by a `clientOrderId` prefix): such orders are never orphans. */
  isOwnOrder?: (order: OrderView) => boolean;
  /** Confirmation questions `placeOrder` answers by itself. None by default. */
  answers?: AnswerPolicy;
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
   * Arms the server's dead-man switch at start and re-arms it every third of its timeout. A `session` switch (the
   * one for bots) cancels the orders this session placed when it fires; an `account` switch cancels every order of
   * the account, a person's too, and needs trading.
   */
  deadMan?: { timeoutMs: number; scope: 'session' | 'account'; accountId?: string; excludeGtc?: boolean };
  /** Time of a placement before its outcome counts as unknown and is reconciled (default 10 s). */
  placementTimeoutMs?: number;
  /** Opens `/v1/stream` (Node: `(url, headers) => new WebSocket(url, { headers })` with the `ws` package). */
  stream?: StreamFactory;
  /** Timers and time (tests step them by hand with `SteppedScheduler`). */
  scheduler?: Scheduler;
  /** The `fetch` to use (tests wrap it to lose responses). */
  fetch?: Fetch;
}

/** What `placeOrder` answers. */
export type PlaceOrderResult =
  | { status: 'accepted' | 'existing'; order: OrderView; reconciled?: boolean }
  | ({
      status: 'confirmation_required';
      /** Answers every question yes (within the confirmation's 60 s) and places the order. */
      confirm: () => Promise<PlaceOrderResult>;
    } & ConfirmationRequired)
  /**
   * The response was lost and the server, asked after a moment, has no order with this clientOrderId. It most likely
   * never arrived; to place it, send it again with the same clientOrderId (the gateway makes at most one order).
   */
  | { status: 'not_found'; clientOrderId: string }
  /** The response was lost and the server could not be asked: resubmit the same clientOrderId, or check later. */
  | { status: 'unknown'; clientOrderId: string };

/** What `cancelAll` did: the orders cancelled, and those it could not cancel with why. */
export interface CancelAllResult {
  cancelled: OrderView[];
  failed: { order: OrderView; error: Error }[];
}
