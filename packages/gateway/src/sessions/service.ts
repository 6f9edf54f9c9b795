/**
 * @module sessions/service
 * Creating, validating and revoking sessions. Validation is the hottest path in the gateway, so a validated
 * session is cached in memory (keyed by the token's hash) together with the user's profile, and costs no
 * database round trip. Three things keep the cache honest across nodes:
 * - revocations and user changes arrive on the `EventBus` and drop entries at once;
 * - an entry is re-read from the database after `revalidateAfterMs`, which bounds the damage of a lost message;
 * - while the bus does not reach the other nodes (Redis down: `EventBus.connected`) nothing is kept, so every
 *   authentication reads the database, and the cache empties when the bus drops and again when it is back;
 * - last-seen times are kept in memory and written behind in batches; before a session is declared idle the row is
 *   re-read, because another node may have seen more recent activity.
 * A profile is read with each entry, as before; when it reads the same as the one last read for the user, the entry
 * holds that one instead, so a user's many sessions (and their open streams) share one copy of it.
 *
 * Longer than most modules: the session cache and a session's life (create, authenticate, revalidate, step-up,
 * token renewal, revocation, written-behind activity) keep the cache's invariants together in one class.
 */
import type { KeyObject } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { type Kysely, sql } from 'kysely';
import { appendAudit } from '../audit/index.js';
import {
  type Clock,
  type EventBus,
  GatehouseError,
  LruCache,
  newId,
  randomToken,
  sha256,
} from '../core/index.js';
import { networkOf } from '../devices/network.js';
import type { User, UserAccount } from '../identity/index.js';
import type { Database } from '../store/index.js';
import { HolderView } from './holder-view.js';
import type { Channel, ChannelPolicies } from './policy.js';
import type { CountryObservation, CountrySeen, CountrySignal, StepUpReason } from './step-up-reason.js';
import {
  findSessionById,
  findSessionByTokenHash,
  findSessionsByIds,
  insertSession,
  listLiveSessions,
  markCountry,
  markDevice,
  markExpired,
  markRevoked,
  markSecondFactor,
  markStepUpRequired,
  replaceTokenHash,
  type SessionRecord,
  sessionIdsForDevice,
  withinIdle,
  writeLastSeen,
} from './store.js';

/** What a request needs to know about the user behind a session; cached with the session. */
export interface SessionProfile {
  user: User;
  accounts: UserAccount[];
  /** The user's password is an operator's initial one that stops working then (epoch ms); null for their own. */
  initialPasswordExpiresAt: number | null;
}

/** The authenticated caller of a request. */
export interface Principal {
  session: SessionRecord;
  profile: SessionProfile;
  /**
   * Values derived from the session and profile (a CSRF token, a serialised profile) cached for the life of the
   * cache entry: presenters compute them once per session instead of once per request.
   */
  memo: Map<string, string>;
  /** Mobile sessions: the device's public key, loaded once per cached session to check request proofs. */
  deviceKey?: KeyObject;
  /** A program's request under an OAuth grant: the grant's client, scopes and DPoP key (accounts are narrowed). */
  api?: ApiGrant;
}

export interface ApiGrant {
  clientId: string;
  grantId: string;
  scopes: readonly string[];
  /** The accounts the grant names: the principal's accounts are the user's, narrowed to these. */
  accounts: readonly string[];
  /** Thumbprint of the DPoP key the request proved. */
  jkt: string;
}

export type RevokeReason =
  | 'logout'
  | 'revoked_by_user'
  | 'revoked_by_operator'
  | 'user_disabled'
  | 'device_revoked'
  | 'grant_revoked'
  | 'refresh_token_reused'
  | 'session_limit'
  | 'instance_limit';

export interface NewSession {
  userId: string;
  channel: Channel;
  aal: number;
  amr: string[];
  ip: string;
  userAgent: string;
  secondFactorAt: number | null;
  /** The second factor used at login (null for none). */
  lastFactor: string | null;
  deviceId?: string | null;
}

export interface SessionServiceOptions {
  db: Kysely<Database>;
  clock: Clock;
  bus: EventBus;
  policies: ChannelPolicies;
  loadProfile: (userId: string) => Promise<SessionProfile | undefined>;
  cacheMaxEntries: number;
  /** Age after which a cached entry is re-read from the database (bounds revocation lag if a bus message is lost). */
  revalidateAfterMs: number;
  /** Live people's sessions (every channel but `api`) one user may hold; a new one beyond it ends the least recently used. */
  maxLivePerUser: number;
  /** The country signal (travel-aware device validation); without it, countries play no part. */
  countries?: CountrySignal;
}

/** A session just issued; `country` when it was seen from one (for `announceCountry` once its transaction commits). */
export interface IssuedSession {
  token: string;
  session: SessionRecord;
  country?: { seen: CountrySeen; where: CountryObservation };
}

/** A caller of `readSoon` waiting for its row. */
interface Waiting {
  resolve(row: SessionRecord | undefined): void;
  reject(error: unknown): void;
}

/** Ids read in one query by `readSoon` (well under every database's limit on bound parameters). */
const READ_BATCH = 500;

interface CacheEntry extends Principal {
  validatedAt: number;
  /** The client address of the previous request, to skip the network check while it does not change. */
  lastIp: string | null;
}

export class SessionService {
  readonly #o: SessionServiceOptions;
  readonly #cache: LruCache<string, CacheEntry>;
  /** The profile last read per user: a read that finds it unchanged hands out this object instead of a copy. */
  readonly #profiles: LruCache<string, SessionProfile>;
  /** Who trades for each user, cached beside the sessions: the tier questions are answered from both. */
  readonly holders: HolderView;
  /** session id → last-seen time not yet written to the database. */
  #pendingLastSeen = new Map<string, number>();
  readonly #unsubscribe: (() => void)[] = [];
  /** Session ids asked for by `readSoon` in this turn of the event loop, with the callers waiting on each. */
  #readBatch: Map<string, Waiting[]> | null = null;
  /** Counts announcements that drop entries: a load that raced one is answered but not cached. */
  #epoch = 0;

  constructor(options: SessionServiceOptions) {
    this.#o = options;
    this.#cache = new LruCache(options.cacheMaxEntries);
    this.#profiles = new LruCache(options.cacheMaxEntries);
    this.holders = new HolderView({
      bus: options.bus,
      clock: options.clock,
      maxEntries: options.cacheMaxEntries,
      revalidateAfterMs: options.revalidateAfterMs,
    });
    this.#unsubscribe.push(
      options.bus.subscribe('session.revoked', (m) => this.#drop(m.tokenHash)),
      // Every node, this one included, reloads a changed session from the database on its next use.
      options.bus.subscribe('session.changed', (m) => this.#drop(m.tokenHash)),
      // Its brokerage time changed: order entry reads the tier from the cached entry (sessions/holder-view).
      options.bus.subscribe('session.brokerage', (m) => this.#drop(m.tokenHash)),
      options.bus.subscribe('session.released', (m) => this.#drop(m.tokenHash)),
      // A replaced token (step-up) names no session any more: no node may keep answering for it.
      options.bus.subscribe('session.token_replaced', (m) => this.#drop(m.tokenHash)),
      options.bus.subscribe('user.changed', (m) => {
        this.#epoch += 1;
        this.#cache.deleteWhere((entry) => entry.session.userId === m.userId);
        this.#profiles.delete(m.userId);
      }),
      // Degraded or back: nothing announced while the bus was down may be answered from memory.
      options.bus.onConnection(() => this.clearCache()),
    );
  }

  /**
   * Issues a new session: a fresh 256-bit token (ASVS 3.2.1: a new token at every authentication) of which only
   * the SHA-256 is stored. Pass a transaction as `db` to make the session part of a larger atomic change.
   */
  async create(input: NewSession, db: Kysely<Database> = this.#o.db): Promise<IssuedSession> {
    const policy = this.#o.policies[input.channel];
    const now = this.#o.clock.now();
    const token = randomToken(32);
    const session: SessionRecord = {
      id: newId('ses'),
      tokenHash: sha256(token),
      userId: input.userId,
      channel: input.channel,
      aal: input.aal,
      amr: input.amr,
      createdAt: now,
      lastSeenAt: now,
      idleTimeoutMs: policy.idleTimeoutMs,
      expiresAt: now + policy.absoluteLifetimeMs,
      secondFactorAt: input.secondFactorAt,
      ip: input.ip,
      userAgent: input.userAgent,
      revokedAt: null,
      revokeReason: null,
      stepUpRequired: false,
      stepUpReason: null,
      country: null,
      deviceId: input.deviceId ?? null,
      network: networkOf(input.ip),
      lastFactor: input.lastFactor,
      brokerageAt: null,
    };
    const where = this.#whereSeen(session, input.ip);
    let seen: CountrySeen | undefined;
    if (where !== null && this.#o.countries !== undefined) {
      seen = await this.#o.countries.observe(db, where);
      session.country = where.country;
      if (seen.stepUp) {
        session.stepUpRequired = true;
        session.stepUpReason = { reason: 'new_country', country: where.country };
      }
    }
    await insertSession(db, session);
    await this.#keepWithinLimit(db, session, now);
    return where === null || seen === undefined
      ? { token, session }
      : { token, session, country: { seen, where } };
  }

  /**
   * Tells the user of a login from a new country (`create` found one), once the transaction that issued the session
   * committed. Nothing for any other login.
   */
  async announceCountry(issued: IssuedSession): Promise<void> {
    if (issued.country === undefined || this.#o.countries === undefined) return;
    await this.#o.countries.announce(issued.country.seen, issued.country.where);
  }

  /** Where a session is seen from `ip`, for the country signal: null for programs' sessions and countryless addresses. */
  #whereSeen(session: SessionRecord, ip: string): CountryObservation | null {
    if (this.#o.countries === undefined || session.channel === 'api') return null;
    const country = this.#o.countries.countryOf(ip);
    if (country === null) return null;
    return {
      userId: session.userId,
      sessionId: session.id,
      deviceId: session.deviceId,
      channel: session.channel,
      ip,
      country,
    };
  }

  /**
   * ASVS 5.0 7.1.2: a user holds at most `maxLivePerUser` live people's sessions (every channel but `api`). A new one
   * beyond that ends the least recently used others (reason `session_limit`), as Keycloak's "terminate oldest
   * session" does: a login always succeeds, and a forgotten session is what goes. Runs in the caller's transaction,
   * so the session and the ending commit together.
   *
   * Programs' sessions (`api`) are capped apart, per grant (oauth/issue.ts: `oauth.maxInstanceSessions` per personal
   * client, one per app grant), and neither count here nor are ended here. A token request costs a client nothing
   * but its own key, so were they counted together, a client asking for tokens with fresh keys (or a bot restarting
   * in a loop with a new key each time) would end the user's web session and their trading bot's, each end applying
   * its session-loss policy; and a login would end a trading bot's session just as well.
   */
  async #keepWithinLimit(db: Kysely<Database>, created: SessionRecord, now: number): Promise<void> {
    if (created.channel === 'api') return;
    const live = await db
      .selectFrom('sessions')
      .select(['id', 'token_hash', 'last_seen_at'])
      .where('user_id', '=', created.userId)
      .where('channel', '!=', 'api')
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now)
      .where(sql<boolean>`last_seen_at + idle_timeout_ms > ${now}`)
      .where('idle_timeout_ms', '>', 0)
      .execute();
    const excess = live.length - this.#o.maxLivePerUser;
    if (excess <= 0) return;
    const lastSeen = (s: { id: string; last_seen_at: number }) =>
      Math.max(Number(s.last_seen_at), this.#pendingLastSeen.get(s.id) ?? 0);
    const oldest = live
      .filter((s) => s.id !== created.id)
      .sort((a, b) => lastSeen(a) - lastSeen(b))
      .slice(0, excess);
    for (const old of oldest) {
      if (!(await markRevoked(db, old.id, now, 'session_limit'))) continue;
      this.#cache.delete(old.token_hash);
      this.#pendingLastSeen.delete(old.id);
      await appendAudit(db, this.#o.clock, {
        type: 'session.revoked',
        userId: created.userId,
        sessionId: old.id,
        data: { reason: 'session_limit', by: created.id },
      });
      await this.#o.bus.publish('session.revoked', {
        sessionId: old.id,
        tokenHash: old.token_hash,
        userId: created.userId,
        reason: 'session_limit',
      });
    }
  }

  /**
   * The principal for a token when the cache alone can answer (a fresh entry of a live session): no promise, no
   * database. Returns undefined when `authenticate` must decide, including for every failure case.
   */
  authenticateCached(token: string, ip: string | null = null): Principal | undefined {
    return this.authenticateCachedHash(sha256(token), ip);
  }

  /** `authenticateCached` for a session known by its token's hash (an API grant's session: see oauth/). */
  authenticateCachedHash(tokenHash: string, ip: string | null = null): Principal | undefined {
    const now = this.#o.clock.now();
    const entry = this.#cache.get(tokenHash);
    if (entry === undefined || now - entry.validatedAt > this.#o.revalidateAfterMs) return undefined;
    const { session } = entry;
    if (
      (ip !== null && ip !== entry.lastIp) ||
      session.revokedAt !== null ||
      entry.profile.user.status !== 'active' ||
      now >= session.expiresAt ||
      !withinIdle(session.lastSeenAt, session.idleTimeoutMs, now)
    ) {
      return undefined;
    }
    return this.#touch(entry, now);
  }

  /**
   * Whether `principal` was authenticated from this node's current entry for its session: nothing announced about
   * the session or its user since the entry was read, and the entry younger than `revalidateAfterMs`. Then its
   * fields (tier inputs included) are as fresh as the cache guarantees, and callers may answer from them.
   */
  isCurrent(principal: Principal): boolean {
    const entry = this.#cache.get(principal.session.tokenHash);
    return (
      entry !== undefined &&
      entry.session === principal.session &&
      this.#o.clock.now() - entry.validatedAt <= this.#o.revalidateAfterMs
    );
  }

  #drop(tokenHash: string): void {
    this.#epoch += 1;
    this.#cache.delete(tokenHash);
  }

  /** Records activity on a validated session (written behind in the next batch). */
  #touch(entry: CacheEntry, now: number): Principal {
    // Never earlier than activity already seen: a wall clock stepped back does not move the last activity back.
    const seen = Math.max(entry.session.lastSeenAt, now);
    entry.session.lastSeenAt = seen;
    this.#pendingLastSeen.set(entry.session.id, seen);
    return entry;
  }

  /**
   * Resolves a presented token to its principal, or throws the precise reason it is not valid. With the client
   * address, a change of network in the middle of the session marks it `stepUpRequired` (ARCHITECTURE.md, Device
   * validation): the session stays usable for reading, but sensitive actions need a second factor again.
   */
  async authenticate(token: string, ip: string | null = null): Promise<Principal> {
    return this.authenticateHash(sha256(token), ip);
  }

  /** `authenticate` for a session known by its token's hash (an API grant's session: see oauth/). */
  async authenticateHash(tokenHash: string, ip: string | null = null): Promise<Principal> {
    const now = this.#o.clock.now();
    let entry = this.#cache.get(tokenHash);
    let fresh = false;
    if (entry === undefined || now - entry.validatedAt > this.#o.revalidateAfterMs) {
      entry = await this.#load(tokenHash, now);
      fresh = true;
    }
    const { session } = entry;
    if (session.revokedAt !== null) {
      this.#cache.delete(tokenHash);
      throw new GatehouseError('SESSION_REVOKED', undefined, { reason: session.revokeReason });
    }
    if (entry.profile.user.status !== 'active') {
      this.#cache.delete(tokenHash);
      throw new GatehouseError('SESSION_REVOKED', undefined, { reason: 'user_disabled' });
    }
    if (now >= session.expiresAt) {
      this.#forget(session);
      throw new GatehouseError('SESSION_EXPIRED', undefined, { reason: 'absolute' });
    }
    if (!withinIdle(session.lastSeenAt, session.idleTimeoutMs, now)) {
      if (!fresh) return this.#recheckIdle(tokenHash, ip);
      this.#forget(session);
      throw new GatehouseError('SESSION_EXPIRED', undefined, { reason: 'idle' });
    }
    if (ip !== null && ip !== entry.lastIp) {
      await this.#moved(session, ip, networkOf(ip), 'request');
      entry.lastIp = ip;
    }
    return this.#touch(entry, now);
  }

  /**
   * The session is seen from `ip`, as a request from there would be (the failure sandbox's network change): a new
   * network requires a step-up and is audited (`session.network_changed`) exactly as `authenticate` does it. False
   * when the session has ended, or `ip` is on the network it was last seen on. Programs' sessions (`api`) carry no
   * client address and never change network: false.
   */
  async observeAddress(sessionId: string, ip: string): Promise<boolean> {
    const session = await findSessionById(this.#o.db, sessionId);
    const network = networkOf(ip);
    if (session === undefined || session.revokedAt !== null || session.channel === 'api' || network === null)
      return false;
    if (session.network === network) return false;
    await this.#moved(session, ip, network, 'sandbox');
    return true;
  }

  /**
   * Ends a session's life now, as its idle timeout or absolute lifetime passing would: the next request is
   * `SESSION_EXPIRED` (reason `idle` or `absolute`), the session-loss policy's sweep finds it lost (`idle`,
   * `expired`), and every node drops it from its cache (`session.changed`; its streams re-read it and close).
   * False when it had already ended.
   */
  async expireNow(sessionId: string, kind: 'idle' | 'absolute'): Promise<boolean> {
    const session = await findSessionById(this.#o.db, sessionId);
    if (session === undefined) return false;
    if (!(await markExpired(this.#o.db, sessionId, this.#o.clock.now(), kind))) return false;
    this.#forget(session);
    await this.announceChange(session);
    return true;
  }

  /**
   * The session is seen from `ip`. Another network requires a step-up (`session.network_changed`); another country
   * (with `countries`) goes to the country signal, which records it and may require a step-up of its own
   * (`new_country`, which then stands for the network change too: one step-up clears both). A pending step-up keeps
   * the reason it was first required for, unless the new one is a new country. A request's address moves the
   * session only from a network it was seen on; the failure sandbox's network change (`observeAddress`) moves it
   * whatever it had, and leaves countries alone.
   */
  async #moved(
    session: SessionRecord,
    ip: string,
    network: string | null,
    source: 'request' | 'sandbox',
  ): Promise<void> {
    const from = session.network;
    const networkMoved = network !== null && network !== from && (from !== null || source === 'sandbox');
    const seenFrom = source === 'request' ? this.#whereSeen(session, ip) : null;
    const where = seenFrom !== null && seenFrom.country !== session.country ? seenFrom : null;
    if (!networkMoved && where === null) {
      if (from === null && network !== null) session.network = network;
      return;
    }
    const signal = this.#o.countries;
    const pending: StepUpReason | null = session.stepUpRequired ? (session.stepUpReason ?? null) : null;
    const { seen, reason } = await this.#o.db.transaction().execute(async (trx) => {
      const seen = where === null || signal === undefined ? undefined : await signal.observe(trx, where);
      if (where !== null) await markCountry(trx, session.id, where.country);
      const reason: StepUpReason | null =
        seen?.stepUp === true && where !== null
          ? { reason: 'new_country', country: where.country }
          : networkMoved
            ? (pending ?? { reason: 'network_changed' })
            : null;
      if (reason !== null) await markStepUpRequired(trx, session.id, network ?? from, reason);
      if (networkMoved)
        await appendAudit(trx, this.#o.clock, {
          type: 'session.network_changed',
          userId: session.userId,
          sessionId: session.id,
          ip,
          data: { from, to: network },
        });
      return { seen, reason };
    });
    if (where !== null) session.country = where.country;
    if (network !== null) session.network = network;
    if (reason !== null) {
      session.stepUpRequired = true;
      session.stepUpReason = reason;
      await this.announceChange(session);
    }
    if (seen !== undefined && where !== null && signal !== undefined) await signal.announce(seen, where);
  }

  /**
   * Records a second factor verified again in this session (step-up) and gives the session a new token, ending the
   * one it had (ASVS 5.0 7.2.4: a new token at every authentication, re-authentication included). Clears a pending
   * step-up and refreshes `secondFactorAt`, which recent-authentication checks read.
   *
   * The session stays the same session — its id (and so its CSRF token), brokerage tier, device binding and
   * lifetime; only its credential changes. A token copied before the step-up (a move to another network, the usual
   * reason for one, is what a stolen cookie looks like) is dead after it: this node drops it from its cache at once,
   * every node on `session.token_replaced`, and streams opened with it end (close code 4003) so that the client
   * reconnects with the new one. Returns the new token; throws `UNAUTHENTICATED` when the session no longer has
   * this token (a concurrent step-up replaced it) or has ended.
   */
  async recordSecondFactor(session: SessionRecord, factor: string, aal: number): Promise<string> {
    const now = this.#o.clock.now();
    const token = randomToken(32);
    const tokenHash = sha256(token);
    const replaced = session.tokenHash;
    const stronger = Math.max(aal, session.aal);
    const changed = await markSecondFactor(this.#o.db, session.id, {
      at: now,
      factor,
      aal: stronger,
      tokenHash: { from: replaced, to: tokenHash },
    });
    if (!changed) throw new GatehouseError('UNAUTHENTICATED');
    // A second factor verified from where the session is seen: that country is the user's own from now on.
    if (session.country != null && this.#o.countries !== undefined)
      await this.#o.countries.verify(this.#o.db, session.userId, session.country);
    // `session` is the old token's cache entry, which requests still under way with that token share: its
    // `tokenHash` stays the old one, so that a step-up racing this one fails above instead of replacing the new token.
    session.secondFactorAt = now;
    session.lastFactor = factor;
    session.stepUpRequired = false;
    session.stepUpReason = null;
    session.aal = stronger;
    await this.#tokenReplaced(session.id, replaced);
    return token;
  }

  /**
   * Gives the session a new token and ends the one it had, for a re-authentication that is not a second factor (the
   * current password, checked to change it): the same session, a new credential, as `recordSecondFactor` gives.
   */
  async renewToken(session: SessionRecord): Promise<string> {
    const token = randomToken(32);
    const replaced = session.tokenHash;
    if (!(await replaceTokenHash(this.#o.db, session.id, { from: replaced, to: sha256(token) })))
      throw new GatehouseError('UNAUTHENTICATED');
    await this.#tokenReplaced(session.id, replaced);
    return token;
  }

  /** The old token is dead: this node forgets it now, every other node on the bus, and its streams close (4003). */
  async #tokenReplaced(sessionId: string, replaced: string): Promise<void> {
    this.#cache.delete(replaced);
    await this.#o.bus.publish('session.token_replaced', { sessionId, tokenHash: replaced });
  }

  /**
   * Binds a session without a device to a device key registered in it: from now on every request of the session
   * carries a proof signed by that key. False when the session already had one (a concurrent registration won).
   * Pass the caller's transaction as `db` to make the binding part of the registration, and `announceChange` after
   * it commits: every node then reloads the session, bound.
   */
  async bindDevice(
    session: SessionRecord,
    deviceId: string,
    db: Kysely<Database> = this.#o.db,
  ): Promise<boolean> {
    return markDevice(db, session.id, deviceId);
  }

  /** Tells every node that a session row changed (its cached entry is reloaded on next use). */
  async announceChange(session: SessionRecord): Promise<void> {
    await this.#o.bus.publish('session.changed', { sessionId: session.id, tokenHash: session.tokenHash });
  }

  /** Ends every session bound to a device (the device was revoked): its key no longer vouches for them. */
  async revokeForDevice(deviceId: string): Promise<number> {
    let ended = 0;
    for (const id of await sessionIdsForDevice(this.#o.db, deviceId)) {
      if (await this.revoke(id, 'device_revoked')) ended += 1;
    }
    return ended;
  }

  async #recheckIdle(tokenHash: string, ip: string | null): Promise<Principal> {
    this.#cache.delete(tokenHash);
    await this.flushLastSeen();
    return this.authenticateHash(tokenHash, ip);
  }

  async #load(tokenHash: string, now: number): Promise<CacheEntry> {
    const epoch = this.#epoch;
    const session = await findSessionByTokenHash(this.#o.db, tokenHash);
    if (session === undefined) throw new GatehouseError('UNAUTHENTICATED');
    const pending = this.#pendingLastSeen.get(session.id);
    if (pending !== undefined && pending > session.lastSeenAt) session.lastSeenAt = pending;
    const profile = await this.loadProfile(session.userId);
    if (profile === undefined) throw new GatehouseError('UNAUTHENTICATED');
    const entry: CacheEntry = { session, profile, memo: new Map(), validatedAt: now, lastIp: null };
    if (session.revokedAt === null && epoch === this.#epoch && this.#o.bus.connected)
      this.#cache.set(tokenHash, entry);
    return entry;
  }

  #forget(session: SessionRecord): void {
    this.#cache.delete(session.tokenHash);
    this.#pendingLastSeen.delete(session.id);
  }

  /**
   * Ends a session. Returns false if it was already ended. Every node drops it from its cache through the bus;
   * this node drops it at once, before the call returns.
   */
  async revoke(sessionId: string, reason: RevokeReason): Promise<boolean> {
    const session = await findSessionById(this.#o.db, sessionId);
    if (session === undefined) return false;
    const changed = await markRevoked(this.#o.db, sessionId, this.#o.clock.now(), reason);
    this.#forget(session);
    if (changed) {
      await this.#o.bus.publish('session.revoked', {
        sessionId,
        tokenHash: session.tokenHash,
        userId: session.userId,
        reason,
      });
    }
    return changed;
  }

  /** A user's live sessions, with last-seen times that include activity not yet written behind. */
  async listForUser(userId: string): Promise<SessionRecord[]> {
    const now = this.#o.clock.now();
    const sessions = await listLiveSessions(this.#o.db, userId, now);
    return sessions
      .map((s) => {
        const pending = this.#pendingLastSeen.get(s.id);
        return pending !== undefined && pending > s.lastSeenAt ? { ...s, lastSeenAt: pending } : s;
      })
      .filter((s) => withinIdle(s.lastSeenAt, s.idleTimeoutMs, now));
  }

  /** How many sessions' last-seen times wait to be written (logged when a shutdown is cut). */
  get pendingLastSeenCount(): number {
    return this.#pendingLastSeen.size;
  }

  /** The newest activity this node has seen for a session and not yet written behind, if any. */
  pendingLastSeen(sessionId: string): number | undefined {
    return this.#pendingLastSeen.get(sessionId);
  }

  /**
   * The user's profile as it is now (status, accounts and roles, initial password), read from the database: what a
   * long-lived holder of a principal, such as an open stream, re-reads when the user changes.
   */
  async loadProfile(userId: string): Promise<SessionProfile | undefined> {
    const profile = await this.#o.loadProfile(userId);
    if (profile === undefined) return undefined;
    const held = this.#profiles.get(userId);
    if (held !== undefined && isDeepStrictEqual(held, profile)) return held;
    this.#profiles.set(userId, profile);
    return profile;
  }

  /** A session by its id; pass a transaction as `db` to read it inside one. */
  async findById(sessionId: string, db: Kysely<Database> = this.#o.db): Promise<SessionRecord | undefined> {
    return findSessionById(db, sessionId);
  }

  /**
   * A session's row, as `findById` reads it, read in one query with every other asked for in the same turn of the
   * event loop: the many open streams whose periodic re-read falls on one tick of their hub cost one query.
   */
  readSoon(sessionId: string): Promise<SessionRecord | undefined> {
    return new Promise((resolve, reject) => {
      let batch = this.#readBatch;
      if (batch === null) {
        const opened = new Map<string, Waiting[]>();
        batch = opened;
        this.#readBatch = opened;
        queueMicrotask(() => {
          this.#readBatch = null;
          // Never rejects: a failed query rejects its callers.
          void this.#readMany(opened);
        });
      }
      const waiting = batch.get(sessionId);
      if (waiting === undefined) batch.set(sessionId, [{ resolve, reject }]);
      else waiting.push({ resolve, reject });
    });
  }

  async #readMany(batch: Map<string, Waiting[]>): Promise<void> {
    const ids = [...batch.keys()];
    for (let i = 0; i < ids.length; i += READ_BATCH) {
      const chunk = ids.slice(i, i + READ_BATCH);
      try {
        const rows = new Map((await findSessionsByIds(this.#o.db, chunk)).map((row) => [row.id, row]));
        for (const id of chunk) for (const w of batch.get(id) ?? []) w.resolve(rows.get(id));
      } catch (error) {
        for (const id of chunk) for (const w of batch.get(id) ?? []) w.reject(error);
      }
    }
  }

  /** Writes pending last-seen times in one batch. Called on a timer and at shutdown. */
  async flushLastSeen(): Promise<void> {
    if (this.#pendingLastSeen.size === 0) return;
    const batch = this.#pendingLastSeen;
    this.#pendingLastSeen = new Map();
    try {
      await writeLastSeen(this.#o.db, batch);
    } catch (error) {
      // Keep the newer of the failed batch and anything seen since, so the next flush retries.
      for (const [id, at] of batch) {
        const later = this.#pendingLastSeen.get(id);
        if (later === undefined || later < at) this.#pendingLastSeen.set(id, at);
      }
      throw error;
    }
  }

  /** Drops every cached entry (used when the node loses its bus and cannot trust invalidations). */
  clearCache(): void {
    this.#epoch += 1;
    this.#cache.clear();
    this.holders.clear();
  }

  close(): void {
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    this.holders.close();
  }
}
