/**
 * @module @gatehouse/protocol
 * What the gateway and its clients agree on, written once: the error codes, orders and their events, session
 * states, token responses and stream messages. The gateway builds its catalogue and presenters on these types (its
 * error catalogue must cover exactly `ERROR_CODES`, checked by the compiler); `@gatehouse/sdk` exposes them to
 * programs. No runtime dependencies, so it runs in browsers too.
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
  'CONFIRMATION_INVALID',
  'ROLE_NOT_ALLOWED',
  'QUANTITY_INVALID',
  'PRICE_OFF_TICK',
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
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** Structured, non-secret facts a client can act on (e.g. `retryAfterMs`, `lotSize`). */
export type ErrorDetails = Readonly<Record<string, unknown>>;

/** The one error envelope: `ruleId` names the product rule that rejected an order. */
export interface ErrorEnvelope {
  error: { code: ErrorCode; message: string; ruleId?: string; details?: ErrorDetails };
}

/** OAuth error codes of the authorization server's endpoints (RFC 6749 §5.2, RFC 9449, RFC 9126). */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'unsupported_response_type'
  | 'invalid_scope'
  | 'access_denied'
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce'
  | 'invalid_request_uri'
  | 'invalid_token';

export const ORDER_TYPES = ['MKT', 'LMT', 'STP', 'STP_LMT'] as const;
export type OrderType = (typeof ORDER_TYPES)[number];
export type Side = 'BUY' | 'SELL';
export type TimeInForce = 'DAY' | 'GTC' | 'IOC';

/** `POST /v1/accounts/{accountId}/orders`. */
export interface OrderRequest {
  clientOrderId: string;
  instrumentId: number;
  side: Side;
  type: OrderType;
  quantity: number;
  limitPrice?: number | undefined;
  stopPrice?: number | undefined;
  tif: TimeInForce;
}

/** A question the gate asks before an order is placed (no market data, a price far through the market). */
export interface Question {
  id: string;
  message: string;
}

/** `409` from order entry: answer with `POST …/orders/confirmations/{confirmationId}` within 60 s. */
export interface ConfirmationRequired {
  confirmationId: string;
  questions: Question[];
}

export type OrderStatus = 'working' | 'filled' | 'cancelled' | 'expired';

export interface OrderView {
  id: string;
  accountId: string;
  clientOrderId: string;
  instrumentId: number;
  side: Side;
  type: OrderType;
  quantity: number;
  limitPrice: number | null;
  stopPrice: number | null;
  tif: TimeInForce;
  status: OrderStatus;
  filledQuantity: number;
  avgFillPrice: number | null;
  triggered: boolean;
  expiresAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export type EventType =
  | 'accepted'
  | 'confirmed'
  | 'rejected'
  | 'modified'
  | 'cancelled'
  | 'filled'
  | 'partially_filled'
  | 'expired';

/** One entry of an account's event log, numbered without gaps per account. */
export interface AccountEvent {
  seq: number;
  type: EventType;
  orderId: string | null;
  data: Record<string, unknown>;
  at: string;
}

export type Tier = 'read_only' | 'brokerage';

/** `POST /v1/session/tickle`. */
export interface SessionState {
  tier: Tier;
  /** This session held brokerage since the last reset and another session took it over. */
  competing: boolean;
  stepUpRequired: boolean;
  idleExpiresInMs: number;
  expiresInMs: number;
  nextResetAt: string;
}

/** The token endpoint's answer (DPoP-bound tokens). */
export interface TokenResponse {
  access_token: string;
  token_type: 'DPoP';
  expires_in: number;
  scope: string;
  refresh_token?: string;
}

export const SCOPES = ['read', 'trade', 'marketdata'] as const;
export type Scope = (typeof SCOPES)[number];

/** What happens to a lost session's open orders (per API client and per account; the stricter applies). */
export type SessionLossPolicy = 'none' | 'cancel_day' | 'cancel_all';

/** `PUT` / `GET /v1/safety/dead-man`. */
export interface DeadManState {
  armed: boolean;
  scope?: 'session' | 'account';
  accountId?: string | null;
  timeoutMs?: number;
  excludeGtc?: boolean;
  deadline?: string;
}

/** A message on `/v1/stream` (every one has its topic, type, per-connection sequence and time). */
export interface StreamMessage {
  topic: 'session' | 'orders' | 'marketdata' | 'control';
  type: string;
  seq: number;
  at: string;
  /** Topic `orders`: the account and its event sequence number. */
  accountId?: string;
  eventSeq?: number;
  orderId?: string | null;
  data?: Record<string, unknown>;
  replayed?: boolean;
  [field: string]: unknown;
}
