/**
 * @module sandbox/drill/grade
 * The report card: a drill's recording (what the gateway saw of the bot, `Recording` in `@gatehouse/protocol`)
 * graded into items, each `pass`, `fail` or `n/a` with the figure measured and its threshold (docs/sandbox.md,
 * "Report card").
 *
 * Per fault that acted on the bot: time to recover (the first successful authenticated call, the first order
 * accepted), orders sent while the session could not trade, the request rate after the failure. Overall: orphaned
 * orders, missed cancels, duplicate orders, expired-token failures, a dead-man switch armed, streams resumed without
 * a gap. Pure and deterministic: the same recording and options give the same report (no clock is read; times are
 * the recording's, on the gateway clock).
 *
 * `gatehouse drill` calls `gradeRecording`, then writes the report with `renderJunitReport` (drill/junit.ts) and
 * `renderHtmlReport` (drill/html.ts); its exit status is non-zero when `report.summary.ok` is false.
 */
import {
  DEFAULT_GRADE_THRESHOLDS,
  DRILL_REPORT_VERSION,
  type DrillReport,
  type GradedItem,
  type GradeThresholds,
  type Recording,
} from '@gatehouse/protocol';
import { factsOf, ms } from './facts.js';
import {
  deadManArmed,
  duplicateOrders,
  expiredTokenFailures,
  missedCancels,
  orphanedOrders,
  streamGaps,
  traded,
} from './overall.js';
import { gradeFault } from './per-fault.js';

export interface GradeOptions {
  /** The drill's name in the report (default: the scenario's, else `drill`). */
  name?: string;
  /** The scenario played, as the report names it. */
  scenario?: { name: string; seed: number } | null;
  /** Thresholds other than the defaults (`DEFAULT_GRADE_THRESHOLDS`). */
  thresholds?: Partial<GradeThresholds>;
  /** Grade only these faults (the scenario's), when others acted on the bot too; default: every recorded fault. */
  faultIds?: readonly string[];
}

/** The graded items of a recording: each fault's four, in the order the faults started, then the overall seven. */
export function gradeItems(recording: Recording, thresholds: GradeThresholds, faultIds?: readonly string[]) {
  const facts = factsOf(recording, thresholds, faultIds);
  const items: GradedItem[] = [];
  facts.faults.forEach((fault, i) => {
    const next = facts.faults[i + 1];
    items.push(
      ...gradeFault(facts, fault, next === undefined ? Number.POSITIVE_INFINITY : ms(next.startsAt)),
    );
  });
  items.push(
    traded(facts),
    orphanedOrders(facts),
    missedCancels(facts),
    duplicateOrders(facts),
    expiredTokenFailures(facts),
    deadManArmed(facts),
    streamGaps(facts),
  );
  return items;
}

/** Grades a recording into the report card (`report.summary.ok` false when an item failed). */
export function gradeRecording(recording: Recording, options: GradeOptions = {}): DrillReport {
  const thresholds: GradeThresholds = { ...DEFAULT_GRADE_THRESHOLDS, ...options.thresholds };
  const items = gradeItems(recording, thresholds, options.faultIds);
  const count = (verdict: GradedItem['verdict']) => items.filter((i) => i.verdict === verdict).length;
  const summary = { pass: count('pass'), fail: count('fail'), na: count('n/a'), ok: count('fail') === 0 };
  const scenario = options.scenario ?? null;
  return {
    version: DRILL_REPORT_VERSION,
    name: options.name ?? scenario?.name ?? 'drill',
    scenario,
    subject: recording.subject,
    startedAt: recording.startedAt,
    endedAt: recording.endedAt,
    thresholds,
    summary,
    items,
    recording,
  };
}
