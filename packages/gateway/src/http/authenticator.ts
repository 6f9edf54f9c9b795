/**
 * @module http/authenticator
 * Who is calling: the one decision every authenticated HTTP route and every session-stream upgrade takes, in one
 * place. Three credentials, each accepted only where it belongs:
 *
 * - `Authorization: DPoP <token>` — a program's access token, with its DPoP proof (oauth/): only on routes that
 *   name the scope programs need (deny by default: `API_NOT_ALLOWED`), and it must hold that scope.
 * - `Authorization: Bearer <token>` — a session of a channel bound to a device key (mobile, desktop), with the
 *   device's proof of this request (`x-device-proof`, single use).
 * - the session cookie — a web session: its CSRF token on unsafe methods, or, on a WebSocket upgrade (no custom
 *   headers there), an allowed `Origin`.
 *
 * A web session the session cache can vouch for is answered synchronously (the common case, no promise); anything
 * else takes the asynchronous path, which also produces the precise error. Built by app/ from narrow parts.
 */
import type { KeyObject } from 'node:crypto';
import type {} from '@fastify/cookie';
import type { FastifyContextConfig, FastifyRequest, preHandlerHookHandler } from 'fastify';
import { type Clock, GatehouseError, type KeySource, type ReplayGuard } from '../core/index.js';
import {
  awaitingDeviceKey,
  CSRF_HEADER,
  DEVICE_PROOF_HEADER,
  isValidCsrfToken,
  type Principal,
  usesDeviceKey,
  verifyDeviceProof,
} from '../sessions/index.js';
import type { ClientAddress } from './client-address.js';
import { type ApiScope, bearerToken, dpopToken, requireOperator, sessionCookieName } from './kit.js';

export interface AuthenticatorParts {
  sessions: {
    authenticate(token: string, ip: string | null): Promise<Principal>;
    authenticateCached(token: string, ip: string | null): Principal | undefined;
  };
  /** The resource check of a program's DPoP-bound token (oauth/). */
  programs: {
    authenticate(token: string, proof: string | undefined, method: string, url: string): Promise<Principal>;
  };
  /** The public key of an enrolled mobile or desktop device. */
  deviceKey(deviceId: string): Promise<KeyObject>;
  /** Key of the CSRF tokens (derived from the server secret). */
  csrfKey: KeySource;
  /** Device proofs' `jti`s already presented, on every node (core/replay.ts): each proof is accepted once. */
  proofReplay: ReplayGuard;
  clock: Clock;
  /** The gateway's public base URL and origin (never a request's Host header), and other allowed origins. */
  urls: { base: string; origin: string };
  allowedOrigins: readonly string[];
  /** The operators' admin API token (`secrets.adminApiToken`); unset, the admin API is not served. */
  adminApiToken?: string | undefined;
  /** The address a request's network check uses (`http/client-address`); by default the request's `ip`. */
  clientAddress?: ClientAddress | undefined;
  /** The failure sandbox's HTTP faults on a known caller (sandbox/http-faults.ts); absent with the sandbox off. */
  callerFaults?: CallerFaults | undefined;
}

/**
 * Faults that strike a request once its caller is known (a maintenance window, latency, errors or pacing on one
 * user, session or API client). Asked only while `armed`, so a gateway with no fault pays one property read.
 */
export interface CallerFaults {
  readonly armed: boolean;
  /** Rejects with the answer the request gets, resolves after a delay, or is undefined when nothing strikes. */
  strike(request: FastifyRequest, principal: Principal): Promise<void> | undefined;
}

export interface AuthenticateOptions {
  /** The scope a program's token must hold; without one, programs are refused (`API_NOT_ALLOWED`). */
  scope?: ApiScope | undefined;
  /** A WebSocket upgrade: a cookie session is checked against the `Origin` header instead of a CSRF token. */
  upgrade?: boolean;
  /** The CSRF token may come as the parsed body's `csrfToken` when the header is absent (`config.csrfInBody`). */
  csrfInBody?: boolean;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The CSRF token a request presents: the `x-csrf-token` header; on a route that allows it (`csrfInBody`) and only
 * when the header is absent, the body's `csrfToken` — the body is parsed before pre-handlers run. A page's
 * `navigator.sendBeacon` can set no header, and a cross-site form cannot know the token (an HMAC of the session id
 * under the server's key), so a token in the body protects as well as one in the header; it is compared in constant
 * time all the same (sessions/csrf).
 */
function csrfPresented(request: FastifyRequest, options: AuthenticateOptions): string | undefined {
  const header = request.headers[CSRF_HEADER];
  if (typeof header === 'string') return header;
  if (options.csrfInBody !== true) return undefined;
  const body = request.body;
  if (typeof body !== 'object' || body === null || !('csrfToken' in body)) return undefined;
  return typeof body.csrfToken === 'string' ? body.csrfToken : undefined;
}

export class Authenticator {
  readonly #parts: AuthenticatorParts;
  /** The pre-handler of the admin API's routes; undefined when no admin token is configured (not served). */
  readonly operator: preHandlerHookHandler | undefined;

  constructor(parts: AuthenticatorParts) {
    this.#parts = parts;
    this.operator = requireOperator(parts.adminApiToken);
  }

  /**
   * The caller of `request`, or a coded error: `UNAUTHENTICATED`, `CSRF_TOKEN_INVALID`, `ORIGIN_NOT_ALLOWED`,
   * `API_NOT_ALLOWED`, `SCOPE_REQUIRED`, the proof errors, or the session's own (`SESSION_EXPIRED`, …).
   * Synchronous when the session cache answers. While a sandbox fault is armed, the caller's faults strike here.
   */
  authenticate(request: FastifyRequest, options: AuthenticateOptions = {}): Principal | Promise<Principal> {
    const faults = this.#parts.callerFaults;
    if (faults?.armed === true) return this.#struck(faults, request, this.#caller(request, options));
    return this.#caller(request, options);
  }

  async #struck(
    faults: CallerFaults,
    request: FastifyRequest,
    caller: Principal | Promise<Principal>,
  ): Promise<Principal> {
    const principal = await caller;
    await faults.strike(request, principal);
    return principal;
  }

  /** The client address of `request` for the session's network check. */
  #address(request: FastifyRequest): string | null {
    return this.#parts.clientAddress === undefined ? request.ip : this.#parts.clientAddress(request);
  }

  #caller(request: FastifyRequest, options: AuthenticateOptions): Principal | Promise<Principal> {
    const program = dpopToken(request);
    if (program !== undefined) return this.#program(request, program, options.scope);
    const bearer = bearerToken(request);
    if (bearer !== undefined) return this.#deviceBound(request, bearer);
    if (options.upgrade === true) this.#checkOrigin(request);
    const token = request.cookies[sessionCookieName(request)];
    if (token === undefined || token.length === 0) throw new GatehouseError('UNAUTHENTICATED');
    const cached = this.#parts.sessions.authenticateCached(token, this.#address(request));
    if (cached !== undefined) return this.#web(request, cached, options);
    return this.#parts.sessions
      .authenticate(token, this.#address(request))
      .then((principal) => this.#web(request, principal, options));
  }

  /**
   * The pre-handler of authenticated routes: sets `request.principal`. The scope programs need is the route's
   * `config.apiScope` (see `forPrograms`).
   */
  readonly session: preHandlerHookHandler = (request, _reply, done) => {
    let result: Principal | Promise<Principal>;
    try {
      const { apiScope, csrfInBody } = request.routeOptions.config;
      result = this.authenticate(request, { scope: apiScope, csrfInBody: csrfInBody === true });
    } catch (error) {
      return done(error as Error);
    }
    if (!(result instanceof Promise)) {
      request.principal = result;
      return done();
    }
    result.then(
      (principal) => {
        request.principal = principal;
        done();
      },
      (error: Error) => done(error),
    );
    return undefined;
  };

  /** Route options of an authenticated route for people only: a program's token gets `API_NOT_ALLOWED`. */
  forPeople(config: FastifyContextConfig = {}) {
    return { preHandler: this.session, config };
  }

  /** Route options of an authenticated route that programs may call with `scope`. */
  forPrograms(scope: ApiScope, config: FastifyContextConfig = {}) {
    return { preHandler: this.session, config: { ...config, apiScope: scope } };
  }

  /**
   * Checks the request's `x-device-proof` against `key` (method, URL without query, token hash, single use). The
   * URL is this request's path under the configured public URL, never the request's Host: a proof signed for
   * another server is refused.
   */
  async verifyRequestProof(
    request: FastifyRequest,
    bound: { key: KeyObject; deviceId: string; token: string },
  ): Promise<void> {
    const proof = request.headers[DEVICE_PROOF_HEADER];
    await verifyDeviceProof({
      proof: typeof proof === 'string' ? proof : undefined,
      method: request.method,
      url: `${this.#parts.urls.base}${request.url.split('?')[0]}`,
      token: bound.token,
      key: bound.key,
      deviceId: bound.deviceId,
      now: this.#parts.clock.now(),
      replay: this.#parts.proofReplay,
    });
  }

  /** A program's principal from its DPoP-bound token and this request's proof, holding `scope`. */
  async #program(request: FastifyRequest, token: string, scope: ApiScope | undefined): Promise<Principal> {
    if (scope === undefined) throw new GatehouseError('API_NOT_ALLOWED');
    const proof = request.headers.dpop;
    const principal = await this.#parts.programs.authenticate(
      token,
      typeof proof === 'string' ? proof : undefined,
      request.method,
      `${this.#parts.urls.base}${request.url}`,
    );
    if (!principal.api?.scopes.includes(scope))
      throw new GatehouseError('SCOPE_REQUIRED', undefined, { scope });
    return principal;
  }

  /**
   * A session of a channel bound to a device key, and the device's proof of this request. A desktop session that
   * has not registered its device key yet has nothing to prove with: its token alone is accepted, and it may only
   * read and register the key (trading asks for the key: `DEVICE_KEY_REQUIRED`).
   */
  async #deviceBound(request: FastifyRequest, token: string): Promise<Principal> {
    const principal = await this.#parts.sessions.authenticate(token, this.#address(request));
    // A web session's token is never accepted from a header, and a device-bound token never from a cookie.
    if (!usesDeviceKey(principal.session.channel)) throw new GatehouseError('UNAUTHENTICATED');
    if (awaitingDeviceKey(principal.session)) return principal;
    const { deviceId } = principal.session;
    if (deviceId === null) throw new GatehouseError('PROOF_INVALID');
    principal.deviceKey ??= await this.#parts.deviceKey(deviceId);
    await this.verifyRequestProof(request, { key: principal.deviceKey, deviceId, token });
    return principal;
  }

  /**
   * A web session: only the web channel's token travels in a cookie (a device-bound token never does, nor the token
   * the CPAPI face holds), and an unsafe method must carry the session's CSRF token.
   */
  #web(request: FastifyRequest, principal: Principal, options: AuthenticateOptions): Principal {
    if (principal.session.channel !== 'web') throw new GatehouseError('UNAUTHENTICATED');
    if (options.upgrade !== true && !SAFE_METHODS.has(request.method)) {
      if (!isValidCsrfToken(this.#parts.csrfKey, principal.session.id, csrfPresented(request, options)))
        throw new GatehouseError('CSRF_TOKEN_INVALID');
    }
    return principal;
  }

  /** A browser's upgrade must come from the gateway's own origin or an allowed one; non-browsers send none. */
  #checkOrigin(request: FastifyRequest): void {
    const origin = request.headers.origin;
    if (origin === undefined) return; // not a browser: no ambient-credential risk from other sites
    if (origin === this.#parts.urls.origin || this.#parts.allowedOrigins.includes(origin)) return;
    throw new GatehouseError('ORIGIN_NOT_ALLOWED');
  }
}
