/**
 * @module http/kit
 * The small pieces every route uses: zod validation into coded errors, the client's address, the session and
 * device cookies, the credentials' headers, and the principal the authenticator set (http/authenticator.ts; the
 * route chain is rate limit → authenticate → validate → authorize → handler).
 */

import type {} from '@fastify/cookie';
import type { FastifyReply, FastifyRequest, preHandlerHookHandler } from 'fastify';
import type { z } from 'zod';
import { constantTimeEqual, GatehouseError, sha256 } from '../core/index.js';
import { type Principal, usesDeviceKey } from '../sessions/index.js';
import { invalidRequest } from './validation.js';

/** What a program's token may be asked to hold. */
export type ApiScope = 'read' | 'trade' | 'marketdata';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the authenticator on authenticated routes and stream upgrades. */
    principal?: Principal;
  }
  interface FastifyContextConfig {
    /**
     * The OAuth scope a program's token needs for this route. A route without one is for people only: an API
     * client calling it gets `API_NOT_ALLOWED` (deny by default).
     */
    apiScope?: ApiScope;
    /**
     * A cookie session may carry its CSRF token as the body's `csrfToken` field instead of the header: only for a
     * route a closing page calls with `navigator.sendBeacon`, which can set no header (the brokerage release).
     */
    csrfInBody?: boolean;
  }
}

/**
 * Requires the operators' admin token (`secrets.adminApiToken`, compared in constant time). Returns undefined when
 * no token is configured: the admin API is then not served at all.
 */
export function requireOperator(configured: string | undefined): preHandlerHookHandler | undefined {
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

/**
 * Validates `data` with a zod schema; a failure is `INVALID_REQUEST` naming its first problem, with every problem's
 * path and expectation in `details.issues` (http/validation.ts; the values sent are never echoed).
 */
export function parseWith<S extends z.ZodType>(schema: S, data: unknown): z.infer<S> {
  const result = schema.safeParse(data ?? {});
  if (result.success) return result.data;
  throw invalidRequest(result.error.issues);
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

export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined || !header.startsWith('Bearer ')) return undefined;
  return header.slice(7).trim();
}

/** The principal the authenticator set; a route that calls this without that step is a programming error. */
export function principalOf(request: FastifyRequest): Principal {
  if (request.principal === undefined) throw new Error('route is missing the authentication step');
  return request.principal;
}
