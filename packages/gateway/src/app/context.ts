/**
 * @module app/context
 * The gateway's typed context: built once at start-up; app/ hands each capability only the parts it uses, and
 * commands take it whole. No module-level singletons: two gateways in one process (as the tests run them) share
 * nothing.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { ClusterNode } from '../cluster/index.js';
import type { Config, PublicUrls } from '../config/index.js';
import type {
  Clock,
  EventBus,
  FaultProbe,
  PurposeKeys,
  ReplayGuard,
  SecretBox,
  SecretRing,
} from '../core/index.js';
import type { CountryLookup } from '../devices/index.js';
import type { EntitlementsCache } from '../entitlements/index.js';
import type { DeviceHub } from '../factors/device-hub.js';
import type { SmsSender } from '../factors/index.js';
import type { PushTransport } from '../factors/push.js';
import type { PushWaiters } from '../factors/push-waiters.js';
import type { Authenticator } from '../http/index.js';
import type { PasswordHasher, PasswordPolicy } from '../identity/index.js';
import type { ThrottlePolicies } from '../login/index.js';
import type { MarketData } from '../marketdata/index.js';
import type { GatewayMetrics } from '../metrics/index.js';
import type { Notifier } from '../notifications/index.js';
import type { DpopVerifier, OAuthService } from '../oauth/index.js';
import type { SigningKey } from '../oauth/signing.js';
import type { SafetyService } from '../safety/index.js';
import type { FactorFaults } from '../sandbox/factor-faults.js';
import type { HttpFaults } from '../sandbox/http-faults.js';
import type { Sandbox } from '../sandbox/index.js';
import type { DrillRecorders } from '../sandbox/recorder.js';
import type { BrokerageTier, ChannelPolicies, SessionService } from '../sessions/index.js';
import type { Journal, Store } from '../store/index.js';
import type { TradingService } from '../trading/index.js';

export interface GatewayContext {
  config: Config;
  /** The URL clients reach the gateway at and the OAuth issuer; never a request's Host header. */
  urls: PublicUrls;
  clock: Clock;
  logger: Logger;
  store: Store;
  /** The store's group-commit writer (`store/journal`): order entry, fills and the CPAPI face's order numbers. */
  journal: Journal;
  /** This node's name in the cluster (`cluster.nodeId`, else the host name and a random suffix). */
  nodeId: string;
  /** This node's part in a cluster (account ownership, the node-to-node channel); null on one node. */
  cluster: ClusterNode | null;
  bus: EventBus;
  hasher: PasswordHasher;
  /** What a new password must be (length, not common or breached, no context words); lists read once at start-up. */
  passwordPolicy: PasswordPolicy;
  /** Seals secrets at rest (TOTP seeds). */
  box: SecretBox;
  /** The server secrets (core/keyring): the current one makes new values, previous ones verify in their grace. */
  secretRing: SecretRing;
  /** Keys for CSRF tokens. */
  csrfKey: PurposeKeys;
  /** Keys for signing browsers' device cookies. */
  deviceCookieKey: PurposeKeys;
  /** Key for the keyed hash that stands for a typed username naming no user in the audit log. */
  usernameKey: Buffer;
  /** Each channel's policy: lifetimes, the factors it allows, takeover. */
  policies: ChannelPolicies;
  /** The brute-force limits of logins, step-ups and password changes (`login/limits`). */
  loginBackoff: ThrottlePolicies;
  /** Single-use keys every node shares (core/replay.ts): in memory with one node, on Redis with several. */
  replay: ReplayGuard;
  /** The Redis connection of the replay guard and the rate limits (`cluster.redisUrl`); null with one node. */
  redis: Redis | null;
  sessions: SessionService;
  /** Who is calling: one decision for every authenticated route and stream upgrade. */
  auth: Authenticator;
  /** SMS delivery; the default simulator writes to the `sms_outbox` table. */
  sms: SmsSender;
  /** Security notifications; the default simulator writes to the `notifications` table. */
  notifier: Notifier;
  /** The country of a client address (offline GeoLite2 data): the one place travel-aware device validation asks. */
  geo: CountryLookup;
  /** Push delivery to enrolled devices; the default is the device-stream hub. */
  push: PushTransport;
  /** Logins waiting on a push decision. */
  pushWaiters: PushWaiters;
  /** Open device streams on this node. */
  deviceHub: DeviceHub;
  metrics: GatewayMetrics;
  /** The brokerage tier: acquiring it, the tickle's state, the per-order re-check, which sessions lost it. */
  brokerage: BrokerageTier;
  /** The simulated feed and what each account may see of it. */
  marketData: MarketData;
  /** Account entitlements, cached per node. */
  entitlements: EntitlementsCache;
  /** Order entry behind the gate, and the paper engine. */
  trading: TradingService;
  /** The dead-man switch and the session-loss policy. */
  safety: SafetyService;
  /** The authorization server and programs' DPoP-bound access. */
  oauth: OAuthService;
  /** DPoP proof checks (token endpoint and resource requests), with their replay cache and nonces. */
  dpop: DpopVerifier;
  /** The authorization server's signing key (signed introspection), from the current secret. */
  oauthSigningKey: SigningKey;
  /** The keys the JWKS publishes: the current one, then each previous secret's until it retires. */
  oauthSigningKeys: () => readonly SigningKey[];
  /** The failure sandbox (`sandbox.enabled`); null when off. */
  sandbox: Sandbox | null;
  /** What the places a real failure strikes ask the sandbox; `noFaults` when it is off. */
  faults: FaultProbe;
  /** The push and SMS transports' faults (late deliveries it holds back); null when the sandbox is off. */
  factorFaults: FactorFaults | null;
  /** Drills' recordings of what this node sees of a bot (`sandbox/recorder`); null when the sandbox is off. */
  recorders: DrillRecorders | null;
  /** The HTTP layer's faults (maintenance, latency, errors, pacing); null when the sandbox is off. */
  httpFaults: HttpFaults | null;
}
