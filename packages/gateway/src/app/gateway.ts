/**
 * @module app/gateway
 * Start-up and shutdown in a fixed, documented order.
 *
 * Start: config → logger → the node's lock on a PostgreSQL database (store/node-lock.ts: a second node without
 * `cluster.redisUrl` stops here) → public URLs (outside development `server.publicUrl` is required) → server secret →
 * password policy (its lists read once) → database (open, migrate, seed entities) → password hasher → event bus (on
 * Redis with `cluster.redisUrl`, waiting for it up to 5 s) → the replay guard (on Redis with `cluster.redisUrl`) →
 * session service (and its write-behind timer) → HTTP app, metrics app and CPAPI listeners (headless credentials
 * read) → listen (in development, the public URL takes the port the listener was given) → the metrics listener
 * (`metrics.listen`; one that cannot bind is logged, and the gateway serves on) → each CPAPI listener (a headless
 * one logs in first).
 * Stop (a drain, app/drain.ts): refuse new requests with 503 (`/readyz` too) and take no more accounts → write the
 * last-seen times held → close the CPAPI listeners (each ends the session it holds) → close streams with 1012, stop
 * accepting and finish in-flight requests (cut at `server.shutdownTimeoutMs` less a reserve) → close the metrics
 * listener → stop the timer → drain the journal, give the account leases up, flush last-seen times again → close the
 * session service, the bus and the replay guard's Redis → close the database → release the node's lock → flush the
 * logger.
 *
 * Longer than most modules: the start-up order and its reverse are read top to bottom in one place; what several
 * nodes share is built in app/shared-state.ts.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { type Config, resolvePublicUrls } from '../config/index.js';
import { type Clock, type EventBus, noFaults, RedisEventBus, SecretBox, systemClock } from '../core/index.js';
import type { CpapiListener, HeadlessCredentials } from '../cpapi/index.js';
import { type CountryLookup, CountrySignals, geoipCountries, loadSigningDevice } from '../devices/index.js';
import { EntitlementsCache } from '../entitlements/index.js';
import { DeviceHub } from '../factors/device-hub.js';
import { OutboxSmsSender, type SmsSender } from '../factors/index.js';
import type { PushTransport } from '../factors/push.js';
import { PushWaiters } from '../factors/push-waiters.js';
import { Authenticator, clientAddress } from '../http/index.js';
import {
  createPasswordHasher,
  getUser,
  initialPasswordExpiry,
  listUserAccounts,
  loadPasswordPolicy,
  seedLegalEntities,
} from '../identity/index.js';
import { throttlePolicies } from '../login/index.js';
import { MarketData, SimulatedFeed } from '../marketdata/index.js';
import { buildMetricsApp, createMetrics, listenForMetrics } from '../metrics/index.js';
import { type Notifier, OutboxNotifier } from '../notifications/index.js';
import { authenticatedClientId } from '../oauth/faults.js';
import { DpopVerifier, OAuthService } from '../oauth/index.js';
import { type SigningKey, signingKeys } from '../oauth/signing.js';
import { recordReauthentication } from '../readiness/index.js';
import { SafetyService } from '../safety/index.js';
import { FactorFaults } from '../sandbox/factor-faults.js';
import { HttpFaults } from '../sandbox/http-faults.js';
import { BrokerageTier, channelPolicies, countLiveSessions, SessionService } from '../sessions/index.js';
import {
  Journal,
  migrateToLatest,
  type OpenDatabaseOptions,
  openDatabase,
  type Store,
} from '../store/index.js';
import { type OrderRouter, TradingService } from '../trading/index.js';
import type { GatewayContext } from './context.js';
import { buildCpapiListeners } from './cpapi.js';
import { Drain, requestDeadlineMs } from './drain.js';
import { createLogger } from './logger.js';
import { settleRotation } from './rotation.js';
import { createRecorders, createSandbox } from './sandbox.js';
import { resolveServerSecret, secretRing } from './secret.js';
import { buildHttpApp } from './server.js';
import { clusterNode, eventBus, lockForNode, nodeName, replayGuard, sharedRedis } from './shared-state.js';

export interface GatewayOptions {
  clock?: Clock;
  bus?: EventBus;
  logger?: Logger;
  /** SMS delivery (default: the outbox simulator). */
  sms?: SmsSender;
  /** Notifications (default: the outbox simulator). */
  notifier?: Notifier;
  /** The country of a client address (default: the GeoLite2 data of `geoip-country`, loaded at first use). */
  geo?: CountryLookup;
  /** Push delivery (default: the device-stream hub). */
  push?: PushTransport;
  /** Database options beyond the URL (tests pass a PostgreSQL schema). */
  database?: OpenDatabaseOptions;
  /** How often the paper engine matches (default: every feed step); null: only when told (tests with a frozen clock). */
  matchingIntervalMs?: number | null;
  /** Where accepted orders go (default: the paper engine). */
  orderRouter?: OrderRouter;
  /** How often lost sessions are swept for (default: `safety.sessionLossSweepMs`); null: only when told (tests). */
  safetySweepMs?: number | null;
  /** Credentials for a CPAPI listener that names a user but no files (the demo users). */
  cpapiCredentials?: (username: string) => HeadlessCredentials | undefined;
}

export interface Gateway {
  ctx: GatewayContext;
  app: FastifyInstance;
  /** The metrics listener's app (`GET /metrics`); null when `metrics.listen` is `off`. */
  metricsApp: FastifyInstance | null;
  /** The CPAPI listeners of `cpapi.listeners`, in order. */
  cpapi: CpapiListener[];
  /** Starts listening; resolves to the base URL. */
  listen(): Promise<string>;
  /** Drains and stops (app/drain.ts); requests still running `server.shutdownTimeoutMs` less a reserve in are cut. */
  close(): Promise<void>;
  /** The drain's state: whether a stop began, its stage, the requests in flight. */
  drain: Drain;
  /** What is held to be written behind: last-seen times and uncommitted journal entries. */
  pendingWrites(): { pendingLastSeen: number; pendingJournal: number };
}

/** Opens the database and applies migrations and seed data; used by the server and by offline CLI commands. */
export async function openStore(config: Config, options: OpenDatabaseOptions = {}): Promise<Store> {
  const store = openDatabase(config.database.url, {
    sqliteSynchronous: config.database.sqliteSynchronous,
    sqliteDriver: config.database.sqliteDriver,
    poolSize: config.database.poolSize,
    acquireTimeoutMs: config.database.acquireTimeoutMs,
    ...options,
  });
  try {
    await migrateToLatest(store);
    await seedLegalEntities(store.db);
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}

/** Builds a context without an HTTP server (CLI commands that work on the database directly). */
export async function createContext(config: Config, options: GatewayOptions = {}): Promise<GatewayContext> {
  const clock = options.clock ?? systemClock;
  const urls = resolvePublicUrls(config);
  const logger = options.logger ?? createLogger(config.log.level);
  const { ring: storedRing, source, file, looseMode } = resolveServerSecret(config, clock.now());
  const secret = secretRing(storedRing, () => clock.now());
  // Before the database: a blocklist file that cannot be read stops start-up with nothing opened.
  const passwordPolicy = await loadPasswordPolicy({
    minLength: config.password.minLength,
    maxLength: config.password.maxLength,
    contextWords: [...config.password.contextWords, config.totp.issuer],
    ...(config.password.blocklistFile === undefined ? {} : { blocklistFile: config.password.blocklistFile }),
  });
  const store = await openStore(config, {
    onConnectionLost: (lost) =>
      logger.warn(lost, 'a database connection was ended by the server; the pool replaces it'),
    ...(config.cluster.redisUrl === undefined ? {} : { pgIdleInTransactionMs: config.cluster.leaseMs }),
    ...options.database,
  });
  if (source === 'generated-file') logger.warn({ file }, 'generated a new server secret');
  if (looseMode !== undefined)
    logger.warn(
      { file, mode: `0${looseMode.toString(8)}` },
      'the server secret file can be read by its group or others: chmod 600 it',
    );
  await settleRotation(store, storedRing, file, clock.now(), logger);
  if (source === 'ephemeral')
    logger.warn('server secret is ephemeral (in-memory database); sessions end on restart');
  const hasher = await createPasswordHasher(config.password);
  const nodeId = nodeName(config);
  const bus = options.bus ?? (await eventBus(config, nodeId, logger));
  const redis = await sharedRedis(config, nodeId);
  const replay = replayGuard(config, redis, store.db, clock, logger);
  // The sandbox comes first: the places a failure strikes hold its probe (its actions are bound once the context
  // is whole, below).
  const sandbox = config.sandbox.enabled ? createSandbox(store.db, clock, bus, logger) : null;
  const faults = sandbox?.registry ?? noFaults;
  const policies = channelPolicies(config);
  const notifier = options.notifier ?? new OutboxNotifier(store.db, clock);
  const geo = options.geo ?? geoipCountries;
  const sessions = new SessionService({
    db: store.db,
    clock,
    bus,
    policies,
    cacheMaxEntries: config.sessions.cacheMaxEntries,
    revalidateAfterMs: config.sessions.cacheRevalidateMs,
    maxLivePerUser: config.sessions.maxLivePerUser,
    countries: new CountrySignals({ lookup: geo, clock, notifier, policy: config.travel.newCountry }),
    loadProfile: async (userId) => {
      const user = await getUser(store.db, userId);
      if (user === undefined) return undefined;
      return {
        user,
        accounts: await listUserAccounts(store.db, userId),
        initialPasswordExpiresAt: await initialPasswordExpiry(store.db, userId),
      };
    },
  });
  const box = new SecretBox(secret);
  const deviceHub = new DeviceHub(
    store.db,
    bus,
    clock,
    (error) => logger.error({ err: error }, 'telling a device its push state failed'),
    replay,
  );
  // The factor faults sit between the login and its push and SMS transports, only when the sandbox is on.
  const factorFaults =
    sandbox === null
      ? null
      : new FactorFaults({
          faults,
          db: store.db,
          clock,
          notifier,
          bus,
          onError: (error, kind) => logger.error({ err: error, kind }, 'sandbox factor fault failed'),
        });
  const smsSender = options.sms ?? new OutboxSmsSender(store.db, clock);
  const sms = factorFaults === null ? smsSender : factorFaults.sms(smsSender);
  const pushTransport = options.push ?? deviceHub;
  const push = factorFaults === null ? pushTransport : factorFaults.push(pushTransport);
  const pushWaiters = new PushWaiters(bus);
  const metrics = createMetrics(
    () => countLiveSessions(store.db, clock.now()),
    () => (bus instanceof RedisEventBus ? bus.stats : undefined),
    () => bus.connected,
  );
  const brokerage = new BrokerageTier({
    db: store.db,
    clock,
    bus,
    resets: config.brokerage.resets,
    policies,
    onTakeover: (channel) => metrics.takeovers.inc({ channel }),
    onReauthentication: async (channel, ms, session) => {
      metrics.reauthenticationSeconds.observe({ channel }, ms / 1000);
      // The user's own times, for the readiness checklist: a sample lost to a failing write is logged, never the
      // reason trading is refused.
      await recordReauthentication({ db: store.db, clock }, session, ms).catch((error: unknown) =>
        logger.error({ err: error }, 'recording a re-authentication time failed'),
      );
    },
    view: sessions,
  });
  const marketData = new MarketData(
    new SimulatedFeed({
      seed: config.marketData.seed,
      epoch: Date.parse(config.marketData.epoch),
      tickMs: config.marketData.tickMs,
    }),
    clock,
    faults,
  );
  const entitlements = new EntitlementsCache(store.db, clock, bus, undefined, faults);
  // The store's group-commit writer: order entry and fills, and the CPAPI face's order numbers, share its batches.
  const journal = new Journal(store);
  const cluster = clusterNode(config, { db: store.db, clock, nodeId, secret, log: logger });
  const trading = new TradingService({
    db: store.db,
    journal,
    onHalt: (error, resumes) =>
      resumes
        ? logger.error(
            { err: error },
            'trading paused: the database cannot be reached; it resumes once the database answers again',
          )
        : logger.fatal(
            { err: error },
            'trading halted: the order journal failed; resume it (POST /v1/admin/trading/resume) or restart this node',
          ),
    onResume: (workingOrders) =>
      logger.warn({ workingOrders }, 'trading resumed: the view was rebuilt from the database'),
    probeWrites: () => store.probeWrites(),
    clock,
    bus,
    marketData,
    entitlements,
    brokerage,
    faults,
    ...(cluster === null ? {} : { placement: cluster.ownership }),
    ...(options.matchingIntervalMs === undefined ? {} : { matchingIntervalMs: options.matchingIntervalMs }),
    ...(options.orderRouter === undefined ? {} : { router: options.orderRouter }),
    policies,
    options: {
      priceBand: { confirm: config.trading.priceBandConfirm, reject: config.trading.priceBandReject },
      confirmationTtlMs: config.trading.confirmationTtlMs,
      idempotencyWindowMs: config.trading.idempotencyWindowMs,
    },
  });
  const dpop = new DpopVerifier({
    requireNonce: config.oauth.dpopNonce,
    nonceKey: secret.keys('dpop-nonce'),
    replay,
  });
  const safety = new SafetyService({
    db: store.db,
    clock,
    bus,
    trading,
    sessions,
    brokerage,
    notifier,
    sweepIntervalMs:
      options.safetySweepMs === undefined ? config.safety.sessionLossSweepMs : options.safetySweepMs,
    reloadSwitchesMs: cluster === null ? null : 5_000,
    onError: (error) => logger.error({ err: error }, 'safety check failed'),
  });
  const oauth = new OAuthService({
    db: store.db,
    clock,
    bus,
    box,
    sessions,
    notifier,
    dpop,
    urls,
    options: config.oauth,
    grantLifetime: {
      idleTimeoutMs: config.sessions.api.idleTimeoutMs,
      absoluteLifetimeMs: config.sessions.api.absoluteLifetimeMs,
    },
  });
  const csrfKey = secret.keys('csrf');
  const oauthSigningKeys = signingKeys(secret);
  // The HTTP layer's faults: before authentication (everyone's) and once the caller is known (a user's, …).
  const httpFaults =
    sandbox === null
      ? null
      : new HttpFaults({
          faults,
          clock,
          db: store.db,
          clientOf: (form) => authenticatedClientId({ db: store.db, clock, urls }, form),
        });
  const auth = new Authenticator({
    sessions,
    programs: oauth,
    deviceKey: async (deviceId) => (await loadSigningDevice(store.db, deviceId, ['mobile', 'desktop'])).key,
    csrfKey,
    // A device proof's jti is single use across every request of every device-bound session, on every node.
    proofReplay: replay,
    clock,
    urls,
    allowedOrigins: config.server.allowedOrigins,
    adminApiToken: config.secrets.adminApiToken,
    clientAddress: clientAddress(config.server.trustedProxies),
    callerFaults: httpFaults ?? undefined,
  });
  const ctx: GatewayContext = {
    config,
    urls,
    clock,
    logger,
    store,
    journal,
    auth,
    marketData,
    entitlements,
    trading,
    safety,
    oauth,
    dpop,
    oauthSigningKey: oauthSigningKeys()[0] as SigningKey,
    oauthSigningKeys,
    secretRing: secret,
    nodeId,
    cluster,
    bus,
    hasher,
    passwordPolicy,
    box,
    csrfKey,
    sessions,
    sms,
    notifier,
    geo,
    push,
    pushWaiters,
    deviceHub,
    metrics,
    brokerage,
    deviceCookieKey: secret.keys('device-cookie'),
    // Lookups, not signatures: from the ring's identity secret, which rotations keep (core/keyring).
    usernameKey: secret.identifierKey('audit-username'),
    policies,
    loginBackoff: throttlePolicies(config.login, secret.identifierKey('throttle-username')),
    replay,
    redis,
    sandbox: sandbox?.registry ?? null,
    faults,
    factorFaults,
    httpFaults,
    recorders: sandbox === null ? null : createRecorders(sandbox.registry, store.db, clock, bus, urls),
  };
  sandbox?.bind(ctx);
  return ctx;
}

/** Releases what `createContext` opened (for contexts used without `createGateway`). */
export async function closeContext(ctx: GatewayContext): Promise<void> {
  await ctx.sandbox?.close();
  ctx.recorders?.close();
  await ctx.factorFaults?.close();
  await ctx.cluster?.closeListener();
  await ctx.safety.stop();
  await ctx.trading.stop();
  await ctx.cluster?.stop();
  ctx.oauth.close();
  ctx.entitlements.close();
  ctx.pushWaiters.close();
  ctx.deviceHub.close();
  await ctx.sessions.flushLastSeen();
  ctx.sessions.close();
  await ctx.bus.close();
  ctx.replay.close?.();
  if (ctx.redis !== null) await ctx.redis.quit().catch(() => ctx.redis?.disconnect());
  await ctx.store.close();
}

export async function createGateway(config: Config, given: GatewayOptions = {}): Promise<Gateway> {
  const options = { ...given, logger: given.logger ?? createLogger(config.log.level) };
  const nodeLock = await lockForNode(config, given.bus !== undefined, options.logger);
  let ctx: GatewayContext;
  try {
    ctx = await createContext(config, options);
  } catch (error) {
    await nodeLock.release();
    throw error;
  }
  const drain = new Drain();
  const app = await buildHttpApp(ctx, drain);
  const metricsApp =
    config.metrics.listen === 'off'
      ? null
      : await buildMetricsApp({ metrics: ctx.metrics, bearerToken: config.metrics.bearerToken });
  const cpapi = await buildCpapiListeners(ctx, options.cpapiCredentials);
  await ctx.trading.start();
  await ctx.cluster?.start(ctx.trading);
  await ctx.safety.start();
  await ctx.sandbox?.start();
  const flushTimer = setInterval(() => {
    ctx.sessions
      .flushLastSeen()
      .catch((error: unknown) => ctx.logger.error({ err: error }, 'last-seen flush failed'));
  }, config.sessions.lastSeenFlushIntervalMs);
  flushTimer.unref();
  let closed = false;

  return {
    ctx,
    app,
    metricsApp,
    cpapi,
    async listen() {
      const url = await app.listen({ host: config.server.host, port: config.server.port });
      const address = app.server.address();
      if (typeof address === 'object' && address !== null) ctx.urls.listening(address.port);
      if (ctx.urls.derived)
        ctx.logger.warn(
          { publicUrl: ctx.urls.base },
          'server.publicUrl is not set: development (loopback listener, no trusted proxy) uses the listener URL',
        );
      if (metricsApp !== null) await listenForMetrics(metricsApp, config.metrics, ctx.logger);
      for (const listener of cpapi) {
        const at = await listener.listen();
        ctx.logger.info({ url: at }, 'IBKR Client Portal Web API listener');
      }
      return url;
    },
    drain,
    pendingWrites: () => ({
      pendingLastSeen: ctx.sessions.pendingLastSeenCount,
      pendingJournal: ctx.journal.pending,
    }),
    async close() {
      if (closed) return;
      closed = true;
      // A drain: every new request (`/readyz` too) is refused with 503 from now on, and this node takes no more
      // accounts; then it finishes what it has.
      drain.begin(app);
      ctx.cluster?.ownership.drain();
      // Last-seen times recorded before the stop are written now, not after the requests in flight.
      const seenBefore = ctx.sessions
        .flushLastSeen()
        .catch((error: unknown) => ctx.logger.error({ err: error }, 'last-seen flush failed'));
      // At the request deadline every connection still open is destroyed: requests, requests still being sent,
      // streams whose clients never completed the close.
      const disarm = drain.armDeadline(app, requestDeadlineMs(config.server.shutdownTimeoutMs), ctx.logger);
      for (const listener of cpapi) await listener.close();
      // Streams are closed with 1012 (preClose, app/server.ts), the listener stops accepting, requests finish.
      await app.close();
      await metricsApp?.close();
      disarm();
      clearInterval(flushTimer);
      drain.enter('write-behind');
      await seenBefore;
      await closeContext(ctx);
      await nodeLock.release();
      drain.enter('stopped');
      ctx.logger.flush?.();
    },
  };
}
