/** The hub's ticker: a stream is ticked only once its `dueAt` has come, every tick from then until it moves on. */
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InProcessEventBus, ManualClock } from '../core/index.js';
import type { Principal } from '../sessions/index.js';
import { type HubStream, SessionStreamHub } from './stream-hub.js';

function fakeStream(sessionId: string, dueAt: number): HubStream & { ticks: number[]; dueAt: number } {
  const principal = { session: { id: sessionId, userId: 'usr_1' } } as Principal;
  const stream = {
    principal,
    accountIds: new Set<string>(),
    dueAt,
    ticks: [] as number[],
    tick: async (now: number) => {
      stream.ticks.push(now);
    },
    close: () => {},
    drop: () => {},
    competing: () => {},
    brokerageAcquired: () => {},
    brokerageReleased: () => {},
    reloadSoon: () => {},
    tokenReplaced: () => {},
    accountEvent: () => {},
    holdLive: () => {},
    takeProfile: () => {},
    profileUnknown: () => {},
    sendQuotes: () => {},
    stop: () => {},
  };
  return stream;
}

describe('SessionStreamHub ticker', () => {
  let hub: SessionStreamHub;
  let clock: ManualClock;

  beforeEach(() => {
    vi.useFakeTimers();
    clock = new ManualClock(1_000_000);
    hub = new SessionStreamHub({
      bus: new InProcessEventBus(),
      clock,
      logger: pino({ level: 'silent' }),
      sessions: { loadProfile: async () => undefined },
      marketData: { feed: { step: () => 0 } } as never,
    });
  });

  afterEach(() => {
    hub.close();
    vi.useRealTimers();
  });

  it('skips a stream until its dueAt, then ticks it on every tick while it stays due', async () => {
    const idle = fakeStream('ses_idle', 1_000_000 + 10_000);
    const due = fakeStream('ses_due', Number.NEGATIVE_INFINITY);
    hub.add(idle);
    hub.add(due);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(idle.ticks).toEqual([]);
    expect(due.ticks.length).toBe(4);

    clock.advance(9_999);
    await vi.advanceTimersByTimeAsync(250);
    expect(idle.ticks).toEqual([]);
    clock.advance(1);
    await vi.advanceTimersByTimeAsync(500);
    expect(idle.ticks).toEqual([1_010_000, 1_010_000]);

    // The stream moved its next work on: no tick until then.
    idle.dueAt = 1_020_000;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(idle.ticks.length).toBe(2);
    hub.remove(due);
    const before = due.ticks.length;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(due.ticks.length).toBe(before);
  });
});
