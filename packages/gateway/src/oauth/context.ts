/**
 * @module oauth/context
 * What the authorization server's parts share: its dependencies and options, and the node's cache of validated
 * access tokens. `OAuthService` builds one context and hands it to every endpoint's functions.
 */
import type { Scope } from '@gatehouse/protocol';
import type { Kysely } from 'kysely';
import type { BusCacheGate, Clock, EventBus, LruCache, SecretBox } from '../core/index.js';
import type { Notifier } from '../notifications/index.js';
import type { SessionService } from '../sessions/index.js';
import type { Database } from '../store/index.js';
import type { DpopVerifier } from './dpop.js';

export interface OAuthOptions {
  accessTokenTtlMs: number;
  authorizationCodeTtlMs: number;
  parTtlMs: number;
  refreshReuseLeewayMs: number;
  tokenCacheMaxEntries: number;
  /** Live instance sessions per personal client's grant; one more ends its least recently seen (oauth/issue.ts). */
  maxInstanceSessions: number;
}

export interface OAuthDeps {
  db: Kysely<Database>;
  clock: Clock;
  bus: EventBus;
  box: SecretBox;
  sessions: SessionService;
  notifier: Notifier;
  dpop: DpopVerifier;
  /** The issuer identifier and the URL the endpoints are served at (configured; never a request's Host). */
  urls: { readonly issuer: string; readonly base: string };
  options: OAuthOptions;
  /** How long a grant's session (and so its refresh token) lives: shown on the consent page. */
  grantLifetime: { idleTimeoutMs: number; absoluteLifetimeMs: number };
}

/** What a validated access token stands for, cached per node. */
export interface CachedToken {
  grantId: string;
  clientId: string;
  userId: string;
  sessionId: string;
  sessionTokenHash: string;
  jkt: string;
  scopes: readonly Scope[];
  accounts: readonly string[];
  expiresAt: number;
}

/**
 * The dependencies and the node's validated access tokens, keyed by the token's SHA-256. An entry leaves the cache
 * when its grant is revoked here or, through the bus (`oauth.revoked`), on any other node.
 */
export interface OAuthContext extends OAuthDeps {
  readonly tokens: LruCache<string, CachedToken>;
  /** Whether a token read may be kept: not while the bus is down, nor across a change of it (core/event-bus.ts). */
  readonly tokensGate: BusCacheGate;
}

/** Body parameters of a form endpoint (`application/x-www-form-urlencoded`), each present or not. */
export type OAuthForm = Record<string, string | undefined>;
