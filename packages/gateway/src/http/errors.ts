/**
 * @module http/errors
 * Maps every error to the one envelope. Framework errors (bad JSON, body too large, wrong content type, rate
 * limit) get catalogue codes; anything unexpected becomes `INTERNAL` with no detail, and is logged.
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import { type ErrorCode, GatehouseError, toEnvelope } from '../core/index.js';

const FRAMEWORK_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'INVALID_REQUEST',
};

export function toGatehouseError(error: unknown): GatehouseError {
  if (error instanceof GatehouseError) return error;
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

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const mapped = toGatehouseError(error);
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
