/** The report card's grading on hand-built recordings: a good bot passes, a naive one fails exactly what it does. */
import { DEFAULT_GRADE_THRESHOLDS, type GradedItem } from '@gatehouse/protocol';
import { describe, expect, it } from 'vitest';
import {
  at,
  emptyRecording,
  FIXTURE_SESSION,
  fault,
  goodBot,
  naiveBot,
  order,
  place,
  request,
} from './fixtures.js';
import { gradeRecording } from './grade.js';

const failing = (items: readonly GradedItem[]) =>
  items
    .filter((i) => i.verdict === 'fail')
    .map((i) => i.id)
    .sort();
const byId = (items: readonly GradedItem[], id: string) => {
  const found = items.find((i) => i.id === id);
  if (found === undefined) throw new Error(`no item ${id}`);
  return found;
};

describe('the report card', () => {
  it('passes a bot that behaves, with a figure and threshold on every item', () => {
    const report = gradeRecording(goodBot(), { scenario: { name: 'three faults', seed: 7 } });
    expect(failing(report.items)).toEqual([]);
    expect(report.summary).toMatchObject({ fail: 0, ok: true });
    expect(report.name).toBe('three faults');
    // 3 faults × 4 items + 7 overall items.
    expect(report.items).toHaveLength(19);
    expect(byId(report.items, 'traded')).toMatchObject({ verdict: 'pass' });
    expect(byId(report.items, 'recovery@flt_token')).toMatchObject({ verdict: 'pass', figure: 1000 });
    expect(byId(report.items, 'recovery@flt_maintenance')).toMatchObject({ verdict: 'pass', figure: 500 });
    expect(byId(report.items, 'orphaned_orders')).toMatchObject({ verdict: 'pass', figure: 0 });
    expect(byId(report.items, 'stream_gaps')).toMatchObject({ verdict: 'pass', figure: 0 });
    expect(byId(report.items, 'dead_man_armed')).toMatchObject({ verdict: 'pass', figure: 1 });
    expect(byId(report.items, 'missed_cancels')).toMatchObject({ verdict: 'pass', figure: 0 });
    for (const item of report.items) {
      expect(item.threshold, item.id).toEqual(expect.any(Number));
      expect(item.detail.length, item.id).toBeGreaterThan(0);
      if (item.verdict === 'pass') expect(item.figure, item.id).not.toBeNull();
    }
  });

  it('fails a naive bot on exactly its faults: the retry storm, expired tokens, orders while competing, the orphan, no dead-man, the duplicate', () => {
    const report = gradeRecording(naiveBot());
    expect(failing(report.items)).toEqual(
      [
        'dead_man_armed',
        'duplicate_orders',
        'expired_token_failures',
        'not_ready_orders@flt_competing',
        'orphaned_orders',
        'request_rate@flt_token',
      ].sort(),
    );
    expect(report.summary.ok).toBe(false);
    expect(byId(report.items, 'request_rate@flt_token')).toMatchObject({ figure: 5.3, threshold: 2 });
    expect(byId(report.items, 'expired_token_failures')).toMatchObject({ figure: 2, threshold: 0 });
    expect(byId(report.items, 'not_ready_orders@flt_competing')).toMatchObject({ figure: 2, threshold: 1 });
    expect(byId(report.items, 'orphaned_orders').detail).toContain('ord_x');
    expect(byId(report.items, 'duplicate_orders').detail).toContain('ord_b');
    // What it did recover from is still graded a pass.
    expect(byId(report.items, 'recovery@flt_token')).toMatchObject({ verdict: 'pass' });
  });

  it('is deterministic: the same recording gives the same report, whatever the time', () => {
    const first = JSON.stringify(gradeRecording(naiveBot(), { scenario: { name: 's', seed: 1 } }));
    const second = JSON.stringify(gradeRecording(naiveBot(), { scenario: { name: 's', seed: 1 } }));
    expect(second).toBe(first);
  });

  it('holds a recovery to its threshold, and a bot that never worked again fails it with no figure', () => {
    const slow = emptyRecording({ faults: [fault('flt_a', 'token.revoked', 'action', 10)] });
    slow.requests.push(request(5), request(10, { status: 401, code: 'INVALID_TOKEN' }), request(50));
    const graded = gradeRecording(slow);
    expect(byId(graded.items, 'recovery@flt_a')).toMatchObject({ verdict: 'fail', figure: 40_000 });
    const lenient = gradeRecording(slow, { thresholds: { recoveryMs: 60_000 } });
    expect(byId(lenient.items, 'recovery@flt_a')).toMatchObject({ verdict: 'pass', threshold: 60_000 });
    expect(lenient.thresholds).toEqual({ ...DEFAULT_GRADE_THRESHOLDS, recoveryMs: 60_000 });

    const dead = emptyRecording({ faults: [fault('flt_a', 'token.revoked', 'action', 10)] });
    dead.requests.push(request(5), request(10, { status: 401, code: 'INVALID_TOKEN' }));
    expect(byId(gradeRecording(dead).items, 'recovery@flt_a')).toMatchObject({
      verdict: 'fail',
      figure: null,
    });
  });

  it('counts a missed cancel only when nothing reconciled it', () => {
    const missed = emptyRecording();
    place(missed, 1, 'c-1', 'accepted', null, 'ord_c');
    missed.orders.push(order('ord_c', 'c-1', 1));
    missed.cancels.push({
      at: at(20),
      orderId: 'ord_c',
      status: 503,
      code: 'SERVICE_UNAVAILABLE',
      tookEffect: false,
      effectAt: null,
    });
    expect(byId(gradeRecording(missed).items, 'missed_cancels')).toMatchObject({
      verdict: 'fail',
      figure: 1,
    });

    const reconciled = structuredClone(missed);
    reconciled.requests.push(request(25, { route: '/v1/accounts/:accountId/orders/:orderId' }));
    expect(byId(gradeRecording(reconciled).items, 'missed_cancels')).toMatchObject({ verdict: 'pass' });

    const told = structuredClone(missed);
    (told.cancels[0] as { code: string | null }).code = 'ORDER_NOT_OPEN';
    expect(byId(gradeRecording(told).items, 'missed_cancels')).toMatchObject({ verdict: 'pass' });
  });

  it('finds the events a reconnect without resumeAfter never replayed, and the ones withheld from a live stream', () => {
    const gap = emptyRecording();
    gap.requests.push(request(1), request(100));
    gap.streams.push(
      { at: at(1), event: 'open', sessionId: FIXTURE_SESSION, stream: 1, after: null },
      { at: at(40), event: 'close', sessionId: FIXTURE_SESSION, stream: 1, after: null },
      { at: at(45), event: 'open', sessionId: FIXTURE_SESSION, stream: 2, after: null },
    );
    gap.events.push(
      { seq: 7, at: at(30), type: 'accepted', orderId: 'o1', clientOrderId: 'x', by: null },
      { seq: 8, at: at(42), type: 'cancelled', orderId: 'o1', clientOrderId: null, by: 'user' },
    );
    expect(byId(gradeRecording(gap).items, 'stream_gaps')).toMatchObject({ verdict: 'fail', figure: 1 });
    const resumed = structuredClone(gap);
    (resumed.streams[2] as { after: number | null }).after = 7;
    expect(byId(gradeRecording(resumed).items, 'stream_gaps')).toMatchObject({ verdict: 'pass', figure: 0 });

    const withheld = emptyRecording({
      faults: [fault('flt_w', 'stream.events_withheld', 'condition', 10, 20)],
    });
    withheld.requests.push(request(1), request(30));
    withheld.streams.push({ at: at(1), event: 'open', sessionId: FIXTURE_SESSION, stream: 1, after: null });
    withheld.events.push({
      seq: 3,
      at: at(15),
      type: 'filled',
      orderId: 'o2',
      clientOrderId: null,
      by: null,
    });
    expect(byId(gradeRecording(withheld).items, 'stream_gaps')).toMatchObject({ verdict: 'fail', figure: 1 });
    withheld.streams.push({ at: at(25), event: 'read', sessionId: FIXTURE_SESSION, stream: null, after: 2 });
    expect(byId(gradeRecording(withheld).items, 'stream_gaps')).toMatchObject({ verdict: 'pass' });
  });

  it('forgives the one refusal that told the bot its token expired early, not the ones after', () => {
    const early = emptyRecording({ faults: [fault('flt_e', 'token.expired_early', 'action', 10)] });
    early.requests.push(
      request(11, { status: 401, code: 'INVALID_TOKEN', tokenExpired: true }),
      request(12),
      request(50, { status: 401, code: 'INVALID_TOKEN', tokenExpired: true }),
    );
    expect(byId(gradeRecording(early).items, 'expired_token_failures')).toMatchObject({
      verdict: 'fail',
      figure: 1,
    });
  });

  it('forgives that refusal when a call slipped in between the fault and the expiry, and ones in flight with it', () => {
    const raced = emptyRecording({ faults: [fault('flt_e', 'token.expired_early', 'action', 10)] });
    raced.requests.push(
      request(10.002), // answered before the expiry was done
      request(10.3, { status: 401, code: 'INVALID_TOKEN', tokenExpired: true }),
      request(10.31, { status: 401, code: 'INVALID_TOKEN', tokenExpired: true }), // in flight with it
      request(11),
    );
    expect(byId(gradeRecording(raced).items, 'expired_token_failures')).toMatchObject({
      verdict: 'pass',
      figure: 0,
    });
    // Working for seconds after the fault, then a refusal: not the one that told the bot.
    const late = emptyRecording({ faults: [fault('flt_e', 'token.expired_early', 'action', 10)] });
    late.requests.push(request(12), request(30, { status: 401, code: 'INVALID_TOKEN', tokenExpired: true }));
    expect(byId(gradeRecording(late).items, 'expired_token_failures')).toMatchObject({
      verdict: 'fail',
      figure: 1,
    });
  });

  it('is n/a where a check has nothing to measure, and fails a bot that never traded: it proved nothing', () => {
    const quiet = gradeRecording(emptyRecording());
    expect(quiet.items.map((i) => [i.id, i.verdict])).toEqual([
      ['traded', 'fail'],
      ['orphaned_orders', 'n/a'],
      ['missed_cancels', 'n/a'],
      ['duplicate_orders', 'n/a'],
      ['expired_token_failures', 'n/a'],
      ['dead_man_armed', 'n/a'],
      ['stream_gaps', 'n/a'],
    ]);
    expect(quiet.summary).toEqual({ pass: 0, fail: 1, na: 6, ok: false });
    expect(byId(quiet.items, 'traded')).toMatchObject({ figure: 0 });
  });
});
