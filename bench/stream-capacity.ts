/**
 * bench/stream-capacity.ts — how many `/v1/stream` sockets one node holds: `BENCH_STREAMS` (default 10,000) web
 * sessions, spread over the demo users, each with a stream open (session cookie and an allowed `Origin` at the
 * upgrade). The sessions are written into the gateway's SQLite file before it starts (as a login would write them,
 * without the 10,000 argon2id verifications a login storm would spend first); the streams are opened over HTTP.
 * Measures the gateway process alone (a child process, read from /proc): its resident memory before the first
 * stream (`baselineRssMb`) and with every stream open (`streamRssMb`, `perStreamKb`), and its CPU (% of one core)
 * over one heartbeat period with every stream open and idle — heartbeats, pings, expiry checks and the periodic
 * session re-reads only (`streamIdleCpuPct`). The run fails if a stream misses its heartbeat, shows a sequence gap
 * or closes. Target: 10,000 streams in under 1 GB with idle CPU under 10 % of a core.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { closeContext, createContext } from '../packages/gateway/src/app/index.js';
import { defaultConfig } from '../packages/gateway/src/config/index.js';
import { newId, randomToken, sha256 } from '../packages/gateway/src/core/index.js';
import { DEMO_USERS, seedDemo } from '../packages/gateway/src/demo/index.js';
import { findUserByUsername } from '../packages/gateway/src/identity/index.js';
import { channelPolicies } from '../packages/gateway/src/sessions/index.js';
import { insertSession } from '../packages/gateway/src/sessions/store.js';
import { log, round, startGateway } from './lib.js';

/** The gateway's secret, shared with this process so that the demo data it seeds is the gateway's own. */
const SERVER_SECRET = randomBytes(32).toString('base64');
/** The stream's heartbeat period (ws/session-stream.ts): the idle window spans one, so each stream beats once in it. */
const HEARTBEAT_MS = 10_000;
/** Upgrades in flight at once while the streams are opened. */
const OPENING = 64;

export interface StreamCapacity {
  streams: number;
  /** The gateway's resident memory with every stream open (MB). */
  streamRssMb: number;
  /** The gateway's CPU, % of one core, over one heartbeat period with every stream open and idle. */
  streamIdleCpuPct: number;
  /** The gateway's resident memory before the first stream (MB). */
  baselineRssMb: number;
  /** (streamRssMb − baselineRssMb) per stream (KB). */
  perStreamKb: number;
}

interface Connection {
  socket: WebSocket;
  lastSeq: number;
  heartbeats: number;
  gaps: number;
  closed: boolean;
}

/** CPU time (user + system, ms) and resident memory (MB) of a process, from /proc. */
function processUsage(pid: number): { cpuMs: number; rssMb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks (100 per second)
  const rssPages = Number(fields[21]);
  return { cpuMs: ticks * 10, rssMb: (rssPages * 4096) / 2 ** 20 };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Writes `count` live web sessions, spread over the demo users, into the SQLite file; returns their tokens. */
async function writeSessions(dbFile: string, count: number): Promise<string[]> {
  const config = defaultConfig({
    database: { url: dbFile },
    log: { level: 'warn' },
    secrets: { serverSecret: SERVER_SECRET },
  });
  const ctx = await createContext(config);
  try {
    await seedDemo(ctx);
    const userIds: string[] = [];
    for (const spec of DEMO_USERS) {
      const user = await findUserByUsername(ctx.store.db, spec.username);
      if (user !== undefined) userIds.push(user.id);
    }
    const policy = channelPolicies(config).web;
    const now = Date.now();
    const tokens: string[] = [];
    await ctx.store.db.transaction().execute(async (trx) => {
      for (let i = 0; i < count; i += 1) {
        const token = randomToken(32);
        tokens.push(token);
        await insertSession(trx, {
          id: newId('ses'),
          tokenHash: sha256(token),
          userId: userIds[i % userIds.length] as string,
          channel: 'web',
          aal: 2,
          amr: ['pwd', 'otp'],
          createdAt: now,
          lastSeenAt: now,
          idleTimeoutMs: policy.idleTimeoutMs,
          expiresAt: now + policy.absoluteLifetimeMs,
          secondFactorAt: now,
          ip: '127.0.0.1',
          userAgent: 'bench',
          revokedAt: null,
          revokeReason: null,
          stepUpRequired: false,
          deviceId: null,
          network: '127.0.0.0/24',
          lastFactor: 'totp',
          brokerageAt: null,
        });
      }
    });
    return tokens;
  } finally {
    await closeContext(ctx);
  }
}

function connect(baseUrl: string, token: string): Promise<Connection> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/v1/stream`, {
      headers: { cookie: `gh_session=${token}` },
      origin: baseUrl,
      perMessageDeflate: false,
    });
    const connection: Connection = { socket, lastSeq: 0, heartbeats: 0, gaps: 0, closed: false };
    socket.on('message', (raw: Buffer) => {
      const message = JSON.parse(raw.toString()) as { type: string; seq: number };
      if (message.seq !== connection.lastSeq + 1) connection.gaps += 1;
      connection.lastSeq = message.seq;
      if (message.type === 'heartbeat') connection.heartbeats += 1;
      if (message.type === 'hello') resolve(connection);
    });
    socket.once('close', () => {
      connection.closed = true;
    });
    socket.once('unexpected-response', (_request, response) =>
      reject(new Error(`stream upgrade: HTTP ${response.statusCode}`)),
    );
    socket.once('error', reject);
  });
}

/** Opens `opts.streams` streams on a fresh gateway and measures it with all of them open and idle. */
export async function streamCapacity(opts: { streams: number }): Promise<StreamCapacity> {
  const { streams } = opts;
  const dir = mkdtempSync(join(tmpdir(), 'gh-bench-cap-'));
  // BENCH_DATABASE_URL: a fresh, empty PostgreSQL database instead of a SQLite file.
  const dbFile = process.env.BENCH_DATABASE_URL ?? join(dir, 'g.db');
  let gateway: Awaited<ReturnType<typeof startGateway>> | undefined;
  const connections: Connection[] = [];
  try {
    const written = Date.now();
    const tokens = await writeSessions(dbFile, streams);
    log(
      `stream-capacity: ${tokens.length} sessions written in ${((Date.now() - written) / 1000).toFixed(1)} s`,
    );
    gateway = await startGateway(
      { GATEHOUSE_SECRET: SERVER_SECRET, GATEHOUSE_SESSIONS_MAX_LIVE_PER_USER: '10000' },
      dbFile,
    );
    const pid = gateway.process.pid ?? 0;
    await sleep(1_000);
    const baseline = processUsage(pid);
    log(`stream-capacity: gateway up, ${baseline.rssMb.toFixed(0)} MB RSS`);

    const opened = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: OPENING }, async () => {
        while (next < tokens.length) {
          const token = tokens[next++] as string;
          connections.push(await connect(gateway?.url ?? '', token));
        }
      }),
    );
    log(
      `stream-capacity: ${connections.length} streams open in ${((Date.now() - opened) / 1000).toFixed(1)} s`,
    );
    // Let the upgrades' garbage go before the idle window.
    await sleep(2_000);
    const beats = connections.map((c) => c.heartbeats);
    const from = processUsage(pid);
    const start = performance.now();
    await sleep(HEARTBEAT_MS + 500);
    const to = processUsage(pid);
    const idleCpuPct = (100 * (to.cpuMs - from.cpuMs)) / (performance.now() - start);
    log(`stream-capacity: idle ${idleCpuPct.toFixed(1)} % CPU, ${to.rssMb.toFixed(0)} MB RSS`);

    const silent = connections.filter((c, i) => c.heartbeats === beats[i]).length;
    const gaps = connections.reduce((n, c) => n + c.gaps, 0);
    const closed = connections.filter((c) => c.closed).length;
    if (silent > 0 || gaps > 0 || closed > 0)
      throw new Error(
        `stream-capacity: ${silent} without heartbeat, ${gaps} sequence gaps, ${closed} closed`,
      );
    return {
      streams: connections.length,
      streamRssMb: round(to.rssMb, 0),
      streamIdleCpuPct: round(idleCpuPct, 1),
      baselineRssMb: round(baseline.rssMb, 0),
      perStreamKb: round(((to.rssMb - baseline.rssMb) * 1024) / connections.length, 1),
    };
  } finally {
    for (const c of connections) c.socket.terminate();
    await gateway?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function main() {
  return streamCapacity({ streams: Number(process.env.BENCH_STREAMS ?? 10_000) });
}
