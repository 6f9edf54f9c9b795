/**
 * bench/soak.ts — hours of running at a fixed rate. A `gatehouse serve --demo` of the build (its own process, a
 * fresh SQLite file seeded beforehand with `SOAK_USERS` web users who have a TOTP factor each) gets a mix of traffic
 * (bench/soak-traffic.ts: web logins and logouts, tickles and who-am-I reads, resting orders placed, modified and
 * cancelled and market orders that fill on the paper account, streams opened and closed, an app's refresh grants
 * and DPoP reads, brokerage takeovers between a web session and a phone) at `SOAK_RATE` operations a second
 * (default 20), open loop: each operation starts at its due time whether or not the ones before it have answered,
 * and its latency runs from that due time, so a gateway that slows down shows it instead of slowing the load.
 *
 * Every 10 s the gateway's own metrics are read from its metrics listener (loopback, with the bearer token
 * `metrics.bearerToken` set for the run; prom-client's default metrics: `process_resident_memory_bytes`,
 * `nodejs_heap_size_used_bytes`, `nodejs_heap_size_total_bytes`, `nodejs_external_memory_bytes`,
 * `nodejs_eventloop_lag_p99_seconds` — reset at each scrape, so the delay p99 of the last 10 s — and
 * `nodejs_active_handles_total`), with the database file's size and the client's latency p99 of the window (a
 * histogram per window: bench/soak-judge.ts). After a warm-up (10 % of the run, at least 30 s), least-squares slopes
 * of the heap used, the external memory (Buffers), the memory outside V8's heap (RSS less the heap V8 has reserved),
 * RSS against a looser backstop (bench/soak-judge.ts says why) and handles, and the drift of the p99 (the last
 * windows against the first), are judged against the thresholds in bench/soak-judge.ts (a p99 drift counts when the
 * gateway's CPU time per request, read from /proc over the same windows, rose too, or with `SOAK_STRICT_P99=1`); the
 * run fails (non-zero exit, saying why) when one is passed, when an operation answers an error, or when the gateway
 * closes a stream the client did not close.
 *
 * `SOAK_MINUTES` (default 30), `SOAK_RATE` (20), `SOAK_USERS` (48), `SOAK_STRICT_P99`. Writes
 * `bench/out/soak-<time>.svg` (and its samples beside it, `.json`) and prints {minutes, rssSlopeMbPerHour,
 * heapSlopeMbPerHour, externalSlopeMbPerHour, nativeSlopeMbPerHour, handlesSlopePerHour, p99DriftPct, …, plot,
 * passed, failures}.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeContext, createContext } from '../packages/gateway/src/app/index.js';
import { defaultConfig } from '../packages/gateway/src/config/index.js';
import { seedDemo } from '../packages/gateway/src/demo/index.js';
import { addTotpFactor } from '../packages/gateway/src/factors/index.js';
import { createUser, grantAccountRole } from '../packages/gateway/src/identity/index.js';
import { log, root, startGateway } from './lib.js';
import type { WebUser } from './reauth-clients.js';
import { Histogram, judge, type Sample, THRESHOLDS, type Verdict } from './soak-judge.js';
import { plotSvg } from './soak-plot.js';
import { ACCOUNT, MIX, type OpName, Traffic } from './soak-traffic.js';

const SAMPLE_MS = 10_000;
/** Operations in flight beyond this are not started: the client counts a backlog error instead. */
const MAX_IN_FLIGHT = 200;
const ADMIN_TOKEN = 's'.repeat(40);
const METRICS_TOKEN = randomBytes(24).toString('base64url');
const SERVER_SECRET = randomBytes(32).toString('base64');
const PASSWORD = 'soak-bench-password-0123';
/** Order refusals that a daily reset explains: trading is taken again and the operation counted as expected. */
const RESET_CODES = new Set(['SESSION_RESET']);

export interface SoakOptions {
  minutes: number;
  rate: number;
  users: number;
  /** Where the SVG goes (default bench/out). */
  outDir?: string;
  /** Judge the p99 drift alone, without the gateway's CPU per request confirming it (a quiet machine). */
  strictP99?: boolean;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

/** Writes the demo data and the soak's users into the SQLite file before the gateway starts. */
async function seed(dbFile: string, count: number): Promise<{ users: WebUser[]; taker: WebUser }> {
  const config = defaultConfig({
    database: { url: dbFile },
    log: { level: 'warn' },
    secrets: { serverSecret: SERVER_SECRET },
  });
  const ctx = await createContext(config);
  try {
    await seedDemo(ctx);
    const passwordHash = await ctx.hasher.hash(PASSWORD);
    const made: WebUser[] = [];
    for (let i = 0; i <= count; i += 1) {
      const username = i === count ? 'soaktaker' : `soak${i}`;
      const user = await createUser(ctx.store.db, ctx.clock, {
        username,
        displayName: `Soak ${username}`,
        passwordHash,
      });
      const { secret } = await addTotpFactor(ctx.store.db, ctx.clock, ctx.box, {
        userId: user.id,
        label: 'soak',
        issuer: 'Gatehouse',
        accountName: username,
      });
      if (i === count) await grantAccountRole(ctx.store.db, user.id, ACCOUNT, 'trader');
      made.push({ username, password: PASSWORD, secret });
    }
    return { users: made.slice(0, count), taker: made[count] as WebUser };
  } finally {
    await closeContext(ctx);
  }
}

/** The default metrics this bench reads from a Prometheus text exposition (prefix `gatehouse_`). */
export function readMetrics(text: string) {
  const value = (name: string) => {
    const match = new RegExp(`^gatehouse_${name} (\\S+)$`, 'm').exec(text);
    if (match === null) throw new Error(`the metrics have no gatehouse_${name}`);
    return Number(match[1]);
  };
  return {
    rssMb: value('process_resident_memory_bytes') / 2 ** 20,
    heapMb: value('nodejs_heap_size_used_bytes') / 2 ** 20,
    heapTotalMb: value('nodejs_heap_size_total_bytes') / 2 ** 20,
    externalMb: value('nodejs_external_memory_bytes') / 2 ** 20,
    eventLoopP99Ms: value('nodejs_eventloop_lag_p99_seconds') * 1000,
    handles: value('nodejs_active_handles_total'),
  };
}

/** CPU time (user + system, every thread) of a process so far, in ms, from /proc (100 clock ticks a second). */
function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function fileMb(path: string): number {
  try {
    return statSync(path).size / 2 ** 20;
  } catch {
    return 0;
  }
}

export interface SoakResult extends Verdict {
  minutes: number;
  rate: number;
  operations: number;
  /** Operations by name, and errors by `operation code`. */
  byOperation: Record<string, number>;
  errors: Record<string, number>;
  /** Order refusals after a daily reset (trading taken again), by code: expected, not failures. */
  expected: Record<string, number>;
  p99ByOperationMs: Record<string, number>;
  first: Pick<Sample, 'rssMb' | 'heapMb' | 'handles' | 'dbMb'>;
  last: Pick<Sample, 'rssMb' | 'heapMb' | 'handles' | 'dbMb'>;
  samples: number;
  warmUpMinutes: number;
  thresholds: typeof THRESHOLDS;
  plot: string;
  passed: boolean;
}

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const { minutes, rate } = options;
  const durationMs = minutes * 60_000;
  const warmUpMs = Math.max(30_000, durationMs / 10);
  const dir = mkdtempSync(join(tmpdir(), 'gh-bench-soak-'));
  const dbFile = join(dir, 'g.db');
  let gateway: Awaited<ReturnType<typeof startGateway>> | undefined;
  let traffic: Traffic | undefined;
  try {
    const { users, taker } = await seed(dbFile, options.users);
    const metricsPort = await freePort();
    gateway = await startGateway(
      {
        GATEHOUSE_LOG_LEVEL: 'warn',
        GATEHOUSE_SECRET: SERVER_SECRET,
        GATEHOUSE_SECRETS_ADMIN_API_TOKEN: ADMIN_TOKEN,
        GATEHOUSE_METRICS_LISTEN: `127.0.0.1:${metricsPort}`,
        GATEHOUSE_METRICS_BEARER_TOKEN: METRICS_TOKEN,
        // Every request comes from 127.0.0.1.
        GATEHOUSE_LOGIN_IP_RATE_LIMIT_MAX: '1000000',
      },
      dbFile,
    );
    const url = gateway.url;
    const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    const scrape = async () => {
      const response = await fetch(metricsUrl, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      if (response.status !== 200) throw new Error(`metrics: HTTP ${response.status}`);
      return readMetrics(await response.text());
    };
    const unauthorised = await fetch(metricsUrl);
    if (unauthorised.status !== 401) throw new Error(`metrics without the token: ${unauthorised.status}`);
    traffic = await Traffic.setUp(url, { adminToken: ADMIN_TOKEN, users, taker });
    log(`soak: ${minutes} min at ${rate} operations/s against ${url}; warm-up ${warmUpMs / 1000} s`);

    const samples: Sample[] = [];
    const windows: Histogram[] = [];
    const byOp = new Map<OpName, Histogram>();
    const counts: Record<string, number> = {};
    const errors: Record<string, number> = {};
    const expected: Record<string, number> = {};
    let window = new Histogram();
    const pid = gateway.process.pid as number;
    let cpuBefore = cpuMsOf(pid);
    let inFlight = 0;
    let operations = 0;
    const start = performance.now();
    const end = start + durationMs;

    const sample = async () => {
      const m = await scrape();
      const closed = window;
      window = new Histogram();
      const cpuNow = cpuMsOf(pid);
      const cpuMs = cpuNow - cpuBefore;
      cpuBefore = cpuNow;
      windows.push(closed);
      samples.push({
        t: performance.now() - start,
        ...m,
        dbMb: fileMb(dbFile) + fileMb(`${dbFile}-wal`),
        p99Ms: closed.quantile(0.99),
        requests: closed.count,
        cpuMs,
      });
      const s = samples.at(-1) as Sample;
      if (samples.length % 6 === 1)
        log(
          `soak ${(s.t / 60_000).toFixed(1)} min: RSS ${s.rssMb.toFixed(0)} MB, heap ${s.heapMb.toFixed(1)} of ${s.heapTotalMb.toFixed(1)} MB, external ${s.externalMb.toFixed(1)} MB, ${s.handles} handles, loop p99 ${s.eventLoopP99Ms.toFixed(1)} ms, p99 ${s.p99Ms.toFixed(1)} ms, db ${s.dbMb.toFixed(1)} MB, ${JSON.stringify(traffic?.sizes)}`,
        );
    };
    await sample();
    const sampler = (async () => {
      for (let k = 1; start + k * SAMPLE_MS <= end + 1; k += 1) {
        await sleep(start + k * SAMPLE_MS - performance.now());
        await sample();
      }
    })();

    const period = 1000 / rate;
    const active = traffic;
    for (let i = 0; ; i += 1) {
      const due = start + i * period;
      if (due >= end) break;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      const op = MIX[i % MIX.length] as OpName;
      counts[op] = (counts[op] ?? 0) + 1;
      operations += 1;
      if (inFlight >= MAX_IN_FLIGHT) {
        errors[`${op} CLIENT_BACKLOG`] = (errors[`${op} CLIENT_BACKLOG`] ?? 0) + 1;
        continue;
      }
      inFlight += 1;
      active.ops[op]()
        .catch((error: Error) => `THREW ${error.message.slice(0, 80)}`)
        .then(async (code) => {
          const ms = performance.now() - due;
          // A login's argon2id verification is slow by design and bounded apart (`password.maxConcurrentHashes`):
          // its latency is reported per operation, not mixed into the windows whose p99 is judged.
          if (op !== 'login') window.record(ms);
          const h = byOp.get(op) ?? new Histogram();
          byOp.set(op, h);
          h.record(ms);
          if (code === 'ok') return;
          if (RESET_CODES.has(code)) {
            expected[`${op} ${code}`] = (expected[`${op} ${code}`] ?? 0) + 1;
            await active.retakeTrading();
            return;
          }
          errors[`${op} ${code}`] = (errors[`${op} ${code}`] ?? 0) + 1;
        })
        .finally(() => {
          inFlight -= 1;
        });
    }
    await sampler;
    while (inFlight > 0) await sleep(20);
    traffic.closeStreams();

    const thresholds = {
      ...THRESHOLDS,
      p99: { ...THRESHOLDS.p99, strict: options.strictP99 ?? THRESHOLDS.p99.strict },
    };
    const verdict = judge(samples, windows, warmUpMs, thresholds);
    const failures = [...verdict.failures];
    const errorCount = Object.values(errors).reduce((a, b) => a + b, 0);
    if (errorCount > 0)
      failures.push(`${errorCount} operations answered an error: ${JSON.stringify(errors)}`);
    if (traffic.streamCloses.size > 0)
      failures.push(
        `the gateway closed streams the client had not: ${JSON.stringify(Object.fromEntries(traffic.streamCloses))}`,
      );

    const outDir = options.outDir ?? join(root, 'bench/out');
    mkdirSync(outDir, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const plot = join(outDir, `soak-${stamp}.svg`);
    writeFileSync(
      plot,
      plotSvg(`Gatehouse soak, ${minutes} min at ${rate} operations/s, ${stamp}`, samples, warmUpMs),
    );
    // Every sample beside the plot, to look at a run again (bench/soak-plot.ts draws from the same).
    writeFileSync(plot.replace(/\.svg$/, '.json'), JSON.stringify({ warmUpMs, samples }));
    const pick = (s: Sample | undefined) => ({
      rssMb: Math.round((s?.rssMb ?? 0) * 10) / 10,
      heapMb: Math.round((s?.heapMb ?? 0) * 10) / 10,
      handles: s?.handles ?? 0,
      dbMb: Math.round((s?.dbMb ?? 0) * 10) / 10,
    });
    const afterWarmUp = samples.find((s) => s.t >= warmUpMs);
    return {
      minutes,
      rate,
      ...verdict,
      failures,
      passed: failures.length === 0,
      operations,
      byOperation: counts,
      errors,
      expected,
      p99ByOperationMs: Object.fromEntries(
        [...byOp].map(([op, h]) => [op, Math.round(h.quantile(0.99) * 100) / 100]),
      ),
      first: pick(afterWarmUp),
      last: pick(samples.at(-1)),
      samples: samples.length,
      warmUpMinutes: warmUpMs / 60_000,
      thresholds,
      plot,
    };
  } finally {
    traffic?.closeStreams();
    await gateway?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function main() {
  const result = await runSoak({
    minutes: Number(process.env.SOAK_MINUTES ?? 30),
    rate: Number(process.env.SOAK_RATE ?? 20),
    users: Number(process.env.SOAK_USERS ?? 48),
    strictP99: process.env.SOAK_STRICT_P99 === '1',
  });
  log(`soak: plot in ${result.plot}`);
  for (const note of result.notes) log(`soak: ${note}`);
  for (const failure of result.failures) log(`soak FAILED: ${failure}`);
  return result;
}
