/**
 * @module clock
 * Time as the SDK sees it: the machine's clock corrected by the server's (from its `Date` header), so proofs and
 * assertions carry times the server accepts even when this machine is minutes off; and timers, injectable so tests
 * can run a thousand token lifetimes in seconds.
 */
/** Time and timers as the supervisor uses them (real ones by default; `SteppedScheduler` in tests). */
export interface Scheduler {
  /** Now, in ms since the epoch. */
  now(): number;
  /** Runs `fn` after `ms`; answers a handle for `clearTimeout`. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a timer `setTimeout` made. */
  clearTimeout(handle: unknown): void;
}

/** The machine's clock and timers (timers do not keep the process alive). */
export const realScheduler: Scheduler = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const handle = setTimeout(fn, ms);
    (handle as { unref?: () => void }).unref?.();
    return handle;
  },
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** The server's time as this client estimates it. */
export class ServerClock {
  #offsetMs = 0;
  constructor(readonly scheduler: Scheduler) {}

  /** The server's time now, as estimated. */
  now(): number {
    return this.scheduler.now() + this.#offsetMs;
  }

  /** Learns the offset from a response's `Date` header (second precision; only differences over 2 s count). */
  observe(dateHeader: string | null): void {
    if (dateHeader === null) return;
    const server = Date.parse(dateHeader);
    if (Number.isNaN(server)) return;
    const offset = server - this.scheduler.now();
    if (Math.abs(offset - this.#offsetMs) > 2_000) this.#offsetMs = offset;
  }

  /** How far the server's clock is ahead of this machine's (ms; negative when behind). */
  get offsetMs(): number {
    return this.#offsetMs;
  }
}
