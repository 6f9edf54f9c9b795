/**
 * @module sandbox/http-faults
 * The transport family's conditions at the HTTP layer: a maintenance window, added latency with jitter, 5xx or 429
 * at a rate, and a pacing limit. They strike where an overloaded or closed node answers — before the route does
 * anything — so nothing behind them (order entry, the token service) runs for a refused request, and a delayed one
 * runs after its delay; audit, metrics and the session's last-seen see what they would see of the real failure.
 *
 * Where each is asked:
 * - faults on everyone, in an `onRequest` hook, before authentication, as a load balancer or a node in maintenance
 *   answers before it knows the caller (a bot must not read a 401 into a maintenance window);
 * - faults on a user, a session or an API client, once the authenticator knows the caller (`CallerFaults`, for
 *   every authenticated route and the `/v1/stream` upgrade);
 * - on the OAuth endpoints, which authenticate a client rather than a session, once the request proves to be the
 *   client's (`clientOf`: its client assertion verifies): a stranger naming a `client_id` neither spends a fault's
 *   `afterRequests` count or hits, nor learns from a different answer that a fault is there.
 * A fault on everyone and a targeted one of the same kind holding at once: the one on everyone decides (it was
 * asked first, and a request is asked about each kind once). The hooks exist only with the sandbox on; with it on
 * and no fault scheduled each costs one property read (`faults.armed`).
 *
 * `/healthz`, `/readyz` and the sandbox's own API (`/v1/sandbox/…`, `/v1/admin/sandbox/…`) are never struck: a planned maintenance window
 * leaves the node in rotation, and whoever injected a fault must be able to clear it.
 *
 * What each kind does (docs/sandbox.md):
 * - `maintenance` {retryAfterS}: `503 SERVICE_UNAVAILABLE`, the message saying it is planned maintenance,
 *   `Retry-After` and `details.retryAfterMs`; a hit per refused request.
 * - `http.latency` {ms, jitterMs}: the request waits `ms ± jitterMs` (uniform, never below 0) before it is handled,
 *   as Toxiproxy's latency toxic adds `latency ± jitter` (research/faults-and-cluster.md A1); the jitter is drawn
 *   from a generator seeded with the fault's schedule seed, so a replay waits the same. A hit per delayed request.
 * - `http.error` {status, rate}: a request fails when a draw from that seeded generator falls below `rate` AND the
 *   schedule lets the fault act (its `afterRequests` reached, its own `probability` drawn): the chances multiply,
 *   and `afterRequests` counts the requests `rate` picked. 429 is `RATE_LIMITED` with `Retry-After: 1`; 500 is
 *   `INTERNAL`; 502 and 503 are `SERVICE_UNAVAILABLE`, as an overloaded node answers. A hit per failed request.
 * - `http.pacing` {perSecond}: at most `perSecond` requests in each fixed window of a second, then `429
 *   RATE_LIMITED` with `Retry-After` until the window ends, as IBKR paces its Web API (research/ibkr-cpapi.md §1,
 *   "Pacing": fixed limits per second, 429 over them). Counted per client address for a fault on everyone (IBKR
 *   counts per address), per user, session or client for a targeted one. Every request is counted; the refusal is
 *   the fault's hit, and the schedule's probability decides whether an over-limit request is refused.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import type { Kysely } from 'kysely';
import {
  type ActiveFault,
  type Clock,
  type ErrorCode,
  type FaultProbe,
  type FaultSubject,
  GatehouseError,
  toEnvelope,
} from '../core/index.js';
import { type CallerFaults, SelfRenderingError } from '../http/index.js';
import type { Principal } from '../sessions/index.js';
import type { Database } from '../store/index.js';
import { seededRandom } from './random.js';

export interface HttpFaultParts {
  faults: FaultProbe;
  clock: Clock;
  /** Where a fault's schedule (its seed) is read, once per fault and node. */
  db: Kysely<Database>;
  /**
   * The client a form request to an OAuth endpoint authenticates as (its `private_key_jwt` assertion verified, not
   * spent), or undefined. Without it, no client-targeted fault strikes there.
   */
  clientOf?: (form: Record<string, unknown>) => Promise<string | undefined>;
}

/** Routes no HTTP fault strikes: health and readiness, and the sandbox's own API. */
const EXEMPT = new Set(['/healthz', '/readyz']);
const SANDBOX_API = ['/v1/sandbox/', '/v1/admin/sandbox/'];
/** The OAuth endpoints that authenticate a client: client-targeted faults strike there on the client's requests. */
const OAUTH_CLIENT_ROUTES = new Set(['/oauth2/token', '/oauth2/par', '/oauth2/revoke', '/oauth2/introspect']);
/** The subject of a request whose caller is not known yet: only faults on everyone match it. */
const EVERYONE: FaultSubject = Object.freeze({});
const MAX_TRACKED = 10_000;
const HTTP_KINDS = ['maintenance', 'http.pacing', 'http.latency', 'http.error'] as const;
/** Mixed into a fault's seed for this module's draws. */
const JITTER_STREAM = 0x5bd1e995;

/** The answer an HTTP fault gives, written as the node would write it (the error handler lets it). */
export class HttpFaultAnswer extends SelfRenderingError {
  constructor(
    readonly status: number,
    readonly error: GatehouseError,
    readonly retryAfterS?: number,
  ) {
    super(error.message);
    this.name = 'HttpFaultAnswer';
  }

  render(reply: FastifyReply): FastifyReply {
    if (this.retryAfterS !== undefined) reply.header('retry-after', String(this.retryAfterS));
    return reply.code(this.status).send(toEnvelope(this.error));
  }
}

function answer(status: number, code: ErrorCode, message?: string, retryAfterS?: number): HttpFaultAnswer {
  const details = retryAfterS === undefined ? undefined : { retryAfterMs: retryAfterS * 1000 };
  return new HttpFaultAnswer(status, new GatehouseError(code, message, details), retryAfterS);
}

function exempt(request: FastifyRequest): boolean {
  const route = request.routeOptions.url;
  return route !== undefined && (EXEMPT.has(route) || SANDBOX_API.some((prefix) => route.startsWith(prefix)));
}

/**
 * The client an OAuth request names: `client_id`, or the `iss` of its client assertion (read, not verified: only to
 * tell whether a fault is there to ask about; the assertion is verified before one strikes).
 */
function namedClient(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const form = body as Record<string, unknown>;
  if (typeof form.client_id === 'string') return form.client_id;
  if (typeof form.client_assertion !== 'string') return undefined;
  try {
    const payload = JSON.parse(
      Buffer.from(form.client_assertion.split('.')[1] ?? '', 'base64url').toString(),
    );
    return typeof payload?.iss === 'string' ? payload.iss : undefined;
  } catch {
    return undefined;
  }
}

export class HttpFaults implements CallerFaults {
  readonly #parts: HttpFaultParts;
  /** Each fault's generator, seeded with its schedule's seed (jitter and rate draws). */
  readonly #draws = new Map<string, Promise<() => number>>();
  /** Pacing windows, by fault and subject. */
  readonly #windows = new Map<string, { start: number; count: number }>();

  constructor(parts: HttpFaultParts) {
    this.#parts = parts;
  }

  get armed(): boolean {
    return this.#parts.faults.armed;
  }

  /** Hooks: faults on everyone before anything else; client-targeted ones on the OAuth endpoints. */
  install(app: FastifyInstance): void {
    app.addHook('onRequest', (request, _reply, done) => {
      if (!this.#parts.faults.armed || exempt(request)) return done();
      const struck = this.#strike(request, EVERYONE, true);
      if (struck === undefined) return done();
      struck.then(() => done(), done);
    });
    app.addHook('onRoute', (route: RouteOptions) => {
      if (!OAUTH_CLIENT_ROUTES.has(route.url)) return;
      const before = route.preHandler === undefined ? [] : [route.preHandler].flat();
      route.preHandler = [
        (request, _reply, done) => {
          const named = this.#parts.faults.armed ? namedClient(request.body) : undefined;
          if (named === undefined || !this.#holdsOnClient(named)) return done();
          this.#authenticated(request.body).then((clientId) => {
            const struck = clientId === named ? this.#strike(request, { clientId }, false) : undefined;
            if (struck === undefined) return done();
            struck.then(() => done(), done);
          }, done);
        },
        ...before,
      ];
    });
  }

  /** Whether any HTTP fault holds on the client (no hit counted): only then is its request authenticated here. */
  #holdsOnClient(clientId: string): boolean {
    const faults = this.#parts.faults;
    return HTTP_KINDS.some((kind) => faults.holds(kind, { clientId }) !== undefined);
  }

  async #authenticated(body: unknown): Promise<string | undefined> {
    const { clientOf } = this.#parts;
    if (clientOf === undefined || typeof body !== 'object' || body === null) return undefined;
    return clientOf(body as Record<string, unknown>);
  }

  /** Faults on the caller, once known: rejects with the answer, resolves after a delay, or undefined (nothing). */
  strike(request: FastifyRequest, principal: Principal): Promise<void> | undefined {
    if (exempt(request)) return undefined;
    const { session, api } = principal;
    return this.#strike(
      request,
      { userId: session.userId, sessionId: session.id, clientId: api?.clientId },
      false,
    );
  }

  #strike(request: FastifyRequest, subject: FaultSubject, everyone: boolean): Promise<void> | undefined {
    const faults = this.#parts.faults;
    // Asked already by the onRequest hook (a fault on everyone of the kind holds).
    const asked = (kind: 'maintenance' | 'http.pacing' | 'http.latency' | 'http.error') =>
      !everyone && faults.holds(kind, EVERYONE) !== undefined;
    if (!asked('maintenance')) {
      const window = faults.take('maintenance', subject);
      if (window !== undefined) {
        const s = window.params.retryAfterS as number;
        return Promise.reject(
          answer(503, 'SERVICE_UNAVAILABLE', `Planned maintenance: the gateway is back in about ${s} s.`, s),
        );
      }
    }
    if (!asked('http.pacing')) {
      const pacing = faults.holds('http.pacing', subject);
      if (pacing !== undefined) {
        const key = everyone ? `${pacing.id}\u0000${request.ip}` : pacing.id;
        const waitMs = this.#pace(key, pacing.params.perSecond as number);
        if (waitMs !== undefined && faults.take('http.pacing', subject) !== undefined)
          return Promise.reject(
            answer(
              429,
              'RATE_LIMITED',
              'Too many requests in this second; slow down.',
              Math.max(1, Math.ceil(waitMs / 1000)),
            ),
          );
      }
    }
    const latency = asked('http.latency') ? undefined : faults.take('http.latency', subject);
    const error = asked('http.error') ? undefined : faults.holds('http.error', subject);
    if (latency === undefined && error === undefined) return undefined;
    return this.#slowOrFail(latency, error, subject);
  }

  async #slowOrFail(
    latency: ActiveFault | undefined,
    error: ActiveFault | undefined,
    subject: FaultSubject,
  ): Promise<void> {
    if (latency !== undefined) {
      const draw = await this.#drawsOf(latency.id);
      const ms = latency.params.ms as number;
      const jitter = latency.params.jitterMs as number;
      const delay = Math.max(0, Math.round(ms + jitter * (2 * draw() - 1)));
      if (delay > 0) await sleep(delay);
    }
    if (error === undefined) return;
    const draw = await this.#drawsOf(error.id);
    if (draw() >= (error.params.rate as number)) return;
    const struck = this.#parts.faults.take('http.error', subject);
    if (struck === undefined) return;
    const status = struck.params.status as number;
    if (status === 429) throw answer(429, 'RATE_LIMITED', undefined, 1);
    throw answer(status, status === 500 ? 'INTERNAL' : 'SERVICE_UNAVAILABLE');
  }

  /** Counts a request in its window of a second; the ms until the window ends when it is over the limit. */
  #pace(key: string, perSecond: number): number | undefined {
    const now = this.#parts.clock.now();
    let window = this.#windows.get(key);
    if (window === undefined || now >= window.start + 1_000) {
      if (window === undefined && this.#windows.size >= MAX_TRACKED) {
        const oldest = this.#windows.keys().next();
        if (oldest.done !== true) this.#windows.delete(oldest.value);
      }
      window = { start: now, count: 0 };
      this.#windows.set(key, window);
    }
    if (window.count >= perSecond) return window.start + 1_000 - now;
    window.count += 1;
    return undefined;
  }

  /** The fault's generator, from its schedule's seed (1 without one, as the registry's draws). */
  #drawsOf(faultId: string): Promise<() => number> {
    let draws = this.#draws.get(faultId);
    if (draws === undefined) {
      if (this.#draws.size >= MAX_TRACKED) this.#draws.clear();
      draws = this.#parts.db
        .selectFrom('sandbox_faults')
        .select('schedule')
        .where('id', '=', faultId)
        .executeTakeFirst()
        .then((row) => {
          const seed = row === undefined ? undefined : (JSON.parse(row.schedule) as { seed?: number }).seed;
          // Its own sequence, apart from the registry's probability draws under the same seed.
          return seededRandom(((seed ?? 1) ^ JITTER_STREAM) >>> 0);
        })
        .catch(() => seededRandom(JITTER_STREAM));
      this.#draws.set(faultId, draws);
    }
    return draws;
  }
}
