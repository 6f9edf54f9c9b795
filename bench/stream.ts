/**
 * bench/stream.ts — `/v1/stream` with many connected sessions. Logs one enrolled device in `STREAM_SESSIONS` times
 * on the mobile channel (1,000 sessions of one user), opens a stream for each (bearer token + device proof at the
 * upgrade), then drives brokerage takeovers among them as fast as `WORKERS` concurrent clients can: each takeover
 * sends `brokerage_acquired` to the taker and `competing` to the previous holder. Counts every message the
 * clients receive (heartbeats included) per second, and the time from a takeover request to the loser's
 * `competing`. Before that it measures the gateway's CPU and memory with every stream open and idle (heartbeats and
 * expiry checks only). Afterwards every connection must have a gap-free sequence and at least one heartbeat; otherwise
 * the run fails.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import {
  type DeviceIdentity,
  deviceProof,
  signWithDevice,
} from '../packages/gateway/src/authenticator/index.js';
import { mobileLoginMessage } from '../packages/gateway/src/login/mobile.js';
import { log, median, percentile, round } from './lib.js';

const STREAM_SESSIONS = Number(process.env.BENCH_STREAM_SESSIONS ?? 1_000);
const WORKERS = 16;
const HEARTBEAT_WAIT_MS = 15_000;
/** How long the open streams are watched idle (a heartbeat falls in it). */
const IDLE_MS = 5_000;

interface Connection {
  sessionId: string;
  token: string;
  socket: WebSocket;
  lastSeq: number;
  heartbeats: number;
  gaps: number;
  closed: boolean;
}

/** Logs the device in on the mobile channel; returns the bearer token and session id. */
export async function mobileLogin(
  baseUrl: string,
  phone: DeviceIdentity,
  pin: string,
): Promise<{ token: string; sessionId: string }> {
  const ts = Date.now();
  const nonce = randomBytes(16).toString('base64url');
  const response = await fetch(`${baseUrl}/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      channel: 'mobile',
      deviceId: phone.deviceId,
      pin,
      ts,
      nonce,
      signature: signWithDevice(phone.privateKey, mobileLoginMessage(phone.deviceId, ts, nonce)),
    }),
  });
  if (response.status !== 200) throw new Error(`mobile login: ${response.status} ${await response.text()}`);
  const body = (await response.json()) as { token: string; session: { id: string } };
  return { token: body.token, sessionId: body.session.id };
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function inParallel<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i] as T);
      }
    }),
  );
  return results;
}

function connect(
  baseUrl: string,
  phone: DeviceIdentity,
  session: { token: string; sessionId: string },
  onMessage: (connection: Connection, message: { type: string; seq: number; bySessionId?: string }) => void,
): Promise<Connection> {
  const url = `${baseUrl}/v1/stream`;
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url.replace(/^http/, 'ws'), {
      headers: {
        authorization: `Bearer ${session.token}`,
        'x-device-proof': deviceProof(phone, 'GET', url, session.token),
      },
    });
    const connection: Connection = {
      ...session,
      socket,
      lastSeq: 0,
      heartbeats: 0,
      gaps: 0,
      closed: false,
    };
    socket.on('message', (raw: Buffer) => {
      const message = JSON.parse(raw.toString()) as { type: string; seq: number; bySessionId?: string };
      if (message.seq !== connection.lastSeq + 1) connection.gaps += 1;
      connection.lastSeq = message.seq;
      if (message.type === 'heartbeat') connection.heartbeats += 1;
      if (message.type === 'hello') resolve(connection);
      onMessage(connection, message);
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

export interface StreamFigures {
  streamSessions: number;
  /** The gateway's CPU (% of one core) and memory with every stream open and nothing happening but heartbeats. */
  streamIdleCpuPct: number;
  streamRssMb: number;
  streamMsgsPerSec: number;
  streamTakeoversPerSec: number;
  streamCompetingP99Ms: number;
}

/** CPU time (user + system, ms) and resident memory (MB) of a process, from /proc. */
export function processUsage(pid: number): { cpuMs: number; rssMb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks (100 per second)
  const rssPages = Number(fields[21]);
  return { cpuMs: ticks * 10, rssMb: (rssPages * 4096) / 2 ** 20 };
}

export async function streamBench(
  baseUrl: string,
  gatewayPid: number,
  phone: DeviceIdentity,
  pin: string,
  rounds: number,
  seconds: number,
): Promise<StreamFigures> {
  const started = Date.now();
  const sessions = await inParallel(
    Array.from({ length: STREAM_SESSIONS }, (_, i) => i),
    4,
    () => mobileLogin(baseUrl, phone, pin),
  );
  log(`stream: ${sessions.length} mobile sessions in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  let received = 0;
  const requestedAt = new Map<string, number>();
  const competingMs: number[] = [];
  const onMessage = (_c: Connection, message: { type: string; bySessionId?: string }) => {
    received += 1;
    if (message.type === 'competing' && message.bySessionId !== undefined) {
      const at = requestedAt.get(message.bySessionId);
      if (at !== undefined) competingMs.push(performance.now() - at);
    }
  };
  const connections = await inParallel(sessions, 50, (s) => connect(baseUrl, phone, s, onMessage));
  const connectedAt = Date.now();
  log(`stream: ${connections.length} streams open`);
  const idleFrom = processUsage(gatewayPid);
  const idleStart = performance.now();
  await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
  const idleTo = processUsage(gatewayPid);
  const idleCpuPct = (100 * (idleTo.cpuMs - idleFrom.cpuMs)) / (performance.now() - idleStart);
  log(
    `stream: idle with every stream open: ${idleCpuPct.toFixed(1)} % CPU, ${idleTo.rssMb.toFixed(0)} MB RSS`,
  );

  try {
    const url = `${baseUrl}/v1/session/brokerage`;
    const perRound: { msgs: number; takeovers: number }[] = [];
    let cursor = 0;
    for (let r = 1; r <= rounds; r += 1) {
      const end = performance.now() + seconds * 1000;
      const before = received;
      let takeovers = 0;
      await Promise.all(
        Array.from({ length: WORKERS }, async () => {
          while (performance.now() < end) {
            const connection = connections[cursor++ % connections.length] as Connection;
            requestedAt.set(connection.sessionId, performance.now());
            const response = await fetch(url, {
              method: 'POST',
              headers: {
                'content-type': 'application/json',
                authorization: `Bearer ${connection.token}`,
                'x-device-proof': deviceProof(phone, 'POST', url, connection.token),
              },
              body: JSON.stringify({ compete: true }),
            });
            if (response.status !== 200)
              throw new Error(`takeover: ${response.status} ${await response.text()}`);
            await response.arrayBuffer();
            takeovers += 1;
          }
        }),
      );
      const msgs = (received - before) / seconds;
      log(`stream round ${r}: ${msgs.toFixed(0)} msgs/s, ${(takeovers / seconds).toFixed(0)} takeovers/s`);
      perRound.push({ msgs, takeovers: takeovers / seconds });
    }

    // Every connection must have stayed open, in sequence, and heard the heartbeat.
    const waitUntil = connectedAt + HEARTBEAT_WAIT_MS;
    while (connections.some((c) => c.heartbeats === 0) && Date.now() < waitUntil)
      await new Promise((resolve) => setTimeout(resolve, 200));
    const silent = connections.filter((c) => c.heartbeats === 0).length;
    const gaps = connections.reduce((n, c) => n + c.gaps, 0);
    const closed = connections.filter((c) => c.closed).length;
    if (silent > 0 || gaps > 0 || closed > 0)
      throw new Error(`stream: ${silent} without heartbeat, ${gaps} sequence gaps, ${closed} closed`);
    if (competingMs.length === 0) throw new Error('stream: no competing message observed');

    return {
      streamSessions: connections.length,
      streamIdleCpuPct: round(idleCpuPct, 1),
      streamRssMb: round(idleTo.rssMb, 0),
      streamMsgsPerSec: round(median(perRound.map((p) => p.msgs)), 0),
      streamTakeoversPerSec: round(median(perRound.map((p) => p.takeovers)), 0),
      streamCompetingP99Ms: round(percentile(competingMs, 99), 2),
    };
  } finally {
    for (const c of connections) c.socket.close();
  }
}
