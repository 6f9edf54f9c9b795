/**
 * @module cpapi/face
 * One CPAPI listener: its own HTTP server (its own port, loopback by default, plain HTTP or self-signed HTTPS as
 * IBKR's gateway serves), holding one user's session, in the gateway's process, where it calls the same services
 * the `/v1` routes call (sessions, the brokerage tier, the gate and the paper engine). A request passes, in order:
 *
 * 1. the `/v1/portal/…` alias rewritten to `/v1/api/…` (IBeam calls both; research/ibkr-cpapi.md §1);
 * 2. a request a web page could have sent is refused (`browserRefusal`: another site's `Sec-Fetch-Site` or
 *    `Origin`, a `Host` a page could rebind), since the listener trades with a session the caller never proved it
 *    holds; a refused WebSocket upgrade also loses its socket;
 * 3. pacing, per client address and matched route (`cpapi/pacing`): 429 with `Retry-After`, the penalty box for
 *    repeat offenders;
 * 4. a POST with neither `Content-Length` nor a chunked body answers 411, as IBKR's gateway does (campus "Headers");
 *    an empty or non-JSON body reads as `{}`, since clients send `{}` or nothing on body-less POSTs;
 * 5. the route, which asks for the held login (`loggedIn`: 401 without one) or the brokerage session (`bridged`:
 *    IBKR's `no bridge` without it).
 *
 * Errors answer IBKR's `{"error":"…","statusCode":…}`; a Gatehouse error keeps its status and names its code (and
 * the gate's rule id) in the text; an unknown route is IBKR's HTML 404 page.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Clock, EventBus } from '../core/index.js';
import { GatehouseError } from '../core/index.js';
import type { MarketData } from '../marketdata/index.js';
import type { Journal } from '../store/index.js';
import type { TradingService } from '../trading/index.js';
import { type HeadlessCredentials, HeldLogin, type HolderDeps } from './holder.js';
import { IbkrError, ibkrErrorOf } from './kit.js';
import { type LoginPageDeps, loginPageRoutes } from './login-page.js';
import { faceOpenApi } from './openapi.js';
import { OrderNumbers } from './order-numbers.js';
import { Pacing, type PacingOptions } from './pacing.js';
import { accountRoutes } from './routes/accounts.js';
import { marketRoutes } from './routes/market.js';
import { orderRoutes } from './routes/orders.js';
import { sessionRoutes } from './routes/session.js';
import type { FaceIdentity } from './status.js';
import { streamRoutes } from './stream.js';
import { selfSignedCertificate } from './tls.js';

export interface FaceDeps extends HolderDeps {
  clock: Clock;
  bus: EventBus;
  logger: Logger;
  trading: TradingService;
  marketData: MarketData;
  loginPage: LoginPageDeps;
  db: HolderDeps['login']['db'];
  /** The store's group-commit writer: an order's number is committed in the batches order entry uses. */
  journal: Journal;
  /** `trading.priceBandConfirm` and `trading.confirmationTtlMs`: the o163 question's percentage, a reply id's life. */
  orderEntry: { priceBandConfirm: number; confirmationTtlMs: number };
}

export interface FaceOptions {
  host: string;
  port: number;
  /** `off`: plain HTTP; `self-signed`: HTTPS with a certificate made at start-up; or the operator's files. */
  tls: 'off' | 'self-signed' | { certFile: string; keyFile: string };
  /** IBKR's pacing (default), other limits, or none. */
  pacing: PacingOptions | null;
  /** Unattended logins: the listener logs in by itself at start and whenever `ssodh/init` finds no login. */
  credentials?: HeadlessCredentials;
  /** How the listener names itself in status answers. */
  identity?: FaceIdentity;
}

/** The paths IBKR's Client Portal Web API is served under (`/v1/portal` is its alias). */
export const API_PREFIX = '/v1/api';
const PORTAL_PREFIX = '/v1/portal/';
const CLOSE_GRACE_MS = 2_000;
const NOT_FOUND_PAGE = '<html><body><h1>Resource not found</h1></body></html>';

export const DEFAULT_IDENTITY: FaceIdentity = {
  mac: '02:47:48:53:45:01',
  serverInfo: {
    serverName: 'Gatehouse',
    serverVersion: 'Gatehouse CPAPI face (IBKR CPAPI v1, OpenAPI 2.15.0)',
  },
};

export interface CpapiListener {
  app: FastifyInstance;
  held: HeldLogin;
  /** The base URL once listening (`http://127.0.0.1:5000`), else null. */
  readonly url: string | null;
  /** Every route the listener serves (`GET /v1/api/tickle`), for its OpenAPI document's check. */
  readonly routes: readonly string[];
  /** Starts listening; resolves to the base URL (`http://127.0.0.1:5000`). */
  listen(): Promise<string>;
  close(): Promise<void>;
}

/** Builds one listener (not yet listening). */
export async function buildCpapiListener(deps: FaceDeps, options: FaceOptions): Promise<CpapiListener> {
  const https = await tlsOptions(options.tls);
  const app = Fastify({
    logger: false,
    bodyLimit: 1024 * 1024,
    forceCloseConnections: true,
    rewriteUrl: (request) => {
      const url = request.url ?? '/';
      return url.startsWith(PORTAL_PREFIX) ? `${API_PREFIX}/${url.slice(PORTAL_PREFIX.length)}` : url;
    },
    ...(https === null ? {} : { https }),
  }) as unknown as FastifyInstance;
  const held = new HeldLogin(deps, options.credentials);
  const face = {
    held,
    identity: options.identity ?? DEFAULT_IDENTITY,
    numbers: new OrderNumbers(deps.db, deps.journal),
    deps,
  };
  const pacing = options.pacing === null ? null : new Pacing(options.pacing, deps.clock);

  const routes: string[] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push(`${method} ${route.url}`);
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body.trim() : '';
    if (text === '') return done(null, {});
    // The login page's forms; everything else is read as JSON whatever its declared type, as IBKR's gateway does.
    if (String(request.headers['content-type']).startsWith('application/x-www-form-urlencoded'))
      return done(null, Object.fromEntries(new URLSearchParams(text)));
    try {
      done(null, JSON.parse(text));
    } catch {
      done(new IbkrError(400, 'Bad Request: the body is not valid JSON'), undefined);
    }
  });

  const loopback = isLoopback(options.host);
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('cache-control', 'no-store');
    const refused = browserRefusal(request.headers, loopback);
    if (refused !== null) {
      reply.code(403).send({ error: `Forbidden: ${refused}`, statusCode: 403 });
      return;
    }
    // Paced by the route the request matched (percent-encoding and absolute-form targets name the same route);
    // a request that matched none counts against the global limit.
    const route = request.routeOptions.url ?? '';
    if (pacing !== null) {
      const path = route.startsWith(API_PREFIX) ? route.slice(API_PREFIX.length) : '';
      const verdict = pacing.admit(request.ip, path);
      if (!verdict.allowed) {
        reply.header('retry-after', Math.ceil(verdict.retryAfterMs / 1000));
        reply.code(429).send({ error: `Too Many Requests (${verdict.rule})`, statusCode: 429 });
        return;
      }
    }
    const { headers } = request;
    if (
      request.method === 'POST' &&
      headers['content-length'] === undefined &&
      headers['transfer-encoding'] === undefined
    ) {
      reply.code(411).send({ error: 'Length Required', statusCode: 411 });
      return;
    }
    done();
  });

  // An upgrade refused (by the guard, pacing, a missing route or its own check) gets its answer and then loses its
  // socket: the HTTP server has handed an upgrade's socket over and would otherwise keep it open for good.
  app.addHook('onResponse', (request, reply, done) => {
    if (request.headers.upgrade !== undefined && reply.statusCode !== 101) request.raw.socket?.destroy();
    done();
  });

  app.setErrorHandler((error, request, reply) => {
    let answer: IbkrError;
    if (error instanceof IbkrError) answer = error;
    else if (error instanceof GatehouseError) answer = ibkrErrorOf(error);
    else if (
      typeof (error as { statusCode?: unknown }).statusCode === 'number' &&
      (error as { statusCode: number }).statusCode < 500
    )
      answer = new IbkrError(
        (error as { statusCode: number }).statusCode,
        `Bad Request: ${(error as Error).message}`,
      );
    else {
      deps.logger.error({ err: error, route: request.routeOptions.url }, 'cpapi face: unhandled error');
      answer = new IbkrError(500, 'Internal Server Error');
    }
    const retryAfterMs = error instanceof GatehouseError ? error.details?.retryAfterMs : undefined;
    if (typeof retryAfterMs === 'number') reply.header('retry-after', Math.ceil(retryAfterMs / 1000));
    return reply.code(answer.status).send(answer.body());
  });
  app.setNotFoundHandler((_request, reply) =>
    reply.code(404).type('text/html; charset=utf-8').send(NOT_FOUND_PAGE),
  );

  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  app.get(`${API_PREFIX}/openapi.json`, async () => faceOpenApi());
  await app.register(loginPageRoutes, { held, page: deps.loginPage });
  await app.register(sessionRoutes, { face, clock: deps.clock });
  await app.register(accountRoutes, {
    face,
    trading: deps.trading,
    marketData: deps.marketData,
    clock: deps.clock,
  });
  await app.register(marketRoutes, {
    face,
    trading: deps.trading,
    marketData: deps.marketData,
    clock: deps.clock,
  });
  await app.register(orderRoutes, {
    face,
    trading: deps.trading,
    clock: deps.clock,
    priceBandConfirm: deps.orderEntry.priceBandConfirm,
    replyTtlMs: deps.orderEntry.confirmationTtlMs,
  });
  await app.register(streamRoutes, {
    face,
    bus: deps.bus,
    clock: deps.clock,
    trading: deps.trading,
    marketData: deps.marketData,
    logger: deps.logger,
  });

  let closed = false;
  let url: string | null = null;
  return {
    app,
    held,
    routes,
    get url() {
      return url;
    },
    async listen() {
      if (options.credentials !== undefined) await held.loginHeadless();
      url = await app.listen({ host: options.host, port: options.port });
      return url;
    },
    async close() {
      if (closed) return;
      closed = true;
      // Sockets are told to close; a peer that never answers the close frame is cut after 2 s rather than the
      // WebSocket library's 30 s, so a stop is not held up by a client that went away.
      const cut = setTimeout(() => {
        for (const socket of app.websocketServer?.clients ?? []) socket.terminate();
      }, CLOSE_GRACE_MS);
      cut.unref();
      try {
        await app.close();
      } finally {
        clearTimeout(cut);
      }
      await held.close();
    },
  };
}

/** Whether a listener address, or a `Host` name, is this machine's loopback: `localhost`, 127.0.0.0/8 or ::1. */
function isLoopback(host: string): boolean {
  const name = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (name === 'localhost') return true;
  if (isIP(name) === 4) return name.startsWith('127.');
  return isIP(name) === 6 && name === '::1';
}

/** The name of a `Host` header (`127.0.0.1:5000` → `127.0.0.1`, `[::1]:5000` → `[::1]`). */
function hostName(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  return host.split(':')[0] ?? '';
}

/**
 * Why a request that a web page could have made is refused, or null. The listener acts with a held session and no
 * credential of the caller's, so a page in the user's browser must not reach it:
 * - a request a browser marks as coming from another site (`Sec-Fetch-Site: cross-site` or `same-site`: image
 *   and `no-cors` requests send no `Origin` but this) or carrying an `Origin` other than the listener's own (a
 *   cross-site form or `fetch`, simple requests included, WebSocket upgrades too);
 * - a `Host` that is a DNS name other than `localhost`: a page can rebind a name of its own to this machine's
 *   address and so become same-origin with the listener, but it cannot rebind an IP literal. On a loopback
 *   listener the IP must be a loopback one.
 * Bots send neither `Origin` nor `Sec-Fetch-*`; the listener's own login page sends its own origin. The `Host`
 * header is only compared here, never used to build anything.
 */
export function browserRefusal(
  headers: { host?: string | undefined; origin?: string | undefined; 'sec-fetch-site'?: string | undefined },
  loopback: boolean,
): string | null {
  const host = headers.host ?? '';
  const name = hostName(host);
  const literal = isIP(name.startsWith('[') ? name.slice(1, -1) : name) !== 0;
  if (name !== 'localhost' && !literal) return 'this listener answers to localhost and IP addresses only';
  if (loopback && !isLoopback(name)) return 'this listener answers to loopback addresses only';
  const site = headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') return 'cross-site request';
  const origin = headers.origin;
  if (origin === undefined) return null;
  try {
    if (origin !== 'null' && new URL(origin).host === host) return null;
  } catch {
    // A malformed Origin is refused below.
  }
  return 'cross-site request';
}

async function tlsOptions(
  tls: FaceOptions['tls'],
): Promise<{ cert: string | Buffer; key: string | Buffer } | null> {
  if (tls === 'off') return null;
  if (tls === 'self-signed') return selfSignedCertificate();
  return { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) };
}
