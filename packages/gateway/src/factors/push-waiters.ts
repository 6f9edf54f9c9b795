/**
 * @module factors/push-waiters
 * Long-poll support: a login waiting on a push challenge sleeps until the challenge changes (on any node, via the
 * event bus) or its wait times out. The database stays the authority; a wake-up only means "read it again".
 */
import type { EventBus } from '../core/index.js';

export class PushWaiters {
  readonly #waiting = new Map<string, Set<() => void>>();
  readonly #unsubscribe: () => void;

  constructor(bus: EventBus) {
    this.#unsubscribe = bus.subscribe('push.updated', ({ challengeId }) => {
      const wakers = this.#waiting.get(challengeId);
      if (wakers === undefined) return;
      this.#waiting.delete(challengeId);
      for (const wake of wakers) wake();
    });
  }

  /** Resolves when the challenge changes or after `ms`, whichever comes first. */
  wait(challengeId: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      let wakers = this.#waiting.get(challengeId);
      if (wakers === undefined) {
        wakers = new Set();
        this.#waiting.set(challengeId, wakers);
      }
      const set = wakers;
      const wake = () => {
        clearTimeout(timer);
        set.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, Math.max(0, ms));
      set.add(wake);
    });
  }

  close(): void {
    this.#unsubscribe();
    for (const wakers of this.#waiting.values()) for (const wake of wakers) wake();
    this.#waiting.clear();
  }
}
