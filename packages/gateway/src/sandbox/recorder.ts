/**
 * @module sandbox/recorder
 * A drill's recording: what the gateway sees of one bot — its user, API client and account (`DrillSubject`) — on
 * the gateway clock, with no cooperation from the bot (docs/sandbox.md, "Report card").
 *
 * Three kinds of source:
 * - the HTTP app's hooks (`installRecorderHooks`): every answered request of the client's program sessions — the
 *   principal the authenticator set, or, for a request refused for its token, the client the token belongs to —
 *   with its route pattern, status and error code; token requests (grant type, outcome, a refresh retried with the
 *   same refresh token); order placements, cancels and dead-man switch changes; stream upgrades (with the sequence
 *   they resume after) and their closes; reads of the account's events;
 * - the event bus: the client's sessions acquiring trading, turning competing, stepping up, ending;
 * - the database, when the recording is read (`DrillRecorders.read`): the orders and events of the account, the
 *   dead-man switches that fired, and the sandbox faults that acted on the subject.
 *
 * The hooks are installed only on a gateway with the sandbox on, and each tests `DrillRecorders.active` (a field)
 * before anything else: with no recording running they cost one property read per request.
 * A recording lives in the memory of the node that started it and sees that node's requests (a drill runs its own
 * gateway, or one node). Its lists are bounded; entries beyond are counted in `dropped`.
 *
 * Longer than most modules: the recording's state and the hooks that feed it are one piece, read together.
 */
import type {
  DrillSubject,
  RecordedCancel,
  RecordedDeadMan,
  RecordedPlacement,
  RecordedRequest,
  RecordedSessionChange,
  RecordedStream,
  RecordedTokenRequest,
  Recording,
} from '@gatehouse/protocol';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import {
  type Clock,
  type EventBus,
  GatehouseError,
  LruCache,
  newTimeOrderedId,
  sha256,
} from '../core/index.js';
import { dpopToken } from '../http/index.js';
import type { Database } from '../store/index.js';
import {
  accountEvents,
  clientSessions,
  deadManFired,
  stepUpPending,
  subjectFaults,
  subjectOrders,
  type TokenOwner,
  tokenOwner,
} from './recorder-reads.js';

export interface RecorderParts {
  db: Kysely<Database>;
  clock: Clock;
  bus: EventBus;
  /** Brings the registry's hit counts up to date before faults are read (`Sandbox.list`). */
  flushFaults?: () => Promise<unknown>;
  limits?: Partial<RecorderLimits>;
}

export interface RecorderLimits {
  /** Recordings running at once on a node (default 8); one more → `OVERLOADED`. */
  maxActive: number;
  /** Stopped recordings kept to be read (default 16, oldest forgotten first). */
  maxKept: number;
  /** Entries per list of one recording (default 20 000 requests, a fifth of that for the other lists). */
  maxRequests: number;
  /** A recording stops by itself after this long (default 2 h; a scenario runs at most 1 h). */
  maxDurationMs: number;
}

const DEFAULT_LIMITS: RecorderLimits = {
  maxActive: 8,
  maxKept: 16,
  maxRequests: 20_000,
  maxDurationMs: 2 * 3_600_000,
};

const ROUTES = {
  token: '/oauth2/token',
  place: '/v1/accounts/:accountId/orders',
  order: '/v1/accounts/:accountId/orders/:orderId',
  events: '/v1/accounts/:accountId/events',
  deadMan: '/v1/safety/dead-man',
  stream: '/v1/stream',
} as const;

/** A recording's owner: an operator (null) or the user who started it. */
export type RecordingOwner = string | null;

const iso = (ms: number) => new Date(ms).toISOString();

/** One recording, in memory. */
export class DrillRecorder {
  readonly id: string;
  readonly subject: DrillSubject;
  readonly owner: RecordingOwner;
  readonly startedAt: number;
  stoppedAt: number | null = null;
  readonly sessions = new Set<string>();
  readonly requests: RecordedRequest[] = [];
  readonly tokenRequests: RecordedTokenRequest[] = [];
  readonly placements: RecordedPlacement[] = [];
  readonly cancels: Omit<RecordedCancel, 'tookEffect' | 'effectAt'>[] = [];
  readonly sessionChanges: RecordedSessionChange[] = [];
  readonly streams: RecordedStream[] = [];
  readonly deadMan: RecordedDeadMan[] = [];
  dropped = 0;
  readonly #refreshRefs = new Set<string>();
  readonly #stepUp = new Map<string, boolean>();
  #streamCount = 0;
  readonly #limit: number;

  constructor(id: string, subject: DrillSubject, owner: RecordingOwner, startedAt: number, limit: number) {
    this.id = id;
    this.subject = subject;
    this.owner = owner;
    this.startedAt = startedAt;
    this.#limit = limit;
  }

  get recording(): boolean {
    return this.stoppedAt === null;
  }

  push<T>(list: T[], entry: T, limit = Math.ceil(this.#limit / 5)): void {
    if (list.length < limit) list.push(entry);
    else this.dropped += 1;
  }

  /** A request answered for one of the client's sessions (or refused for one of its tokens). */
  request(request: FastifyRequest, reply: FastifyReply, at: number, seen: Seen): void {
    const route = request.routeOptions.url ?? '(unmatched)';
    const status = reply.statusCode;
    const delivered = reply.raw.writableFinished !== false;
    if (seen.sessionId !== null && !this.sessions.has(seen.sessionId)) this.sessions.add(seen.sessionId);
    this.push(
      this.requests,
      {
        at: iso(at),
        method: request.method,
        route,
        status,
        code: seen.code,
        sessionId: seen.sessionId,
        tokenExpired: seen.tokenExpired,
      },
      this.#limit,
    );
    const body = (typeof request.body === 'object' && request.body !== null ? request.body : {}) as Record<
      string,
      unknown
    >;
    const params = (request.params ?? {}) as Record<string, unknown>;
    const ok = status < 400 && delivered;
    if (
      seen.code === 'SESSION_RESET' &&
      seen.sessionId !== null &&
      this.#lastChange(seen.sessionId) !== 'reset'
    )
      this.change(seen.sessionId, 'reset', true, 'refused with SESSION_RESET', at);
    if (route === ROUTES.place && request.method === 'POST' && params.accountId === this.subject.accountId) {
      const clientOrderId = typeof body.clientOrderId === 'string' ? body.clientOrderId.slice(0, 128) : '';
      this.push(this.placements, {
        at: iso(at),
        clientOrderId,
        orderId: null,
        outcome: !delivered
          ? 'no_response'
          : status === 201
            ? 'accepted'
            : status === 200
              ? 'existing'
              : status === 409 && seen.code === null
                ? 'confirmation_required'
                : 'refused',
        status,
        code: seen.code,
        sessionId: seen.sessionId,
      });
    } else if (
      route === ROUTES.order &&
      request.method === 'DELETE' &&
      params.accountId === this.subject.accountId
    ) {
      this.push(this.cancels, {
        at: iso(at),
        orderId: String(params.orderId ?? ''),
        status,
        code: seen.code,
      });
    } else if (route === ROUTES.deadMan && request.method === 'PUT') {
      const timeoutMs = typeof body.timeoutMs === 'number' ? body.timeoutMs : null;
      this.push(this.deadMan, {
        at: iso(at),
        action: !ok ? 'refused' : timeoutMs === 0 ? 'disarmed' : 'armed',
        scope: body.scope === 'account' ? 'account' : 'session',
        sessionId: seen.sessionId,
        timeoutMs,
      });
    } else if (route === ROUTES.events && ok && params.accountId === this.subject.accountId) {
      const after = Number((request.query as Record<string, unknown> | undefined)?.after ?? 0);
      this.push(this.streams, {
        at: iso(at),
        event: 'read',
        sessionId: seen.sessionId,
        stream: null,
        after: Number.isInteger(after) ? after : 0,
      });
    }
  }

  /** A request to the token endpoint naming this recording's client. */
  token(form: Record<string, unknown>, reply: FastifyReply, at: number, code: string | null): void {
    const grantType = typeof form.grant_type === 'string' ? form.grant_type.slice(0, 64) : '';
    const refresh = typeof form.refresh_token === 'string' ? sha256(form.refresh_token).slice(0, 16) : null;
    const retry = refresh !== null && this.#refreshRefs.has(refresh);
    if (refresh !== null) this.#refreshRefs.add(refresh);
    const delivered = reply.raw.writableFinished !== false;
    this.push(this.tokenRequests, {
      at: iso(at),
      grantType,
      outcome: !delivered ? 'no_response' : reply.statusCode === 200 ? 'issued' : 'refused',
      status: reply.statusCode,
      error: code,
      refreshRef: refresh,
      retry,
    });
  }

  /** A stream of one of the client's sessions opened; returns its number, for its close. */
  streamOpened(sessionId: string, after: number | null, at: number): number {
    this.#streamCount += 1;
    this.sessions.add(sessionId);
    this.push(this.streams, { at: iso(at), event: 'open', sessionId, stream: this.#streamCount, after });
    return this.#streamCount;
  }

  streamClosed(sessionId: string, stream: number, at: number): void {
    if (!this.recording) return;
    this.push(this.streams, { at: iso(at), event: 'close', sessionId, stream, after: null });
  }

  change(
    sessionId: string,
    change: RecordedSessionChange['change'],
    own: boolean,
    reason: string | null,
    at: number,
  ): void {
    this.push(this.sessionChanges, { at: iso(at), sessionId, change, own, reason });
  }

  /** Records a step-up pending or satisfied when it differs from what was last known of the session. */
  stepUp(sessionId: string, pending: boolean, at: number): void {
    const known = this.#stepUp.get(sessionId) ?? false;
    this.#stepUp.set(sessionId, pending);
    if (known !== pending)
      this.change(sessionId, pending ? 'step_up_required' : 'step_up_satisfied', true, null, at);
  }

  #lastChange(sessionId: string): RecordedSessionChange['change'] | undefined {
    for (let i = this.sessionChanges.length - 1; i >= 0; i -= 1) {
      const entry = this.sessionChanges[i];
      if (entry?.sessionId === sessionId) return entry.change;
    }
    return undefined;
  }
}

/** Who a request was, as the recorder sees it. */
interface Seen {
  sessionId: string | null;
  code: string | null;
  tokenExpired: boolean;
}

/** The recordings of this node, and what the HTTP hooks and the bus feed them. */
export class DrillRecorders {
  /** True while a recording runs: the hooks test this and read nothing else. */
  active = false;
  readonly #parts: RecorderParts;
  readonly #limits: RecorderLimits;
  readonly #recordings = new Map<string, DrillRecorder>();
  /** Error codes of requests in flight, from the error hook to the response hook. */
  readonly #codes = new WeakMap<FastifyRequest, string>();
  /** Access tokens' owners, by hash, so a storm of refused requests reads each token once. */
  readonly #tokens = new LruCache<string, TokenOwner | null>(1_000);
  readonly #unsubscribe: (() => void)[] = [];

  constructor(parts: RecorderParts) {
    this.#parts = parts;
    this.#limits = { ...DEFAULT_LIMITS, ...parts.limits };
    const { bus } = parts;
    this.#unsubscribe.push(
      bus.subscribe('session.brokerage', (m) => this.#bus(m.sessionId, m.userId, 'brokerage_acquired', null)),
      bus.subscribe('session.competing', (m) =>
        this.#bus(m.sessionId, m.userId, 'competing', `taken by ${m.bySessionId}`),
      ),
      bus.subscribe('session.revoked', (m) =>
        this.#bus(m.sessionId, m.userId, revokedChange(m.reason), m.reason),
      ),
      bus.subscribe('session.token_replaced', (m) => this.#bus(m.sessionId, null, 'token_replaced', null)),
      bus.subscribe('session.changed', (m) => {
        if (this.active) this.#sessionChanged(m.sessionId).catch(() => undefined);
      }),
    );
  }

  /**
   * Starts recording `subject` (checked by the caller: `resolveSubject`). The client's program sessions known now
   * are followed from the start. More than `maxActive` running → `OVERLOADED`.
   */
  async start(subject: DrillSubject, owner: RecordingOwner): Promise<DrillRecorder> {
    this.#expire();
    const running = [...this.#recordings.values()].filter((r) => r.recording).length;
    if (running >= this.#limits.maxActive)
      throw new GatehouseError('OVERLOADED', 'Too many drills are recording on this node; stop one first.');
    const now = this.#parts.clock.now();
    const recorder = new DrillRecorder(
      newTimeOrderedId('rec', now),
      subject,
      owner,
      now,
      this.#limits.maxRequests,
    );
    for (const id of await clientSessions(this.#parts.db, subject.clientId)) recorder.sessions.add(id);
    this.#recordings.set(recorder.id, recorder);
    this.#forgetOld();
    this.active = true;
    return recorder;
  }

  /** A recording by id, running or stopped; `NOT_FOUND` when this node has none such. */
  get(id: string): DrillRecorder {
    this.#expire();
    const recorder = this.#recordings.get(id);
    if (recorder === undefined) throw new GatehouseError('NOT_FOUND', 'No such recording on this node.');
    return recorder;
  }

  /** Stops a recording (it stays readable until `maxKept` newer ones push it out). */
  stop(id: string): DrillRecorder {
    const recorder = this.get(id);
    if (recorder.stoppedAt === null) recorder.stoppedAt = this.#parts.clock.now();
    this.#refreshActive();
    return recorder;
  }

  /** The recording as `GET /v1/sandbox/recordings/{id}` answers it: the hooks' entries and the database's. */
  async read(id: string): Promise<Recording> {
    const recorder = this.get(id);
    const { db, clock } = this.#parts;
    const from = recorder.startedAt;
    const to = recorder.stoppedAt ?? clock.now();
    await this.#parts.flushFaults?.();
    for (const sessionId of await clientSessions(db, recorder.subject.clientId))
      recorder.sessions.add(sessionId);
    const sessions = [...recorder.sessions];
    const limit = Math.ceil(this.#limits.maxRequests / 5);
    const { accountId } = recorder.subject;
    const events = await accountEvents(db, accountId, from, to, limit);
    const orders = await subjectOrders(db, accountId, sessions, from, limit);
    const fired = await deadManFired(db, recorder.subject, recorder.sessions, from, to);
    const faults = await subjectFaults(db, recorder.subject, sessions, from, to);
    const placements = recorder.placements.map((p) => ({
      ...p,
      orderId: orders.find((o) => o.clientOrderId === p.clientOrderId)?.orderId ?? null,
    }));
    // An order the client placed whose answer never reached it (the connection cut after the commit) has no
    // delivered placement: it is recorded as placed without an answer, at its creation.
    for (const order of orders) {
      if (Date.parse(order.createdAt) < from) continue;
      const delivered = placements.some(
        (p) => p.clientOrderId === order.clientOrderId && p.outcome !== 'no_response' && p.status < 500,
      );
      if (!delivered && !placements.some((p) => p.clientOrderId === order.clientOrderId))
        placements.push({
          at: order.createdAt,
          clientOrderId: order.clientOrderId,
          orderId: order.orderId,
          outcome: 'no_response',
          status: 0,
          code: null,
          sessionId: order.sessionId,
        });
      else if (!delivered)
        for (const p of placements) if (p.clientOrderId === order.clientOrderId) p.orderId = order.orderId;
    }
    placements.sort((a, b) => a.at.localeCompare(b.at));
    const cancels: RecordedCancel[] = recorder.cancels.map((c) => {
      const effect = events.find((e) => e.orderId === c.orderId && e.type === 'cancelled' && e.at >= c.at);
      const done = c.status === 200 || effect !== undefined;
      return { ...c, tookEffect: done, effectAt: effect?.at ?? (done ? c.at : null) };
    });
    const deadMan = [...recorder.deadMan, ...fired].sort((a, b) => a.at.localeCompare(b.at));
    return {
      id: recorder.id,
      subject: recorder.subject,
      state: recorder.recording ? 'recording' : 'stopped',
      startedAt: iso(from),
      endedAt: iso(to),
      sessions,
      requests: [...recorder.requests],
      dropped: recorder.dropped,
      tokenRequests: [...recorder.tokenRequests],
      placements,
      cancels,
      sessionChanges: [...recorder.sessionChanges],
      streams: [...recorder.streams],
      deadMan,
      faults,
      events,
      orders,
    };
  }

  /** The error hook: keeps the code of a request that failed, for the response hook. */
  failed(request: FastifyRequest, error: unknown): void {
    const e = error as { code?: unknown; error?: unknown };
    const code =
      error instanceof GatehouseError
        ? error.code
        : typeof e.error === 'string'
          ? e.error
          : typeof e.code === 'string'
            ? e.code
            : 'INTERNAL';
    this.#codes.set(request, code.slice(0, 64));
  }

  /** The pre-handler hook: a stream upgrade of a recorded client's session. */
  upgrading(request: FastifyRequest): void {
    const principal = request.principal;
    const clientId = principal?.api?.clientId;
    if (principal === undefined || clientId === undefined) return;
    const now = this.#parts.clock.now();
    for (const recorder of this.#running()) {
      if (recorder.subject.clientId !== clientId) continue;
      const after = resumePoint(request.query, recorder.subject.accountId);
      const stream = recorder.streamOpened(principal.session.id, after, now);
      const sessionId = principal.session.id;
      request.raw.socket?.once('close', () =>
        recorder.streamClosed(sessionId, stream, this.#parts.clock.now()),
      );
    }
  }

  /** The response hook: a request answered. */
  async answered(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const now = this.#parts.clock.now();
    const code = this.#codes.get(request) ?? null;
    const route = request.routeOptions.url;
    if (route === ROUTES.token) {
      const form = (typeof request.body === 'object' && request.body !== null ? request.body : {}) as Record<
        string,
        unknown
      >;
      const clientId = formClient(form);
      for (const recorder of this.#running())
        if (recorder.subject.clientId === clientId) recorder.token(form, reply, now, code);
      return;
    }
    let clientId = request.principal?.api?.clientId;
    let seen: Seen = { sessionId: request.principal?.session.id ?? null, code, tokenExpired: false };
    if (clientId === undefined) {
      // Refused before a principal: the bot's only if its access token is one of the client's.
      const token = dpopToken(request);
      if (token === undefined) return;
      const owner = await this.#tokenOwner(sha256(token));
      if (owner === undefined) return;
      clientId = owner.clientId;
      seen = {
        sessionId: owner.sessionId,
        code,
        tokenExpired: code === 'INVALID_TOKEN' && !owner.revoked && owner.expiresAt <= now,
      };
    }
    for (const recorder of this.#running())
      if (recorder.subject.clientId === clientId) recorder.request(request, reply, now, seen);
  }

  close(): void {
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    for (const recorder of this.#recordings.values()) recorder.stoppedAt ??= this.#parts.clock.now();
    this.active = false;
  }

  async #tokenOwner(hash: string): Promise<TokenOwner | undefined> {
    const known = this.#tokens.get(hash);
    if (known !== undefined) return known ?? undefined;
    const owner = await tokenOwner(this.#parts.db, hash);
    this.#tokens.set(hash, owner ?? null);
    return owner;
  }

  #bus(
    sessionId: string,
    userId: string | null,
    change: RecordedSessionChange['change'],
    reason: string | null,
  ) {
    if (!this.active) return;
    const now = this.#parts.clock.now();
    for (const recorder of this.#running()) {
      const own = recorder.sessions.has(sessionId);
      // Another session of the user matters when it takes trading (a competing login); the rest is not the bot's.
      if (own || (change === 'brokerage_acquired' && userId === recorder.subject.userId))
        recorder.change(sessionId, change, own, reason, now);
    }
  }

  async #sessionChanged(sessionId: string): Promise<void> {
    const recorders = this.#running().filter((r) => r.sessions.has(sessionId));
    if (recorders.length === 0) return;
    const at = this.#parts.clock.now();
    const pending = await stepUpPending(this.#parts.db, sessionId);
    if (pending === undefined) return;
    for (const recorder of recorders) recorder.stepUp(sessionId, pending, at);
  }

  #running(): DrillRecorder[] {
    this.#expire();
    return [...this.#recordings.values()].filter((r) => r.recording);
  }

  /** Stops recordings that ran past `maxDurationMs`. */
  #expire(): void {
    const now = this.#parts.clock.now();
    let changed = false;
    for (const recorder of this.#recordings.values())
      if (recorder.recording && now - recorder.startedAt > this.#limits.maxDurationMs) {
        recorder.stoppedAt = recorder.startedAt + this.#limits.maxDurationMs;
        changed = true;
      }
    if (changed) this.#refreshActive();
  }

  #refreshActive(): void {
    this.active = [...this.#recordings.values()].some((r) => r.recording);
  }

  #forgetOld(): void {
    const stopped = [...this.#recordings.values()].filter((r) => !r.recording);
    for (const recorder of stopped.slice(0, Math.max(0, stopped.length - this.#limits.maxKept)))
      this.#recordings.delete(recorder.id);
  }
}

function revokedChange(reason: string): RecordedSessionChange['change'] {
  if (/expir|idle|absolute/.test(reason)) return 'expired';
  if (/reset/.test(reason)) return 'reset';
  return 'revoked';
}

/** The sequence a stream upgrade resumes the account after (`?resumeAfter=ACCOUNT:SEQ,…`); null for live only. */
function resumePoint(query: unknown, accountId: string): number | null {
  const value = (query as Record<string, unknown> | undefined)?.resumeAfter;
  if (typeof value !== 'string') return null;
  for (const part of value.split(',')) {
    const [account, seq] = part.split(':');
    if (account === accountId && seq !== undefined && /^\d+$/.test(seq)) return Number(seq);
  }
  return null;
}

/** The client a token request names: its assertion's subject (private_key_jwt), or `client_id`. */
function formClient(form: Record<string, unknown>): string | undefined {
  const assertion = form.client_assertion;
  if (typeof assertion === 'string') {
    const payload = assertion.split('.')[1];
    if (payload !== undefined)
      try {
        const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { sub?: unknown };
        if (typeof claims.sub === 'string') return claims.sub;
      } catch {
        // Not a JWT: the token endpoint refuses it; nothing of a recorded client.
      }
  }
  return typeof form.client_id === 'string' ? form.client_id : undefined;
}

/**
 * Installs the recorder's hooks on the HTTP app (a gateway with the sandbox on). Each returns at once while no
 * recording runs.
 */
export function installRecorderHooks(app: FastifyInstance, recorders: DrillRecorders): void {
  app.addHook('onError', (request, _reply, error, done) => {
    if (recorders.active) recorders.failed(request, error);
    done();
  });
  app.addHook('preHandler', (request, _reply, done) => {
    if (recorders.active && request.routeOptions.url === ROUTES.stream && request.principal !== undefined)
      recorders.upgrading(request);
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    if (!recorders.active) return done();
    recorders.answered(request, reply).then(
      () => done(),
      () => done(),
    );
  });
}
