/**
 * @module app/drain
 * A stopping node's drain, and its bound. From the moment a stop begins (SIGTERM, SIGINT, `Gateway.close`):
 *
 * - every new request, `/readyz` included, is answered `503 SERVICE_UNAVAILABLE` with `Retry-After: 1` and
 *   `Connection: close` (coded, unlike Fastify's own `return503OnClosing` body), so a load balancer takes the node
 *   out of rotation and a client retries elsewhere; `/healthz` (liveness) still answers: the process is alive;
 * - the requests already in flight run to their end: an order is answered only once its journal entry has
 *   committed (store/journal.ts), so an order is acknowledged and stored, or never acknowledged;
 * - what is held here is known at every moment (`inFlight`, `stage`), so a drain cut at its bound logs exactly what
 *   it cut.
 *
 * The bound (`server.shutdownTimeoutMs`): the requests in flight get it less a reserve (a fifth of it, at most 1 s)
 * for writing behind what they left (last-seen times, the journal's last batch, lease release); at the request
 * deadline the connections still open are destroyed, and at the bound itself `stopWithin` gives up and says the
 * drain was cut (the CLI then exits 1). A client whose request was cut got no answer: it never saw an
 * acknowledgement, and retries with the same `clientOrderId` (an order) on another node.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { GatehouseError } from '../core/index.js';

/** Where a drain is: `serving` until it begins; `requests` while requests finish; `write-behind` while the node
 * writes what it holds and gives its leases up; `stopped` when all is done. */
export type DrainStage = 'serving' | 'requests' | 'write-behind' | 'stopped';

/** A request the node is still working on. */
export interface InFlightRequest {
  reqId: string;
  method: string;
  /** The route pattern (never the raw URL: a login id travels in a path). */
  route: string;
  /** How long it has run, in ms. */
  ms: number;
}

/** What a drain had not finished when it was cut. */
export interface DrainCut {
  stage: DrainStage;
  requests: InFlightRequest[];
  /** Last-seen times not yet written. */
  pendingLastSeen: number;
  /** Journal entries (orders, fills) not yet committed: none of them was acknowledged. */
  pendingJournal: number;
}

/** How long the requests in flight get of a drain bound of `graceMs`: the rest is kept for writing behind. */
export function requestDeadlineMs(graceMs: number): number {
  return graceMs - Math.min(1_000, Math.floor(graceMs / 5));
}

const SERVICE_PATHS = new Set(['/healthz']);

export class Drain {
  #stage: DrainStage = 'serving';
  #cut: InFlightRequest[] | null = null;
  readonly #inFlight = new Map<string, { method: string; route: string; since: number }>();

  /** Whether a stop has begun (new requests are refused). */
  get draining(): boolean {
    return this.#stage !== 'serving';
  }

  get stage(): DrainStage {
    return this.#stage;
  }

  /** Moves the drain on (`requests` first: from then on new requests are refused). */
  enter(stage: Exclude<DrainStage, 'serving'>): void {
    this.#stage = stage;
  }

  /** The requests still running, oldest first. */
  inFlight(now = Date.now()): InFlightRequest[] {
    return [...this.#inFlight].map(([reqId, r]) => ({
      reqId,
      method: r.method,
      route: r.route,
      ms: now - r.since,
    }));
  }

  /** Records the requests about to be cut at the request deadline (their connections are destroyed next). */
  markCut(now = Date.now()): InFlightRequest[] {
    const cut = this.inFlight(now);
    if (cut.length > 0) this.#cut = cut;
    return cut;
  }

  /** The requests cut at the request deadline, or null if none was. */
  get cut(): InFlightRequest[] | null {
    return this.#cut;
  }

  /**
   * Hooks on the public app, before any other: the refusal while draining and the record of requests in flight.
   * The refusal is thrown, so the error handler writes the usual envelope and `Retry-After`.
   */
  install(app: FastifyInstance): void {
    // Callback hooks: they run on every request, and a promise each would cost more than the work they do.
    app.addHook('onRequest', (request, reply, done) => {
      if (this.draining && !SERVICE_PATHS.has(request.url)) {
        reply.header('connection', 'close');
        done(
          new GatehouseError('SERVICE_UNAVAILABLE', 'This node is stopping: send requests to another node.', {
            retryAfterMs: 1_000,
          }),
        );
        return;
      }
      // A stream's upgrade is not a request in flight: the stream lives on, and is closed with 1012 at the stop.
      if (request.headers.upgrade === undefined) {
        const id = request.id;
        this.#inFlight.set(id, {
          method: request.method,
          route: request.routeOptions.url ?? '(unmatched)',
          since: Date.now(),
        });
        // Ended however it ends: answered, aborted by the client, or cut by a fault that destroys the socket.
        reply.raw.once('close', () => this.#inFlight.delete(id));
      }
      done();
    });
    const ended = (request: FastifyRequest, _reply: FastifyReply, done: () => void) => {
      this.#inFlight.delete(request.id);
      done();
    };
    app.addHook('onResponse', ended);
  }
}

/** What `stopWithin` needs of a gateway. */
export interface Stoppable {
  drain: Drain;
  close(): Promise<void>;
  /** Counts of what is still held to be written (logged when a drain is cut). */
  pendingWrites(): { pendingLastSeen: number; pendingJournal: number };
}

export type StopOutcome =
  | { outcome: 'drained'; ms: number }
  | { outcome: 'cut'; ms: number; cut: DrainCut }
  | { outcome: 'failed'; ms: number; error: unknown };

/**
 * Stops `gateway` within `graceMs`: `drained` when everything finished in time, `cut` when requests had to be cut
 * at the request deadline or the bound passed first (each logged at error level with what was cut), `failed`
 * when a step of the stop threw.
 */
export async function stopWithin(gateway: Stoppable, graceMs: number, log: Logger): Promise<StopOutcome> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<'bound'>((resolve) => {
    timer = setTimeout(() => resolve('bound'), graceMs);
  });
  const closing = gateway.close().then(
    () => 'closed' as const,
    (error: unknown) => ({ error }),
  );
  const first = await Promise.race([closing, bound]);
  clearTimeout(timer);
  const ms = Date.now() - started;
  const { drain } = gateway;
  if (first === 'bound') {
    const cut: DrainCut = {
      stage: drain.stage,
      requests: drain.cut ?? drain.inFlight(),
      ...gateway.pendingWrites(),
    };
    log.error({ graceMs, ...cut }, 'shutdown cut at its bound: what is listed was not finished');
    return { outcome: 'cut', ms, cut };
  }
  if (first !== 'closed') {
    log.error({ err: first.error }, 'shutdown failed');
    return { outcome: 'failed', ms, error: first.error };
  }
  if (drain.cut !== null) {
    const cut: DrainCut = { stage: 'requests', requests: drain.cut, ...gateway.pendingWrites() };
    return { outcome: 'cut', ms, cut };
  }
  log.info({ ms }, 'shutdown complete: every request finished and everything held was written');
  return { outcome: 'drained', ms };
}
