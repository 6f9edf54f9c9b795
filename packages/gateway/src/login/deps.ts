/**
 * @module login/deps
 * What the login steps need, in small parts: each function names the parts it uses (an intersection of these), so
 * a step never holds what it does not use, and a caller (the routes, a password change, the login stream) is handed
 * only the parts of the steps it calls. app/ builds the parts from the gateway's context and configuration.
 */
import type { Kysely } from 'kysely';
import type { Clock, EventBus, FaultProbe, KeySource, ReplayGuard, SecretBox } from '../core/index.js';
import type { SmsSender, UnreadableLog } from '../factors/index.js';
import type { PushTransport } from '../factors/push.js';
import type { PushWaiters } from '../factors/push-waiters.js';
import type { WebauthnConfig } from '../factors/webauthn.js';
import type { PasswordHasher } from '../identity/index.js';
import type { GatewayMetrics } from '../metrics/index.js';
import type { Notifier } from '../notifications/index.js';
import type { ChannelPolicies, SessionService } from '../sessions/index.js';
import type { Database } from '../store/index.js';
import type { ThrottlePolicies } from './limits.js';

/**
 * The brute-force limits every password, PIN and code check is claimed under: who is attempting (a browser is
 * known by its signed device cookie), their buckets, the audit of a refusal and the login counters.
 */
export interface LoginLimits {
  db: Kysely<Database>;
  clock: Clock;
  metrics: GatewayMetrics;
  /** Brute-force limits (`login/limits`). */
  backoff: ThrottlePolicies;
  /** Keys for device cookies (the current one signs, previous ones verify in their grace): recognise a browser for the limits, and signs the cookie a login sets. */
  deviceKey: KeySource;
}

/** A started login's rules: the factors each channel allows, how long a login stays open and how many tries it has. */
export interface LoginTransactions {
  policies: ChannelPolicies;
  /** `login.transactionTtlMs`: how long a started login waits for its second factor. */
  transactionTtlMs: number;
  /** `login.maxFactorAttempts`: second-factor attempts (codes checked, pushes sent) one login allows. */
  maxFactorAttempts: number;
}

/** What completing a login adds: the session it issues, and the notifications it sends (a new device, a recovery code used). */
export interface LoginCompletion {
  sessions: SessionService;
  notifier: Notifier;
  /** Tells every node of the pushes a login's end cancelled, so the devices drop their prompts. */
  bus: EventBus;
  /** Where a notice the storage refused after a login committed is reported (`afterLoginIssued`). */
  noticeLog?: { error(fields: object, message: string): void };
}

/** Password and PIN checks (argon2id), and how a typed username that names no user is audited. */
export interface PasswordChecks {
  hasher: PasswordHasher;
  /** Key for the keyed hash that stands for a typed username naming no user in the audit log (`auditedUsername`). */
  usernameKey: Buffer;
}

/** The code factors: TOTP (seeds sealed at rest), SMS codes and recovery codes. */
export interface CodeFactors {
  box: SecretBox;
  /** `totp.window`: steps accepted either side of the current one. */
  totpWindow: number;
  sms: SmsSender;
  /** Where a TOTP seed no key opens is reported. */
  log?: UnreadableLog;
}

/** The second step by push approval, and the long-poll that waits on it. */
export interface PushLogins {
  push: PushTransport;
  pushWaiters: PushWaiters;
  bus: EventBus;
  /** `push.timeoutMs`: how long a push challenge may be answered. */
  pushTimeoutMs: number;
  /** `push.deliveryTimeoutMs`: how long a push may go undelivered before the other factors are offered. */
  pushDeliveryTimeoutMs: number;
  /** `push.longPollMs`: the longest a poll of a started login waits. */
  longPollMs: number;
}

/** The second step by security key or passkey. */
export interface WebauthnLogins {
  webauthn: WebauthnConfig;
  /** The failure sandbox's probe: whether the security key is there (`webauthn.missing`); default none. */
  faults?: FaultProbe;
}

/** Logins signed by a device key (mobile, desktop). */
export interface DeviceLogins {
  /** Nonces of recent signed device logins, by channel, device and nonce (a reused one is a replay), on every node. */
  deviceLoginNonces: ReplayGuard;
}
