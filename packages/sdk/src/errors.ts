/**
 * @module errors
 * What can go wrong, as types a program can switch on: the gateway's coded errors (`code` is the union of the
 * gateway's codes), the authorization server's OAuth errors, answers that are not the gateway's JSON (a proxy's HTML
 * page, a 5xx), network failures, and a token store that cannot be trusted.
 */
import type { ErrorCode, ErrorDetails, OAuthErrorCode } from '@gatehouse/protocol';

/** The base of every error this SDK throws: `instanceof GatehouseSdkError` tells them from a program's own. */
export class GatehouseSdkError extends Error {
  override readonly name: string = 'GatehouseSdkError';
}

/** A coded error from the gateway (`{"error":{"code","message"}}`). */
export class GatehouseApiError extends GatehouseSdkError {
  override readonly name = 'GatehouseApiError';
  /** The gateway's stable code (`docs/errors.md` says what each means and what to do). */
  readonly code: ErrorCode;
  constructor(
    /** The HTTP status. */
    readonly status: number,
    code: ErrorCode,
    message: string,
    /** Facts about the refusal (e.g. required and available buying power), when the code has any. */
    readonly details: ErrorDetails | undefined,
    /** The gate's rule that refused (e.g. `REG_T`), when one did. */
    readonly ruleId: string | undefined,
  ) {
    super(message);
    this.code = code;
  }
}

/** An error from the authorization server (`{"error","error_description"}`). */
export class OAuthApiError extends GatehouseSdkError {
  override readonly name = 'OAuthApiError';
  /** The OAuth error code (`docs/errors.md`, "OAuth errors"). */
  readonly error: OAuthErrorCode;
  constructor(
    /** The HTTP status. */
    readonly status: number,
    error: OAuthErrorCode,
    message: string,
  ) {
    super(message);
    this.error = error;
  }
}

/** An authorization response that does not answer this client's own request (another issuer, another state). */
export class AuthorizationResponseError extends GatehouseSdkError {
  override readonly name = 'AuthorizationResponseError';
}

/** The server answered something other than the gateway's JSON: an HTML error page, an empty 502, … */
export class UnexpectedResponseError extends GatehouseSdkError {
  override readonly name = 'UnexpectedResponseError';
  constructor(
    readonly status: number,
    readonly contentType: string | null,
  ) {
    super(`unexpected ${status} response (${contentType ?? 'no content type'})`);
  }
}

/** The request may or may not have reached the server: the network failed or the response was lost. */
export class NetworkError extends GatehouseSdkError {
  override readonly name = 'NetworkError';
  constructor(
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
  }
}

/** A token store whose file is readable by others, or whose content is not what this SDK wrote. */
export class TokenStoreError extends GatehouseSdkError {
  override readonly name = 'TokenStoreError';
}

/** A call that needs the session `ready` (trading) while it is not. */
export class NotReadyError extends GatehouseSdkError {
  override readonly name = 'NotReadyError';
  constructor(readonly state: string) {
    super(`the session is ${state}, not ready`);
  }
}
