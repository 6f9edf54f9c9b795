/**
 * @module http/errors
 * Maps every error to the one envelope. Framework errors (bad JSON, body too large, wrong content type, rate
 * limit) get catalogue codes; a database that cannot be reached is `SERVICE_UNAVAILABLE` with `Retry-After`
 * (`store/unavailable`), and a database's refusal to write (`store/faults`) `STORAGE_UNAVAILABLE`; anything
 * unexpected becomes `INTERNAL` with no detail, and is logged. An error that speaks another protocol's format
 * (OAuth's, on the authorization server's endpoints) renders itself.
 */
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { type ErrorCode, GatehouseError, toEnvelope } from '../core/index.js';
import { databaseUnavailable, isDatabaseUnavailable, storageErrorOf } from '../store/index.js';

/** An error with its own wire format: the error handler lets it write the reply. */
export abstract class SelfRenderingError extends Error {
  abstract render(reply: FastifyReply): FastifyReply;
}

export interface ErrorHandlingOptions {
  /** The JWS algorithms DPoP proofs may use, named in the `WWW-Authenticate: DPoP` challenge. */
  dpopAlgorithms: readonly string[];
}

/** Resource errors of DPoP-bound access (RFC 9449 §7.1): the challenge names the OAuth error. */
const DPOP_CHALLENGES: Partial<Record<ErrorCode, string>> = {
  INVALID_TOKEN: 'invalid_token',
  INVALID_DPOP_PROOF: 'invalid_dpop_proof',
  USE_DPOP_NONCE: 'use_dpop_nonce',
};

const FRAMEWORK_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'INVALID_REQUEST',
};

export function toGatehouseError(error: unknown): GatehouseError {
  if (error instanceof GatehouseError) return error;
  // A database that cannot be reached (restarting, a connection it ended, no pooled connection free in time).
  if (isDatabaseUnavailable(error)) return databaseUnavailable();
  // A database that refused a write (its disk full, read-only): a coded 503 with Retry-After (store/faults).
  const storage = storageErrorOf(error);
  if (storage !== undefined) return storage;
  const e = error as Partial<FastifyError> & { name?: string };
  const mapped = e.code === undefined ? undefined : FRAMEWORK_CODES[e.code];
  if (mapped !== undefined) return new GatehouseError(mapped);
  if (e.name === 'SyntaxError' && e.statusCode === 400) return new GatehouseError('MALFORMED_JSON');
  if (e.statusCode === 429) return new GatehouseError('RATE_LIMITED');
  if (e.statusCode === 405) return new GatehouseError('METHOD_NOT_ALLOWED');
  if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500) {
    return new GatehouseError('INVALID_REQUEST');
  }
  return new GatehouseError('INTERNAL');
}

export function installErrorHandling(app: FastifyInstance, options: ErrorHandlingOptions): void {
  const algs = options.dpopAlgorithms.join(' ');
  app.setErrorHandler((error, request, reply) => {
    if (error instanceof SelfRenderingError) return error.render(reply);
    const mapped = toGatehouseError(error);
    const challenge = DPOP_CHALLENGES[mapped.code];
    if (challenge !== undefined) {
      reply.header('www-authenticate', `DPoP error="${challenge}", algs="${algs}"`);
      const nonce = mapped.details?.dpopNonce;
      if (typeof nonce === 'string') reply.header('dpop-nonce', nonce);
    }
    if (mapped.code === 'INTERNAL') {
      request.log.error({ reqId: request.id, err: error }, 'unhandled error');
    }
    const retryAfterMs = mapped.details?.retryAfterMs;
    if (typeof retryAfterMs === 'number') reply.header('retry-after', Math.ceil(retryAfterMs / 1000));
    return reply.status(mapped.status).send(toEnvelope(mapped));
  });
  app.setNotFoundHandler((_request, reply) => {
    const error = new GatehouseError('NOT_FOUND');
    return reply.status(error.status).send(toEnvelope(error));
  });
}

/**
 * Fastify's own refusals before routing (a path parameter longer than the router allows, a malformed percent
 * escape): a coded `INVALID_REQUEST` like every other bad request, without echoing the path back.
 */
export function frameworkErrors(_error: FastifyError, _request: unknown, reply: FastifyReply): void {
  const error = new GatehouseError('INVALID_REQUEST', 'The request’s address is malformed or too long.');
  void reply.status(error.status).send(toEnvelope(error));
}
