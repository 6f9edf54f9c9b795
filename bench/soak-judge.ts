/**
 * bench/soak-judge.ts — how bench/soak.ts judges a run: per-window latency histograms of fixed size (the run keeps
 * no list of every latency), a least-squares slope of each sampled series after the warm-up, and the verdict
 * against the thresholds. Pure functions, so the judging is tested on synthetic series (e2e/soak-judge.test.ts):
 * a flat gateway passes, one that leaks (a Map never emptied, a timer never cleared) fails.
 */

/** Bucket upper bounds in ms: 0.05 ms × 1.1ⁱ, up to about 120 s (a bucket's width is 10 % of its bound). */
const BOUNDS: readonly number[] = (() => {
  const bounds: number[] = [];
  for (let b = 0.05; b < 120_000; b *= 1.1) bounds.push(b);
  bounds.push(Number.POSITIVE_INFINITY);
  return bounds;
})();

/** A latency histogram of fixed size: counts per log-spaced bucket, quantiles within 10 %. */
export class Histogram {
  readonly counts = new Uint32Array(BOUNDS.length);
  count = 0;

  record(ms: number): void {
    let lo = 0;
    let hi = BOUNDS.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ms <= (BOUNDS[mid] as number)) hi = mid;
      else lo = mid + 1;
    }
    this.counts[lo] = (this.counts[lo] as number) + 1;
    this.count += 1;
  }

  add(other: Histogram): this {
    for (let i = 0; i < this.counts.length; i += 1)
      this.counts[i] = (this.counts[i] as number) + (other.counts[i] as number);
    this.count += other.count;
    return this;
  }

  /** The upper bound of the bucket holding quantile `q` (0–1); 0 when empty. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (let i = 0; i < this.counts.length; i += 1) {
      seen += this.counts[i] as number;
      if (seen >= rank) return Math.min(BOUNDS[i] as number, 120_000);
    }
    return 0;
  }
}

/** One sample of the gateway process, every ~10 s. */
export interface Sample {
  /** Ms since the traffic started. */
  t: number;
  rssMb: number;
  heapMb: number;
  /** The heap V8 has reserved (used or not): resident memory follows it, not the heap used. */
  heapTotalMb: number;
  /** Memory of Buffers and ArrayBuffers, held outside V8's heap (`nodejs_external_memory_bytes`). */
  externalMb: number;
  /** Event-loop delay p99 since the previous sample (ms). */
  eventLoopP99Ms: number;
  handles: number;
  /** The database file and its write-ahead log (MB). */
  dbMb: number;
  /** Client-side latency p99 of the operations (logins apart) completed in the window ending at this sample (ms). */
  p99Ms: number;
  /** Requests completed in that window. */
  requests: number;
  /** CPU time the gateway's process spent in that window (ms, from /proc). */
  cpuMs: number;
}

/** The least-squares line through (x, y): slope per unit of x and intercept. */
export function leastSquares(
  xs: readonly number[],
  ys: readonly number[],
): { slope: number; intercept: number } {
  const n = xs.length;
  if (n < 2) return { slope: 0, intercept: ys[0] ?? 0 };
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i += 1) {
    const dx = (xs[i] as number) - mx;
    sxy += dx * ((ys[i] as number) - my);
    sxx += dx * dx;
  }
  const slope = sxx === 0 ? 0 : sxy / sxx;
  return { slope, intercept: my - slope * mx };
}

/**
 * A series fails when it grows faster than `perHour` AND its fitted line rises by more than `floor` over the judged
 * span: the slope is what a 30-minute run judges; the floor keeps a short run (whose slope is mostly the noise of a
 * garbage collector's sawtooth over a minute or two) from failing on noise, while a leak still crosses it.
 */
export interface Threshold {
  perHour: number;
  floor: number;
}

export interface Thresholds {
  /** The heap used by JavaScript objects: a leak of objects shows here. */
  heapMb: Threshold;
  /** Buffers and ArrayBuffers (outside V8's heap): a leak of buffers shows here, and flat when healthy (about 4 MB). */
  externalMb: Threshold;
  /**
   * Resident memory outside V8's heap (RSS less the heap V8 has reserved): buffers and native allocations (the
   * SQLite page cache, the addons', the allocator's own) — a native leak shows here. It rises while SQLite's page cache
   * fills with a growing database (up to 16 MB: about 28 MB an hour in a 30-minute run at the default rate), so its
   * threshold leaves room for that.
   */
  nativeMb: Threshold;
  /**
   * Resident memory as a whole, as a backstop: what none of the parts shows (V8 reserving heap it never gives back).
   * Twice the part's threshold, for V8's reserved heap rises and falls by tens of MB within a run (see `Verdict`).
   */
  rssMb: Threshold;
  handles: Threshold;
  /**
   * p99 of the last windows over the first after the warm-up: fails above `pct` % more AND `floorMs` more AND, unless
   * `strict`, with the gateway's CPU time per request up by more than `cpuPct` % over the same windows. On a shared
   * machine other processes' load moves the client's p99 by hundreds of per cent within minutes while the gateway's
   * CPU per request stays put; a gateway that slows itself down (a scan of a growing list, a cache that stops hitting,
   * more garbage to collect) spends more CPU per request as well. `strict` (SOAK_STRICT_P99=1, for a quiet machine)
   * judges the p99 alone.
   */
  p99: { pct: number; floorMs: number; cpuPct: number; strict: boolean };
}

/**
 * The thresholds a healthy gateway meets at the soak's default rate (20 requests a second; figures in
 * docs/reliability.md), and a leak breaks: a Map that keeps 1 KB per request grows the heap by 72 MB an hour at that
 * rate, a timer or socket kept per login adds 3,600 handles an hour.
 */
export const THRESHOLDS: Thresholds = {
  heapMb: { perHour: 30, floor: 12 },
  externalMb: { perHour: 12, floor: 6 },
  nativeMb: { perHour: 60, floor: 24 },
  rssMb: { perHour: 120, floor: 48 },
  handles: { perHour: 60, floor: 20 },
  p99: { pct: 100, floorMs: 25, cpuPct: 30, strict: false },
};

export interface Verdict {
  /** Samples after the warm-up, the ones fitted. */
  judged: number;
  /**
   * Resident memory as a whole: judged only against a backstop. It is V8's reserved heap plus the rest; V8 reserves
   * heap ahead of use and gives it back in a wave as long as a 30-minute run (measured, twice: the reserved heap rose
   * from about 69 to 96 MB over 25 minutes with the heap used at 46–68 MB, then fell to 57 MB under the same load), so
   * its slope over a run says where the run ended in that wave. The parts are judged instead: a leak of objects raises
   * the heap used, a leak of buffers the external memory, a native leak what lies outside V8's heap.
   */
  rssSlopeMbPerHour: number;
  heapSlopeMbPerHour: number;
  /** Resident memory outside V8's heap (RSS less V8's reserved heap): judged. */
  nativeSlopeMbPerHour: number;
  /** Buffers and ArrayBuffers: judged. */
  externalSlopeMbPerHour: number;
  handlesSlopePerHour: number;
  eventLoopP99SlopeMsPerHour: number;
  dbSlopeMbPerHour: number;
  /** p99 of the first `n` windows after the warm-up and of the last `n` (merged histograms), and the change in %. */
  p99FirstMs: number;
  p99LastMs: number;
  p99DriftPct: number;
  /** The gateway's CPU time per request (ms) in the same first and last windows, and the change in %. */
  cpuPerRequestFirstMs: number;
  cpuPerRequestLastMs: number;
  cpuPerRequestDriftPct: number;
  /** What was noticed and did not fail the run (a p99 drift the gateway's CPU does not show). */
  notes: string[];
  /** Why the run fails; empty when it passes. */
  failures: string[];
}

/** Resident memory outside V8's heap: RSS less the heap V8 has reserved. */
export const outsideHeapMb = (s: Sample) => s.rssMb - s.heapTotalMb;

const HOUR_MS = 3_600_000;
const r2 = (n: number) => Math.round(n * 100) / 100;

/**
 * Judges the samples taken after `warmUpMs`. `windows[i]` is the latency histogram of the window ending at
 * `samples[i]`; the p99 drift compares the merged histograms of the first and the last 10 % of the judged windows (at least 3,
 * at most half).
 */
export function judge(
  samples: readonly Sample[],
  windows: readonly Histogram[],
  warmUpMs: number,
  thresholds: Thresholds = THRESHOLDS,
): Verdict {
  const idx = samples.map((s, i) => [s, i] as const).filter(([s]) => s.t >= warmUpMs);
  const failures: string[] = [];
  if (idx.length < 3) failures.push(`only ${idx.length} samples after the warm-up: too short to judge`);
  const hours = idx.map(([s]) => s.t / HOUR_MS);
  const span = hours.length > 1 ? (hours.at(-1) as number) - (hours[0] as number) : 0;
  const slopeOf = (pick: (s: Sample) => number) =>
    leastSquares(
      hours,
      idx.map(([s]) => pick(s)),
    ).slope;
  const check = (name: string, unit: string, slope: number, t: Threshold) => {
    const rise = slope * span;
    if (slope > t.perHour && rise > t.floor)
      failures.push(
        `${name} grows ${r2(slope)} ${unit}/h (threshold ${t.perHour}), ${r2(rise)} ${unit} over the judged ${r2(span * 60)} min (floor ${t.floor})`,
      );
  };
  const rss = slopeOf((s) => s.rssMb);
  const heap = slopeOf((s) => s.heapMb);
  const native = slopeOf(outsideHeapMb);
  const external = slopeOf((s) => s.externalMb);
  const handles = slopeOf((s) => s.handles);
  check('heap used', 'MB', heap, thresholds.heapMb);
  check('external memory (Buffers)', 'MB', external, thresholds.externalMb);
  check('native memory (RSS outside V8’s heap)', 'MB', native, thresholds.nativeMb);
  check('RSS', 'MB', rss, thresholds.rssMb);
  check('open handles', 'handles', handles, thresholds.handles);

  const judgedWindows = idx.map(([, i]) => windows[i]).filter((w): w is Histogram => w !== undefined);
  const n = Math.max(
    1,
    Math.min(Math.floor(judgedWindows.length / 2), Math.max(3, Math.floor(judgedWindows.length / 10))),
  );
  const merge = (ws: Histogram[]) => ws.reduce((h, w) => h.add(w), new Histogram());
  const first = merge(judgedWindows.slice(0, n)).quantile(0.99);
  const last = merge(judgedWindows.slice(-n)).quantile(0.99);
  const drift = first === 0 ? 0 : (100 * (last - first)) / first;
  const firstSamples = idx.slice(0, n).map(([x]) => x);
  const lastSamples = idx.slice(-n).map(([x]) => x);
  const cpuPerRequest = (xs: Sample[]) => {
    const requests = xs.reduce((a, x) => a + x.requests, 0);
    return requests === 0 ? 0 : xs.reduce((a, x) => a + x.cpuMs, 0) / requests;
  };
  const cpuFirst = cpuPerRequest(firstSamples);
  const cpuLast = cpuPerRequest(lastSamples);
  const cpuDrift = cpuFirst === 0 ? 0 : (100 * (cpuLast - cpuFirst)) / cpuFirst;
  const notes: string[] = [];
  const p99 = thresholds.p99;
  if (drift > p99.pct && last - first > p99.floorMs) {
    const said = `p99 drifts ${r2(drift)} % (threshold ${p99.pct} %): ${r2(first)} ms in the first ${n} judged windows, ${r2(last)} ms in the last`;
    const cpu = `the gateway's CPU per request ${r2(cpuFirst)} → ${r2(cpuLast)} ms (${r2(cpuDrift)} %, threshold ${p99.cpuPct} %)`;
    if (p99.strict || cpuDrift > p99.cpuPct) failures.push(`${said}; ${cpu}`);
    else notes.push(`${said}, but ${cpu}: other load on the machine, not the gateway`);
  }
  return {
    judged: idx.length,
    rssSlopeMbPerHour: r2(rss),
    heapSlopeMbPerHour: r2(heap),
    nativeSlopeMbPerHour: r2(native),
    externalSlopeMbPerHour: r2(external),
    handlesSlopePerHour: r2(handles),
    eventLoopP99SlopeMsPerHour: r2(slopeOf((s) => s.eventLoopP99Ms)),
    dbSlopeMbPerHour: r2(slopeOf((s) => s.dbMb)),
    p99FirstMs: r2(first),
    p99LastMs: r2(last),
    p99DriftPct: r2(drift),
    cpuPerRequestFirstMs: r2(cpuFirst),
    cpuPerRequestLastMs: r2(cpuLast),
    cpuPerRequestDriftPct: r2(cpuDrift),
    notes,
    failures,
  };
}
