/**
 * @module ws/stream-hub
 * The `/v1/stream` connections open on this node, indexed by session, user, grant and account. One bus subscription
 * per topic and one ticker serve them all, so an event costs a map lookup (not a call per open stream) and an idle
 * stream costs one comparison per tick: each stream says when it next has work (`dueAt`: its heartbeat, re-read,
 * expiry notice or reset) and is ticked only from then. One node holds 10,000 idle streams in about 11 KB each and
 * 5 % of a core (`npm run bench -- stream-capacity`).
 *
 * What a stream may see follows the user's access as it is now, not as it was at the upgrade:
 * - On `user.changed` (roles, status, password) the hub reads the user's profile once for all of the user's streams
 *   here, and each takes it — a program's narrowed to its grant's accounts — and is indexed again by the accounts the
 *   account-access policy lets it view. The live events of those streams wait while the profile is read, so that no
 *   event of an account just taken away slips out in between. A disabled user's streams close as revoked.
 * - While a user has streams here, the profile is read again every 30 s without a message. That bounds what a lost
 *   bus message, or a change made by the CLI (another process, another bus), can hide, as the session cache's
 *   revalidation does for requests.
 * - On `oauth.revoked` (the grant, or one of its tokens) every program stream of the grant (of the token's instance,
 *   its DPoP key, when one token was revoked) closes as revoked,
 *   whatever token opened it: its program authenticates again, which a revoked grant cannot.
 * Every node runs a hub and hears the bus, so a change made on any node reaches the streams on every node; so does a
 * failure sandbox's `stream.dropped`, which cuts the target's sockets on whichever node holds them.
 */
import type { Logger } from 'pino';
import type { BusMessages, Clock, ErrorCode, EventBus } from '../core/index.js';
import type { MarketData } from '../marketdata/index.js';
import type { Principal, SessionProfile, SessionService } from '../sessions/index.js';

/** An event of an account, as the bus carries it to every node. */
export type AccountEventMessage = BusMessages['account.event'];

/** What the hub needs of the gateway. */
export interface StreamHubDeps {
  bus: EventBus;
  clock: Clock;
  logger: Logger;
  sessions: Pick<SessionService, 'loadProfile'>;
  marketData: Pick<MarketData, 'feed'>;
}

/** A stream as the hub drives it (ws/session-stream.ts). */
export interface HubStream {
  readonly principal: Principal;
  /** The accounts whose live events the stream gets. */
  readonly accountIds: ReadonlySet<string>;
  close(code: ErrorCode): void;
  /** Cuts the socket as a network would: no message, no close frame (the failure sandbox's `stream.dropped`). */
  drop(): void;
  competing(bySessionId: string): void;
  brokerageAcquired(): void;
  brokerageReleased(): void;
  reloadSoon(): void;
  tokenReplaced(): void;
  accountEvent(message: AccountEventMessage): void;
  holdLive(): void;
  takeProfile(profile: SessionProfile | undefined, release: boolean): void;
  profileUnknown(error: unknown): void;
  sendQuotes(): void;
  /** When its next tick has work (epoch ms): the hub ticks the stream only from then on. */
  readonly dueAt: number;
  tick(now: number): Promise<void>;
  stop(): void;
}

/**
 * How often a stream re-reads its session row, and a user's profile is re-read for their streams, without a bus
 * message. Revocations, step-ups and user changes arrive on the bus at once; this bounds what a lost message can hide.
 */
export const RELOAD_MS = 30_000;
const TICK_MS = 250;

/** A user's streams on this node, and the reading of the user's profile for them. */
interface UserStreams {
  streams: Set<HubStream>;
  /** When the profile was last read for these streams (epoch ms). */
  readAt: number;
  reading: boolean;
  /** The user changed again while the profile was being read: read it once more. */
  again: boolean;
}

export class SessionStreamHub {
  /** Every stream open here, in one set: what the ticker walks. */
  readonly #streams = new Set<HubStream>();
  readonly #bySession = new Map<string, Set<HubStream>>();
  readonly #byAccount = new Map<string, Set<HubStream>>();
  readonly #byGrant = new Map<string, Set<HubStream>>();
  readonly #users = new Map<string, UserStreams>();
  #lastStep = -1;
  /** The clock at the last tick: a later tick that reads an earlier time saw the wall clock stepped back. */
  #lastNow = Number.NEGATIVE_INFINITY;
  readonly #unsubscribe: (() => void)[] = [];
  readonly #ticker: NodeJS.Timeout;

  constructor(readonly deps: StreamHubDeps) {
    const each = (index: Map<string, Set<HubStream>>, key: string, fn: (s: HubStream) => void) => {
      for (const stream of [...(index.get(key) ?? [])]) fn(stream);
    };
    const bySession = this.#bySession;
    this.#unsubscribe.push(
      deps.bus.subscribe('session.competing', (m) =>
        each(bySession, m.sessionId, (s) => s.competing(m.bySessionId)),
      ),
      deps.bus.subscribe('session.brokerage', (m) =>
        each(bySession, m.sessionId, (s) => s.brokerageAcquired()),
      ),
      deps.bus.subscribe('session.released', (m) =>
        each(bySession, m.sessionId, (s) => s.brokerageReleased()),
      ),
      deps.bus.subscribe('session.revoked', (m) =>
        each(bySession, m.sessionId, (s) => s.close('SESSION_REVOKED')),
      ),
      deps.bus.subscribe('session.changed', (m) => each(bySession, m.sessionId, (s) => s.reloadSoon())),
      // Every stream of the session was opened with the token a step-up just replaced (ASVS 5.0 7.2.4).
      deps.bus.subscribe('session.token_replaced', (m) =>
        each(bySession, m.sessionId, (s) => s.tokenReplaced()),
      ),
      deps.bus.subscribe('user.changed', (m) => this.#readProfile(m.userId, true)),
      deps.bus.subscribe('oauth.revoked', (m) =>
        each(this.#byGrant, m.grantId, (s) => {
          // One token revoked: the streams of the instance (DPoP key) that held it; the grant: all of them.
          if (m.jkt === undefined || s.principal.api?.jkt === m.jkt) s.close('SESSION_REVOKED');
        }),
      ),
      deps.bus.subscribe('stream.dropped', (m) => {
        for (const stream of this.#targeted(m.target)) stream.drop();
      }),
      deps.bus.subscribe('account.event', (m) => {
        for (const stream of this.#byAccount.get(m.accountId) ?? []) stream.accountEvent(m);
      }),
    );
    this.#ticker = setInterval(() => this.#tick(), TICK_MS);
    this.#ticker.unref();
  }

  add(stream: HubStream): void {
    const { session, api } = stream.principal;
    this.#streams.add(stream);
    join(this.#bySession, session.id, stream);
    if (api !== undefined) join(this.#byGrant, api.grantId, stream);
    let user = this.#users.get(session.userId);
    if (user === undefined) {
      user = { streams: new Set(), readAt: this.deps.clock.now(), reading: false, again: false };
      this.#users.set(session.userId, user);
    }
    user.streams.add(stream);
    for (const accountId of stream.accountIds) join(this.#byAccount, accountId, stream);
  }

  remove(stream: HubStream): void {
    const { session, api } = stream.principal;
    this.#streams.delete(stream);
    leave(this.#bySession, session.id, stream);
    if (api !== undefined) leave(this.#byGrant, api.grantId, stream);
    const user = this.#users.get(session.userId);
    user?.streams.delete(stream);
    if (user?.streams.size === 0) this.#users.delete(session.userId);
    for (const accountId of stream.accountIds) leave(this.#byAccount, accountId, stream);
  }

  /** The streams on this node a sandbox fault's target covers (a user's covers their sessions and clients). */
  #targeted(target: BusMessages['stream.dropped']['target']): HubStream[] {
    const id = target.id ?? '';
    switch (target.type) {
      case 'all':
        return [...this.#streams];
      case 'user':
        return [...(this.#users.get(id)?.streams ?? [])];
      case 'session':
        return [...(this.#bySession.get(id) ?? [])];
      case 'client':
        return [...this.#streams].filter((s) => s.principal.api?.clientId === id);
      case 'account':
        return [...(this.#byAccount.get(id) ?? [])];
      case 'instrument':
        return [];
    }
  }

  /** A stream's viewable accounts changed from `before` to `stream.accountIds`: it gets the events of those now. */
  reindex(stream: HubStream, before: ReadonlySet<string>): void {
    for (const accountId of before)
      if (!stream.accountIds.has(accountId)) leave(this.#byAccount, accountId, stream);
    for (const accountId of stream.accountIds)
      if (!before.has(accountId)) join(this.#byAccount, accountId, stream);
  }

  /**
   * Reads the user's profile once and gives it to each of the user's streams here. `changed`: the user changed (a
   * bus message), so their streams hold live events until they have the new profile.
   */
  #readProfile(userId: string, changed: boolean): void {
    const user = this.#users.get(userId);
    if (user === undefined) return;
    if (changed) for (const stream of user.streams) stream.holdLive();
    if (user.reading) {
      user.again = true;
      return;
    }
    user.reading = true;
    const read = async () => {
      do {
        user.again = false;
        user.readAt = this.deps.clock.now();
        const profile = await this.deps.sessions.loadProfile(userId);
        // Taken by every stream at once, with no await in between: a change that came during the read is read
        // next, and until then the held events stay held.
        for (const stream of [...user.streams]) stream.takeProfile(profile, !user.again);
      } while (user.again);
    };
    read()
      .catch((error: unknown) => {
        this.deps.logger.error({ err: error }, 'session stream profile read failed');
        for (const stream of [...user.streams]) stream.profileUnknown(error);
      })
      .finally(() => {
        user.reading = false;
      });
  }

  #tick(): void {
    const now = this.deps.clock.now();
    const step = this.deps.marketData.feed.step(now);
    const newQuotes = step !== this.#lastStep;
    this.#lastStep = step;
    // A wall clock stepped back leaves every stream's `dueAt` (its heartbeat, its re-read) in the future by the size
    // of the step: every stream is ticked once then, and takes its own times back to now (SessionStream.tick).
    const steppedBack = now < this.#lastNow;
    this.#lastNow = now;
    for (const stream of this.#streams) {
      if (newQuotes) stream.sendQuotes();
      if (now < stream.dueAt && !steppedBack) continue;
      stream.tick(now).catch((error: unknown) => {
        this.deps.logger.error({ err: error }, 'session stream tick failed');
      });
    }
    for (const [userId, user] of this.#users) {
      if (user.readAt > now) user.readAt = now;
      if (!user.reading && now - user.readAt >= RELOAD_MS) this.#readProfile(userId, false);
    }
  }

  close(): void {
    clearInterval(this.#ticker);
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    for (const stream of [...this.#streams]) stream.stop();
    this.#streams.clear();
    this.#bySession.clear();
    this.#byAccount.clear();
    this.#byGrant.clear();
    this.#users.clear();
  }
}

function join(index: Map<string, Set<HubStream>>, key: string, stream: HubStream): void {
  let set = index.get(key);
  if (set === undefined) {
    set = new Set();
    index.set(key, set);
  }
  set.add(stream);
}

function leave(index: Map<string, Set<HubStream>>, key: string, stream: HubStream): void {
  const set = index.get(key);
  set?.delete(stream);
  if (set?.size === 0) index.delete(key);
}
