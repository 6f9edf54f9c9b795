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
 */
import type {
  DrillSubject,
  RecordedSessionChange,
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
import type { RecordingReader } from './recorder-faults.js';
import { assembleRecording, stepUpPending } from './recorder-reads.js';
import { clientSessions, type TokenOwner, tokenOwner, tokenRequestUser } from './recorder-subject.js';
import { DrillRecorder, type RecordingOwner, ROUTES, type Seen } from './recording.js';

export { DrillRecorder, type RecordingOwner } from './recording.js';

export interface RecorderParts {
  db: Kysely<Database>;
  clock: Clock;
  bus: EventBus;
  /** Brings the registry's hit counts up to date before faults are read (`Sandbox.list`). */
  flushFaults?: () => Promise<unknown>;
  /**
   * The client a token request proves to be (its assertion verified: `oauth/faults` `authenticatedClientId`);
   * without it, the client the request names. A stranger naming a recorded client adds nothing to its recording.
   */
  clientOf?: (form: Record<string, unknown>) => Promise<string | undefined>;
  limits?: Partial<RecorderLimits>;
}

export interface RecorderLimits {
  /** Recordings one person runs at once (default 2); one more → `OVERLOADED`, naming theirs to stop. */
  maxActivePerUser: number;
  /** Recordings people run at once on a node, all together (default 32); one more → `OVERLOADED`. */
  maxActive: number;
  /** Recordings the operator runs at once, apart from people's (default 8): no person takes the operator's room. */
  maxActiveOperator: number;
  /** Stopped recordings kept to be read, per owner (a person, or the operator; default 8, their oldest forgotten first). */
  maxKept: number;
  /** Entries per list of one recording (default 20 000 requests, a fifth of that for the other lists). */
  maxRequests: number;
  /** A recording stops by itself after this long (default 2 h; a scenario runs at most 1 h). */
  maxDurationMs: number;
}

const DEFAULT_LIMITS: RecorderLimits = {
  maxActivePerUser: 2,
  maxActive: 32,
  maxActiveOperator: 8,
  maxKept: 8,
  maxRequests: 20_000,
  maxDurationMs: 2 * 3_600_000,
};

/** The recordings of this node, and what the HTTP hooks and the bus feed them. */
export class DrillRecorders {
  /** True while a recording runs: the hooks test this and read nothing else. */
  active = false;
  readonly #parts: RecorderParts;
  readonly #limits: RecorderLimits;
  readonly #recordings = new Map<string, DrillRecorder>();
  /** Error codes of requests in flight, from the error hook to the response hook. */
  readonly #codes = new WeakMap<FastifyRequest, string>();
  /** Token requests in flight, from the pre-handler to the response hook. */
  readonly #tokenRequests = new WeakMap<FastifyRequest, RecordedTokenRequest[]>();
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
   * Starts recording `subject` (checked by the caller: `resolveSubject`) for `owner`. The client's program sessions
   * known now are followed from the start. Each owner has their own room: a person runs at most
   * `maxActivePerUser`, people together `maxActive`, the operator `maxActiveOperator` apart; one more →
   * `OVERLOADED`, nothing started.
   */
  async start(subject: DrillSubject, owner: RecordingOwner, personal: boolean): Promise<DrillRecorder> {
    const running = this.#running();
    const own = running.filter((r) => r.owner === owner).length;
    const limit = owner === null ? this.#limits.maxActiveOperator : this.#limits.maxActivePerUser;
    if (own >= limit)
      throw new GatehouseError(
        'OVERLOADED',
        `${owner === null ? 'The operator runs' : 'You run'} ${limit} recordings already; stop one first.`,
        { limit },
      );
    if (owner !== null && running.filter((r) => r.owner !== null).length >= this.#limits.maxActive)
      throw new GatehouseError('OVERLOADED', 'Too many drills are recording on this node; try again later.', {
        limit: this.#limits.maxActive,
      });
    const now = this.#parts.clock.now();
    const recorder = new DrillRecorder(
      newTimeOrderedId('rec', now),
      subject,
      owner,
      personal,
      now,
      this.#limits.maxRequests,
    );
    for (const id of await clientSessions(this.#parts.db, subject.clientId, subject.userId))
      recorder.sessions.add(id);
    this.#recordings.set(recorder.id, recorder);
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

  /** Stops a recording (it stays readable until `maxKept` newer ones of its owner push it out). */
  stop(id: string): DrillRecorder {
    const recorder = this.get(id);
    if (recorder.stoppedAt === null) recorder.stoppedAt = this.#parts.clock.now();
    this.#refreshActive();
    this.#forgetOld(recorder.owner);
    return recorder;
  }

  /**
   * The recording as `GET /v1/sandbox/recordings/{id}` answers it to `reader` (a person's user id, or null for an
   * operator): the hooks' entries and the database's, with the faults the reader may see.
   */
  async read(id: string, reader: RecordingReader): Promise<Recording> {
    const recorder = this.get(id);
    await this.#parts.flushFaults?.();
    return assembleRecording(
      this.#parts.db,
      recorder,
      reader,
      recorder.stoppedAt ?? this.#parts.clock.now(),
      Math.ceil(this.#limits.maxRequests / 5),
    );
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

  /**
   * The pre-handler hook: a token request naming a recorded client, before it is handled. A personal client's are
   * its owner's; an app's are recorded only when the code or refresh token presented is of the subject's grant.
   */
  async asking(request: FastifyRequest): Promise<void> {
    const form = formOf(request);
    const clientId = formClient(form);
    const now = this.#parts.clock.now();
    const recorders = this.#running().filter((r) => r.subject.clientId === clientId);
    if (clientId === undefined || recorders.length === 0) return;
    if (this.#parts.clientOf !== undefined && (await this.#parts.clientOf(form)) !== clientId) return;
    const user = recorders.every((r) => r.personal)
      ? undefined
      : await tokenRequestUser(this.#parts.db, clientId, form);
    const entries = recorders
      .filter((r) => r.personal || user === r.subject.userId)
      .map((r) => r.tokenAsked(form, now));
    if (entries.length > 0) this.#tokenRequests.set(request, entries);
  }

  /** The pre-handler hook: a stream upgrade of a recorded client's session. */
  upgrading(request: FastifyRequest): void {
    const principal = request.principal;
    const clientId = principal?.api?.clientId;
    if (principal === undefined || clientId === undefined) return;
    const now = this.#parts.clock.now();
    for (const recorder of this.#running()) {
      if (recorder.subject.clientId !== clientId || recorder.subject.userId !== principal.session.userId)
        continue;
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
      for (const entry of this.#tokenRequests.get(request) ?? []) {
        entry.status = reply.statusCode;
        entry.outcome = reply.statusCode === 200 ? 'issued' : 'refused';
        entry.error = code;
      }
      return;
    }
    let clientId = request.principal?.api?.clientId;
    let userId = request.principal?.session.userId;
    let seen: Seen = { sessionId: request.principal?.session.id ?? null, code, tokenExpired: false };
    if (clientId === undefined) {
      // Refused before a principal: the bot's only if its access token is one of the client's.
      const token = dpopToken(request);
      if (token === undefined) return;
      const owner = await this.#tokenOwner(sha256(token));
      if (owner === undefined) return;
      clientId = owner.clientId;
      userId = owner.userId;
      seen = {
        sessionId: owner.sessionId,
        code,
        tokenExpired: code === 'INVALID_TOKEN' && !owner.revoked && owner.expiresAt <= now,
      };
    }
    // An app is shared: only the subject's own grant's requests are the recording's.
    for (const recorder of this.#running())
      if (recorder.subject.clientId === clientId && recorder.subject.userId === userId)
        recorder.request(request, reply, now, seen);
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
    const owners = new Set<RecordingOwner>();
    for (const recorder of this.#recordings.values())
      if (recorder.recording && now - recorder.startedAt > this.#limits.maxDurationMs) {
        recorder.stoppedAt = recorder.startedAt + this.#limits.maxDurationMs;
        owners.add(recorder.owner);
      }
    if (owners.size === 0) return;
    this.#refreshActive();
    for (const owner of owners) this.#forgetOld(owner);
  }

  #refreshActive(): void {
    this.active = [...this.#recordings.values()].some((r) => r.recording);
  }

  /** Forgets the owner's oldest stopped recordings beyond `maxKept`: another owner's are never touched. */
  #forgetOld(owner: RecordingOwner): void {
    const stopped = [...this.#recordings.values()]
      .filter((r) => !r.recording && r.owner === owner)
      .sort((a, b) => (a.stoppedAt ?? 0) - (b.stoppedAt ?? 0));
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

function formOf(request: FastifyRequest): Record<string, unknown> {
  return (typeof request.body === 'object' && request.body !== null ? request.body : {}) as Record<
    string,
    unknown
  >;
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
    if (recorders.active) {
      const route = request.routeOptions.url;
      if (route === ROUTES.token) {
        recorders.asking(request).then(
          () => done(),
          () => done(),
        );
        return;
      }
      if (route === ROUTES.stream && request.principal !== undefined) recorders.upgrading(request);
    }
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
