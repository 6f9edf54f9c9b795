/**
 * @module core/clock
 * Time is injected everywhere so that expiry, backoff and TOTP windows can be tested with a frozen clock.
 */

/** A source of the current time in epoch milliseconds. */
export interface Clock {
  now(): number;
}

/** The wall clock. */
export const systemClock: Clock = { now: () => Date.now() };

/** A clock that only moves when told to; used by tests and by the fault-injection sandbox. */
export class ManualClock implements Clock {
  #now: number;

  constructor(start: number | Date = Date.UTC(2026, 0, 5, 14, 30)) {
    this.#now = typeof start === 'number' ? start : start.getTime();
  }

  now(): number {
    return this.#now;
  }

  /** Moves the clock forward by `ms` milliseconds. */
  advance(ms: number): void {
    this.#now += ms;
  }

  /**
   * Moves the clock back by `ms` milliseconds, as an NTP step, a virtual machine's resume or an operator's mistake
   * moves a wall clock back.
   */
  rewind(ms: number): void {
    this.#now -= ms;
  }

  /** Puts the clock at an instant, earlier or later than now. */
  set(at: number | Date): void {
    this.#now = typeof at === 'number' ? at : at.getTime();
  }
}
