/**
 * @module ws/stream-hub
 * The `/v1/stream` connections open on this node, indexed by session, user, grant and account. One bus subscription
 * per topic and one ticker serve them all, so an event costs a map lookup (not a call per open stream) and an idle
 * stream costs a few comparisons per tick.
 *
 * What a stream may see follows the user's access as it is now, not as it was at the upgrade:
 * - On `user.changed` (roles, status, password) the hub reads the user's profile once for all of the user's streams
 *   here, and each takes it — a program's narrowed to its grant's accounts — and is indexed again by the accounts the
 *   account-access policy lets it view. The live events of those streams wait while the profile is read, so that no
 *   event of an account just taken away slips out in between. A disabled user's streams close as revoked.
 * - While a user has streams here, the profile is read again every 30 s without a message. That bounds what a lost
 *   bus message, or a change made by the CLI (another process, another bus), can hide, as the session cache's
 *   revalidation does for requests.
 * - On `oauth.revoked` (the grant, or one of its tokens) every program stream of the grant closes as revoked,
 *   whatever token opened it: its program authenticates again, which a revoked grant cannot.
 * Every node runs a hub and hears the bus, so a change made on any node reaches the streams on every node.
 */
import type { GatewayContext } from '../app/context.js';
import type { SessionStream } from './session-stream.js';

/**
 * How often a stream re-reads its session row, and a user's profile is re-read for their streams, without a bus
 * message. Revocations, step-ups and user changes arrive on the bus at once; this bounds what a lost message can hide.
 */
export const RELOAD_MS = 30_000;
const TICK_MS = 250;

/** A user's streams on this node, and the reading of the user's profile for them. */
interface UserStreams {
  streams: Set<SessionStream>;
  /** When the profile was last read for these streams (epoch ms). */
  readAt: number;
  reading: boolean;
  /** The user changed again while the profile was being read: read it once more. */
  again: boolean;
}

export class SessionStreamHub {
  readonly #bySession = new Map<string, Set<SessionStream>>();
  readonly #byAccount = new Map<string, Set<SessionStream>>();
  readonly #byGrant = new Map<string, Set<SessionStream>>();
  readonly #users = new Map<string, UserStreams>();
  #lastStep = -1;
  readonly #unsubscribe: (() => void)[] = [];
  readonly #ticker: NodeJS.Timeout;

  constructor(readonly ctx: GatewayContext) {
    const each = (index: Map<string, Set<SessionStream>>, key: string, fn: (s: SessionStream) => void) => {
      for (const stream of [...(index.get(key) ?? [])]) fn(stream);
    };
    const bySession = this.#bySession;
    this.#unsubscribe.push(
      ctx.bus.subscribe('session.competing', (m) =>
        each(bySession, m.sessionId, (s) => s.competing(m.bySessionId)),
      ),
      ctx.bus.subscribe('session.brokerage', (m) =>
        each(bySession, m.sessionId, (s) => s.brokerageAcquired()),
      ),
      ctx.bus.subscribe('session.revoked', (m) =>
        each(bySession, m.sessionId, (s) => s.close('SESSION_REVOKED')),
      ),
      ctx.bus.subscribe('session.changed', (m) => each(bySession, m.sessionId, (s) => s.reloadSoon())),
      // Every stream of the session was opened with the token a step-up just replaced (ASVS 5.0 7.2.4).
      ctx.bus.subscribe('session.token_replaced', (m) =>
        each(bySession, m.sessionId, (s) => s.tokenReplaced()),
      ),
      ctx.bus.subscribe('user.changed', (m) => this.#readProfile(m.userId, true)),
      ctx.bus.subscribe('oauth.revoked', (m) =>
        each(this.#byGrant, m.grantId, (s) => s.close('SESSION_REVOKED')),
      ),
      ctx.bus.subscribe('account.event', (m) => {
        for (const stream of this.#byAccount.get(m.accountId) ?? []) stream.accountEvent(m);
      }),
    );
    this.#ticker = setInterval(() => this.#tick(), TICK_MS);
    this.#ticker.unref();
  }

  add(stream: SessionStream): void {
    const { session, api } = stream.principal;
    join(this.#bySession, session.id, stream);
    if (api !== undefined) join(this.#byGrant, api.grantId, stream);
    let user = this.#users.get(session.userId);
    if (user === undefined) {
      user = { streams: new Set(), readAt: this.ctx.clock.now(), reading: false, again: false };
      this.#users.set(session.userId, user);
    }
    user.streams.add(stream);
    for (const accountId of stream.accountIds) join(this.#byAccount, accountId, stream);
  }

  remove(stream: SessionStream): void {
    const { session, api } = stream.principal;
    leave(this.#bySession, session.id, stream);
    if (api !== undefined) leave(this.#byGrant, api.grantId, stream);
    const user = this.#users.get(session.userId);
    user?.streams.delete(stream);
    if (user?.streams.size === 0) this.#users.delete(session.userId);
    for (const accountId of stream.accountIds) leave(this.#byAccount, accountId, stream);
  }

  /** A stream's viewable accounts changed from `before` to `stream.accountIds`: it gets the events of those now. */
  reindex(stream: SessionStream, before: ReadonlySet<string>): void {
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
        user.readAt = this.ctx.clock.now();
        const profile = await this.ctx.sessions.loadProfile(userId);
        // Taken by every stream at once, with no await in between: a change that came during the read is read
        // next, and until then the held events stay held.
        for (const stream of [...user.streams]) stream.takeProfile(profile, !user.again);
      } while (user.again);
    };
    read()
      .catch((error: unknown) => {
        this.ctx.logger.error({ err: error }, 'session stream profile read failed');
        for (const stream of [...user.streams]) stream.profileUnknown(error);
      })
      .finally(() => {
        user.reading = false;
      });
  }

  #tick(): void {
    const now = this.ctx.clock.now();
    const step = this.ctx.marketData.feed.step(now);
    const newQuotes = step !== this.#lastStep;
    this.#lastStep = step;
    for (const set of this.#bySession.values()) {
      for (const stream of set) {
        if (newQuotes) stream.sendQuotes();
        stream.tick(now).catch((error: unknown) => {
          this.ctx.logger.error({ err: error }, 'session stream tick failed');
        });
      }
    }
    for (const [userId, user] of this.#users)
      if (!user.reading && now - user.readAt >= RELOAD_MS) this.#readProfile(userId, false);
  }

  close(): void {
    clearInterval(this.#ticker);
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    for (const set of [...this.#bySession.values()]) for (const stream of [...set]) stream.stop();
    this.#bySession.clear();
    this.#byAccount.clear();
    this.#byGrant.clear();
    this.#users.clear();
  }
}

function join(index: Map<string, Set<SessionStream>>, key: string, stream: SessionStream): void {
  let set = index.get(key);
  if (set === undefined) {
    set = new Set();
    index.set(key, set);
  }
  set.add(stream);
}

function leave(index: Map<string, Set<SessionStream>>, key: string, stream: SessionStream): void {
  const set = index.get(key);
  set?.delete(stream);
  if (set?.size === 0) index.delete(key);
}
