/**
 * @module oauth/errors
 * Errors of the authorization server's endpoints, in the form OAuth clients expect (RFC 6749 §5.2, RFC 9449 §7,
 * RFC 9126): `{"error": "...", "error_description": "..."}` with the standard code and status. The description
 * names what was wrong without echoing any secret. (Resource requests answer with the gateway's own envelope and a
 * `WWW-Authenticate: DPoP` challenge instead: `INVALID_TOKEN`, `INVALID_DPOP_PROOF`, `USE_DPOP_NONCE`.)
 */
import type { OAuthErrorCode } from '@gatehouse/protocol';
import type { FastifyReply } from 'fastify';
import { SelfRenderingError } from '../http/errors.js';

export type { OAuthErrorCode };

/** Each code's HTTP status (docs/errors.md lists them; a test keeps the two in step). */
export const OAUTH_ERROR_STATUS: Record<OAuthErrorCode, number> = {
  invalid_request: 400,
  invalid_client: 401,
  invalid_grant: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  unsupported_response_type: 400,
  invalid_scope: 400,
  access_denied: 403,
  invalid_dpop_proof: 400,
  use_dpop_nonce: 400,
  invalid_request_uri: 400,
  invalid_token: 401,
};

export class OAuthError extends SelfRenderingError {
  readonly error: OAuthErrorCode;
  readonly status: number;
  /** A fresh nonce to send back (`DPoP-Nonce`) with `use_dpop_nonce`. */
  dpopNonce?: string;

  constructor(error: OAuthErrorCode, description: string) {
    super(description);
    this.name = 'OAuthError';
    this.error = error;
    this.status = OAUTH_ERROR_STATUS[error];
  }

  toJSON(): { error: OAuthErrorCode; error_description: string } {
    return { error: this.error, error_description: this.message };
  }

  /** The OAuth error response: `DPoP-Nonce` when one is due, the `WWW-Authenticate` challenge with a 401. */
  render(reply: FastifyReply): FastifyReply {
    if (this.dpopNonce !== undefined) reply.header('dpop-nonce', this.dpopNonce);
    if (this.status === 401) reply.header('www-authenticate', `DPoP error="${this.error}"`);
    return reply.status(this.status).header('cache-control', 'no-store').send(this.toJSON());
  }
}
