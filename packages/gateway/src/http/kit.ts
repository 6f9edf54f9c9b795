/**
 * @module http/kit
 * The small pieces every route uses: zod validation into coded errors, the client's address, the session cookie,
 * and the `requireSession` step of the route chain (rate limit → authenticate → validate → authorize → handler).
 */

import type { KeyObject } from 'node:crypto';
import type {} from '@fastify/cookie';
import type { FastifyReply, FastifyRequest, preHandlerHookHandler } from 'fastify';
import type { z } from 'zod';
import type { GatewayContext } from '../app/context.js';
import { constantTimeEqual, GatehouseError, sha256 } from '../core/index.js';
import { loadSigningDevice } from '../devices/index.js';
import {
  awaitingDeviceKey,
  CSRF_HEADER,
  DEVICE_PROOF_HEADER,
  isValidCsrfToken,
  type Principal,
  usesDeviceKey,
  verifyDeviceProof,
} from '../sessions/index.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by `requireSession` on authenticated routes. */
    principal?: Principal;
  }
  interface FastifyContextConfig {
    /**
     * The OAuth scope a program's token needs for this route. A route without one is for people only: an API
     * client calling it gets `API_NOT_ALLOWED` (deny by default).
     */
    apiScope?: 'read' | 'trade' | 'marketdata';
  }
}

/** Route options for an authenticated route that programs may call with `scope`. */
export function forPrograms(ctx: GatewayContext, scope: 'read' | 'trade' | 'marketdata') {
  return { preHandler: requireSession(ctx), config: { apiScope: scope } };
}

/**
 * Requires the operators' admin token (`secrets.adminApiToken`, compared in constant time). Returns undefined when
 * no token is configured: the admin API is then not served at all.
 */
export function requireOperator(ctx: GatewayContext): preHandlerHookHandler | undefined {
  const configured = ctx.config.secrets.adminApiToken;
  if (configured === undefined) return undefined;
  const expected = sha256(configured);
  return (request, _reply, done) => {
    const presented = bearerToken(request);
    if (presented === undefined || !constantTimeEqual(sha256(presented), expected))
      return done(new GatehouseError('UNAUTHENTICATED'));
    done();
  };
}

/** `Authorization: DPoP <token>`: the access token of a program (OAuth, see oauth/). */
export function dpopToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined || !header.startsWith('DPoP ')) return undefined;
  return header.slice(5).trim();
}

/** A program's request: its DPoP-bound token and proof, and the scope the route asks of programs. */
async function authenticateProgram(
  ctx: GatewayContext,
  request: FastifyRequest,
  token: string,
): Promise<void> {
  const scope = request.routeOptions.config.apiScope;
  if (scope === undefined) throw new GatehouseError('API_NOT_ALLOWED');
  request.principal = await programPrincipal(ctx, request, token, scope);
}

/** A program's principal from its DPoP-bound token and this request's proof, holding `scope`. */
export async function programPrincipal(
  ctx: GatewayContext,
  request: FastifyRequest,
  token: string,
  scope: 'read' | 'trade' | 'marketdata',
): Promise<Principal> {
  const proof = request.headers.dpop;
  const principal = await ctx.oauth.authenticate(
    token,
    typeof proof === 'string' ? proof : undefined,
    request.method,
    `${ctx.urls.base}${request.url}`,
  );
  if (!principal.api?.scopes.includes(scope))
    throw new GatehouseError('SCOPE_REQUIRED', undefined, { scope });
  return principal;
}

/** Validates `data` with a zod schema; failures become `INVALID_REQUEST` with the offending paths. */
export function parseWith<S extends z.ZodType>(schema: S, data: unknown): z.infer<S> {
  const result = schema.safeParse(data ?? {});
  if (result.success) return result.data;
  throw new GatehouseError('INVALID_REQUEST', undefined, {
    issues: result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
  });
}

/** The client address (the socket peer, or X-Forwarded-For from a trusted proxy), user agent and device cookie. */
export function clientInfo(request: FastifyRequest): {
  ip: string;
  userAgent: string;
  deviceCookie?: string;
} {
  const deviceCookie = request.cookies[deviceCookieName(request)];
  return {
    ip: request.ip,
    userAgent: (request.headers['user-agent'] ?? '').slice(0, 256),
    ...(deviceCookie === undefined ? {} : { deviceCookie }),
  };
}

/** The long-lived device cookie: `__Host-gh_device` under TLS, `gh_device` on plain-http localhost. */
export function deviceCookieName(request: FastifyRequest): string {
  return isSecureRequest(request) ? '__Host-gh_device' : 'gh_device';
}

export function setDeviceCookie(
  request: FastifyRequest,
  reply: FastifyReply,
  value: string,
  maxAgeMs: number,
): void {
  reply.setCookie(deviceCookieName(request), value, {
    path: '/',
    httpOnly: true,
    sameSite: 'lax',
    secure: isSecureRequest(request),
    maxAge: Math.floor(maxAgeMs / 1000),
  });
}

/** Cookie names: `__Host-` under TLS (ASVS 3.4.4), a plain name on http://localhost where `Secure` cannot work. */
export const SESSION_COOKIE_TLS = '__Host-gh_session';
export const SESSION_COOKIE_PLAIN = 'gh_session';

export function isSecureRequest(request: FastifyRequest): boolean {
  return request.protocol === 'https';
}

export function sessionCookieName(request: FastifyRequest): string {
  return isSecureRequest(request) ? SESSION_COOKIE_TLS : SESSION_COOKIE_PLAIN;
}

export function setSessionCookie(
  request: FastifyRequest,
  reply: FastifyReply,
  token: string,
  maxAgeMs: number,
): void {
  const secure = isSecureRequest(request);
  reply.setCookie(sessionCookieName(request), token, {
    path: '/',
    httpOnly: true,
    sameSite: 'lax',
    secure,
    maxAge: Math.floor(maxAgeMs / 1000),
  });
}

/**
 * Answers a re-authentication that gave the session a new token (a step-up, a password change): the web gets it as
 * a new cookie (its CSRF token, derived from the session id, stays), the device-bound channels in the body, as at
 * login, to present from now on (their device proofs hash the new token).
 */
export function withRenewedToken<T extends object>(
  request: FastifyRequest,
  reply: FastifyReply,
  session: { channel: string; expiresAt: number },
  token: string,
  now: number,
  body: T,
): T | (T & { token: string; tokenType: 'Bearer' }) {
  if (usesDeviceKey(session.channel)) return { ...body, token, tokenType: 'Bearer' };
  setSessionCookie(request, reply, token, session.expiresAt - now);
  return body;
}

export function clearSessionCookie(request: FastifyRequest, reply: FastifyReply): void {
  reply.clearCookie(sessionCookieName(request), {
    path: '/',
    httpOnly: true,
    sameSite: 'lax',
    secure: isSecureRequest(request),
  });
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined || !header.startsWith('Bearer ')) return undefined;
  return header.slice(7).trim();
}

/**
 * Authenticates the cookie session and, for unsafe methods, checks the CSRF token. Sets `request.principal`.
 * A session the cache can vouch for is resolved synchronously (the common case); anything else — a cache miss,
 * a stale entry, or any failure — takes the full asynchronous path, which also produces the precise error.
 */
export function requireSession(ctx: GatewayContext): preHandlerHookHandler {
  const check = (request: FastifyRequest, principal: Principal): void => {
    // Bearer tokens belong to the channels bound to a device key (mobile, desktop): a web session's token is never
    // accepted from a header, and a device-bound token never from a cookie. Bearer requests carry no ambient
    // credential, so no CSRF check.
    const bearer = bearerToken(request) !== undefined;
    if (bearer !== usesDeviceKey(principal.session.channel)) throw new GatehouseError('UNAUTHENTICATED');
    if (!bearer && !SAFE_METHODS.has(request.method)) {
      const presented = request.headers[CSRF_HEADER];
      if (
        !isValidCsrfToken(
          ctx.csrfKey,
          principal.session.id,
          typeof presented === 'string' ? presented : undefined,
        )
      ) {
        throw new GatehouseError('CSRF_TOKEN_INVALID');
      }
    }
    request.principal = principal;
  };
  return (request, _reply, done) => {
    const program = dpopToken(request);
    if (program !== undefined) {
      authenticateProgram(ctx, request, program).then(
        () => done(),
        (error: Error) => done(error),
      );
      return undefined;
    }
    const bearer = bearerToken(request);
    const token = bearer ?? request.cookies[sessionCookieName(request)];
    if (token === undefined || token.length === 0) return done(new GatehouseError('UNAUTHENTICATED'));
    if (bearer !== undefined) {
      // Device-bound channels: the proof needs the device's key, which may need the database.
      ctx.sessions
        .authenticate(token, request.ip)
        .then(async (principal) => {
          check(request, principal);
          await checkDeviceProof(ctx, request, principal, token);
          done();
        })
        .catch((error: Error) => done(error));
      return undefined;
    }
    const cached = ctx.sessions.authenticateCached(token, request.ip);
    if (cached !== undefined) {
      try {
        check(request, cached);
      } catch (error) {
        return done(error as Error);
      }
      return done();
    }
    ctx.sessions.authenticate(token, request.ip).then(
      (principal) => {
        try {
          check(request, principal);
        } catch (error) {
          return done(error as Error);
        }
        done();
      },
      (error: Error) => done(error),
    );
  };
}

/**
 * Verifies the `x-device-proof` of a bearer request against the session's device key. A desktop session that has
 * not registered its device key yet has nothing to prove with: its token alone is accepted, and it may only read
 * and register the key (trading asks for the key: `DEVICE_KEY_REQUIRED`).
 */
export async function checkDeviceProof(
  ctx: GatewayContext,
  request: FastifyRequest,
  principal: Principal,
  token: string,
): Promise<void> {
  const { deviceId } = principal.session;
  if (awaitingDeviceKey(principal.session)) return;
  if (deviceId === null) throw new GatehouseError('PROOF_INVALID');
  let key = principal.deviceKey;
  if (key === undefined) {
    key = (await loadSigningDevice(ctx.store.db, deviceId, ['mobile', 'desktop'])).key;
    principal.deviceKey = key;
  }
  verifyRequestProof(ctx, request, { key, deviceId, token });
}

/**
 * Checks the request's `x-device-proof` against `key` (method, URL without query, token hash, single use). The URL
 * is this request's path under the configured public URL, never the request's Host: a proof signed for another
 * server is refused.
 */
export function verifyRequestProof(
  ctx: GatewayContext,
  request: FastifyRequest,
  bound: { key: KeyObject; deviceId: string; token: string },
): void {
  const proof = request.headers[DEVICE_PROOF_HEADER];
  verifyDeviceProof({
    proof: typeof proof === 'string' ? proof : undefined,
    method: request.method,
    url: `${ctx.urls.base}${request.url.split('?')[0]}`,
    token: bound.token,
    key: bound.key,
    deviceId: bound.deviceId,
    now: ctx.clock.now(),
    replay: ctx.login.replayCache,
  });
}

/** The principal set by `requireSession`; a route that calls this without that step is a programming error. */
export function principalOf(request: FastifyRequest): Principal {
  if (request.principal === undefined) throw new Error('route is missing the requireSession step');
  return request.principal;
}
