/**
 * @module vocabulary
 * The protocol's fixed lists as plain constants, without zod: error codes, OAuth error codes, scopes, order types
 * and the dead-man bounds. Clients that only need these (the portal's scope list, the SDK's error codes) bundle
 * no schema.
 */

/** Every stable error code the gateway answers with (`{"error":{"code"}}`); `docs/errors.md` explains each. */
export const ERROR_CODES = [
  'INVALID_REQUEST',
  'MALFORMED_JSON',
  'BODY_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'INVALID_CREDENTIALS',
  'LOGIN_INVALID',
  'NO_SECOND_FACTOR',
  'FACTOR_NOT_AVAILABLE',
  'TOO_MANY_ATTEMPTS',
  'SMS_RESEND_TOO_SOON',
  'SMS_LIMIT_REACHED',
  'STEP_UP_REQUIRED',
  'FACTOR_TOO_WEAK',
  'FACTOR_NOT_FOUND',
  'LAST_FACTOR',
  'ACTIVATION_INVALID',
  'DEVICE_NOT_FOUND',
  'DEVICE_REVOKED',
  'SIGNATURE_INVALID',
  'PUSH_CHALLENGE_INVALID',
  'WRONG_NUMBER',
  'PUSH_DENIED',
  'PUSH_EXPIRED',
  'PUSH_LIMIT_REACHED',
  'RATE_LIMITED',
  'UNAUTHENTICATED',
  'SESSION_EXPIRED',
  'SESSION_REVOKED',
  'CSRF_TOKEN_INVALID',
  'BROKERAGE_HELD_ELSEWHERE',
  'SESSION_COMPETING',
  'SESSION_RESET',
  'BROKERAGE_REQUIRED',
  'ORIGIN_NOT_ALLOWED',
  'PROOF_REQUIRED',
  'PROOF_INVALID',
  'PROOF_REPLAYED',
  'DEVICE_KEY_REQUIRED',
  'DEVICE_REGISTRATION_NOT_ALLOWED',
  'ACCOUNT_NOT_FOUND',
  'INSTRUMENT_NOT_FOUND',
  'ORDER_NOT_FOUND',
  'ORDER_NOT_OPEN',
  'INVALID_TOKEN',
  'INVALID_DPOP_PROOF',
  'USE_DPOP_NONCE',
  'API_NOT_ALLOWED',
  'TRADING_HALTED',
  'ACCOUNT_MOVING',
  'CONFIRMATION_INVALID',
  'ROLE_NOT_ALLOWED',
  'LAST_OWNER',
  'QUANTITY_INVALID',
  'PRICE_OFF_TICK',
  'PRICE_INVALID',
  'LIMIT_PRICE_REQUIRED',
  'STOP_PRICE_REQUIRED',
  'ORDER_TYPE_NOT_ALLOWED',
  'SCOPE_REQUIRED',
  'ACCOUNT_FROZEN',
  'ACCOUNT_CLOSING_ONLY',
  'PRODUCT_NOT_ELIGIBLE',
  'PERMISSION_MISSING',
  'OPTIONS_LEVEL_INSUFFICIENT',
  'MARGIN_NOT_ALLOWED',
  'DISCLOSURE_REQUIRED',
  'INSUFFICIENT_BUYING_POWER',
  'PRICE_OUT_OF_BAND',
  'SESSION_NOT_FOUND',
  'NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'USER_EXISTS',
  'USER_NOT_FOUND',
  'PASSWORD_POLICY',
  'OVERLOADED',
  'INTERNAL',
  'SERVICE_UNAVAILABLE',
  'STORAGE_UNAVAILABLE',
  'FORBIDDEN',
  'FAULT_CONFLICT',
  'FAULT_LIMIT_REACHED',
  'TRAVEL_NOTICE_INVALID',
  'TRAVEL_NOTICE_LIMIT',
  'TRAVEL_NOTICE_NOT_FOUND',
] as const;
/**
 * One of `ERROR_CODES`. (`& string` makes TypeScript keep the name on the union, so references show `ErrorCode`
 * rather than its seventy-odd members.)
 */
export type ErrorCode = (typeof ERROR_CODES)[number] & string;

/** Structured, non-secret facts a client can act on (e.g. `retryAfterMs`, `lotSize`). */
export type ErrorDetails = Readonly<Record<string, unknown>>;

/** OAuth error codes of the authorization server's endpoints (RFC 6749 §5.2, RFC 9449, RFC 9126). */
export const OAUTH_ERROR_CODES = [
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'unsupported_response_type',
  'invalid_scope',
  'access_denied',
  'invalid_dpop_proof',
  'use_dpop_nonce',
  'invalid_request_uri',
  'invalid_token',
] as const;
/** One of `OAUTH_ERROR_CODES` (named on the union as `ErrorCode` is). */
export type OAuthErrorCode = (typeof OAUTH_ERROR_CODES)[number] & string;

export const SCOPES = ['read', 'trade', 'marketdata'] as const;
export type Scope = (typeof SCOPES)[number];

export const ORDER_TYPES = ['MKT', 'LMT', 'STP', 'STP_LMT'] as const;

/** The dead-man switch's timeout bounds (`PUT /v1/safety/dead-man`), in ms; `0` disarms. */
export const DEAD_MAN_MIN_MS = 5_000;
export const DEAD_MAN_MAX_MS = 600_000;
