/**
 * @module sandbox/drill/overall
 * The checks graded once per drill: whether the bot traded at all, orphaned orders, missed cancels, duplicate orders, expired-token failures, a
 * dead-man switch armed, and streams resumed without a gap. Each says what it counted, so a bot author can find
 * the orders and requests in the recording (docs/sandbox.md, "Report card").
 */
import type { GradedItem, RecordedOrder } from '@gatehouse/protocol';
import { deadManCovers, type Facts, item, ms, orderEnd, readOrders, seconds } from './facts.js';

const LOSSES: ReadonlySet<string> = new Set(['competing', 'expired', 'revoked', 'reset']);
const list = (ids: readonly string[]) =>
  ids.length > 5 ? `${ids.slice(0, 5).join(', ')}, …` : ids.join(', ');
const overall = { faultId: null, faultKind: null } as const;

/**
 * Whether the gateway accepted any order from the bot during the drill. A bot that crashed at start, could not
 * authenticate or never traded leaves every other item without anything to measure (n/a): without this item its
 * card would pass having proven nothing.
 */
export function traded(facts: Facts): GradedItem {
  const accepted = facts.recording.placements.filter((p) => p.outcome === 'accepted').length;
  return item({
    ...overall,
    check: 'traded',
    title: 'Orders accepted from the bot',
    unit: 'count',
    threshold: 1,
    comparison: 'at least',
    figure: accepted,
    detail:
      accepted > 0
        ? `${accepted} order(s) accepted during the drill.`
        : 'The gateway accepted no order from the bot: it did not run, could not authenticate, or never traded; nothing about its trading was proven (see bot.log).',
  });
}

/**
 * Orders working when the bot lost a session (competing, expired, revoked, reset) that stayed working past the
 * grace with nobody watching: no dead-man switch armed over them, no cancel asked, not ended by anyone.
 */
export function orphanedOrders(facts: Facts): GradedItem {
  const { orphanGraceMs } = facts.thresholds;
  const fields = {
    ...overall,
    check: 'orphaned_orders' as const,
    title: 'Orphaned orders (left working after the session was lost)',
    unit: 'count' as const,
    threshold: 0,
    comparison: 'at most' as const,
  };
  const losses = facts.recording.sessionChanges.filter((c) => c.own && LOSSES.has(c.change));
  if (losses.length === 0)
    return item({ ...fields, verdict: 'n/a', figure: null, detail: 'The bot lost no session.' });
  const orphans = new Set<string>();
  for (const loss of losses) {
    const at = ms(loss.at);
    const until = at + orphanGraceMs;
    for (const order of facts.recording.orders) {
      if (
        order.sessionId !== loss.sessionId ||
        ms(order.createdAt) > at ||
        orderEnd(facts, order.orderId) <= at
      )
        continue;
      const ended = orderEnd(facts, order.orderId) <= until;
      const cancelAsked = facts.recording.cancels.some(
        (c) => c.orderId === order.orderId && ms(c.at) >= at && ms(c.at) <= until,
      );
      if (!ended && !cancelAsked && !deadManCovers(facts, order, at, until)) orphans.add(order.orderId);
    }
  }
  const ids = [...orphans].sort();
  return item({
    ...fields,
    figure: ids.length,
    detail:
      ids.length === 0
        ? `${losses.length} session loss(es); every working order was covered, cancelled or ended.`
        : `Left working with nobody watching: ${list(ids)}. Arm a dead-man switch, or cancel on losing the session.`,
  });
}

/**
 * Cancels that never took effect and that the bot did not follow up: no later read of its orders or events, no
 * later cancel of the same order. A cancel answered `ORDER_NOT_OPEN` or `ORDER_NOT_FOUND` told the bot the truth.
 */
export function missedCancels(facts: Facts): GradedItem {
  const { cancels } = facts.recording;
  const fields = {
    ...overall,
    check: 'missed_cancels' as const,
    title: 'Missed cancels (asked, never took effect, not reconciled)',
    unit: 'count' as const,
    threshold: 0,
    comparison: 'at most' as const,
  };
  if (cancels.length === 0)
    return item({ ...fields, verdict: 'n/a', figure: null, detail: 'The bot asked for no cancel.' });
  const missed = cancels.filter((c, i) => {
    if (c.tookEffect || c.code === 'ORDER_NOT_OPEN' || c.code === 'ORDER_NOT_FOUND') return false;
    const at = ms(c.at);
    const again = cancels.some((d, j) => j > i && d.orderId === c.orderId);
    return !again && !readOrders(facts, at, facts.end);
  });
  const ids = [...new Set(missed.map((c) => c.orderId))].sort();
  return item({
    ...fields,
    figure: ids.length,
    detail:
      ids.length === 0
        ? `${cancels.length} cancel(s) asked; each took effect or was reconciled.`
        : `Cancel never took effect and was not followed up: ${list(ids)}. Read the order (or the events) after a cancel that failed.`,
  });
}

const sameShape = (a: RecordedOrder, b: RecordedOrder) =>
  a.instrumentId === b.instrumentId &&
  a.side === b.side &&
  a.type === b.type &&
  a.quantity === b.quantity &&
  a.limitPrice === b.limitPrice;

/**
 * Two orders where one was meant: the same `clientOrderId` placed as two orders, or an order whose answer never
 * reached the bot followed, within the window and with no read in between, by the same order under a new id.
 */
export function duplicateOrders(facts: Facts): GradedItem {
  const { orders, placements } = facts.recording;
  const fields = {
    ...overall,
    check: 'duplicate_orders' as const,
    title: 'Duplicate orders (one intent placed twice)',
    unit: 'count' as const,
    threshold: 0,
    comparison: 'at most' as const,
  };
  if (orders.length === 0)
    return item({ ...fields, verdict: 'n/a', figure: null, detail: 'The bot placed no order.' });
  const duplicates = new Set<string>();
  const byId = new Map<string, RecordedOrder[]>();
  for (const order of orders)
    byId.set(order.clientOrderId, [...(byId.get(order.clientOrderId) ?? []), order]);
  for (const same of byId.values()) for (const extra of same.slice(1)) duplicates.add(extra.orderId);
  const unanswered = (order: RecordedOrder) =>
    !placements.some(
      (p) =>
        p.clientOrderId === order.clientOrderId &&
        p.outcome !== 'no_response' &&
        p.status > 0 &&
        p.status < 500 &&
        p.outcome !== 'refused',
    );
  for (const first of orders) {
    if (!unanswered(first)) continue;
    const at = ms(first.createdAt);
    const second = orders.find(
      (o) =>
        o.orderId !== first.orderId &&
        o.clientOrderId !== first.clientOrderId &&
        sameShape(o, first) &&
        ms(o.createdAt) > at &&
        ms(o.createdAt) <= at + facts.thresholds.duplicateWindowMs,
    );
    if (second !== undefined && !readOrders(facts, at, ms(second.createdAt))) duplicates.add(second.orderId);
  }
  const ids = [...duplicates].sort();
  return item({
    ...fields,
    figure: ids.length,
    detail:
      ids.length === 0
        ? `${orders.length} order(s), none a duplicate.`
        : `Placed twice: ${list(ids)}. Retry a placement with the same clientOrderId, or look it up first.`,
  });
}

/**
 * Requests refused because the access token had expired: the bot should refresh ahead of expiry. The first such
 * refusal after a fault that expired its token early, before the bot worked again, is forgiven (no bot can see that
 * coming).
 */
/** Refusals sent together with the first one that told the bot its token had ended (parallel requests). */
const IN_FLIGHT_MS = 1_000;

export function expiredTokenFailures(facts: Facts): GradedItem {
  const { requests } = facts.recording;
  const fields = {
    ...overall,
    check: 'expired_token_failures' as const,
    title: 'Requests refused with an expired access token',
    unit: 'count' as const,
    threshold: 0,
    comparison: 'at most' as const,
  };
  if (requests.length === 0)
    return item({ ...fields, verdict: 'n/a', figure: null, detail: 'The bot made no request.' });
  let expired = requests.filter((r) => r.tokenExpired).map((r) => ms(r.at));
  let forgiven = 0;
  for (const fault of facts.faults) {
    if (fault.kind !== 'token.expired_early') continue;
    // Forgiven: the refusals that told the bot — the first after the fault, unless the bot had worked again since
    // (a call in the moment between the fault's scheduled start and the expiry being done, IN_FLIGHT_MS, does not
    // count), and those already in flight with it, up to the bot's first call that worked again.
    const start = ms(fault.startsAt);
    const workedSince = facts.calls.find((c) => c.authenticated && c.ok && c.at >= start + IN_FLIGHT_MS)?.at;
    const first = expired.find((t) => t >= start && (workedSince === undefined || t <= workedSince));
    if (first === undefined) continue;
    const worked = facts.calls.find((c) => c.authenticated && c.ok && c.at > first)?.at ?? facts.end;
    const until = Math.min(first + IN_FLIGHT_MS, worked);
    const before = expired.length;
    expired = expired.filter((t) => t < first || t > until);
    forgiven += before - expired.length;
  }
  return item({
    ...fields,
    figure: expired.length,
    detail:
      expired.length === 0
        ? `No request refused for an expired token${forgiven > 0 ? ` (${forgiven} after an early expiry forgiven)` : ''}.`
        : `${expired.length} request(s) sent with an expired token (first at +${seconds((expired[0] ?? 0) - facts.start)}): refresh ahead of expires_in.`,
  });
}

/** Whether the bot armed a dead-man switch while it had orders; n/a for a bot that placed none. */
export function deadManArmed(facts: Facts): GradedItem {
  const fields = {
    ...overall,
    check: 'dead_man_armed' as const,
    title: 'A dead-man switch armed',
    unit: 'yes/no' as const,
    threshold: 1,
    comparison: 'at least' as const,
  };
  if (facts.recording.orders.length === 0)
    return item({ ...fields, verdict: 'n/a', figure: null, detail: 'The bot placed no order.' });
  const armed = facts.recording.deadMan.filter((d) => d.action === 'armed');
  return item({
    ...fields,
    figure: armed.length > 0 ? 1 : 0,
    detail:
      armed.length > 0
        ? `Armed (${armed[0]?.scope} scope, ${seconds(armed[0]?.timeoutMs ?? 0)} timeout), re-armed ${armed.length - 1} time(s).`
        : 'The bot had orders and never armed a dead-man switch: nothing cancels them if it dies.',
  });
}

/**
 * Events the bot never saw: for each time it was blind to the live stream — from a stream's close to its next
 * open, and while live events were withheld (`stream.events_withheld`) — the events in between count as missed
 * unless it then resumed from a sequence at or before the last it had (`resumeAfter`, `{"op":"resume"}` is not
 * visible to the gateway's HTTP layer) or read `GET …/events?after=` from there.
 */
export function streamGaps(facts: Facts): GradedItem {
  const { streams, events, requests } = facts.recording;
  const fields = {
    ...overall,
    check: 'stream_gaps' as const,
    title: 'Stream resumed without a gap',
    unit: 'count' as const,
    threshold: 0,
    comparison: 'at most' as const,
  };
  const opens = streams.filter((s) => s.event === 'open');
  const withheld = facts.faults.filter((f) => f.kind === 'stream.events_withheld');
  if (opens.length === 0 && withheld.length === 0)
    return item({ ...fields, verdict: 'n/a', figure: null, detail: 'The bot opened no stream.' });
  const lastCall = Math.max(facts.start, ...requests.map((r) => ms(r.at)));
  const blind: [number, number][] = [];
  for (const close of streams.filter((s) => s.event === 'close')) {
    const from = ms(close.at);
    const reopen = opens.find((o) => ms(o.at) >= from);
    // A bot that closed its stream and made no call after it has left: that is no gap.
    if (reopen === undefined && lastCall <= from) continue;
    blind.push([from, reopen === undefined ? facts.end : ms(reopen.at)]);
  }
  for (const fault of withheld) blind.push([ms(fault.startsAt), faultEndOf(facts, fault.endsAt)]);
  let missed = 0;
  let gaps = 0;
  for (const [from, to] of blind) {
    const inGap = events.filter((e) => ms(e.at) > from && ms(e.at) <= to);
    if (inGap.length === 0) continue;
    const had = Math.min(...inGap.map((e) => e.seq)) - 1;
    const covered = streams.some(
      (s) =>
        (s.event === 'open' || s.event === 'read') && s.after !== null && s.after <= had && ms(s.at) >= from,
    );
    if (!covered) {
      missed += inGap.length;
      gaps += 1;
    }
  }
  return item({
    ...fields,
    figure: missed,
    detail:
      missed === 0
        ? `${blind.length} interruption(s) of the live stream; every missed event was replayed.`
        : `${missed} event(s) in ${gaps} gap(s) never replayed: reconnect with resumeAfter=ACCOUNT:SEQ (the last eventSeq held) or read /events?after=SEQ.`,
  });
}

const faultEndOf = (facts: Facts, endsAt: string | null) => (endsAt === null ? facts.end : ms(endsAt));
