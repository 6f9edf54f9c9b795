/**
 * @module sandbox/recording
 * One drill recording in memory (sandbox/recorder.ts feeds it): the client's sessions seen, and its entries as the
 * HTTP hooks and the bus give them — requests, token requests, placements, cancels, dead-man switch changes,
 * stream opens, closes and event reads, session changes — each bounded (entries beyond are counted in `dropped`).
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
} from '@gatehouse/protocol';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sha256 } from '../core/index.js';

/** The routes whose requests the recording reads more of than their status. */
export const ROUTES = {
  token: '/oauth2/token',
  place: '/v1/accounts/:accountId/orders',
  order: '/v1/accounts/:accountId/orders/:orderId',
  events: '/v1/accounts/:accountId/events',
  deadMan: '/v1/safety/dead-man',
  stream: '/v1/stream',
  snapshot: '/v1/marketdata/snapshot',
} as const;

/** A recording's owner: an operator (null) or the user who started it. */
export type RecordingOwner = string | null;

export const iso = (ms: number) => new Date(ms).toISOString();

/** One recording, in memory. */
export class DrillRecorder {
  readonly id: string;
  readonly subject: DrillSubject;
  readonly owner: RecordingOwner;
  /** A personal client (its owner is the only user of it), or a shared app (only the subject's grant counts). */
  readonly personal: boolean;
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
  /** Instruments the client asked to trade or quote (ids): an instrument's fault is listed only for these. */
  readonly instruments = new Set<number>();
  dropped = 0;
  readonly #refreshRefs = new Set<string>();
  readonly #stepUp = new Map<string, boolean>();
  #streamCount = 0;
  readonly #limit: number;

  constructor(
    id: string,
    subject: DrillSubject,
    owner: RecordingOwner,
    personal: boolean,
    startedAt: number,
    limit: number,
  ) {
    this.id = id;
    this.subject = subject;
    this.owner = owner;
    this.personal = personal;
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
    const ok = status < 400;
    if (
      seen.code === 'SESSION_RESET' &&
      seen.sessionId !== null &&
      this.#lastChange(seen.sessionId) !== 'reset'
    )
      this.change(seen.sessionId, 'reset', true, 'refused with SESSION_RESET', at);
    if (route === ROUTES.place && request.method === 'POST') this.#instrument(body.instrumentId);
    else if (route === ROUTES.snapshot) {
      const asked = (request.query as Record<string, unknown> | undefined)?.instruments;
      if (typeof asked === 'string' && /^\d+(,\d+){0,99}$/.test(asked))
        for (const id of asked.split(',')) this.#instrument(id);
    }
    if (route === ROUTES.place && request.method === 'POST' && params.accountId === this.subject.accountId) {
      const clientOrderId = typeof body.clientOrderId === 'string' ? body.clientOrderId.slice(0, 128) : '';
      this.push(this.placements, {
        at: iso(at),
        clientOrderId,
        orderId: null,
        outcome:
          status === 201
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

  /**
   * A request to the token endpoint naming this recording's client, as it is handled: recorded without an answer
   * (`no_response`) until `answered` fills it in — a connection cut after the commit never is.
   */
  tokenAsked(form: Record<string, unknown>, at: number): RecordedTokenRequest {
    const grantType = typeof form.grant_type === 'string' ? form.grant_type.slice(0, 64) : '';
    const refresh = typeof form.refresh_token === 'string' ? sha256(form.refresh_token).slice(0, 16) : null;
    const retry = refresh !== null && this.#refreshRefs.has(refresh);
    if (refresh !== null) this.#refreshRefs.add(refresh);
    const entry: RecordedTokenRequest = {
      at: iso(at),
      grantType,
      outcome: 'no_response',
      status: 0,
      error: null,
      refreshRef: refresh,
      retry,
    };
    this.push(this.tokenRequests, entry);
    return entry;
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

  #instrument(value: unknown): void {
    const id = typeof value === 'string' ? Number(value) : value;
    if (typeof id === 'number' && Number.isSafeInteger(id) && this.instruments.size < 1_000)
      this.instruments.add(id);
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
export interface Seen {
  sessionId: string | null;
  code: string | null;
  tokenExpired: boolean;
}
