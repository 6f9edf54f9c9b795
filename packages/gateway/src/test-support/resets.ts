/**
 * The daily resets of a gateway process that tests or benchmarks run on the real clock: every region's reset put
 * 12 hours from now (UTC), so no run crosses one. At the default resets (midnight in New York, Zurich and Hong Kong)
 * a run that happens to span, say, 05:00 UTC in winter sees its brokerage sessions end mid-test, as the nightly reset
 * ends them (research/broker-sessions.md §1.1). Tests of the reset itself run on a frozen clock, in process.
 */
const HOUR = 3_600_000;

/** `GATEHOUSE_BROKERAGE_RESETS` (JSON): each region resets at the UTC time 12 hours after `now`. */
export function resetsAwayFrom(now: number): string {
  const at = new Date(now + 12 * HOUR);
  const time = `${String(at.getUTCHours()).padStart(2, '0')}:${String(at.getUTCMinutes()).padStart(2, '0')}`;
  const region = { time, timeZone: 'UTC' };
  return JSON.stringify({ north_america: region, europe: region, asia_pacific: region });
}
