/**
 * @module testing
 * Time a test moves by hand: the supervisor's timers (proactive refresh, backoff, keep-alive, dead-man re-arming) run
 * on a clock the test advances, so hours of a bot's life — a thousand token lifetimes — pass in seconds. Pair it with
 * a server on the same clock (the gateway's test clock).
 */
import type { Scheduler } from './clock.js';

/** A clock a test can move forward. */
export interface SteppableClock {
  /** Now, in ms since the epoch. */
  now(): number;
  /** Moves the clock forward. */
  advance(ms: number): void;
}

/** A `Scheduler` whose timers run only when the test advances its clock (`advance`). */
export class SteppedScheduler implements Scheduler {
  #timers: { at: number; fn: () => void; id: number }[] = [];
  #next = 0;

  constructor(readonly clock: SteppableClock) {}

  /** The clock's time. */
  now(): number {
    return this.clock.now();
  }

  /** Runs `fn` when the clock is advanced past `ms` from now. */
  setTimeout(fn: () => void, ms: number): number {
    this.#next += 1;
    this.#timers.push({ at: this.now() + Math.max(0, ms), fn, id: this.#next });
    return this.#next;
  }

  /** Cancels a timer. */
  clearTimeout(handle: unknown): void {
    this.#timers = this.#timers.filter((t) => t.id !== handle);
  }

  /** Moves time forward by `ms`, running each timer that falls due at its time; `settle` awaits what it started. */
  async advance(ms: number, settle: () => Promise<void>): Promise<void> {
    const end = this.now() + ms;
    for (;;) {
      this.#timers.sort((a, b) => a.at - b.at);
      const due = this.#timers[0];
      if (due === undefined || due.at > end) break;
      this.#timers.shift();
      if (due.at > this.now()) this.clock.advance(due.at - this.now());
      due.fn();
      await settle();
    }
    if (end > this.now()) this.clock.advance(end - this.now());
  }
}
