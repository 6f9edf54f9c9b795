/**
 * @module core/semaphore
 * Bounds concurrent expensive work (password hashing). Waiters queue in arrival order; beyond `maxQueue` waiters a
 * call is refused at once instead of growing an unbounded backlog under a login storm.
 */
import { GatehouseError } from './errors.js';

export class Semaphore {
  readonly #limit: number;
  readonly #maxQueue: number;
  #active = 0;
  readonly #queue: (() => void)[] = [];

  constructor(limit: number, maxQueue: number) {
    this.#limit = limit;
    this.#maxQueue = maxQueue;
  }

  /** Runs `task` when a slot is free; throws `OVERLOADED` if the queue is full. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#active >= this.#limit) {
      if (this.#queue.length >= this.#maxQueue) throw new GatehouseError('OVERLOADED');
      await new Promise<void>((resolve) => this.#queue.push(resolve));
    } else {
      this.#active += 1;
    }
    try {
      return await task();
    } finally {
      const next = this.#queue.shift();
      if (next !== undefined) next();
      else this.#active -= 1;
    }
  }
}
