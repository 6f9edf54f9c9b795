/**
 * @module core/event-bus
 * Cross-cutting notifications (session revoked, user changed) that every node must hear. The in-process bus
 * serves one process; a Redis pub/sub implementation of the same interface serves several nodes.
 * Delivery is at-most-once and asynchronous; anything that must not be lost is written to the database first.
 *
 * A bus says whether it reaches the other nodes (`connected`) and tells listeners when that changes
 * (`onConnection`). While it does not, a node's caches of what other nodes announce (sessions, brokerage holders,
 * entitlements, programs' access tokens) keep nothing and every authentication reads the database; each empties
 * itself at every change, so what was missed during an outage is never answered from memory. The in-process bus
 * is always connected.
 */

export interface BusMessages {
  /** A session was revoked, logged out or expired; caches must drop it. */
  'session.revoked': { sessionId: string; tokenHash: string; userId: string; reason: string };
  /** A session's state changed (step-up required or satisfied); caches must reload it. */
  'session.changed': { sessionId: string; tokenHash: string };
  /** A session got a new token (step-up); caches must drop the old one (`tokenHash`), streams opened with it end. */
  'session.token_replaced': { sessionId: string; tokenHash: string };
  /** A push request must reach these devices; the node holding each device's stream sends it. */
  'push.deliver': { deviceIds: string[]; message: unknown };
  /** A push request was received, approved, denied, cancelled or expired; waiting logins and devices hear it. */
  'push.updated': { challengeId: string; loginId?: string };
  /** A device was revoked; the node holding its stream closes it. */
  'device.revoked': { deviceId: string };
  /** A session acquired the brokerage capability; caches must reload it and the user's holder. */
  'session.brokerage': { sessionId: string; tokenHash: string; userId: string };
  /**
   * A session gave the brokerage capability up (a release: sign-out, a closed page, a program stopping); caches must
   * reload it and the user's holder, and its streams say so at once.
   */
  'session.released': { sessionId: string; tokenHash: string; userId: string };
  /** A session lost the brokerage capability to a takeover; its streams must say so at once. */
  'session.competing': { sessionId: string; bySessionId: string; userId: string };
  /** A user's profile, status or account roles changed; caches holding the user must reload. */
  'user.changed': { userId: string };
  /**
   * An OAuth grant was revoked (or its client was), or one access token of it (`jkt`: the DPoP key of the instance
   * that held it); caches must drop its access tokens, and its program streams close — only that instance's when
   * `jkt` is given, since each key of a personal client is a session of its own.
   */
  'oauth.revoked': { grantId: string; jkt?: string };
  /** Access tokens of a grant were made to expire early (the failure sandbox); caches must re-read its tokens. */
  'oauth.tokens_expired': { grantId: string };
  /** An account's flags or entitlements changed; caches holding them must reload. */
  'account.changed': { accountId: string };
  /** An account's orders, positions or cash changed; its `orders` stream subscribers fetch from `seq`. */
  'account.event': { accountId: string; seq: number; type: string; orderId: string | null; data: unknown };
  /**
   * A dead-man switch was armed, re-armed or disarmed; every node re-reads it, so whichever node sees its deadline
   * first fires it (once: the firing claims the row).
   */
  'safety.dead_man': { id: string };
  /** A sandbox fault was injected, started, ended or cleared; every node re-reads the active faults. */
  'sandbox.changed': { faultId: string };
  /**
   * The failure sandbox drops the `/v1/stream` sockets of a target as a network would (no close frame); the node
   * holding each socket cuts it.
   */
  'stream.dropped': {
    faultId: string;
    target: {
      type: 'all' | 'user' | 'session' | 'client' | 'account' | 'instrument';
      id?: string | undefined;
    };
  };
}

export type BusTopic = keyof BusMessages;
export type BusHandler<T extends BusTopic> = (message: BusMessages[T]) => void;

export interface EventBus {
  publish<T extends BusTopic>(topic: T, message: BusMessages[T]): Promise<void>;
  /** Returns a function that removes the subscription. */
  subscribe<T extends BusTopic>(topic: T, handler: BusHandler<T>): () => void;
  close(): Promise<void>;
  /** Whether messages published now reach every node (always true for the in-process bus). */
  readonly connected: boolean;
  /** Calls `listener` at each change of `connected`; returns a function that removes it. */
  onConnection(listener: (connected: boolean) => void): () => void;
}

/**
 * Keeps a cache honest about the bus: `reset` runs at every change of the connection (the cache empties), and
 * `mayKeep(epoch)` says whether a value read since `epoch()` may be kept — only while the bus is connected and no
 * change came in between. Returns the function that stops following.
 */
export class BusCacheGate {
  #epoch = 0;
  readonly #bus: EventBus;
  readonly #off: () => void;

  constructor(bus: EventBus, reset: () => void) {
    this.#bus = bus;
    this.#off = bus.onConnection(() => {
      this.#epoch += 1;
      reset();
    });
  }

  /** Marks the start of a read; pass the value to `mayKeep`. */
  epoch(): number {
    return this.#epoch;
  }

  /** Whether a value read since `epoch` may be cached: the bus is connected and did not change since. */
  mayKeep(epoch: number): boolean {
    return this.#bus.connected && epoch === this.#epoch;
  }

  close(): void {
    this.#off();
  }
}

/** Delivers messages to subscribers in this process, on the next microtask. */
export class InProcessEventBus implements EventBus {
  get connected(): boolean {
    return true;
  }
  readonly #handlers = new Map<BusTopic, Set<(message: unknown) => void>>();

  async publish<T extends BusTopic>(topic: T, message: BusMessages[T]): Promise<void> {
    const handlers = this.#handlers.get(topic);
    if (handlers === undefined) return;
    for (const handler of [...handlers]) handler(message);
  }

  subscribe<T extends BusTopic>(topic: T, handler: BusHandler<T>): () => void {
    let handlers = this.#handlers.get(topic);
    if (handlers === undefined) {
      handlers = new Set();
      this.#handlers.set(topic, handlers);
    }
    const entry = handler as (message: unknown) => void;
    handlers.add(entry);
    return () => handlers.delete(entry);
  }

  onConnection(_listener: (connected: boolean) => void): () => void {
    return () => {};
  }

  async close(): Promise<void> {
    this.#handlers.clear();
  }
}
