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
 * for writing behind what they left (last-seen times, the journal's last batch, lease release). Idle keep-alive
 * connections are closed when the drain begins. At the request deadline every connection still open is destroyed
 * (`cutConnections`) — one carrying a request, a request still being sent (headers or body a byte at a time), a
 * stream whose client stopped reading — and a drain that destroyed any is cut; at the bound itself `stopWithin`
 * gives up and says the drain was cut. The CLI exits 1 on a cut drain. A client whose request was cut got no answer: it never saw an
 * acknowledgement, and retries with the same `clientOrderId` (an order) on another node.
 */
import type { Socket } from 'node:net';
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

/** What was still open at the request deadline, destroyed there. */
export interface CutConnections {
  /** The requests still running (their connections are among `connections`). */
  requests: InFlightRequest[];
  /** Streams (WebSockets) still open: their clients had not completed the close. */
  streams: number;
  /** Every connection destroyed, streams included: a request still being sent is one with no request listed. */
  connections: number;
}

/** What a drain had not finished when it was cut. */
export interface DrainCut extends CutConnections {
  stage: DrainStage;
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
  #cut: CutConnections | null = null;
  readonly #inFlight = new Map<string, { method: string; route: string; since: number }>();
  /** Every connection open on the public listener; the streams among them. */
  readonly #sockets = new Set<Socket>();
  readonly #streams = new WeakSet<Socket>();

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

  /**
   * Begins the drain of `app`: new requests are refused from now on, and idle keep-alive connections are closed at
   * once (their next request would only be refused).
   */
  begin(app: FastifyInstance): void {
    this.enter('requests');
    app.server.closeIdleConnections?.();
  }

  /**
   * Arms the request deadline, `ms` from now: what is still open then is cut (`cutConnections`) and logged at error
   * level. Returns its disarm, for a drain that finished first.
   */
  armDeadline(app: FastifyInstance, ms: number, log: Logger): () => void {
    const timer = setTimeout(() => {
      const cut = this.cutConnections();
      if (cut.requests.length > 0 || cut.connections > 0)
        log.error(
          cut,
          'shutdown: requests still running at the deadline are cut, with every connection still open',
        );
      app.server.closeAllConnections?.();
    }, ms);
    timer.unref();
    return () => clearTimeout(timer);
  }

  /** The connections open now: all of them, and the streams among them. */
  open(): { streams: number; connections: number } {
    let streams = 0;
    for (const socket of this.#sockets) if (this.#streams.has(socket)) streams += 1;
    return { streams, connections: this.#sockets.size };
  }

  /**
   * The request deadline: records what is still open (requests, streams, connections) and destroys every
   * connection, so nothing a client holds (a request sent a byte at a time, a stream it stopped reading) keeps the
   * stop waiting. Returns what was cut; a drain that cut anything says so (`cut`).
   */
  cutConnections(now = Date.now()): CutConnections {
    const cut = { requests: this.inFlight(now), ...this.open() };
    if (cut.requests.length > 0 || cut.connections > 0) this.#cut = cut;
    for (const socket of this.#sockets) socket.destroy();
    return cut;
  }

  /** What was cut at the request deadline, or null if nothing was. */
  get cut(): CutConnections | null {
    return this.#cut;
  }

  /**
   * Hooks on the public app, before any other: the refusal while draining and the record of requests in flight.
   * The refusal is thrown, so the error handler writes the usual envelope and `Retry-After`.
   */
  install(app: FastifyInstance): void {
    app.server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
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
      if (request.headers.upgrade !== undefined) this.#streams.add(request.raw.socket);
      else {
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
 * Stops `gateway` within `graceMs`: `drained` when everything finished in time, `cut` when requests or connections
 * had to be cut at the request deadline or the bound passed first (each logged at error level with what was cut), `failed`
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
      ...(drain.cut ?? { requests: drain.inFlight(), ...drain.open() }),
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
    const cut: DrainCut = { stage: 'requests', ...drain.cut, ...gateway.pendingWrites() };
    return { outcome: 'cut', ms, cut };
  }
  log.info({ ms }, 'shutdown complete: every request finished and everything held was written');
  return { outcome: 'drained', ms };
}
