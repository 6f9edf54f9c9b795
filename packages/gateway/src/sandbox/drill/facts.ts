/**
 * @module sandbox/drill/facts
 * A recording read for grading: its times as numbers on the gateway clock, its requests and placements sorted, and
 * the small questions every check asks (when did an order end, was a dead-man switch covering it, did the bot read
 * its orders after an instant). Pure: nothing here reads a clock or the database.
 */
import type { GradedItem, GradeThresholds, RecordedFault, Recording } from '@gatehouse/protocol';

export const ms = (at: string): number => Date.parse(at);

/** Codes that say the session was not ready to trade: the bot should have known before placing. */
export const NOT_READY_CODES: ReadonlySet<string> = new Set([
  'SESSION_COMPETING',
  'STEP_UP_REQUIRED',
  'SESSION_RESET',
  'BROKERAGE_REQUIRED',
  'DEVICE_KEY_REQUIRED',
  'SESSION_EXPIRED',
  'SESSION_REVOKED',
  'INVALID_TOKEN',
  'UNAUTHENTICATED',
]);

/** Routes whose answer tells the bot the state of its orders (a reconciliation). */
export const ORDER_READS: ReadonlySet<string> = new Set([
  '/v1/accounts/:accountId/orders',
  '/v1/accounts/:accountId/orders/:orderId',
  '/v1/accounts/:accountId/events',
]);

const END_EVENTS: ReadonlySet<string> = new Set(['cancelled', 'filled', 'expired', 'rejected']);

/** One request with its time as a number: resource requests and token requests alike. */
export interface Call {
  at: number;
  ok: boolean;
  /** An authenticated resource request (not the token endpoint). */
  authenticated: boolean;
  method: string;
  route: string;
  code: string | null;
}

export interface Facts {
  recording: Recording;
  thresholds: GradeThresholds;
  start: number;
  end: number;
  calls: Call[];
  faults: RecordedFault[];
}

export function factsOf(
  recording: Recording,
  thresholds: GradeThresholds,
  faultIds?: readonly string[],
): Facts {
  const calls: Call[] = [
    ...recording.requests.map((r) => ({
      at: ms(r.at),
      ok: r.status < 400,
      authenticated: r.sessionId !== null && r.code === null,
      method: r.method,
      route: r.route,
      code: r.code,
    })),
    ...recording.tokenRequests.map((t) => ({
      at: ms(t.at),
      ok: t.outcome === 'issued',
      authenticated: false,
      method: 'POST',
      route: '/oauth2/token',
      code: t.error,
    })),
  ].sort((a, b) => a.at - b.at);
  const wanted = faultIds === undefined ? undefined : new Set(faultIds);
  const faults = recording.faults
    .filter((f) => wanted === undefined || wanted.has(f.id))
    .sort((a, b) => ms(a.startsAt) - ms(b.startsAt) || a.id.localeCompare(b.id));
  return { recording, thresholds, start: ms(recording.startedAt), end: ms(recording.endedAt), calls, faults };
}

/** When a fault stops acting: a condition's end (the recording's, while it still holds), an action's instant. */
export function faultEnd(facts: Facts, fault: RecordedFault): number {
  if (fault.endsAt !== null) return Math.min(ms(fault.endsAt), facts.end);
  return fault.mode === 'action' ? ms(fault.startsAt) : facts.end;
}

/** When an order stopped working (cancelled, filled, expired, rejected), or Infinity while it works. */
export function orderEnd(facts: Facts, orderId: string): number {
  const { recording } = facts;
  const event = recording.events.find((e) => e.orderId === orderId && END_EVENTS.has(e.type));
  if (event !== undefined) return ms(event.at);
  const order = recording.orders.find((o) => o.orderId === orderId);
  if (order === undefined || order.status === 'working') return Number.POSITIVE_INFINITY;
  return ms(order.updatedAt);
}

/** Whether a dead-man switch that would cancel `order` was armed at `at`, or armed by the bot in `[at, until]`. */
export function deadManCovers(
  facts: Facts,
  order: { sessionId: string },
  at: number,
  until: number = at,
): boolean {
  const covers = (entry: { scope: string; sessionId: string | null }) =>
    entry.scope === 'account' || entry.sessionId === order.sessionId;
  let armedUntil = Number.NEGATIVE_INFINITY;
  for (const entry of facts.recording.deadMan) {
    const t = ms(entry.at);
    if (t > until || !covers(entry)) continue;
    if (entry.action === 'armed' && entry.timeoutMs !== null) {
      if (t >= at) return true;
      armedUntil = t + entry.timeoutMs;
    } else if (entry.action === 'disarmed' || entry.action === 'fired') {
      if (t <= at) armedUntil = Number.NEGATIVE_INFINITY;
    }
  }
  return armedUntil >= at;
}

/** Whether the bot read its orders or events (or resumed a stream from a sequence) in `(from, to]`. */
export function readOrders(facts: Facts, from: number, to: number): boolean {
  const read = facts.recording.requests.some(
    (r) =>
      r.method === 'GET' && r.status < 400 && ORDER_READS.has(r.route) && ms(r.at) > from && ms(r.at) <= to,
  );
  return (
    read ||
    facts.recording.streams.some(
      (s) => s.event === 'open' && s.after !== null && ms(s.at) > from && ms(s.at) <= to,
    )
  );
}

/** Requests per second in `[from, from + windowMs)`, both kinds of request counted. */
export function rate(facts: Facts, from: number, windowMs: number): number {
  let n = 0;
  for (const call of facts.calls) if (call.at >= from && call.at < from + windowMs) n += 1;
  return round(n / (windowMs / 1000));
}

export const round = (n: number, places = 2): number => {
  const f = 10 ** places;
  return Math.round(n * f) / f;
};

/** A graded item, its verdict from its figure and threshold unless given. */
export function item(
  fields: Omit<GradedItem, 'verdict' | 'id'> & { verdict?: GradedItem['verdict'] },
): GradedItem {
  const { figure, threshold, comparison } = fields;
  const verdict =
    fields.verdict ??
    (figure === null
      ? 'fail'
      : (comparison === 'at most' ? figure <= threshold : figure >= threshold)
        ? 'pass'
        : 'fail');
  return {
    id: fields.faultId === null ? fields.check : `${fields.check}@${fields.faultId}`,
    check: fields.check,
    faultId: fields.faultId,
    faultKind: fields.faultKind,
    title: fields.title,
    verdict,
    figure,
    unit: fields.unit,
    threshold,
    comparison,
    detail: fields.detail,
  };
}

export const seconds = (n: number): string => `${round(n / 1000, 1)} s`;
