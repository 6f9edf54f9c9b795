/**
 * @module sandbox/drill/per-fault
 * The checks graded once per fault that acted on the bot: how long until it worked again (an authenticated call, an
 * accepted order), how many orders it sent while its session could not trade, and whether it stormed the gateway
 * with requests after the failure. Thresholds in `GradeThresholds` (docs/sandbox.md, "Report card").
 */
import type { GradedItem, RecordedFault } from '@gatehouse/protocol';
import { type Facts, faultEnd, item, ms, NOT_READY_CODES, rate, round, seconds } from './facts.js';

/** The four items of one fault. `next` is the start of the next fault (this one's window ends there). */
export function gradeFault(facts: Facts, fault: RecordedFault, next: number): GradedItem[] {
  const start = ms(fault.startsAt);
  const end = faultEnd(facts, fault);
  // The failures this fault caused: from its start until it has ended and a rate window has passed.
  const horizon = Math.min(Math.max(end, start) + facts.thresholds.rateWindowMs, next);
  const firstFailure = facts.calls.find(
    (c) => !c.ok && c.at >= start && c.at <= Math.max(horizon, start),
  )?.at;
  const base = { faultId: fault.id, faultKind: fault.kind } as const;
  return [
    recovery(facts, base, start, end, firstFailure),
    orderRecovery(facts, fault, base, start, end),
    notReady(facts, base, start, next),
    requestRate(facts, base, start, firstFailure),
  ];
}

type Base = { faultId: string; faultKind: RecordedFault['kind'] };

function recovery(
  facts: Facts,
  base: Base,
  start: number,
  end: number,
  firstFailure: number | undefined,
): GradedItem {
  const { recoveryMs } = facts.thresholds;
  const fields = {
    ...base,
    check: 'recovery' as const,
    title: 'Time to recover: the first successful authenticated call',
    unit: 'ms' as const,
    threshold: recoveryMs,
    comparison: 'at most' as const,
  };
  if (firstFailure === undefined) {
    const after = facts.calls.some((c) => c.at >= start);
    if (after) return item({ ...fields, figure: 0, detail: 'No call failed after the fault.' });
    if (facts.end - end < recoveryMs)
      return item({
        ...fields,
        verdict: 'n/a',
        figure: null,
        detail: 'The recording ended too soon after the fault to tell.',
      });
    return item({ ...fields, figure: null, detail: 'The bot made no call at all after the fault.' });
  }
  const from = Math.max(end, firstFailure);
  const ok = facts.calls.find((c) => c.authenticated && c.ok && c.at >= from);
  if (ok === undefined)
    return item({
      ...fields,
      figure: null,
      detail: `No successful authenticated call after the first failure (at +${seconds(firstFailure - facts.start)}).`,
    });
  return item({
    ...fields,
    figure: ok.at - from,
    detail: `First successful call ${seconds(ok.at - from)} after the fault ${end > firstFailure ? 'ended' : 'first failed a call'}.`,
  });
}

function orderRecovery(
  facts: Facts,
  fault: RecordedFault,
  base: Base,
  start: number,
  end: number,
): GradedItem {
  const { orderRecoveryMs } = facts.thresholds;
  const fields = {
    ...base,
    check: 'order_recovery' as const,
    title: 'Time to recover: the first order accepted',
    unit: 'ms' as const,
    threshold: orderRecoveryMs,
    comparison: 'at most' as const,
  };
  const placements = facts.recording.placements.filter((p) => ms(p.at) >= start);
  if (placements.length === 0)
    return item({
      ...fields,
      verdict: 'n/a',
      figure: null,
      detail: 'The bot placed no order after the fault.',
    });
  const refused = placements.find((p) => p.outcome === 'refused' || p.outcome === 'no_response');
  if (refused === undefined)
    return item({ ...fields, figure: 0, detail: 'No order was refused after the fault.' });
  const from = Math.max(end, ms(refused.at));
  const accepted = [
    ...placements
      .filter((p) => (p.outcome === 'accepted' || p.outcome === 'existing') && ms(p.at) >= from)
      .map((p) => ms(p.at)),
    ...facts.recording.orders.map((o) => ms(o.createdAt)).filter((t) => t >= from),
  ].sort((a, b) => a - b)[0];
  if (accepted === undefined) {
    if (fault.mode === 'condition' && fault.endsAt === null)
      return item({
        ...fields,
        verdict: 'n/a',
        figure: null,
        detail: 'The fault held until the end: no order could be accepted.',
      });
    return item({
      ...fields,
      figure: null,
      detail: `No order was accepted after the fault (first refusal: ${refused.code ?? `status ${refused.status}`}).`,
    });
  }
  return item({
    ...fields,
    figure: accepted - from,
    detail: `First order accepted ${seconds(accepted - from)} after the fault.`,
  });
}

function notReady(facts: Facts, base: Base, start: number, next: number): GradedItem {
  const window = facts.recording.placements.filter((p) => ms(p.at) >= start && ms(p.at) < next);
  const refused = window.filter((p) => p.code !== null && NOT_READY_CODES.has(p.code));
  const fields = {
    ...base,
    check: 'not_ready_orders' as const,
    title: 'Orders sent while the session could not trade',
    unit: 'count' as const,
    threshold: facts.thresholds.notReadyOrders,
    comparison: 'at most' as const,
  };
  if (window.length === 0)
    return item({
      ...fields,
      verdict: 'n/a',
      figure: null,
      detail: 'The bot placed no order during the fault.',
    });
  const codes = [...new Set(refused.map((p) => p.code))].join(', ');
  return item({
    ...fields,
    figure: refused.length,
    detail:
      refused.length === 0
        ? 'No order was refused for the session’s state.'
        : `${refused.length} order(s) refused for the session’s state (${codes}): watch the session stream or the tickle before placing.`,
  });
}

function requestRate(facts: Facts, base: Base, start: number, firstFailure: number | undefined): GradedItem {
  const { rateWindowMs, rateFactor, rateFloorPerSecond } = facts.thresholds;
  const fields = {
    ...base,
    check: 'request_rate' as const,
    title: 'Request rate after the failure (retry storm)',
    unit: 'req/s' as const,
    comparison: 'at most' as const,
  };
  const before = rate(facts, start - rateWindowMs, rateWindowMs);
  const threshold = round(Math.max(before * rateFactor, rateFloorPerSecond));
  if (firstFailure === undefined)
    return item({
      ...fields,
      threshold,
      verdict: 'n/a',
      figure: null,
      detail: 'No call failed after the fault.',
    });
  const after = rate(facts, firstFailure, rateWindowMs);
  return item({
    ...fields,
    threshold,
    figure: after,
    detail: `${after} req/s in the ${seconds(rateWindowMs)} after the first failure, ${before} req/s before the fault.`,
  });
}
