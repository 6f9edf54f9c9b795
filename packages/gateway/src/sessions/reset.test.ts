/** Daily resets at local wall-clock time, in two (three) time zones, across daylight-saving changes. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { lastResetAt, nextResetAt, zonedTimeToUtc } from './reset.js';

const NEW_YORK = { time: '00:00', timeZone: 'America/New_York' };
const ZURICH = { time: '00:00', timeZone: 'Europe/Zurich' };
const HONG_KONG = { time: '00:00', timeZone: 'Asia/Hong_Kong' };
const iso = (ms: number) => new Date(ms).toISOString();
const at = (s: string) => Date.parse(s);

describe('daily reset', () => {
  it('is at local midnight in New York on both sides of the March change (EST → EDT)', () => {
    // 2026-03-08 02:00 local: clocks spring forward.
    expect(iso(nextResetAt(at('2026-03-07T12:00:00Z'), NEW_YORK))).toBe('2026-03-08T05:00:00.000Z');
    expect(iso(nextResetAt(at('2026-03-08T05:00:00Z'), NEW_YORK))).toBe('2026-03-09T04:00:00.000Z');
    expect(iso(lastResetAt(at('2026-03-08T20:00:00Z'), NEW_YORK))).toBe('2026-03-08T05:00:00.000Z');
  });

  it('handles a time other than midnight: the next 16:00 is today until 16:00, then tomorrow', () => {
    const close = { time: '16:00', timeZone: 'America/New_York' };
    expect(iso(nextResetAt(at('2026-01-05T14:31:00Z'), close))).toBe('2026-01-05T21:00:00.000Z');
    expect(iso(lastResetAt(at('2026-01-05T14:31:00Z'), close))).toBe('2026-01-04T21:00:00.000Z');
    expect(iso(nextResetAt(at('2026-01-05T21:00:00Z'), close))).toBe('2026-01-06T21:00:00.000Z');
    expect(iso(nextResetAt(at('2026-03-07T22:00:00Z'), close))).toBe('2026-03-08T20:00:00.000Z');
  });

  it('is at local midnight in New York on both sides of the November change (EDT → EST)', () => {
    expect(iso(nextResetAt(at('2026-10-31T12:00:00Z'), NEW_YORK))).toBe('2026-11-01T04:00:00.000Z');
    expect(iso(nextResetAt(at('2026-11-01T04:00:00Z'), NEW_YORK))).toBe('2026-11-02T05:00:00.000Z');
  });

  it('is at local midnight in Zurich across the end of March and the end of October', () => {
    expect(iso(nextResetAt(at('2026-03-28T12:00:00Z'), ZURICH))).toBe('2026-03-28T23:00:00.000Z');
    expect(iso(nextResetAt(at('2026-03-29T12:00:00Z'), ZURICH))).toBe('2026-03-29T22:00:00.000Z');
    expect(iso(nextResetAt(at('2026-10-25T12:00:00Z'), ZURICH))).toBe('2026-10-25T23:00:00.000Z');
  });

  it('has no daylight saving in Hong Kong', () => {
    expect(iso(nextResetAt(at('2026-07-01T12:00:00Z'), HONG_KONG))).toBe('2026-07-01T16:00:00.000Z');
  });

  it('moves a local time skipped by the spring change forward by the gap (as Temporal\'s "compatible")', () => {
    // 02:30 does not exist in New York on 2026-03-08; it resolves to 03:30 EDT = 07:30Z.
    expect(iso(zonedTimeToUtc(2026, 3, 8, 2, 30, 'America/New_York'))).toBe('2026-03-08T07:30:00.000Z');
  });

  it('always brackets now: last ≤ now < next, 23–25 hours apart, at local midnight', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: Date.UTC(2025, 0, 1), max: Date.UTC(2028, 0, 1) }),
        fc.constantFrom(NEW_YORK, ZURICH, HONG_KONG),
        (now, schedule) => {
          const last = lastResetAt(now, schedule);
          const next = nextResetAt(now, schedule);
          expect(last).toBeLessThanOrEqual(now);
          expect(next).toBeGreaterThan(now);
          expect(next - last).toBeGreaterThanOrEqual(23 * 3_600_000);
          expect(next - last).toBeLessThanOrEqual(25 * 3_600_000);
          const local = new Intl.DateTimeFormat('en-GB', {
            timeZone: schedule.timeZone,
            hour: '2-digit',
            minute: '2-digit',
            hourCycle: 'h23',
          }).format(new Date(next));
          expect(local).toBe('00:00');
        },
      ),
      { numRuns: 300 },
    );
  });
});
