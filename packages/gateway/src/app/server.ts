/**
 * @module app/server
 * Assembles the public Fastify application: parsers and limits, error mapping, security headers, health checks and
 * each capability's routes. One place, so the order of plugins is visible.
 */
import { readFileSync } from 'node:fs';
import cookie from '@fastify/cookie';
import rateLimit from '@fastify/rate-limit';
import websocket from '@fastify/websocket';
import { healthSchema, readinessSchema } from '@gatehouse/protocol';
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import { systemClock } from '../core/index.js';
import { deviceRoutes, travelRoutes } from '../devices/routes.js';
import { entitlementRoutes } from '../entitlements/routes.js';
import { factorRoutes } from '../factors/routes.js';
import {
  frameworkErrors,
  installErrorHandling,
  operation,
  recordRoutes,
  refuseNonUpgrades,
} from '../http/index.js';
import { accountRoleRoutes } from '../identity/routes.js';
import {
  type CodeFactors,
  type DeviceLogins,
  type LoginCompletion,
  type LoginLimits,
  type LoginTransactions,
  type PasswordChecks,
  type PushLogins,
  spendAttemptOnWrongNumber,
  type WebauthnLogins,
} from '../login/index.js';
import { loginRoutes } from '../login/routes.js';
import { notificationRoutes } from '../notifications/routes.js';
import { DPOP_ALGORITHMS } from '../oauth/index.js';
import { oauthRoutes } from '../oauth/routes.js';
import { passwordRoutes } from '../passwords/routes.js';
import { readinessRoutes } from '../readiness/routes.js';
import { safetyRoutes } from '../safety/routes.js';
import { installRecorderHooks } from '../sandbox/recorder.js';
import { recordingRoutes } from '../sandbox/recording-routes.js';
import { sandboxRoutes } from '../sandbox/routes.js';
import { scenarioRoutes } from '../sandbox/scenario-routes.js';
import { sessionRoutes } from '../sessions/routes.js';
import { tradingRoutes } from '../trading/routes.js';
import { deviceStreamRoutes } from '../ws/device-stream.js';
import { loginStreamRoutes } from '../ws/login-stream.js';
import { sessionStreamRoutes } from '../ws/session-stream-route.js';
import { apiReferenceRoutes } from './api-reference.js';
import type { GatewayContext } from './context.js';
import { Drain } from './drain.js';
import { PORTAL_ASSETS_OPERATION, portalRoutes } from './portal.js';
import { clusterRateLimitStore } from './rate-limit-store.js';
import { readiness } from './readyz.js';

const HEALTH = operation({
  tag: 'service',
  summary: 'Liveness: the process answers',
  responses: { 200: healthSchema },
});

const READINESS = operation({
  tag: 'service',
  summary: 'Readiness: the database answers and takes writes, and trading is not halted',
  description:
    '`503` with `TRADING_HALTED`, `STORAGE_UNAVAILABLE` (a full disk, a read-only database: the message says ' +
    'which, with `Retry-After`) or `SERVICE_UNAVAILABLE` otherwise: take the node out of rotation.',
  responses: { 200: readinessSchema },
});

/** Requests slower than this are logged at info level even when they succeed. */
const SLOW_REQUEST_MS = 1_000;

/**
 * One log line per request, written when it completes, carrying the route pattern rather than the raw URL (a
 * login id travels in a path) and nothing from headers or bodies. Failures (4xx/5xx) and slow requests are logged
 * at info; fast successes at debug: security events already go to the audit log, and at volume per-request access
 * logs belong to the load balancer.
 */
class RequestLogController extends LogController {
  readonly #debug: boolean;

  constructor(debug: boolean) {
    super();
    this.#debug = debug;
  }

  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    const ms = reply.elapsedTime;
    const status = reply.statusCode;
    if (error) {
      request.log.error({ ...requestLine(request, status, ms), err: error }, 'request failed');
    } else if (status >= 400 || ms >= SLOW_REQUEST_MS) {
      request.log.info(requestLine(request, status, ms), 'request');
    } else if (this.#debug) {
      request.log.debug(requestLine(request, status, ms), 'request');
    }
  }
}

function requestLine(request: FastifyRequest, status: number, ms: number) {
  return {
    reqId: request.id,
    method: request.method,
    route: request.routeOptions.url ?? '(unmatched)',
    status,
    ms: Math.round(ms * 10) / 10,
  };
}

/** The WebSocket close code of a stream whose node is stopping: reconnect (`Service Restart`). */
const SERVICE_RESTART = 1012;
/** The public app; `drain` refuses new requests once a stop begins and knows the requests in flight (app/drain.ts). */
export async function buildHttpApp(ctx: GatewayContext, drain = new Drain()): Promise<FastifyInstance> {
  const { server } = ctx.config;
  const https =
    server.tlsCertFile !== undefined && server.tlsKeyFile !== undefined
      ? { cert: readFileSync(server.tlsCertFile), key: readFileSync(server.tlsKeyFile) }
      : null;
  const app = Fastify({
    loggerInstance: ctx.logger,
    logController: new RequestLogController(ctx.logger.isLevelEnabled('debug')),
    // No child logger per request (pino children cost more than the whole who-am-I handler); request lines and
    // error logs carry the request id explicitly instead.
    childLoggerFactory: (logger) => logger,
    bodyLimit: server.bodyLimitBytes,
    trustProxy: server.trustedProxies.length > 0 ? server.trustedProxies : false,
    // A stopping node answers new requests itself, coded (app/drain.ts), rather than with Fastify's plain 503.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    frameworkErrors,
    ...(https === null ? {} : { https }),
  }) as unknown as FastifyInstance;
  // Before any route: the OpenAPI document describes every route the app registers.
  const routes = recordRoutes(app);
  // First of the request hooks: a stopping node refuses before any work, and counts every request it works on.
  drain.install(app);

  installErrorHandling(app, { dpopAlgorithms: DPOP_ALGORITHMS });
  refuseNonUpgrades(app);
  await app.register(cookie);
  // Per-address limits count across nodes on Redis with `cluster.redisUrl` (app/rate-limit-store.ts).
  await app.register(rateLimit, {
    global: false,
    ...(ctx.redis === null
      ? {}
      : { store: clusterRateLimitStore(ctx.redis, ctx.config.cluster.keyPrefix) as never }),
  });
  await app.register(websocket, {
    options: { maxPayload: 16 * 1024 },
    // A node that stops (a drain, a rolling upgrade) closes its streams with 1012, "service restart" (RFC 6455
    // §7.4, IANA registry): clients reconnect at once — through the load balancer, to another node — and resume.
    preClose(done) {
      for (const client of this.websocketServer.clients) client.close(SERVICE_RESTART, 'SERVICE_RESTART');
      this.websocketServer.close();
      done();
    },
  });

  const systemTime = ctx.clock === systemClock;
  // With several nodes, each answer names the node the client reached (which may have had an account's owner do the
  // work: `account_leases` says which node works an account), for operators and the load balancer's logs. One node
  // says nothing of itself.
  const nodeHeader = ctx.config.cluster.redisUrl === undefined ? null : ctx.nodeId;
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-content-type-options', 'nosniff');
    if (nodeHeader !== null) reply.header('x-gatehouse-node', nodeHeader);
    // Clients correct their clock skew by the Date header: it must be the gateway clock's (a test's frozen one too).
    if (!systemTime) reply.header('date', new Date(ctx.clock.now()).toUTCString());
    if (request.url.startsWith('/v1/')) reply.header('cache-control', 'no-store');
    done();
  });
  // The failure sandbox's HTTP faults (maintenance, latency, errors, pacing): hooks only when it is on.
  ctx.httpFaults?.install(app);

  // Drills' recordings see every route's answers: hooks that return at once unless a recording runs (sandbox on only).
  if (ctx.recorders !== null) installRecorderHooks(app, ctx.recorders);

  app.get('/healthz', { config: { operation: HEALTH } }, async () => ({ status: 'ok' }));
  const sandboxOn = ctx.sandbox !== null;
  app.get('/readyz', { config: { operation: READINESS } }, async (_request, reply) => {
    const state = await readiness(ctx);
    if (state.ready)
      // The failure sandbox says so, so no one takes this gateway for production.
      return { status: 'ready', database: state.database, ...(sandboxOn ? { sandbox: true } : {}) };
    if (state.retryAfterMs !== undefined) reply.header('retry-after', Math.ceil(state.retryAfterMs / 1000));
    return reply.status(503).send(state.envelope);
  });

  await portalRoutes(app, server.portalDir, { sandbox: sandboxOn });
  await registerCapabilities(app, ctx);
  await apiReferenceRoutes(app, routes, {
    serverUrl: ctx.urls.base,
    session: ctx.auth.session,
    operator: ctx.auth.operator,
    extra: { 'GET /assets/*': PORTAL_ASSETS_OPERATION },
  });
  return app;
}

/**
 * Each capability's routes, registered as a Fastify plugin (its hooks stay its own) and given only what it uses:
 * no route sees the whole context.
 */
async function registerCapabilities(app: FastifyInstance, ctx: GatewayContext): Promise<void> {
  const { auth, bus, clock, config, sessions, notifier, urls, csrfKey } = ctx;
  const { db } = ctx.store;
  const pushAnswers = { db, clock, notifier, bus, spendLoginAttempt: spendAttemptOnWrongNumber };
  const login = loginParts(ctx);
  await app.register(loginRoutes, {
    auth,
    config,
    csrfKey,
    ...login.limits,
    ...login.transactions,
    ...login.completion,
    ...login.passwordChecks,
    ...login.codes,
    ...login.push,
    ...login.webauthn,
    ...login.deviceLogins,
  });
  await app.register(sessionRoutes, {
    auth,
    clock,
    config,
    csrfKey,
    db,
    sessions,
    brokerage: ctx.brokerage,
    sandbox: ctx.sandbox !== null,
  });
  await app.register(factorRoutes, { auth, clock, config, db, notifier, box: ctx.box, sms: ctx.sms });
  await app.register(passwordRoutes, {
    auth,
    config,
    ...login.limits,
    ...login.passwordChecks,
    policy: ctx.passwordPolicy,
    sessions,
    bus,
    notifier,
  });
  await app.register(notificationRoutes, { auth, config, db });
  await app.register(deviceRoutes, {
    auth,
    bus,
    clock,
    config,
    db,
    notifier,
    sessions,
    urls,
    hasher: ctx.hasher,
    pushAnswers,
    push: ctx.push,
  });
  await app.register(travelRoutes, { auth, clock, config, db });
  await app.register(deviceStreamRoutes, { hub: ctx.deviceHub, pushAnswers });
  await app.register(loginStreamRoutes, {
    ...login.limits,
    ...login.transactions,
    bus,
    pushDeliveryTimeoutMs: config.push.deliveryTimeoutMs,
  });
  await app.register(sessionStreamRoutes, {
    auth,
    bus,
    clock,
    logger: ctx.logger,
    sessions,
    marketData: ctx.marketData,
    trading: ctx.trading,
    brokerage: ctx.brokerage,
    faults: ctx.faults,
  });
  await app.register(tradingRoutes, {
    auth,
    marketData: ctx.marketData,
    trading: ctx.trading,
    faults: ctx.faults,
  });
  await app.register(oauthRoutes, {
    auth,
    clock,
    config,
    db,
    urls,
    oauth: ctx.oauth,
    dpop: ctx.dpop,
    oauthSigningKey: ctx.oauthSigningKey,
    oauthSigningKeys: ctx.oauthSigningKeys,
    faults: ctx.faults,
  });
  await app.register(safetyRoutes, { auth, clock, db, safety: ctx.safety });
  await app.register(readinessRoutes, { auth, clock, db, trading: ctx.trading });
  await app.register(entitlementRoutes, { auth, bus, clock, db, faults: ctx.faults });
  await app.register(accountRoleRoutes, { auth, bus, clock, db });
  // The failure sandbox's control: not served at all (404) while the sandbox is off.
  if (ctx.sandbox !== null) await app.register(sandboxRoutes, { auth, sandbox: ctx.sandbox });
  if (ctx.sandbox !== null) await app.register(scenarioRoutes, { auth, clock, sandbox: ctx.sandbox });
  if (ctx.recorders !== null) await app.register(recordingRoutes, { auth, db, recorders: ctx.recorders });
}

/** The login steps' parts (`login/deps`), from the context and the configuration; each route takes those it calls. */
export function loginParts(ctx: GatewayContext) {
  const { config } = ctx;
  const limits: LoginLimits = {
    db: ctx.store.db,
    clock: ctx.clock,
    metrics: ctx.metrics,
    backoff: ctx.loginBackoff,
    deviceKey: ctx.deviceCookieKey,
  };
  const transactions: LoginTransactions = {
    policies: ctx.policies,
    transactionTtlMs: config.login.transactionTtlMs,
    maxFactorAttempts: config.login.maxFactorAttempts,
  };
  const completion: LoginCompletion = {
    sessions: ctx.sessions,
    notifier: ctx.notifier,
    bus: ctx.bus,
    noticeLog: ctx.logger,
  };
  const passwordChecks: PasswordChecks = { hasher: ctx.hasher, usernameKey: ctx.usernameKey };
  const codes: CodeFactors = {
    box: ctx.box,
    totpWindow: config.totp.window,
    sms: ctx.sms,
    log: ctx.logger,
  };
  const push: PushLogins = {
    push: ctx.push,
    pushWaiters: ctx.pushWaiters,
    bus: ctx.bus,
    pushTimeoutMs: config.push.timeoutMs,
    pushDeliveryTimeoutMs: config.push.deliveryTimeoutMs,
    longPollMs: config.push.longPollMs,
  };
  const webauthn: WebauthnLogins = { webauthn: config.webauthn, faults: ctx.faults };
  const deviceLogins: DeviceLogins = { deviceLoginNonces: ctx.replay };
  return { limits, transactions, completion, passwordChecks, codes, push, webauthn, deviceLogins };
}
