/**
 * @module cpapi/stream/connection
 * One socket of `/v1/api/ws`, opened by the held login whose WebSocket id its `api` cookie named. On open it sends
 * IBKR's connect burst `system` → `act` → `sts` (research §6, observed), then a `system` heartbeat every 10 s
 * (the value from the gateway's clock) with a WebSocket ping: a peer that answers no ping for 30 s is dropped.
 *
 * Authentication changes of the held session go out as `sts`: a takeover elsewhere (`competing`, with a `blt`
 * bulletin), brokerage (re)acquired, a step-up, the daily reset (with a `blt`), and the end of the login. The bus
 * events that concern the held session (`session.brokerage`, `.competing`, `.revoked`, `.changed`,
 * `.token_replaced`, `user.changed`) make the socket read the session again, as a request would; the daily reset and
 * idle expiry are noticed on the gateway's clock without touching the session, so an open socket alone never keeps
 * an idle login alive: only `tic` and REST requests are activity (campus "Websockets": `tic` at least once a
 * minute). When the login ends — logout, idle expiry, its 24 h, revocation, another login taking its place — the
 * socket gets `sts` with `authenticated:false` and is closed (1000). Losing brokerage ends the socket's `smd`,
 * `sor` and `str` streams, which need it (research §6): IBKR clients reconnect and subscribe again on
 * `authenticated:false`.
 *
 * A message that does not parse (or a topic the face does not serve: `smh`, `sbd`, `ssd`, `sld`) is answered
 * `{"error":"<why>"}`, as IBKR answers a refused subscription (`{"error":"unable to subscribe"}`, research §6); the
 * socket stays open. Frames that a newer one supersedes (`smd`, `spl`) are skipped while the socket has more than
 * 1 MiB unsent; past 16 MiB the socket is closed (1013), so a reader that stopped cannot make the gateway buffer.
 */

import type { WebSocket } from 'ws';
import { GatehouseError } from '../../core/index.js';
import { findInstrument } from '../../instruments/index.js';
import type { Principal } from '../../sessions/index.js';
import { hasBridge } from '../kit.js';
import type { HeldSession } from '../status.js';
import { type ClientMessage, parseClientMessage } from '../wire/index.js';
import { AccountTopics } from './accounts.js';
import type { StreamRoutesDeps } from './deps.js';
import { accountsFrame, statusArgs } from './frames.js';

import { type MarketWatch, markSent, newWatch, SMD_LIFETIME_MS, smdFrame } from './market.js';

type LiveHeld = Extract<HeldSession, { kind: 'live' }>;

/** What a socket starts from: the checks of its upgrade. */
export interface Opening {
  wsSession: string;
  ip: string;
  principal: Principal;
  held: LiveHeld;
}

/** Real-time cadences (the values the frames carry come from the gateway's clock). */
export interface StreamTimings {
  /** Heartbeat cadence, IBKR's 10 s unless a test shortens it. */
  heartbeatMs: number;
  /** How often the socket looks at the feed and the session's timers: the feed's step (250 ms). */
  tickMs: number;
}

const SOFT_BUFFER = 1024 * 1024;
const HARD_BUFFER = 16 * 1024 * 1024;
const PONG_GRACE_MS = 30_000;
/** Client messages waiting to be handled before the socket is closed as flooding (1008). */
const MAX_PENDING = 256;

export class FaceStream {
  #principal: Principal;
  #held: LiveHeld;
  /** When `#held` was read, on the gateway's clock. */
  #heldAt: number;
  #sentStatus = '';
  #closed = false;
  #pending = 0;
  #refreshing = false;
  #queue: Promise<void> = Promise.resolve();
  readonly #watches = new Map<number, MarketWatch>();
  #lastStep = Number.NaN;
  readonly #topics: AccountTopics;
  #lastPong = Date.now();
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #unsubscribe: (() => void)[] = [];

  constructor(
    readonly deps: StreamRoutesDeps,
    readonly timings: StreamTimings,
    readonly socket: WebSocket,
    readonly opening: Opening,
    readonly onStop: () => void,
  ) {
    this.#principal = opening.principal;
    this.#held = opening.held;
    this.#heldAt = deps.clock.now();
    this.#topics = new AccountTopics({
      deps,
      principal: () => this.#principal,
      send: (frame, droppable) => this.#send(frame, droppable),
    });
  }

  /** The connect burst, then the socket's listeners, timers and bus subscriptions. */
  open(): void {
    const { socket, deps } = this;
    this.#send({ topic: 'system', success: this.#username, isFT: false, isPaper: true });
    this.#send({ topic: 'act', args: accountsFrame(this.#principal, deps.face.identity) });
    this.#sendStatus(this.#held);
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) return;
      if (++this.#pending > MAX_PENDING) return this.#close(1008, 'too many messages');
      this.#enqueue(() => this.#onMessage(data.toString()).finally(() => this.#pending--));
    });
    socket.on('pong', () => {
      this.#lastPong = Date.now();
    });
    socket.once('close', () => this.#stop());
    socket.on('error', (error) => deps.logger.warn({ err: error }, 'cpapi stream socket error'));
    const heartbeat = setInterval(() => this.#heartbeat(), this.timings.heartbeatMs);
    const ticker = setInterval(() => this.#tick(), this.timings.tickMs);
    for (const timer of [heartbeat, ticker]) {
      timer.unref();
      this.#timers.push(timer);
    }
    const ours = (m: { sessionId: string }) => m.sessionId === this.#principal.session.id;
    const refresh = () =>
      this.#enqueue(async () => {
        await this.#refresh();
      });
    const { bus } = deps;
    this.#unsubscribe.push(
      bus.subscribe('session.competing', (m) => ours(m) && refresh()),
      bus.subscribe('session.brokerage', (m) => ours(m) && refresh()),
      bus.subscribe('session.released', (m) => ours(m) && refresh()),
      bus.subscribe('session.revoked', (m) => ours(m) && refresh()),
      bus.subscribe('session.changed', (m) => ours(m) && refresh()),
      bus.subscribe('session.token_replaced', (m) => ours(m) && refresh()),
      bus.subscribe('user.changed', (m) => m.userId === this.#principal.session.userId && refresh()),
      bus.subscribe('account.event', (m) => {
        if (this.#topics.listening) this.#enqueue(() => this.#topics.event(m));
      }),
    );
  }

  /** The listener is closing: the socket goes away (1001). */
  shutdown(): void {
    this.#close(1001, 'going away');
  }

  get #username(): string {
    return this.#principal.profile.user.username;
  }

  /** Runs socket work one piece at a time, in arrival order; a failure is logged and the socket goes on. */
  #enqueue(work: () => Promise<void>): void {
    if (this.#closed) return;
    this.#queue = this.#queue.then(async () => {
      if (this.#closed) return;
      try {
        await work();
      } catch (error) {
        this.deps.logger.error({ err: error }, 'cpapi stream: a frame could not be made');
      }
    });
  }

  /**
   * Sends a frame unless the socket is backed up: a frame a newer one supersedes (`droppable`) is skipped past
   * 1 MiB unsent; past 16 MiB the socket is closed. Returns whether the frame went out.
   */
  #send(frame: object | string, droppable = false): boolean {
    if (this.#closed || this.socket.readyState !== this.socket.OPEN) return false;
    const buffered = this.socket.bufferedAmount;
    if (buffered > HARD_BUFFER) {
      this.#close(1013, 'slow consumer');
      return false;
    }
    if (droppable && buffered > SOFT_BUFFER) return false;
    this.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
    return true;
  }

  /** `sts` when what it would say changed; losing brokerage ends the streams that need it. */
  #sendStatus(held: HeldSession, always = false): void {
    const args = statusArgs(held, this.deps.face.identity, this.#username);
    const text = JSON.stringify(args);
    if (text === this.#sentStatus && !always) return;
    this.#sentStatus = text;
    this.#send({ topic: 'sts', args });
    if (!args.established) {
      this.#watches.clear();
      this.#topics.endBrokerageTopics();
    }
  }

  #bulletin(id: string, message: string): void {
    this.#send({ topic: 'blt', args: { id, message } });
  }

  /** A live state of the held session: `sts` when it changed, and a bulletin when a takeover just made it compete. */
  #take(held: LiveHeld): void {
    const wasCompeting = this.#held.state.competing;
    this.#held = held;
    this.#heldAt = this.deps.clock.now();
    this.#sendStatus(held);
    if (held.state.competing && !wasCompeting)
      this.#bulletin(
        'competing',
        'Another session of this user took the brokerage session over; call iserver/auth/ssodh/init with ' +
          'compete:true to take it back.',
      );
  }

  /** Reads the held session as a request does (activity); a login that ended ends the socket. */
  async #refresh(): Promise<LiveHeld | null> {
    if (!this.deps.face.held.isWsSession(this.opening.wsSession)) {
      await this.#end();
      return null;
    }
    this.#refreshing = true;
    try {
      const { held, principal } = await this.deps.face.held.current();
      if (
        principal === null ||
        held.kind !== 'live' ||
        !this.deps.face.held.isWsSession(this.opening.wsSession)
      ) {
        await this.#end(held.kind === 'live' ? undefined : held);
        return null;
      }
      this.#principal = principal;
      this.#take(held);
      return held;
    } finally {
      this.#refreshing = false;
    }
  }

  /** The socket's login ended: the last `sts` (`authenticated:false`), then the close. */
  async #end(held?: HeldSession): Promise<void> {
    if (this.#closed) return;
    let last = held;
    // With nothing held any more, `current` answers without touching a session.
    if (last === undefined && this.deps.face.held.wsSession === null)
      last = (await this.deps.face.held.current()).held;
    this.#sendStatus(last === undefined || last.kind === 'live' ? { kind: 'expired' } : last, true);
    this.#close(1000, last?.kind === 'none' ? 'logged out' : 'session ended');
  }

  #close(code: number, reason: string): void {
    if (this.#closed) return;
    this.#stop();
    this.socket.close(code, reason);
  }

  #stop(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearInterval(timer);
    for (const off of this.#unsubscribe) off();
    this.#watches.clear();
    this.onStop();
  }

  #heartbeat(): void {
    if (this.#closed) return;
    if (Date.now() - this.#lastPong > Math.max(PONG_GRACE_MS, 3 * this.timings.heartbeatMs)) {
      this.#stop();
      this.socket.terminate();
      return;
    }
    if (this.#send({ topic: 'system', hb: this.deps.clock.now() })) this.socket.ping();
  }

  /** The feed's new step for each `smd` stream, and the held session's timers, without touching the session. */
  #tick(): void {
    if (this.#closed) return;
    const now = this.deps.clock.now();
    this.#watchSession(now);
    for (const [conid, watch] of this.#watches)
      if (now - watch.startedAt >= SMD_LIFETIME_MS) this.#watches.delete(conid);
    if (this.#watches.size === 0) return;
    const step = this.deps.marketData.feed.step(now);
    if (step === this.#lastStep) return;
    this.#lastStep = step;
    for (const watch of this.#watches.values()) this.#sendQuote(watch, now, true);
  }

  /**
   * The login ended under a request (its WebSocket id is gone), the daily reset passed, or the idle deadline did:
   * the first two are known without reading; an idle deadline is confirmed by reading the session, which finds it
   * expired (a request since then moved it, and the read only confirms that).
   */
  #watchSession(now: number): void {
    if (this.#refreshing) return;
    if (!this.deps.face.held.isWsSession(this.opening.wsSession)) {
      this.#refreshing = true;
      this.#enqueue(() => this.#end());
      return;
    }
    const { state } = this.#held;
    if (state.tier === 'brokerage' && now >= Date.parse(state.nextResetAt)) {
      // The timers as they stand now, since `#take` dates the state from now.
      const spent = now - this.#heldAt;
      this.#take({
        kind: 'live',
        state: {
          ...state,
          tier: 'read_only',
          competing: false,
          idleExpiresInMs: Math.max(0, state.idleExpiresInMs - spent),
          expiresInMs: Math.max(0, state.expiresInMs - spent),
        },
      });
      this.#bulletin(
        'reset',
        'The daily reset ended the brokerage session; call iserver/auth/ssodh/init to resume.',
      );
      return;
    }
    const { session } = this.#principal;
    const seen = Math.min(session.lastSeenAt + session.idleTimeoutMs, session.expiresAt);
    if (now >= Math.max(this.#heldAt + state.idleExpiresInMs, seen)) {
      this.#refreshing = true;
      this.#enqueue(async () => {
        await this.#refresh();
      });
    }
  }

  #sendQuote(watch: MarketWatch, now: number, droppable: boolean): void {
    const quote = this.deps.marketData.view(watch.instrument, watch.subscriptions);
    const made = smdFrame(watch, quote, now);
    if (made === null) return;
    if (this.#send(made.frame, droppable)) markSent(watch, made.values);
    else watch.sent.clear();
  }

  async #onMessage(text: string): Promise<void> {
    const parsed = parseClientMessage(text);
    if (!parsed.ok) {
      this.#send({ error: parsed.reason });
      return;
    }
    await this.#handle(parsed.message);
  }

  async #handle(message: ClientMessage): Promise<void> {
    switch (message.kind) {
      case 'tic': {
        const held = await this.#refresh();
        if (held === null) return;
        this.#send({
          topic: 'tic',
          alive: true,
          id: this.opening.wsSession,
          lastAccessed: this.#principal.session.lastSeenAt,
        });
        return;
      }
      case 'ech':
        this.#send(`ech+${message.text}`);
        return;
      case 'smd':
        return this.#subscribeQuotes(message.conid, message.fields);
      case 'umd':
        this.#watches.delete(message.conid);
        return;
      case 'sor':
        if (this.#bridged()) await this.#topics.subscribeOrders(message.filters);
        return;
      case 'uor':
        return this.#topics.unsubscribeOrders();
      case 'spl':
        return this.#topics.subscribePnl();
      case 'upl':
        return this.#topics.unsubscribePnl();
      case 'str':
        if (this.#bridged()) this.#topics.subscribeTrades();
        return;
      case 'utr':
        return this.#topics.unsubscribeTrades();
    }
  }

  /** `/iserver` streams need the brokerage session; without it IBKR refuses the subscription (research §6). */
  #bridged(): boolean {
    if (hasBridge(this.#held)) return true;
    this.#send({ error: 'unable to subscribe' });
    return false;
  }

  async #subscribeQuotes(conid: number, fields: readonly string[]): Promise<void> {
    if (!this.#bridged()) return;
    const instrument = findInstrument(conid);
    if (instrument === undefined) {
      this.#send({ error: `unknown conid ${conid}` });
      return;
    }
    let subscriptions: MarketWatch['subscriptions'];
    try {
      subscriptions = (await this.deps.trading.marketDataView(this.#principal)).subscriptions;
    } catch (error) {
      if (!(error instanceof GatehouseError)) throw error;
      this.#send({ error: 'unable to subscribe' });
      return;
    }
    const watch = newWatch(instrument, fields, subscriptions, this.deps.clock.now());
    this.#watches.set(conid, watch);
    this.#sendQuote(watch, this.deps.clock.now(), false);
  }
}
