/**
 * How bench/soak.ts judges a run, on synthetic series (no gateway): a healthy gateway's memory saw-tooths around a
 * level and passes, V8's reserved heap rising and given back in a wave as long as the run; a leak — a Map that keeps
 * 1 KB per request at the soak's 20 requests a second, Buffers or native memory kept per request, heap V8 reserves
 * and never uses, a timer kept per login —
 * gives a fitted slope past the threshold and fails, saying which series and by how much; a short run's noise stays
 * under the floor; a p99 that doubles and more fails.
 */
import { describe, expect, it } from 'vitest';
import { Histogram, judge, leastSquares, type Sample, THRESHOLDS } from '../bench/soak-judge.js';

/** A deterministic pseudo-random series in [0, 1) (a linear congruential generator). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

const SAMPLE_MS = 10_000;

/**
 * Samples every 10 s over `minutes`, shaped on two recorded 30-minute runs: the heap used saw-tooths 10 MB between
 * collections (a 70 s period) with 1 MB of noise; V8's reserved heap rises 36 MB over 29.5 minutes and is given back;
 * Buffers hold a flat 4 MB; the rest outside V8's heap is 76 MB plus SQLite's page cache filling at 28 MB an hour up
 * to 16 MB; RSS is their sum with 2 MB of noise; handles wander between 14 and 26 (streams and sockets open and
 * close); plus `leak` per hour on each part it names (a heap leak is reserved by V8 too, `reserved` is V8 reserving
 * heap it does not use); windows of 200 latencies each between 4 and 16 ms and 2 ms of the gateway's CPU per request
 * (× `slowdown` and `cpuSlowdown` in the last fifth of the run).
 */
function run(
  minutes: number,
  leak: {
    heapMbPerHour?: number;
    externalMbPerHour?: number;
    nativeMbPerHour?: number;
    reservedMbPerHour?: number;
    handlesPerHour?: number;
  } = {},
  slowdown = 1,
  seed = 7,
  cpuSlowdown = slowdown,
): { samples: Sample[]; windows: Histogram[] } {
  const rnd = random(seed);
  const samples: Sample[] = [];
  const windows: Histogram[] = [];
  for (let t = 0; t <= minutes * 60_000; t += SAMPLE_MS) {
    const hours = t / 3_600_000;
    const saw = ((t % 70_000) / 70_000) * 10;
    const window = new Histogram();
    const isLate = t > minutes * 60_000 * 0.8;
    const late = isLate ? slowdown : 1;
    for (let i = 0; i < 200; i += 1) window.record((4 + 12 * rnd()) * late);
    windows.push(window);
    const heapLeak = (leak.heapMbPerHour ?? 0) * hours;
    const wave = ((t % (29.5 * 60_000)) / (29.5 * 60_000)) * 36;
    const heapTotalMb = 68 + wave + heapLeak + (leak.reservedMbPerHour ?? 0) * hours;
    const externalMb = 4 + 0.2 * rnd() + (leak.externalMbPerHour ?? 0) * hours;
    const pageCache = Math.min(16, 28 * hours);
    samples.push({
      t,
      heapMb: 50 + saw + rnd() + heapLeak,
      heapTotalMb,
      externalMb,
      rssMb: heapTotalMb + externalMb + 76 + pageCache + 2 * rnd() + (leak.nativeMbPerHour ?? 0) * hours,
      handles: Math.round(14 + 12 * rnd() + (leak.handlesPerHour ?? 0) * hours),
      eventLoopP99Ms: 10 + 5 * rnd(),
      dbMb: 2 + 20 * hours,
      p99Ms: window.quantile(0.99),
      requests: window.count,
      // 2 ms of the gateway's CPU per request, ±10 %.
      cpuMs: window.count * 2 * (0.9 + 0.2 * rnd()) * (isLate ? cpuSlowdown : 1),
    });
  }
  return { samples, windows };
}

const failed = (verdict: { failures: string[] }) => verdict.failures.map((f) => f.split(' grows')[0]);
const judgeRun = (r: ReturnType<typeof run>, warmUpMs: number) => judge(r.samples, r.windows, warmUpMs);

describe('the soak judge (bench/soak-judge.ts)', () => {
  it('fits the least-squares line of a series exactly when it is a line', () => {
    expect(leastSquares([0, 1, 2, 3], [5, 7, 9, 11])).toEqual({ slope: 2, intercept: 5 });
    expect(leastSquares([0.5], [3])).toEqual({ slope: 0, intercept: 3 });
  });

  it('keeps a histogram of fixed size whose quantiles are within 10 % of the recorded values', () => {
    const h = new Histogram();
    for (let i = 1; i <= 1000; i += 1) h.record(i / 10);
    expect(h.count).toBe(1000);
    expect(h.quantile(0.99)).toBeGreaterThanOrEqual(99);
    expect(h.quantile(0.99)).toBeLessThanOrEqual(99 * 1.1);
    expect(h.quantile(0.5)).toBeGreaterThanOrEqual(50);
    expect(h.quantile(0.5)).toBeLessThanOrEqual(55);
    const size = h.counts.length;
    h.record(10 ** 9);
    expect(h.counts.length).toBe(size);
    expect(new Histogram().quantile(0.99)).toBe(0);
  });

  it('passes a healthy 30-minute run: memory saw-tooths around a level, V8 reserves and gives back heap, the page cache fills, handles wander, the p99 stays', () => {
    const { samples, windows } = run(30);
    const verdict = judge(samples, windows, 3 * 60_000);
    expect(verdict.failures).toEqual([]);
    expect(verdict.judged).toBe(163);
    // RSS alone fits a line past 60 MB an hour (as the recorded runs did: 60–77), which the parts explain.
    expect(verdict.rssSlopeMbPerHour).toBeGreaterThan(60);
    expect(verdict.rssSlopeMbPerHour).toBeLessThan(THRESHOLDS.rssMb.perHour);
    expect(verdict.nativeSlopeMbPerHour).toBeGreaterThan(20);
    expect(verdict.nativeSlopeMbPerHour).toBeLessThan(THRESHOLDS.nativeMb.perHour);
    expect(Math.abs(verdict.externalSlopeMbPerHour)).toBeLessThan(1);
    expect(Math.abs(verdict.heapSlopeMbPerHour)).toBeLessThan(THRESHOLDS.heapMb.perHour / 3);
    expect(Math.abs(verdict.handlesSlopePerHour)).toBeLessThan(THRESHOLDS.handles.perHour / 3);
    expect(Math.abs(verdict.p99DriftPct)).toBeLessThan(25);
    expect(verdict.dbSlopeMbPerHour).toBeCloseTo(20, 0);
  });

  it('fails a 30-minute run whose heap keeps 1 KB per request (72 MB an hour at 20 requests a second), naming it', () => {
    // Injected: a Map never emptied, 1 KB × 20 requests/s = 72 MB/h on the heap (and V8's reserved heap, and RSS).
    const verdict = judgeRun(run(30, { heapMbPerHour: 72 }), 3 * 60_000);
    expect(verdict.heapSlopeMbPerHour).toBeGreaterThan(60);
    expect(verdict.heapSlopeMbPerHour).toBeLessThan(85);
    expect(failed(verdict)).toEqual(['heap used', 'RSS']);
    expect(verdict.failures[0]).toMatch(/^heap used grows 7\d\.\d+ MB\/h \(threshold 30\)/);
  });

  it('fails a 30-minute run whose native memory (outside V8’s heap) keeps 1 KB per request, naming it', () => {
    // Injected: an addon's memory kept per request, 72 MB/h of RSS that neither V8's heap nor Buffers show.
    const verdict = judgeRun(run(30, { nativeMbPerHour: 72 }), 3 * 60_000);
    expect(Math.abs(verdict.heapSlopeMbPerHour)).toBeLessThan(THRESHOLDS.heapMb.perHour / 3);
    expect(failed(verdict)).toEqual(['native memory (RSS outside V8’s heap)', 'RSS']);
    expect(verdict.failures[0]).toMatch(
      /^native memory \(RSS outside V8’s heap\) grows 9\d\.\d+ MB\/h \(threshold 60\), \d+\.\d+ MB over the judged 27 min/,
    );
  });

  it('fails a run that keeps Buffers of 0.4 KB per request (30 MB an hour), which the room left for the page cache would hide', () => {
    const verdict = judgeRun(run(30, { externalMbPerHour: 30 }), 3 * 60_000);
    // Outside V8's heap the leak and the page cache together stay under that part's threshold; Buffers name it.
    expect(verdict.nativeSlopeMbPerHour).toBeLessThan(THRESHOLDS.nativeMb.perHour);
    expect(failed(verdict)).toEqual(['external memory (Buffers)']);
    expect(failed(judgeRun(run(30, { externalMbPerHour: 14 }), 3 * 60_000))).toEqual([
      'external memory (Buffers)',
    ]);
  });

  it('fails a run in which V8 reserves heap it never uses (100 MB an hour), on resident memory as a whole', () => {
    const verdict = judgeRun(run(30, { reservedMbPerHour: 100 }), 3 * 60_000);
    expect(Math.abs(verdict.heapSlopeMbPerHour)).toBeLessThan(1);
    expect(verdict.nativeSlopeMbPerHour).toBeLessThan(THRESHOLDS.nativeMb.perHour);
    expect(failed(verdict)).toEqual(['RSS']);
    expect(verdict.failures[0]).toMatch(/^RSS grows 1\d\d\.\d+ MB\/h \(threshold 120\)/);
  });

  it('fails a run that keeps a handle (a timer or socket) every 20 s, and a slower heap leak of 40 MB an hour', () => {
    const handles = judgeRun(run(30, { handlesPerHour: 180 }), 3 * 60_000);
    expect(handles.failures).toHaveLength(1);
    expect(handles.failures[0]).toMatch(/^open handles grows 1\d\d\.\d+ handles\/h \(threshold 60\)/);
    const slow = judgeRun(run(30, { heapMbPerHour: 40 }), 3 * 60_000);
    expect(failed(slow)).toEqual(['heap used', 'RSS']);
  });

  it("keeps a 2-minute run's saw-tooth under the floor, but not a leak that large", () => {
    // Over 90 s the saw-tooth alone fits to hundreds of MB an hour; the floor (a rise of 12 MB of heap) holds it.
    for (const seed of [1, 2, 3, 4, 5]) {
      const { samples, windows } = run(2, {}, 1, seed);
      const verdict = judge(samples, windows, 30_000);
      expect(verdict.failures, `seed ${seed}`).toEqual([]);
    }
    // A leak of 1 GB an hour rises 25 MB over the judged 90 s: over both the slope and the floor.
    const leaking = judgeRun(run(2, { heapMbPerHour: 1000 }), 30_000);
    expect(failed(leaking)).toEqual(['heap used']);
  });

  it("fails a run whose p99 more than doubles by more than 25 ms with the gateway's CPU per request up, and passes one that only wobbles", () => {
    // Injected: the last fifth of the run 4 times slower, the gateway spending twice the CPU per request.
    const slowed = judgeRun(run(30, {}, 4, 7, 2), 3 * 60_000);
    expect(slowed.p99DriftPct).toBeGreaterThan(250);
    expect(slowed.cpuPerRequestDriftPct).toBeGreaterThan(80);
    expect(slowed.failures).toHaveLength(1);
    expect(slowed.failures[0]).toMatch(
      /^p99 drifts \d+\.?\d* % \(threshold 100 %\).*; the gateway's CPU per request [12]\.\d+ → 4\.\d+ ms/,
    );
    // A doubling of a tiny p99 (under the 25 ms floor) is noise on a shared machine, not a drift.
    expect(judgeRun(run(30, {}, 2, 7, 2), 3 * 60_000).failures).toEqual([]);
  });

  it("notes a p99 drift the gateway's CPU per request does not show (other load on the machine), and fails it when strict", () => {
    // Injected: the last fifth 4 times slower at the client, the gateway's CPU per request unchanged.
    const loaded = run(30, {}, 4, 7, 1);
    const verdict = judgeRun(loaded, 3 * 60_000);
    expect(verdict.p99DriftPct).toBeGreaterThan(250);
    expect(Math.abs(verdict.cpuPerRequestDriftPct)).toBeLessThan(10);
    expect(verdict.failures).toEqual([]);
    expect(verdict.notes).toHaveLength(1);
    expect(verdict.notes[0]).toMatch(/other load on the machine, not the gateway$/);
    const strict = { ...THRESHOLDS, p99: { ...THRESHOLDS.p99, strict: true } };
    expect(judge(loaded.samples, loaded.windows, 3 * 60_000, strict).failures[0]).toMatch(/^p99 drifts/);
  });

  it('refuses to judge a run with fewer than 3 samples after the warm-up', () => {
    const { samples, windows } = run(1);
    expect(judge(samples, windows, 50_000).failures).toEqual([
      'only 2 samples after the warm-up: too short to judge',
    ]);
  });
});
