/**
 * @module core/errors
 * The error catalogue: every failure a client can see has a stable string code, one HTTP status and a default
 * message. `docs/errors.md` documents each code (cause and what to do); a test keeps the two in step.
 * Messages never contain secrets or say which half of a credential was wrong.
 */

import type { ErrorCode, ErrorDetails, ErrorEnvelope } from '@gatehouse/protocol';

export type { ErrorCode, ErrorDetails, ErrorEnvelope };

/**
 * Each code's HTTP status and default message. The codes themselves are `ERROR_CODES` of `@gatehouse/protocol`,
 * shared with the SDK; the compiler checks this catalogue covers exactly them.
 */
export const ERROR_CATALOGUE = {
  INVALID_REQUEST: { status: 400, message: 'The request has missing, unknown or wrongly typed fields.' },
  MALFORMED_JSON: { status: 400, message: 'The request body is not valid JSON.' },
  BODY_TOO_LARGE: { status: 413, message: 'The request body exceeds the size limit.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'The request body must be application/json.' },
  INVALID_CREDENTIALS: { status: 401, message: 'The credentials are not valid.' },
  LOGIN_INVALID: {
    status: 401,
    message: 'This login is unknown, expired or already completed; start again.',
  },
  NO_SECOND_FACTOR: {
    status: 403,
    message:
      'This user has no second factor enrolled; an operator must enrol one before the user can log in.',
  },
  FACTOR_NOT_AVAILABLE: {
    status: 400,
    message: 'This second factor is not available for this login.',
  },
  TOO_MANY_ATTEMPTS: {
    status: 429,
    message: 'Too many failed attempts for this user; wait before trying again.',
  },
  SMS_RESEND_TOO_SOON: {
    status: 429,
    message: 'A code was sent less than 30 seconds ago; wait before asking again.',
  },
  SMS_LIMIT_REACHED: {
    status: 429,
    message: 'At most 5 codes are sent per hour; use another factor or wait.',
  },
  STEP_UP_REQUIRED: {
    status: 403,
    message: 'This action needs a second factor verified again in this session (POST /v1/session/step-up).',
  },
  FACTOR_TOO_WEAK: {
    status: 403,
    message:
      'A session whose last second factor was SMS cannot change factors, devices or other sessions, or give a program access; verify a stronger factor first.',
  },
  FACTOR_NOT_FOUND: { status: 404, message: 'No such factor for this user.' },
  LAST_FACTOR: { status: 409, message: 'This is the last second factor; enrol another before removing it.' },
  ACTIVATION_INVALID: {
    status: 401,
    message: 'This activation code is unknown, expired or already used; start the enrolment again.',
  },
  DEVICE_NOT_FOUND: { status: 404, message: 'No such device for this user.' },
  DEVICE_REVOKED: { status: 401, message: 'This device was revoked or disabled; enrol it again.' },
  SIGNATURE_INVALID: {
    status: 401,
    message: 'The device signature is missing, malformed or does not verify.',
  },
  PUSH_CHALLENGE_INVALID: {
    status: 404,
    message: 'This push request is unknown, already decided, expired, or not addressed to this device.',
  },
  WRONG_NUMBER: {
    status: 401,
    message:
      'The number picked on the device is not the one the login screen showed; that request is denied.',
  },
  PUSH_DENIED: {
    status: 401,
    message: 'The login was denied on the enrolled device; no further push is sent for it.',
  },
  PUSH_EXPIRED: {
    status: 401,
    message: 'The push request expired without a decision; use another factor or retry.',
  },
  PUSH_LIMIT_REACHED: {
    status: 429,
    message: 'Too many push requests for this user; use another factor or wait.',
  },
  RATE_LIMITED: { status: 429, message: 'Too many requests from this address; slow down.' },
  UNAUTHENTICATED: { status: 401, message: 'A valid session is required.' },
  SESSION_EXPIRED: { status: 401, message: 'The session has expired; log in again.' },
  SESSION_REVOKED: { status: 401, message: 'The session was ended; log in again.' },
  CSRF_TOKEN_INVALID: {
    status: 403,
    message: 'The x-csrf-token header is missing or does not match this session.',
  },
  BROKERAGE_HELD_ELSEWHERE: {
    status: 409,
    message:
      'Another session of this user holds the trading capability; ask with compete:true to take it over.',
  },
  SESSION_COMPETING: {
    status: 403,
    message: 'Another session took over trading; this session is read-only until it takes trading back.',
  },
  SESSION_RESET: {
    status: 401,
    message:
      'The daily reset ended this session’s trading capability; ask for it again (POST /v1/session/brokerage).',
  },
  BROKERAGE_REQUIRED: {
    status: 403,
    message: 'Trading needs the brokerage capability: POST /v1/session/brokerage first.',
  },
  ORIGIN_NOT_ALLOWED: {
    status: 403,
    message: 'This origin may not open a stream with the session cookie.',
  },
  PROOF_REQUIRED: {
    status: 401,
    message: 'Mobile requests need an x-device-proof signed by the device key.',
  },
  PROOF_INVALID: {
    status: 401,
    message:
      'The device proof is malformed, stale, for another request, or not signed by this session’s device.',
  },
  PROOF_REPLAYED: {
    status: 401,
    message: 'This device proof was already used; sign a new one for every request.',
  },
  DEVICE_KEY_REQUIRED: {
    status: 403,
    message:
      'This channel trades and changes security settings only from a registered device key; register the device key first.',
  },
  DEVICE_REGISTRATION_NOT_ALLOWED: {
    status: 403,
    message:
      'A device key can be registered only by a desktop session that logged in with a security key in the last 10 minutes and has no device key yet.',
  },
  ACCOUNT_NOT_FOUND: { status: 404, message: 'No such account among those this user may use.' },
  INSTRUMENT_NOT_FOUND: { status: 404, message: 'No such instrument in the catalogue.' },
  ORDER_NOT_FOUND: { status: 404, message: 'No such order in this account.' },
  ORDER_NOT_OPEN: {
    status: 409,
    message: 'The order is no longer working (filled, cancelled, expired or rejected).',
  },
  INVALID_TOKEN: {
    status: 401,
    message: 'The access token is unknown, expired or revoked.',
  },
  INVALID_DPOP_PROOF: {
    status: 401,
    message: 'The DPoP proof is missing or invalid for this request and token.',
  },
  USE_DPOP_NONCE: {
    status: 401,
    message: 'The DPoP proof must carry the server nonce given in the DPoP-Nonce header.',
  },
  API_NOT_ALLOWED: {
    status: 403,
    message: 'This call is for people, not programs: an API client cannot make it.',
  },
  TRADING_HALTED: {
    status: 503,
    message:
      'Trading is halted on this node: the order journal failed, so nothing more is accepted here until an operator resumes it or the node restarts (or, when the database could not be reached, until it is back: Retry-After).',
  },
  ACCOUNT_MOVING: {
    status: 503,
    message:
      'The node that works this account cannot be reached, or has just handed it over; another node takes it over within the lease (Retry-After).',
  },
  CONFIRMATION_INVALID: {
    status: 404,
    message: 'The confirmation is unknown, expired (60 s), already answered, or belongs to someone else.',
  },
  ROLE_NOT_ALLOWED: {
    status: 403,
    message:
      'Your role on this account does not allow this: a viewer may only look, and only an owner changes the account’s settings.',
  },
  LAST_OWNER: {
    status: 409,
    message: 'The account would be left without an owner; give another user the owner role first.',
  },
  QUANTITY_INVALID: {
    status: 422,
    message: 'The quantity must be positive, a whole number of lots, and within the instrument’s maximum.',
  },
  PRICE_OFF_TICK: { status: 422, message: 'A price is not a whole number of ticks for this instrument.' },
  PRICE_INVALID: {
    status: 422,
    message:
      'A price is beyond the bounds of this instrument (more than a hundred times its reference price).',
  },
  LIMIT_PRICE_REQUIRED: { status: 422, message: 'Limit and stop-limit orders need a positive limitPrice.' },
  STOP_PRICE_REQUIRED: { status: 422, message: 'Stop and stop-limit orders need a positive stopPrice.' },
  ORDER_TYPE_NOT_ALLOWED: { status: 422, message: 'This order type is not available on this channel.' },
  SCOPE_REQUIRED: { status: 403, message: 'The access token lacks the scope this call needs (trade).' },
  ACCOUNT_FROZEN: { status: 422, message: 'The account is frozen: no orders may be placed.' },
  ACCOUNT_CLOSING_ONLY: {
    status: 422,
    message: 'The account is closing-only: orders may only reduce existing positions.',
  },
  PRODUCT_NOT_ELIGIBLE: {
    status: 422,
    message: "The product is not available to this account's legal entity and client category.",
  },
  PERMISSION_MISSING: {
    status: 422,
    message: 'The account has no trading permission for this asset class in this region.',
  },
  OPTIONS_LEVEL_INSUFFICIENT: {
    status: 422,
    message: "The order's options strategy needs a higher options level than the account has.",
  },
  MARGIN_NOT_ALLOWED: {
    status: 422,
    message:
      'The order needs a margin account (short sale, futures, uncovered option) or is restricted by margin rules.',
  },
  DISCLOSURE_REQUIRED: { status: 422, message: 'A risk disclosure for this product must be accepted first.' },
  INSUFFICIENT_BUYING_POWER: { status: 422, message: 'The order exceeds the buying power of the account.' },
  PRICE_OUT_OF_BAND: {
    status: 422,
    message: 'The price is too far through the market (beyond the rejection band).',
  },
  SESSION_NOT_FOUND: { status: 404, message: 'No such session for this user.' },
  NOT_FOUND: { status: 404, message: 'No such route.' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'This method is not allowed here.' },
  USER_EXISTS: { status: 409, message: 'A user with this username already exists.' },
  USER_NOT_FOUND: { status: 404, message: 'No such user.' },
  PASSWORD_POLICY: { status: 400, message: 'The password does not meet the password policy.' },
  OVERLOADED: { status: 503, message: 'The gateway is busy; retry shortly.' },
  INTERNAL: { status: 500, message: 'An internal error occurred.' },
  SERVICE_UNAVAILABLE: { status: 503, message: 'The service is not ready.' },
  STORAGE_UNAVAILABLE: {
    status: 503,
    message:
      'The database cannot take writes now (its disk is full or it is read-only); nothing was changed.',
  },
  FORBIDDEN: { status: 403, message: 'This belongs to someone else.' },
  FAULT_CONFLICT: {
    status: 409,
    message: 'A fault of this kind already acts on this target at that time; clear it first.',
  },
  FAULT_LIMIT_REACHED: {
    status: 409,
    message: 'Too many sandbox faults are scheduled or active; clear some first.',
  },
  TRAVEL_NOTICE_INVALID: {
    status: 400,
    message:
      'This travel notice cannot be kept: an unknown country, a trip already over, a last day before the first, or a trip longer than allowed.',
  },
  TRAVEL_NOTICE_LIMIT: {
    status: 409,
    message: 'You have as many travel notices as allowed; cancel one first.',
  },
  TRAVEL_NOTICE_NOT_FOUND: { status: 404, message: 'No such travel notice for this user.' },
} as const satisfies Record<ErrorCode, { status: number; message: string }>;

/** The base of every error that crosses a transport boundary. */
export class GatehouseError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: ErrorDetails | undefined;

  constructor(code: ErrorCode, message?: string, details?: ErrorDetails) {
    super(message ?? ERROR_CATALOGUE[code].message);
    this.name = 'GatehouseError';
    this.code = code;
    this.status = ERROR_CATALOGUE[code].status;
    this.details = details;
  }
}

export function toEnvelope(error: GatehouseError): ErrorEnvelope {
  const { ruleId, ...rest } = error.details ?? {};
  return {
    error: {
      code: error.code,
      message: error.message,
      ...(typeof ruleId === 'string' ? { ruleId } : {}),
      ...(Object.keys(rest).length === 0 ? {} : { details: rest }),
    },
  };
}

/** Thrown at start-up for a wrong setting; the message names the setting. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
