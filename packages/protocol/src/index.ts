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
/** The dead-man switch's timeout bounds (`PUT /v1/safety/dead-man`), in ms; `0` disarms. */
export const DEAD_MAN_MIN_MS = 5_000;
export const DEAD_MAN_MAX_MS = 600_000;

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

// ---- What the Client Portal reads: sessions, devices, factors, accounts, security events, logins ----

export type FactorType = 'push' | 'webauthn' | 'totp' | 'sms' | 'recovery_code';

/** A session as its user sees it (`GET /v1/session`, `GET /v1/sessions`). Nothing secret is included. */
export interface SessionView {
  id: string;
  channel: string;
  aal: number;
  amr: string[];
  createdAt: string;
  lastSeenAt: string;
  idleExpiresAt: string;
  expiresAt: string;
  ip: string;
  userAgent: string;
  current: boolean;
}

/** `GET /v1/sessions`: each live session with its device, network, tier and whether it is competing. */
export interface MonitoredSession extends SessionView {
  device: { id: string; name: string } | null;
  network: string | null;
  tier: Tier;
  competing: boolean;
}

/** An account as its user's session lists it. */
export interface AccountSummary {
  id: string;
  title: string;
  paper: boolean;
  type: string;
  baseCurrency: string;
  clientCategory: string;
  frozen: boolean;
  closingOnly: boolean;
  /** The user's role on the account (owner, trader, viewer). */
  role: string;
}

/** The user and their accounts, as `GET /v1/session` carries them. */
export interface ProfileView {
  user: { id: string; username: string; displayName: string };
  /**
   * The password was set by an operator (a new user, a reset): an initial secret the user must replace with their
   * own (`POST /v1/password`) before `passwordExpiresAt`, when it stops working.
   */
  passwordChangeRequired: boolean;
  /** When the initial password stops working (ISO 8601); null for the user's own password. */
  passwordExpiresAt: string | null;
  /** Each with its carrying legal entity, named; the investor-protection details come with the account itself. */
  accounts: (AccountSummary & { entity: { code: string; legalName: string; regulator: string } })[];
}

/** `POST /v1/password`: the password is changed. */
export interface PasswordChanged {
  status: 'changed';
  /** Other sessions ended because `endOtherSessions` was asked for (0 otherwise). */
  endedSessions: number;
}

/** `GET /v1/session`. */
export interface WhoAmI extends ProfileView {
  session: SessionView;
  csrfToken: string;
}

export type DeviceKind = 'mobile' | 'desktop' | 'browser';

/** `GET /v1/devices`. */
export interface DeviceView {
  id: string;
  kind: DeviceKind;
  name: string;
  platform: string;
  trusted: boolean;
  status: 'active' | 'revoked';
  /** The device may approve pushes but not log in itself (mobile). */
  loginDisabled: boolean;
  networks: string[];
  firstSeenAt: string;
  lastSeenAt: string;
}

/** `GET /v1/factors`. */
export interface FactorView {
  id: string;
  type: FactorType;
  label: string;
  status: string;
  createdAt: string;
  lastUsedAt: string | null;
  phone?: string;
  hardwareBound?: boolean;
}

/** An SMS code was sent (login, step-up, enrolment), with the resend limits. */
export interface SmsSentView {
  status: 'sms_sent';
  expiresAt: string;
  resendAvailableAt: string;
  remainingThisHour: number;
}

/** `GET /v1/accounts/{accountId}`: the account, its legal entity, entitlements, market data and product rules. */
export interface AccountView extends AccountSummary {
  optionsLevel: number;
  entity: {
    code: string;
    legalName: string;
    regulator: string;
    investorProtection: string;
    protectionLimit: string;
    notes: string;
  };
  permissions: { assetClass: string; region: string }[];
  disclosures: { disclosure: string; accepted: boolean }[];
  marketData: { bundle: string; name: string; access: 'live' | 'delayed' | 'none'; professional: boolean }[];
  rules: { id: string; description: string }[];
}

/** `GET /v1/security/events`: the user's recent audit events, newest first. */
export interface SecurityEvent {
  seq: number;
  at: string;
  type: string;
  sessionId: string | null;
  ip: string | null;
  data: Record<string, unknown>;
}

/** The answers of the login routes (`POST /v1/auth/login`, `…/factor`, `GET /v1/auth/login/{loginId}`). */
export type LoginStep =
  | { status: 'second_factor_required'; loginId?: string; factors: { type: FactorType }[] }
  | {
      status: 'push_pending';
      challengeId: string;
      /** Show this; the phone shows the same number and the user matches them. */
      number: string;
      expiresAt?: string;
      fallbackAfterMs?: number;
      delivered?: boolean;
      /** Present once the push was not delivered in time: the other factors the user may use now. */
      fallbackFactors?: { type: FactorType }[];
    }
  | {
      status: 'authenticated';
      session: SessionView;
      csrfToken?: string;
      backupFactorMissing: boolean;
      notice?: 'recovery_code_used';
      remainingRecoveryCodes?: number;
      suggestion?: string;
    };

/** A market-data quote with the entitlement it was served under (`GET /v1/marketdata/snapshot`). */
export interface QuoteView {
  instrumentId: number;
  symbol: string;
  bid: number | null;
  ask: number | null;
  last: number | null;
  bidSize: number | null;
  askSize: number | null;
  /** The instant the prices describe (ISO 8601); for a delayed quote, 15 minutes ago. */
  at: string | null;
  entitlement: { type: 'live' | 'delayed' | 'none'; delayMs: number; bundle: string; professional: boolean };
}

/** An instrument as `GET /v1/instruments` lists it. */
export interface InstrumentView {
  id: number;
  symbol: string;
  name: string;
  exchange: string;
  currency: string;
  assetClass: string;
  region: string;
  tickSize: number;
  lotSize: number;
  multiplier: number;
  /** A PRIIPs key information document exists. */
  kid: boolean;
  bundle: string;
}

/** `GET /v1/oauth/clients`: the user's personal clients and the apps they granted, with the live grants. */
export interface ApiClientView {
  clientId: string;
  kind: 'personal' | 'app';
  name: string;
  scopes: string[];
  redirectUris: string[];
  rotateRefreshTokens: boolean;
  sessionLossPolicy: SessionLossPolicy;
  createdAt: string;
  grants: {
    grantId: string;
    scopes: string[];
    accounts: string[];
    sessionId: string | null;
    createdAt: string;
  }[];
}

/** `GET /oauth2/authorize` for the consent page: the app, what it asks for, the accounts to choose from. */
export interface AuthorizationRequestView {
  client: { clientId: string; name: string };
  scopes: string[];
  redirectUri: string;
  /** The user's accounts; `grantable` says whether the asked scopes may be granted on it (the user's role). */
  accounts: { id: string; title: string; role: string; grantable: boolean }[];
  /** How long the access lasts: it ends after `idleTimeoutMs` unused, and `absoluteLifetimeMs` after consent. */
  lifetime: { idleTimeoutMs: number; absoluteLifetimeMs: number };
}

/** `GET /v1/accounts/{accountId}/portfolio`: cash per currency, positions and the account's valuation. */
export interface PortfolioView {
  accountId: string;
  baseCurrency: string;
  cash: Record<string, number>;
  positions: { instrumentId: number; symbol: string | null; quantity: number; avgCost: number }[];
  netLiquidation: number;
  initialMargin: number;
  buyingPower: number;
}

/** A push request as an enrolled device receives it on `/v1/devices/stream`. */
export interface PushRequestMessage {
  type: 'push';
  challengeId: string;
  /** The number the login screen shows; the person matches it before approving. */
  number: string;
  context: { channel: string; requestingDevice: string; ip: string; network: string | null; time: string };
  expiresAt: string;
}

/** The bytes a device signs to open its stream: bound to the device, a time and a single-use nonce. */
export function deviceStreamAuthMessage(deviceId: string, timestamp: number, nonce: string): string {
  return `gatehouse-device-stream:${deviceId}:${timestamp}:${nonce}`;
}

/** The bytes a device signs to approve or deny a push request. */
export function pushDecisionMessage(
  challengeId: string,
  decision: 'approve' | 'deny',
  number: string,
): string {
  return JSON.stringify({ challengeId, decision, number });
}
