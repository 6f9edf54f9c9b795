/**
 * @module ws/session-stream
 * `/v1/stream`: a session's live channel. Authenticated at the upgrade, before the socket opens — by the session
 * cookie with an Origin check (the gateway's own origin or `server.allowedOrigins`; a foreign origin is refused),
 * or by a mobile or desktop bearer token with its device proof. Topic `session` carries the state changes a client must react to: `competing`,
 * `brokerage_acquired`, `step_up_required`, `expiring` (60 s before idle or absolute expiry), `expired`, `reset`,
 * `revoked`. A heartbeat goes out every 10 s; every message has a per-connection sequence number; the server
 * closes with a coded reason (4001 revoked, 4002 expired).
 */
import type {} from '@fastify/websocket';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import type { GatewayContext } from '../app/context.js';
import { type ErrorCode, GatehouseError } from '../core/index.js';
import { checkDeviceProof, sessionCookieName } from '../http/index.js';
import { type Principal, sessionState, usesDeviceKey } from '../sessions/index.js';

const HEARTBEAT_MS = 10_000;
const EXPIRING_NOTICE_MS = 60_000;
const TICK_MS = 250;
/** How often the stream re-reads the session row (revocation, step-up, activity written by other nodes). */
const RELOAD_MS = 5_000;

const CLOSE_CODES: Partial<Record<ErrorCode, number>> = { SESSION_REVOKED: 4001, SESSION_EXPIRED: 4002 };

function checkOrigin(ctx: GatewayContext, request: FastifyRequest): void {
  const origin = request.headers.origin;
  if (origin === undefined) return; // not a browser: no ambient-credential risk from other sites
  const own = `${request.protocol}://${request.host}`;
  if (origin === own || ctx.config.server.allowedOrigins.includes(origin)) return;
  throw new GatehouseError('ORIGIN_NOT_ALLOWED');
}

async function authenticateUpgrade(ctx: GatewayContext, request: FastifyRequest): Promise<Principal> {
  const header = request.headers.authorization;
  if (header?.startsWith('Bearer ')) {
    const token = header.slice(7).trim();
    const principal = await ctx.sessions.authenticate(token, request.ip);
    if (!usesDeviceKey(ctx.login.policies, principal.session.channel))
      throw new GatehouseError('UNAUTHENTICATED');
    await checkDeviceProof(ctx, request, principal, token);
    return principal;
  }
  checkOrigin(ctx, request);
  const token = request.cookies[sessionCookieName(request)];
  if (token === undefined || token.length === 0) throw new GatehouseError('UNAUTHENTICATED');
  const principal = await ctx.sessions.authenticate(token, request.ip);
  if (usesDeviceKey(ctx.login.policies, principal.session.channel))
    throw new GatehouseError('UNAUTHENTICATED');
  return principal;
}

class SessionStream {
  #seq = 0;
  #closed = false;
  readonly #sent = new Set<string>();
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #unsubscribe: (() => void)[] = [];
  #lastSeen: number;
  #expiresAt: number;
  #idleTimeoutMs: number;
  #stepUp: boolean;
  #lastReload = 0;
  #nextResetAt = 0;
  #hadBrokerage = false;

  constructor(
    readonly ctx: GatewayContext,
    readonly socket: WebSocket,
    readonly principal: Principal,
  ) {
    const { session } = principal;
    this.#lastSeen = session.lastSeenAt;
    this.#expiresAt = session.expiresAt;
    this.#idleTimeoutMs = session.idleTimeoutMs;
    this.#stepUp = session.stepUpRequired;
  }

  send(type: string, data: Record<string, unknown> = {}): void {
    if (this.#closed) return;
    this.#seq += 1;
    this.socket.send(
      JSON.stringify({
        topic: 'session',
        type,
        seq: this.#seq,
        at: new Date(this.ctx.clock.now()).toISOString(),
        ...data,
      }),
    );
  }

  close(code: ErrorCode): void {
    if (this.#closed) return;
    this.send(code === 'SESSION_REVOKED' ? 'revoked' : 'expired', { code });
    this.#closed = true;
    this.socket.close(CLOSE_CODES[code] ?? 4000, code);
  }

  async start(): Promise<void> {
    const { ctx, principal } = this;
    const sessionId = principal.session.id;
    const state = await sessionState(this.#brokerageDeps(), principal);
    this.#nextResetAt = Date.parse(state.nextResetAt);
    this.#hadBrokerage = state.tier === 'brokerage';
    this.send('hello', { sessionId, state });
    this.#unsubscribe.push(
      ctx.bus.subscribe('session.competing', (m) => {
        if (m.sessionId !== sessionId) return;
        this.#hadBrokerage = false;
        this.send('competing', { bySessionId: m.bySessionId });
      }),
      ctx.bus.subscribe('session.brokerage', (m) => {
        if (m.sessionId !== sessionId) return;
        this.#hadBrokerage = true;
        this.send('brokerage_acquired');
      }),
      ctx.bus.subscribe('session.revoked', (m) => {
        if (m.sessionId === sessionId) this.close('SESSION_REVOKED');
      }),
      ctx.bus.subscribe('session.changed', (m) => {
        if (m.sessionId === sessionId) this.#reload().catch(() => {});
      }),
    );
    const heartbeat = setInterval(() => {
      this.send('heartbeat');
      this.socket.ping();
    }, HEARTBEAT_MS);
    const tick = setInterval(() => {
      this.#tick().catch((error: unknown) => ctx.logger.error({ err: error }, 'session stream tick failed'));
    }, TICK_MS);
    heartbeat.unref();
    tick.unref();
    this.#timers.push(heartbeat, tick);
    this.socket.once('close', () => this.stop());
  }

  #brokerageDeps() {
    return this.ctx.brokerage;
  }

  async #reload(): Promise<void> {
    this.#lastReload = this.ctx.clock.now();
    const row = await this.ctx.sessions.findById(this.principal.session.id);
    if (row === undefined || row.revokedAt !== null) return this.close('SESSION_REVOKED');
    this.#lastSeen = Math.max(this.#lastSeen, row.lastSeenAt);
    if (row.stepUpRequired && !this.#stepUp) this.send('step_up_required', { reason: 'network_changed' });
    this.#stepUp = row.stepUpRequired;
    return undefined;
  }

  async #tick(): Promise<void> {
    if (this.#closed) return;
    const now = this.ctx.clock.now();
    const pending = this.ctx.sessions.pendingLastSeen(this.principal.session.id);
    if (pending !== undefined) this.#lastSeen = Math.max(this.#lastSeen, pending);
    if (now - this.#lastReload >= RELOAD_MS) await this.#reload();
    if (this.#closed) return;
    const idleAt = this.#lastSeen + this.#idleTimeoutMs;
    const deadline = Math.min(idleAt, this.#expiresAt);
    const reason = idleAt <= this.#expiresAt ? 'idle' : 'absolute';
    if (now >= deadline) {
      // Activity on another node may have moved the deadline: check the row before ending the stream.
      await this.#reload();
      if (!this.#closed && now >= Math.min(this.#lastSeen + this.#idleTimeoutMs, this.#expiresAt))
        this.close('SESSION_EXPIRED');
      return;
    }
    const key = `expiring:${deadline}`;
    if (deadline - now <= EXPIRING_NOTICE_MS && !this.#sent.has(key)) {
      this.#sent.add(key);
      this.send('expiring', { reason, expiresAt: new Date(deadline).toISOString(), inMs: deadline - now });
    }
    if (now >= this.#nextResetAt) {
      if (this.#hadBrokerage) this.send('reset', { at: new Date(this.#nextResetAt).toISOString() });
      this.#hadBrokerage = false;
      const state = await sessionState(this.#brokerageDeps(), this.principal);
      this.#nextResetAt = Date.parse(state.nextResetAt);
    }
  }

  stop(): void {
    this.#closed = true;
    for (const timer of this.#timers) clearInterval(timer);
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
  }
}

export async function sessionStreamRoutes(app: FastifyInstance, ctx: GatewayContext): Promise<void> {
  app.get(
    '/v1/stream',
    {
      websocket: true,
      preValidation: async (request) => {
        (request as unknown as { principal: Principal }).principal = await authenticateUpgrade(ctx, request);
      },
    },
    (socket, request) => {
      const stream = new SessionStream(
        ctx,
        socket,
        (request as unknown as { principal: Principal }).principal,
      );
      stream.start().catch((error: unknown) => {
        ctx.logger.error({ err: error }, 'session stream failed to start');
        socket.close(1011, 'INTERNAL');
      });
    },
  );
}
