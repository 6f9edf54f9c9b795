/**
 * @module store/tables
 * Row types of every table, shared by both dialects. Times are epoch milliseconds (BIGINT); flags are 0/1
 * integers so that SQLite and PostgreSQL rows look the same to the code above.
 *
 * Longer than most modules: every table's row type, the schema as Kysely sees it, in one place.
 */

export interface LegalEntitiesTable {
  code: string;
  legal_name: string;
  regulator: string;
  typical_residence: string;
  investor_protection: string;
  protection_limit: string;
  notes: string;
  /** Region whose daily reset applies: north_america | europe | asia_pacific. */
  region: string;
}

export interface UsersTable {
  id: string;
  username: string;
  display_name: string;
  status: string;
  created_at: number;
  updated_at: number;
  /** exclusive (one trading session per user, the default) | shared. */
  brokerage_policy: string;
}

export interface PasswordCredentialsTable {
  user_id: string;
  hash: string;
  updated_at: number;
  /** An initial password set by an operator stops working then, unless changed; null for the user's own. */
  initial_expires_at: number | null;
}

export interface SecondFactorsTable {
  id: string;
  user_id: string;
  type: string;
  label: string;
  /** Secret sealed with the server key (TOTP seed); never stored in the clear. */
  secret_sealed: string | null;
  /** TOTP: the last accepted 30 s step; a code for this step or an earlier one is refused (no reuse). */
  last_used_step: number | null;
  created_at: number;
  last_used_at: number | null;
  /** active | pending (enrolment not yet confirmed with a first code). */
  status: string;
  /** SMS: the E.164 number codes are sent to. */
  phone: string | null;
  /** WebAuthn: base64url credential id, COSE public key, signature counter, transports (JSON). */
  credential_id: string | null;
  public_key: string | null;
  sign_count: number | null;
  transports: string | null;
  /** WebAuthn: 1 when the credential is bound to hardware (not synced), which gives AAL3. */
  hardware_bound: number;
}

export interface RecoveryCodesTable {
  id: string;
  user_id: string;
  code_hash: string;
  created_at: number;
  used_at: number | null;
  /** The code's entropy: 120 for codes issued now, 80 for codes of the earlier format. */
  bits: number;
}

export interface SmsChallengesTable {
  id: string;
  user_id: string;
  factor_id: string;
  code_hash: string;
  created_at: number;
  expires_at: number;
  attempts: number;
  consumed_at: number | null;
  /** What the code was sent for: login | step_up | enrol (null: sent before codes were bound; never accepted). */
  purpose: string | null;
  /** The login transaction's id, the session's id, or the enrolled factor's id, as `purpose` says. */
  bound_to: string | null;
}

export interface SmsOutboxTable {
  id: string;
  to_number: string;
  body: string;
  created_at: number;
  /** The login transaction the text was sent for (its id, not its handle); null for any other text. */
  login_id: string | null;
}

export interface NotificationsTable {
  id: string;
  user_id: string;
  kind: string;
  /** JSON object of non-secret details. */
  data: string;
  created_at: number;
}

export interface AccountsTable {
  id: string;
  entity_code: string;
  type: string;
  base_currency: string;
  client_category: string;
  frozen: number;
  closing_only: number;
  paper: number;
  title: string;
  created_at: number;
  /** Options level on the normalised 0–4 scale (research/broker-sessions.md §1.2). */
  options_level: number;
  /** What happens to open orders when a session trading the account is lost: none | cancel_day | cancel_all. */
  session_loss_policy: string;
}

export interface AccountRolesTable {
  user_id: string;
  account_id: string;
  role: string;
}

export interface SessionsTable {
  id: string;
  token_hash: string;
  user_id: string;
  channel: string;
  aal: number;
  /** JSON array of authentication methods (RFC 8176 names): ["pwd","otp"]. */
  amr: string;
  created_at: number;
  last_seen_at: number;
  idle_timeout_ms: number;
  expires_at: number;
  second_factor_at: number | null;
  ip: string;
  user_agent: string;
  revoked_at: number | null;
  revoke_reason: string | null;
  /** 1 when a sensitive action must first verify a second factor again (e.g. after a network change). */
  step_up_required: number;
  device_id: string | null;
  /** The network the session was last seen on (IPv4 /24 or IPv6 /48). */
  network: string | null;
  /** The second factor type verified most recently in this session (SMS cannot authorise factor changes). */
  last_factor: string | null;
  /** When this session last acquired the brokerage capability. */
  brokerage_at: number | null;
  /** Why a pending step-up is pending: JSON `{reason, country?}`; null (with a step-up pending) for a network change. */
  step_up_reason: string | null;
  /** The country (ISO 3166-1 alpha-2) the session was last seen from; null when none is known. */
  country: string | null;
  /**
   * The daily reset that ended this session's trading, once noticed: the first reset instant after `brokerage_at`
   * (recorded by whoever notices first, so a wall clock stepped back before it does not give trading back), or when
   * the failure sandbox's `reset.daily` ended it (its `brokerage_at` is then dated before the last reset, which
   * happened hours earlier); null otherwise, and again once the session trades anew.
   */
  brokerage_reset_at: number | null;
}

export interface LoginTransactionsTable {
  id: string;
  handle_hash: string;
  user_id: string;
  channel: string;
  created_at: number;
  expires_at: number;
  completed_at: number | null;
  attempts: number;
  ip: string;
  user_agent: string;
  /** Desktop: the pre-validated device whose key signed the login (the session is bound to it). */
  device_id: string | null;
}

/** A single-use key claimed while Redis was unreachable (store/replay-claims.ts). */
export interface ReplayClaimsTable {
  /** `<namespace>:<key>` (core/replay.ts `replayKey`). */
  key: string;
  expires_at: number;
}

export interface LoginThrottleTable {
  /**
   * The bucket (`login/limits`): `network <network> <username>`, `account <username>` (the normalised username,
   * whether or not such a user exists) or `device <deviceId>`.
   */
  subject: string;
  failures: number;
  last_failure_at: number;
  blocked_until: number;
}

export interface AuditLogTable {
  seq: number;
  at: number;
  type: string;
  user_id: string | null;
  session_id: string | null;
  ip: string | null;
  /** JSON object of non-secret details. */
  data: string;
  prev_hash: string;
  hash: string;
}

export interface AuditHeadTable {
  id: number;
  seq: number;
  hash: string;
}

export interface DevicesTable {
  id: string;
  user_id: string;
  /** mobile (an enrolled authenticator with a key) | browser (seen by its device cookie). */
  kind: string;
  name: string;
  platform: string;
  /** Mobile: the device's P-256 public key as a JWK (JSON). */
  public_key: string | null;
  /** Mobile: argon2id hash of the PIN for `channel: "mobile"` logins. */
  pin_hash: string | null;
  pin_failures: number;
  /** 1 after 5 wrong PINs: the device can approve nothing and log in nowhere until re-enrolled. */
  login_disabled: number;
  trusted: number;
  /** active | revoked */
  status: string;
  /** JSON array of networks (IPv4 /24, IPv6 /48) the device was seen on. */
  networks: string;
  first_seen_at: number;
  last_seen_at: number;
  created_at: number;
}

/** A country a device was seen from (devices/countries.ts). */
export interface DeviceCountriesTable {
  device_id: string;
  user_id: string;
  /** ISO 3166-1 alpha-2. */
  country: string;
  first_seen_at: number;
  last_seen_at: number;
}

/** A country a user was seen from, on any device: the countries a login from is not "new" (devices/countries.ts). */
export interface UserCountriesTable {
  user_id: string;
  country: string;
  first_seen_at: number;
  last_seen_at: number;
  /**
   * When a session seen from the country completed a step-up (for the user's first country, when it was first
   * seen); null: seen, never verified — every login from it is still a new-country login.
   */
  verified_at: number | null;
}

/** A trip the user announced: logins from `country` between the dates need no step-up (devices/travel.ts). */
export interface TravelNoticesTable {
  id: string;
  user_id: string;
  country: string;
  /** First day of the trip, UTC, `YYYY-MM-DD` (inclusive). */
  starts_on: string;
  /** Last day of the trip, UTC, `YYYY-MM-DD` (inclusive). */
  ends_on: string;
  created_at: number;
  /** The place the notice takes among the user's `travel.maxNotices` (unique per user). */
  slot: number;
}

export interface DeviceActivationsTable {
  id: string;
  user_id: string;
  code_hash: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

export interface PushChallengesTable {
  id: string;
  user_id: string;
  /** The login transaction (its id, not its handle) this challenge would complete. */
  login_id: string | null;
  number: string;
  /** JSON: what the person needs to decide (channel, device, ip, network, time). */
  context: string;
  /** pending | approved | denied | wrong_number | expired */
  status: string;
  created_at: number;
  expires_at: number;
  delivered_at: number | null;
  decided_at: number | null;
  device_id: string | null;
}

export interface WebauthnChallengesTable {
  id: string;
  user_id: string;
  /** register | login | step_up */
  purpose: string;
  /** base64url challenge (≥ 64 bits, ASVS 2.9.2; 256 bits here). */
  challenge: string;
  login_id: string | null;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

export interface BrokerageHoldersTable {
  user_id: string;
  session_id: string;
  acquired_at: number;
}

/** The CPAPI face's number for an order (IBKR's `order_id`), given once per order. */
export interface CpapiOrderNumbersTable {
  number: number;
  order_id: string;
  account_id: string;
}

export interface AccountPermissionsTable {
  account_id: string;
  asset_class: string;
  region: string;
}

export interface AccountDisclosuresTable {
  account_id: string;
  disclosure: string;
  accepted_at: number;
}

export interface AccountSubscriptionsTable {
  account_id: string;
  bundle: string;
  professional: number;
  created_at: number;
}

export interface OrdersTable {
  id: string;
  account_id: string;
  client_order_id: string;
  user_id: string;
  session_id: string;
  instrument_id: number;
  side: string;
  type: string;
  quantity: number;
  limit_price: number | null;
  stop_price: number | null;
  tif: string;
  /** working | filled | cancelled | expired | rejected */
  status: string;
  filled_quantity: number;
  avg_fill_price: number | null;
  /** Stop orders: 1 once the stop price was reached. */
  triggered: number;
  /** JSON array of confirmation question ids the user answered (e.g. no market data). */
  acknowledged: string;
  /** DAY orders: the exchange close at which they expire. */
  expires_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface OrderConfirmationsTable {
  id: string;
  account_id: string;
  user_id: string;
  /** JSON of the order request awaiting confirmation. */
  order: string;
  questions: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

export interface ExecutionsTable {
  id: string;
  order_id: string;
  account_id: string;
  instrument_id: number;
  side: string;
  quantity: number;
  price: number;
  commission: number;
  currency: string;
  created_at: number;
}

export interface PositionsTable {
  account_id: string;
  instrument_id: number;
  quantity: number;
  avg_cost: number;
}

export interface CashBalancesTable {
  account_id: string;
  currency: string;
  balance: number;
}

export interface AccountEventsTable {
  account_id: string;
  seq: number;
  type: string;
  order_id: string | null;
  data: string;
  created_at: number;
}

export interface OAuthClientsTable {
  id: string;
  /** personal (a user's own bot, client credentials) | app (an operator's third-party app, authorization code) */
  kind: string;
  /** The owner of a personal client. */
  user_id: string | null;
  name: string;
  /** JSON JWK Set of the client's public keys (private_key_jwt; DPoP keys are the client's own choice). */
  jwks: string;
  /** JSON array, compared exactly. */
  redirect_uris: string;
  /** JSON array of the scopes the client may be granted. */
  scopes: string;
  rotate_refresh_tokens: number;
  /** none | cancel_day | cancel_all */
  session_loss_policy: string;
  created_at: number;
  revoked_at: number | null;
}

export interface OAuthGrantsTable {
  id: string;
  client_id: string;
  user_id: string;
  scopes: string;
  /** JSON array of the account ids the client may act on. */
  accounts: string;
  /**
   * An app's grant: its program session (channel `api`), created with its first token. A personal client's sessions,
   * one per instance (DPoP key), are in `oauth_instances` (and its tokens'); rows from before have one here.
   */
  session_id: string | null;
  created_at: number;
  revoked_at: number | null;
  revoke_reason: string | null;
}

export interface OAuthParRequestsTable {
  request_uri_hash: string;
  client_id: string;
  /** JSON of the validated authorization request. */
  params: string;
  expires_at: number;
  used_at: number | null;
}

export interface OAuthCodesTable {
  code_hash: string;
  client_id: string;
  grant_id: string;
  redirect_uri: string;
  code_challenge: string;
  dpop_jkt: string | null;
  expires_at: number;
  used_at: number | null;
}

export interface OAuthTokensTable {
  token_hash: string;
  /** access | refresh */
  kind: string;
  grant_id: string;
  /** RFC 7638 thumbprint of the DPoP key the token is bound to. */
  jkt: string;
  scopes: string;
  created_at: number;
  expires_at: number;
  last_used_at: number | null;
  /** Refresh tokens under rotation: when it was exchanged for its successor. */
  spent_at: number | null;
  /** The successor refresh token, sealed, kept for the reuse leeway. */
  successor_sealed: string | null;
  revoked_at: number | null;
  /**
   * The program session the token acts through (channel `api`): its instance's under a personal client (one per
   * DPoP key), its grant's under an app. Null on rows written before migration 0013: the grant's `session_id`.
   */
  session_id: string | null;
}

/**
 * The program session of one instance of a personal client: its grant and its DPoP key (`jkt`). Written while the
 * grant's row is held (oauth/issue.ts), so that one key has one session on every node.
 */
export interface OAuthInstancesTable {
  grant_id: string;
  jkt: string;
  session_id: string;
  created_at: number;
}

export interface OAuthAssertionsTable {
  client_id: string;
  jti: string;
  expires_at: number;
}

export interface DeadManSwitchesTable {
  /** `session:<sessionId>` or `account:<accountId>`. */
  id: string;
  scope: string;
  user_id: string;
  session_id: string;
  account_id: string | null;
  timeout_ms: number;
  exclude_gtc: number;
  deadline: number;
  armed_at: number;
}

/** The failure sandbox's faults (`sandbox/`). */
export interface SandboxFaultsTable {
  id: string;
  kind: string;
  target_type: string;
  target_id: string | null;
  /** JSON of the kind's checked parameters. */
  params: string;
  /** JSON of the schedule as given. */
  schedule: string;
  state: 'scheduled' | 'active' | 'done' | 'cleared';
  starts_at: number;
  ends_at: number | null;
  hits: number;
  /** The user whose session injected it (their own targets only); null for an operator. */
  owner_user_id: string | null;
  /** `operator`, `user:{id}`, or `scenario:{name}`. */
  created_by: string;
  created_at: number;
  note: string | null;
}

/** A node of a cluster (`cluster/`): where other nodes reach it, when it was last seen. */
export interface ClusterNodesTable {
  node_id: string;
  internal_url: string;
  started_at: number;
  seen_at: number;
  /** 1 while it drains (takes no leases). */
  draining: number;
}

/** Which node works an account (`cluster/`), until when, under which fencing token. */
export interface AccountLeasesTable {
  account_id: string;
  node_id: string;
  /** Grows by one each time the account changes hands; the account's journal writes check it. */
  fence: number;
  expires_at: number;
}

/**
 * A user's watchlist (readiness/): one row, replaced whole by one statement, so that two saves racing leave one of
 * them (the last) and never a mix.
 */
export interface WatchlistsTable {
  user_id: string;
  /** JSON array of instrument ids, in the user's order. */
  instrument_ids: string;
}

/** A user's latest acknowledgement that they reviewed an account's legal entity (readiness/; audited). */
export interface EntityReviewsTable {
  user_id: string;
  account_id: string;
  /** The entity reviewed: a review of another entity does not count once the account moves. */
  entity_code: string;
  reviewed_at: number;
}

/** One re-authentication: from losing trading on a channel to holding it again there (readiness/). */
export interface ReauthenticationSamplesTable {
  id: string;
  user_id: string;
  channel: string;
  ms: number;
  at: number;
  /** How the session that took trading back logged in (`readiness/paths`: `desktop_key`, `web_totp`, …). */
  path: string;
}

/** An API client's refresh path for one user, as the token service saw it (oauth/refresh-record.ts). */
export interface ApiClientRefreshesTable {
  client_id: string;
  user_id: string;
  /** The last refresh (or, for a personal client, client-credentials request) that issued tokens. */
  last_refresh_at: number | null;
  /** The failure sandbox's `token.expired_early` last expired this client's tokens for the user. */
  tokens_expired_at: number | null;
  /** The failure sandbox's `refresh.response_lost` last cut a refresh's answer. */
  response_lost_at: number | null;
}

export interface Database {
  legal_entities: LegalEntitiesTable;
  users: UsersTable;
  password_credentials: PasswordCredentialsTable;
  second_factors: SecondFactorsTable;
  accounts: AccountsTable;
  account_roles: AccountRolesTable;
  sessions: SessionsTable;
  login_transactions: LoginTransactionsTable;
  login_throttle: LoginThrottleTable;
  replay_claims: ReplayClaimsTable;
  audit_log: AuditLogTable;
  audit_head: AuditHeadTable;
  recovery_codes: RecoveryCodesTable;
  sms_challenges: SmsChallengesTable;
  sms_outbox: SmsOutboxTable;
  notifications: NotificationsTable;
  devices: DevicesTable;
  device_countries: DeviceCountriesTable;
  user_countries: UserCountriesTable;
  travel_notices: TravelNoticesTable;
  device_activations: DeviceActivationsTable;
  push_challenges: PushChallengesTable;
  webauthn_challenges: WebauthnChallengesTable;
  brokerage_holders: BrokerageHoldersTable;
  cpapi_order_numbers: CpapiOrderNumbersTable;
  account_permissions: AccountPermissionsTable;
  account_disclosures: AccountDisclosuresTable;
  account_subscriptions: AccountSubscriptionsTable;
  orders: OrdersTable;
  oauth_clients: OAuthClientsTable;
  oauth_grants: OAuthGrantsTable;
  oauth_par_requests: OAuthParRequestsTable;
  oauth_codes: OAuthCodesTable;
  oauth_tokens: OAuthTokensTable;
  oauth_instances: OAuthInstancesTable;
  oauth_assertions: OAuthAssertionsTable;
  dead_man_switches: DeadManSwitchesTable;
  order_confirmations: OrderConfirmationsTable;
  executions: ExecutionsTable;
  positions: PositionsTable;
  cash_balances: CashBalancesTable;
  account_events: AccountEventsTable;
  sandbox_faults: SandboxFaultsTable;
  cluster_nodes: ClusterNodesTable;
  account_leases: AccountLeasesTable;
  watchlists: WatchlistsTable;
  entity_reviews: EntityReviewsTable;
  reauthentication_samples: ReauthenticationSamplesTable;
  api_client_refreshes: ApiClientRefreshesTable;
}
