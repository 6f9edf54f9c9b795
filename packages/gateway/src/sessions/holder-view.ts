/**
 * @module sessions/holder-view
 * This node's view of who trades for each user: the user's brokerage policy and, under the exclusive policy, the
 * session holding the capability. With the session's own fields from its cached entry (sessions/service), it lets
 * the per-order re-check (`tradingState`) and `POST /v1/session/tickle` be answered from memory, with no database
 * read on the hot path.
 *
 * It is kept honest the way the session cache is:
 * - every change to what decides a tier is announced on the bus (`session.brokerage` on an acquisition or takeover,
 *   `session.competing`, `session.released`, `session.revoked`, `user.changed`) and drops the user's entry on every node at once;
 * - an entry is read again after `revalidateAfterMs` (30 s by default), which bounds how long a node can act on a
 *   lost message;
 * - while the bus does not reach the other nodes nothing is kept (every question reads the database), and the view
 *   empties when the bus drops and when it is back (`SessionService` clears it);
 * - a read that raced an announcement is answered but not kept (an epoch counts announcements), so a read begun
 *   before a takeover committed cannot be cached after the takeover's message dropped the entry.
 */
import { type Clock, type EventBus, LruCache } from '../core/index.js';

export interface Holder {
  /** The user's policy lets every session that acquired brokerage trade at once. */
  shared: boolean;
  /** Under the exclusive policy, the session holding the capability (null: none). */
  holderSessionId: string | null;
}

interface Entry extends Holder {
  readAt: number;
}

export interface HolderViewOptions {
  bus: EventBus;
  clock: Clock;
  maxEntries: number;
  revalidateAfterMs: number;
}

export class HolderView {
  readonly #o: HolderViewOptions;
  readonly #users: LruCache<string, Entry>;
  #epoch = 0;
  readonly #unsubscribe: (() => void)[];

  constructor(options: HolderViewOptions) {
    this.#o = options;
    this.#users = new LruCache(options.maxEntries);
    const drop = (m: { userId: string }) => {
      this.#epoch += 1;
      this.#users.delete(m.userId);
    };
    this.#unsubscribe = [
      options.bus.subscribe('session.brokerage', drop),
      options.bus.subscribe('session.competing', drop),
      options.bus.subscribe('session.released', drop),
      options.bus.subscribe('session.revoked', drop),
      options.bus.subscribe('user.changed', drop),
    ];
  }

  /** The user's holder if this node's entry is fresh; undefined when it must be read. */
  current(userId: string): Holder | undefined {
    const entry = this.#users.get(userId);
    if (entry === undefined || this.#o.clock.now() - entry.readAt > this.#o.revalidateAfterMs)
      return undefined;
    return entry;
  }

  /** Marks the start of a read; pass the value to `remember`. */
  begin(): number {
    return this.#epoch;
  }

  /** Keeps what a read begun at `epoch` found, unless an announcement arrived while it ran. */
  remember(userId: string, holder: Holder, epoch: number): void {
    if (epoch !== this.#epoch || !this.#o.bus.connected) return;
    this.#users.set(userId, { ...holder, readAt: this.#o.clock.now() });
  }

  /** Forgets every entry (the node cannot trust announcements: see `SessionService.clearCache`). */
  clear(): void {
    this.#epoch += 1;
    this.#users.clear();
  }

  close(): void {
    for (const off of this.#unsubscribe) off();
  }
}
