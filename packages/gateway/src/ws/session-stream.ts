/**
 * @module ws/session-stream
 * `/v1/stream`: a session's live channel. Authenticated at the upgrade, before the socket opens — by the session
 * cookie with an Origin check (the gateway's own origin or `server.allowedOrigins`; a foreign origin is refused),
 * or by a mobile or desktop bearer token with its device proof. Topic `session` carries the state changes a client must react to: `competing`,
 * `brokerage_acquired`, `brokerage_released`, `step_up_required`, `expiring` (60 s before idle or absolute expiry), `expired`, `reset`,
 * `revoked`, `token_replaced`. A heartbeat goes out every 10 s; every message has a per-connection sequence number;
 * the server closes with a coded reason (4001 revoked, 4002 expired, 4003 the session's token was replaced at a
 * step-up: the stream was opened with the old one, and the client reconnects with the new one). Topic `orders`
 * carries the events of the user's accounts with their per-account sequence (`eventSeq`), gap-free: a client that
 * reconnects names the last `eventSeq` it has per account — `?resumeAfter=DU1000001:42,U1000001:7` at the upgrade, or
 * `{"op":"resume","accountId","after"}` — and the events after it are replayed from the database (`replayed: true`),
 * then a `replayed` marker, then live events, with no gap and no duplicate: live events that arrive during the
 * replay wait and are dropped if the replay already sent them, and a live event that skips a number (a lost bus
 * message) makes the stream fetch the missing ones first. Events are rows, so this holds across a gateway restart.
 * Topic `marketdata` sends a quote per watched instrument on every feed step after
 * `{"op":"subscribe","topic":"marketdata","instruments":[…]}`, each with its entitlement. Programs authenticate the
 * upgrade with their DPoP-bound token and proof (scope `read`; `marketdata` for quotes).
 *
 * The principal is the upgrade's, kept current: when the user's roles or status change the stream takes the new
 * profile (ws/stream-hub.ts), and the account-access policy decides every live event, replay and subscription on
 * the accounts it allows now. An account taken away stops its events and its quotes (`unsubscribed` with the code);
 * a disabled user's stream, and a program's whose grant or token was revoked, closes as revoked (4001).
 *
 * The failure sandbox's transport faults strike here, where the real ones would: `stream.stalled` holds every
 * message (heartbeats and pings too) while it lasts, the socket open, and writes them in order when it ends;
 * `stream.events_withheld` keeps live order events off the socket (they stay in the event log for a resume);
 * `stream.dropped` cuts the socket without a close frame (ws/stream-hub.ts hears it on the bus).
 *
 * Longer than most modules: one stream's state (the session topic, per-account replay with gap filling, quotes)
 * is one state machine over one socket.
 */
import { streamRequestSchema } from '@gatehouse/protocol';
import type { WebSocket } from 'ws';
import { accountAccess, accountsFor } from '../access/index.js';
import {
  type ErrorCode,
  type FaultProbe,
  type FaultSubject,
  GatehouseError,
  noFaults,
} from '../core/index.js';
import { type Instrument, type MarketDataBundle, requireInstruments } from '../instruments/index.js';
import type { MarketData } from '../marketdata/index.js';
import { grantProfile } from '../oauth/index.js';
import {
  type BrokerageTier,
  type Principal,
  type SessionProfile,
  type SessionService,
  stepUpDetails,
} from '../sessions/index.js';
import type { TradingService } from '../trading/index.js';
import {
  type AccountEventMessage,
  type HubStream,
  RELOAD_MS,
  type SessionStreamHub,
  type StreamHubDeps,
} from './stream-hub.js';

/** What a session stream needs of the gateway. */
export interface SessionStreamDeps extends StreamHubDeps {
  sessions: Pick<SessionService, 'loadProfile' | 'readSoon' | 'pendingLastSeen'>;
  marketData: MarketData;
  trading: Pick<TradingService, 'events' | 'marketDataView'>;
  brokerage: Pick<BrokerageTier, 'sessionState'>;
  /** The failure sandbox's probe: a stalled stream, live events withheld (default `noFaults`: the sandbox off). */
  faults?: FaultProbe;
}

const REPLAY_PAGE = 500;

function safeJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}

const HEARTBEAT_MS = 10_000;
const EXPIRING_NOTICE_MS = 60_000;
/** Messages a stalled stream holds before its socket is cut, as a full send buffer ends a connection. */
const MAX_STALLED = 10_000;

const CLOSE_CODES: Partial<Record<ErrorCode, number>> = { SESSION_REVOKED: 4001, SESSION_EXPIRED: 4002 };
/** The session lives on with a new token: reconnect with it. */
const TOKEN_REPLACED_CLOSE = 4003;

/** The accounts the principal may view now, by the account-access policy: the accounts whose events it gets. */
function viewableAccounts(principal: Principal): ReadonlySet<string> {
  return new Set(accountsFor(principal, 'view').map((a) => a.id));
}

export class SessionStream implements HubStream {
  #seq = 0;
  #closed = false;
  /** A tick that reads the database is in flight; the next tick waits for it. */
  #busy = false;
  readonly #sent = new Set<string>();
  #lastSeen: number;
  #expiresAt: number;
  #idleTimeoutMs: number;
  #stepUp: boolean;
  #lastReload: number;
  #reloadDue = false;
  #lastHeartbeat: number;
  #nextResetAt = 0;
  #hadBrokerage = false;
  #principal: Principal;
  #accountIds: ReadonlySet<string>;
  /** Live events that arrived while the user's new profile was being read (null: not holding). */
  #heldLive: AccountEventMessage[] | null = null;
  readonly #faults: FaultProbe;
  /** What the failure sandbox's targets match this stream by. */
  readonly #subject: FaultSubject;
  /** Messages held while the stream is stalled (sandbox `stream.stalled`), written in order when it ends. */
  #stalled: string[] | null = null;
  /**
   * When a tick next has work (epoch ms): the heartbeat, the periodic re-read, the expiry notice or the end, the
   * daily reset; -Infinity: on the next tick (a re-read asked for, a stall to check). The hub skips the stream's
   * ticks until then, so an idle stream costs one comparison per tick.
   */
  #dueAt = Number.NEGATIVE_INFINITY;

  constructor(
    readonly deps: SessionStreamDeps,
    readonly hub: SessionStreamHub,
    readonly socket: WebSocket,
    principal: Principal,
  ) {
    this.#principal = principal;
    this.#accountIds = viewableAccounts(principal);
    const { session } = principal;
    const now = deps.clock.now();
    this.#lastSeen = session.lastSeenAt;
    this.#expiresAt = session.expiresAt;
    this.#idleTimeoutMs = session.idleTimeoutMs;
    this.#stepUp = session.stepUpRequired;
    this.#faults = deps.faults ?? noFaults;
    this.#subject = { userId: session.userId, sessionId: session.id, clientId: principal.api?.clientId };
    this.#lastHeartbeat = now;
    // Spread the periodic re-reads of many streams over the reload interval.
    this.#lastReload = now - Math.floor(Math.random() * RELOAD_MS);
  }

  /** The caller as of now: the upgrade's session, with the user's profile as last read. */
  get principal(): Principal {
    return this.#principal;
  }

  /** The accounts whose live events this stream gets: those the policy lets the principal view. */
  get accountIds(): ReadonlySet<string> {
    return this.#accountIds;
  }

  get dueAt(): number {
    return this.#dueAt;
  }

  send(type: string, data: Record<string, unknown> = {}, topic = 'session'): void {
    if (this.#closed) return;
    this.#seq += 1;
    const text = JSON.stringify({
      topic,
      type,
      seq: this.#seq,
      at: new Date(this.deps.clock.now()).toISOString(),
      ...data,
    });
    if (this.#stalled === null && !(this.#faults.armed && this.#stalledNow())) {
      this.socket.send(text);
      return;
    }
    // Stalled: nothing reaches the client, as on a path that stopped carrying data; what was sent waits in order.
    this.#stalled ??= [];
    this.#dueAt = Number.NEGATIVE_INFINITY;
    this.#stalled.push(text);
    if (this.#stalled.length > MAX_STALLED) this.drop();
  }

  /** Whether a `stream.stalled` fault holds for this stream (its user, session, client or an account it views). */
  #stalledNow(): boolean {
    const faults = this.#faults;
    if (faults.holds('stream.stalled', this.#subject) !== undefined) return true;
    for (const accountId of this.#accountIds)
      if (faults.holds('stream.stalled', { accountId }) !== undefined) return true;
    return false;
  }

  /** A stall that ended: what it held goes out, in order (checked on each tick). */
  #checkStall(): void {
    if (this.#stalled === null || (this.#faults.armed && this.#stalledNow())) return;
    const held = this.#stalled;
    this.#stalled = null;
    for (const text of held) this.socket.send(text);
  }

  /** Cuts the socket as a network would (the failure sandbox's `stream.dropped`): no message, no close frame. */
  drop(): void {
    if (this.#closed) return;
    this.stop();
    this.socket.terminate();
  }

  close(code: ErrorCode): void {
    if (this.#closed) return;
    this.send(code === 'SESSION_REVOKED' ? 'revoked' : 'expired', { code });
    this.stop();
    this.socket.close(CLOSE_CODES[code] ?? 4000, code);
  }

  /** The token this stream was opened with was replaced (step-up): it ends, and the client reconnects. */
  tokenReplaced(): void {
    if (this.#closed) return;
    this.send('token_replaced');
    this.stop();
    this.socket.close(TOKEN_REPLACED_CLOSE, 'TOKEN_REPLACED');
  }

  competing(bySessionId: string): void {
    this.#hadBrokerage = false;
    this.send('competing', { bySessionId });
  }

  brokerageAcquired(): void {
    this.#hadBrokerage = true;
    this.send('brokerage_acquired');
  }

  /** The session gave trading up (a release, from this page or another of the same session): read-only now. */
  brokerageReleased(): void {
    this.#hadBrokerage = false;
    this.send('brokerage_released');
  }

  /** Per account: the last `eventSeq` sent (null: none yet), and live events held while a replay runs. */
  readonly #orders = new Map<
    string,
    { last: number | null; replaying: boolean; running: boolean; held: AccountEventMessage[] }
  >();

  #ordersOf(accountId: string) {
    let state = this.#orders.get(accountId);
    if (state === undefined) {
      state = { last: null, replaying: false, running: false, held: [] };
      this.#orders.set(accountId, state);
    }
    return state;
  }

  #sendEvent(m: AccountEventMessage, replayed: boolean): void {
    // The failure sandbox's `stream.events_withheld`: the live event counts as sent but never leaves, so the client
    // sees `eventSeq` skip it; it is in the account's event log, where a resume or `GET …/events?after=` finds it.
    if (
      !replayed &&
      this.#faults.armed &&
      this.#faults.take('stream.events_withheld', { ...this.#subject, accountId: m.accountId }) !== undefined
    )
      return;
    this.send(
      m.type,
      {
        accountId: m.accountId,
        eventSeq: m.seq,
        orderId: m.orderId,
        data: m.data,
        ...(replayed ? { replayed } : {}),
      },
      'orders',
    );
  }

  /** A live event: sent in sequence, never twice; a gap is filled from the database first. */
  accountEvent(m: AccountEventMessage): void {
    if (this.#heldLive !== null) {
      this.#heldLive.push(m);
      return;
    }
    if (!this.#accountIds.has(m.accountId)) return;
    const state = this.#ordersOf(m.accountId);
    if (state.replaying) {
      state.held.push(m);
      return;
    }
    if (state.last !== null && m.seq <= state.last) return;
    if (state.last !== null && m.seq > state.last + 1) {
      state.held.push(m);
      this.resume(m.accountId, state.last).catch((error: unknown) => this.#fail(error));
      return;
    }
    state.last = m.seq;
    this.#sendEvent(m, false);
  }

  /**
   * Replays the account's events after `after` from the database, then the live ones held meanwhile. Each page is
   * read and sent under the account-access policy as it stands then: access taken away mid-replay ends the replay.
   */
  async resume(accountId: string, after: number): Promise<void> {
    const state = this.#ordersOf(accountId);
    if (state.running) return this.send('error', { code: 'RESUME_IN_PROGRESS', accountId }, 'control');
    state.running = true;
    state.replaying = true;
    let last = after;
    try {
      for (;;) {
        let page: Awaited<ReturnType<TradingService['events']>>;
        try {
          page = await this.deps.trading.events(this.#principal, accountId, last, REPLAY_PAGE);
        } catch (error) {
          if (!(error instanceof GatehouseError)) throw error;
          return this.send('error', { code: error.code, accountId }, 'control');
        }
        // The profile may have changed while the page was read.
        if (!this.#accountIds.has(accountId))
          return this.send('error', { code: 'ACCOUNT_NOT_FOUND', accountId }, 'control');
        for (const e of page) {
          if (this.#closed) return;
          this.#sendEvent({ accountId, seq: e.seq, type: e.type, orderId: e.orderId, data: e.data }, true);
          last = e.seq;
        }
        if (page.length === REPLAY_PAGE) continue;
        // Held live events: those the replay already sent are dropped; the rest go out while they follow on.
        const held = state.held.filter((m) => m.seq > last).sort((a, b) => a.seq - b.seq);
        state.held = [];
        let gap = false;
        for (const m of held) {
          if (gap || m.seq !== last + 1) {
            gap = true;
            state.held.push(m);
            continue;
          }
          last = m.seq;
          this.#sendEvent(m, false);
        }
        // A gap among them: the missing events are in the database; read on.
        if (!gap) break;
      }
    } finally {
      state.last = last;
      state.replaying = false;
      state.running = false;
    }
    this.send('replayed', { accountId, lastSeq: last }, 'orders');
  }

  /** Instruments this stream watches on topic `marketdata`, with the subscriptions of the account it sees them as. */
  #watch: {
    accountId: string;
    instruments: Instrument[];
    subscriptions: ReadonlyMap<MarketDataBundle, { professional: boolean }>;
  } | null = null;

  /** Handles `subscribe` / `unsubscribe` (topic `marketdata`) and `resume` (topic `orders`). */
  async onMessage(raw: string): Promise<void> {
    const parsed = streamRequestSchema.safeParse(safeJson(raw));
    if (!parsed.success)
      return this.send(
        'error',
        { code: 'INVALID_REQUEST', issues: parsed.error.issues.map((i) => i.message) },
        'control',
      );
    const request = parsed.data;
    if (request.op === 'resume') return this.#resumeChecked(request.accountId, request.after);
    if (this.#principal.api !== undefined && !this.#principal.api.scopes.includes('marketdata'))
      return this.send('error', { code: 'SCOPE_REQUIRED', scope: 'marketdata' }, 'control');
    if (request.op === 'unsubscribe') {
      this.#watch = null;
      return this.send('unsubscribed', {}, 'marketdata');
    }
    let view: Awaited<ReturnType<TradingService['marketDataView']>>;
    let instruments: Instrument[];
    try {
      view = await this.deps.trading.marketDataView(this.#principal, request.accountId);
      instruments = requireInstruments(request.instruments);
    } catch (error) {
      if (!(error instanceof GatehouseError)) throw error;
      return this.send('error', { code: error.code, ...error.details }, 'control');
    }
    this.#watch = { accountId: view.accountId, instruments, subscriptions: view.subscriptions };
    this.send('subscribed', { accountId: view.accountId, instruments: request.instruments }, 'marketdata');
    this.sendQuotes();
    return undefined;
  }

  /** One `quote` message per watched instrument (each carrying its entitlement). */
  sendQuotes(): void {
    if (this.#watch === null) return;
    for (const instrument of this.#watch.instruments) {
      this.send(
        'quote',
        { quote: this.deps.marketData.view(instrument, this.#watch.subscriptions) },
        'marketdata',
      );
    }
  }

  /** The session row changed (step-up, activity elsewhere): re-read it on the next tick. */
  reloadSoon(): void {
    this.#reloadDue = true;
    this.#dueAt = Number.NEGATIVE_INFINITY;
  }

  /** Live events wait from now until the user's new profile is taken (`takeProfile`). */
  holdLive(): void {
    this.#heldLive ??= [];
  }

  /**
   * The user's profile as read now (undefined: the user is gone). The stream takes it — a program's narrowed to its
   * grant's accounts — and from then on gets the events of the accounts the policy lets it view with it: an account
   * taken away loses its held events and its quotes at once; one given is followed. A user no longer active ends
   * the stream as revoked. `release`: send the live events held meanwhile (false while another read is due).
   */
  takeProfile(profile: SessionProfile | undefined, release: boolean): void {
    if (this.#closed) return;
    if (profile === undefined || profile.user.status !== 'active') {
      this.close('SESSION_REVOKED');
      return;
    }
    const { api } = this.#principal;
    const before = this.#accountIds;
    this.#principal = {
      ...this.#principal,
      profile: api === undefined ? profile : grantProfile(profile, api.accounts),
      memo: new Map(),
    };
    this.#accountIds = viewableAccounts(this.#principal);
    this.hub.reindex(this, before);
    for (const accountId of before) {
      if (this.#accountIds.has(accountId)) continue;
      const state = this.#orders.get(accountId);
      if (state !== undefined) state.held = [];
    }
    if (release && this.#heldLive !== null) {
      const held = this.#heldLive;
      this.#heldLive = null;
      for (const m of held) this.accountEvent(m);
    }
    this.#recheckWatch();
  }

  /** The user's profile could not be read: a stream holding events for a change it cannot apply ends. */
  profileUnknown(error: unknown): void {
    if (this.#heldLive !== null) this.#fail(error);
  }

  /** The watched account is checked again under the policy: quotes stop at once when it may no longer be viewed. */
  #recheckWatch(): void {
    const watch = this.#watch;
    if (watch === null) return;
    try {
      accountAccess(this.#principal, watch.accountId, 'view');
    } catch (error) {
      if (!(error instanceof GatehouseError)) throw error;
      this.#watch = null;
      this.send('unsubscribed', { accountId: watch.accountId, code: error.code }, 'marketdata');
    }
  }

  async #resumeChecked(accountId: string, after: number): Promise<void> {
    try {
      accountAccess(this.#principal, accountId, 'view');
    } catch (error) {
      if (!(error instanceof GatehouseError)) throw error;
      return this.send('error', { code: error.code, accountId }, 'control');
    }
    return this.resume(accountId, after);
  }

  async start(resumeAfter: { accountId: string; after: number }[] = []): Promise<void> {
    const { deps } = this;
    const principal = this.#principal;
    const state = await deps.brokerage.sessionState(principal);
    this.#nextResetAt = Date.parse(state.nextResetAt);
    this.#hadBrokerage = state.tier === 'brokerage';
    this.send('hello', { sessionId: principal.session.id, state });
    if (this.#closed) return;
    // Hold live events of the resumed accounts from the moment the stream joins the hub: none can slip between.
    for (const { accountId } of resumeAfter) this.#ordersOf(accountId).replaying = true;
    this.hub.add(this);
    for (const { accountId, after } of resumeAfter) await this.#resumeChecked(accountId, after);
    this.socket.on('message', (data: Buffer) => {
      this.onMessage(data.toString()).catch(() => {});
    });
    this.socket.once('close', () => this.stop());
  }

  async #reload(now: number): Promise<void> {
    this.#lastReload = now;
    const announced = this.#reloadDue;
    this.#reloadDue = false;
    // Read with the rows of every other stream re-reading on this tick: one query for them all.
    const row = await this.deps.sessions.readSoon(this.#principal.session.id);
    if (row === undefined || row.revokedAt !== null) return this.close('SESSION_REVOKED');
    this.#lastSeen = Math.max(this.#lastSeen, row.lastSeenAt);
    // Lifetimes may shorten (an operator's or the sandbox's expiry now): the stream ends with the session.
    this.#expiresAt = row.expiresAt;
    this.#idleTimeoutMs = row.idleTimeoutMs;
    if (row.stepUpRequired && !this.#stepUp) this.send('step_up_required', stepUpDetails(row.stepUpReason));
    this.#stepUp = row.stepUpRequired;
    if (announced && this.#hadBrokerage) {
      // Trading ended without a takeover (a reset done now rather than at its scheduled instant): say so at once.
      const state = await this.deps.brokerage.sessionState(this.#principal);
      if (state.tier !== 'brokerage' && !state.competing) {
        this.#hadBrokerage = false;
        this.send('reset', { at: new Date(now).toISOString() });
      }
    }
    return undefined;
  }

  /**
   * Called by the hub's ticker once `dueAt` has come; does no I/O unless a re-read, an expiry or a reset is due. Activity
   * seen elsewhere (`pendingLastSeen`) only moves the end later, so it is taken in here, before the end is acted on.
   */
  async tick(now: number): Promise<void> {
    if (this.#closed || this.#busy) return;
    if (this.#stalled !== null) this.#checkStall();
    // A wall clock stepped back: a heartbeat or re-read done "after" now counts as done now, so the next comes one
    // period from now rather than once the clock has caught up.
    if (this.#lastHeartbeat > now) this.#lastHeartbeat = now;
    if (this.#lastReload > now) this.#lastReload = now;
    if (now - this.#lastHeartbeat >= HEARTBEAT_MS) {
      this.#lastHeartbeat = now;
      this.send('heartbeat');
      // No ping either while stalled: the client's heartbeat timeout is what finds a stall.
      if (this.#stalled === null) this.socket.ping();
    }
    const pending = this.deps.sessions.pendingLastSeen(this.#principal.session.id);
    if (pending !== undefined && pending > this.#lastSeen) this.#lastSeen = pending;
    const deadline = () => Math.min(this.#lastSeen + this.#idleTimeoutMs, this.#expiresAt);
    const reloadDue = this.#reloadDue || now - this.#lastReload >= RELOAD_MS;
    // Before ending the stream or warning of the end, re-read the row: another node may have seen activity.
    const warnDue = deadline() - now <= EXPIRING_NOTICE_MS && !this.#sent.has(`expiring:${deadline()}`);
    const resetDue = now >= this.#nextResetAt;
    if (!reloadDue && !warnDue && !resetDue && now < deadline()) return this.#schedule();
    this.#busy = true;
    try {
      await this.#dueWork(now, reloadDue || warnDue || now >= deadline(), deadline);
    } finally {
      this.#busy = false;
      this.#schedule();
    }
  }

  /** The earliest instant a tick has work again (`dueAt`), from the same conditions `tick` checks. */
  #schedule(): void {
    if (this.#stalled !== null || this.#reloadDue) {
      this.#dueAt = Number.NEGATIVE_INFINITY;
      return;
    }
    const end = Math.min(this.#lastSeen + this.#idleTimeoutMs, this.#expiresAt);
    const notice = this.#sent.has(`expiring:${end}`) ? end : end - EXPIRING_NOTICE_MS;
    this.#dueAt = Math.min(
      this.#lastHeartbeat + HEARTBEAT_MS,
      this.#lastReload + RELOAD_MS,
      notice,
      this.#nextResetAt,
    );
  }

  async #dueWork(now: number, reload: boolean, deadline: () => number): Promise<void> {
    if (reload) await this.#reload(now);
    if (this.#closed) return;
    const end = deadline();
    if (now >= end) return this.close('SESSION_EXPIRED');
    const key = `expiring:${end}`;
    if (end - now <= EXPIRING_NOTICE_MS && !this.#sent.has(key)) {
      this.#sent.add(key);
      const reason = this.#lastSeen + this.#idleTimeoutMs <= this.#expiresAt ? 'idle' : 'absolute';
      this.send('expiring', { reason, expiresAt: new Date(end).toISOString(), inMs: end - now });
    }
    if (now >= this.#nextResetAt) {
      if (this.#hadBrokerage) this.send('reset', { at: new Date(this.#nextResetAt).toISOString() });
      this.#hadBrokerage = false;
      const state = await this.deps.brokerage.sessionState(this.#principal);
      this.#nextResetAt = Date.parse(state.nextResetAt);
    }
    return undefined;
  }

  stop(): void {
    this.#closed = true;
    this.hub.remove(this);
  }

  #fail(error: unknown): void {
    this.deps.logger.error({ err: error }, 'session stream replay failed');
    this.stop();
    this.socket.close(1011, 'INTERNAL');
  }
}
