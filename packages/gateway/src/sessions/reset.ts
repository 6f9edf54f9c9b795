/**
 * @module sessions/reset
 * The daily reset of brokerage capabilities, per legal-entity region (defaults: 00:00 America/New_York for North
 * America, 00:00 Europe/Zurich for Europe, 00:00 Asia/Hong_Kong for Asia-Pacific — IBKR's nightly reset; see
 * research/broker-sessions.md §1.1). Times are wall-clock times in the region's time zone, so a reset stays at
 * local midnight across daylight-saving changes: the UTC instant moves, the local time does not.
 */

export interface ResetSchedule {
  /** Local wall-clock time, `HH:MM`. */
  time: string;
  /** IANA time zone. */
  timeZone: string;
}

const partsCache = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = partsCache.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    partsCache.set(timeZone, f);
  }
  return f;
}

/** The local calendar fields of an instant in a time zone. */
function localFields(at: number, timeZone: string) {
  const fields: Record<string, number> = {};
  for (const part of formatter(timeZone).formatToParts(new Date(at))) {
    if (part.type !== 'literal') fields[part.type] = Number(part.value);
  }
  return fields as { year: number; month: number; day: number; hour: number; minute: number; second: number };
}

/** Offset of the zone from UTC at an instant, in ms (local − UTC). */
function offsetAt(at: number, timeZone: string): number {
  const f = localFields(at, timeZone);
  const asUtc = Date.UTC(f.year, f.month - 1, f.day, f.hour, f.minute, f.second);
  return asUtc - Math.floor(at / 1000) * 1000;
}

/**
 * The UTC instant of a local wall-clock time on a local date. A time that does not exist (skipped by a spring
 * change) moves forward by the length of the gap; a repeated time (autumn) resolves to its first occurrence —
 * the "compatible" disambiguation of Temporal and of most calendars.
 */
export function zonedTimeToUtc(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  timeZone: string,
): number {
  const guess = Date.UTC(year, month - 1, day, hour, minute);
  const first = guess - offsetAt(guess, timeZone);
  const second = guess - offsetAt(first, timeZone);
  if (first === second) return first;
  // Around a change the two candidates differ; take the earlier one that shows the wanted local time, else the later.
  const [early, late] = first < second ? [first, second] : [second, first];
  const shown = localFields(early, timeZone);
  return shown.hour === hour && shown.minute === minute ? early : late;
}

function parseTime(time: string): [number, number] {
  const match = /^(\d{2}):(\d{2})$/.exec(time);
  if (match === null) throw new Error(`reset time must be HH:MM, got ${time}`);
  return [Number(match[1]), Number(match[2])];
}

/** The calendar date `days` after a local date (plain calendar arithmetic, no time zone involved). */
function addDays(date: { year: number; month: number; day: number }, days: number) {
  const d = new Date(Date.UTC(date.year, date.month - 1, date.day + days));
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

/**
 * The last computed [last, next) bracket per schedule: every request in between asks the same question, and
 * answering it takes time-zone arithmetic, so the answer is kept until `now` leaves the bracket.
 */
const brackets = new Map<string, { last: number; next: number }>();

function bracket(now: number, schedule: ResetSchedule): { last: number; next: number } {
  const key = `${schedule.timeZone}|${schedule.time}`;
  const known = brackets.get(key);
  if (known !== undefined && known.last <= now && now < known.next) return known;
  const fresh = { last: computeLast(now, schedule), next: computeNext(now, schedule) };
  if (brackets.size > 1_000) brackets.clear();
  brackets.set(key, fresh);
  return fresh;
}

/** The most recent reset at or before `now`. */
export function lastResetAt(now: number, schedule: ResetSchedule): number {
  return bracket(now, schedule).last;
}

/** The first reset strictly after `now`: the same local time on the local day after the last one. */
export function nextResetAt(now: number, schedule: ResetSchedule): number {
  return bracket(now, schedule).next;
}

function computeLast(now: number, schedule: ResetSchedule): number {
  const [hour, minute] = parseTime(schedule.time);
  const today = localFields(now, schedule.timeZone);
  const candidate = zonedTimeToUtc(today.year, today.month, today.day, hour, minute, schedule.timeZone);
  if (candidate <= now) return candidate;
  const yesterday = addDays(today, -1);
  return zonedTimeToUtc(yesterday.year, yesterday.month, yesterday.day, hour, minute, schedule.timeZone);
}

function computeNext(now: number, schedule: ResetSchedule): number {
  const [hour, minute] = parseTime(schedule.time);
  const today = localFields(now, schedule.timeZone);
  const candidate = zonedTimeToUtc(today.year, today.month, today.day, hour, minute, schedule.timeZone);
  if (candidate > now) return candidate;
  const tomorrow = addDays(today, 1);
  return zonedTimeToUtc(tomorrow.year, tomorrow.month, tomorrow.day, hour, minute, schedule.timeZone);
}
