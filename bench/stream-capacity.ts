/**
 * bench/stream-capacity.ts — how many open `/v1/stream`s one node holds, and what they cost idle: one gateway
 * (`gatehouse serve --demo`, its own SQLite file), one enrolled phone of alice logged in `streams` times on the
 * mobile channel, a stream for each (bearer token + device proof at the upgrade); then the gateway's resident memory
 * and its CPU over 5 s with every stream open and idle (heartbeats and expiry checks only). Every stream must stay
 * open. `npm run bench -- stream-capacity` prints the figures alone (BENCH_STREAMS, default 1,000); bench/cluster.ts
 * quotes them.
 */
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import {
  type DeviceIdentity,
  deviceProof,
  enrolDevice,
} from '../packages/gateway/src/authenticator/index.js';
import { DEMO_USERS } from '../packages/gateway/src/demo/index.js';
import { totpCode } from '../packages/gateway/src/factors/index.js';
import { log, round, startGateway, webLogin } from './lib.js';
import { mobileLogin } from './stream.js';

const PIN = '2468';
const IDLE_MS = 5_000;

/** CPU time (user + system, ms) and resident memory (MB) of a process, from /proc. */
function processUsage(pid: number): { cpuMs: number; rssMb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks (100 per second)
  return { cpuMs: ticks * 10, rssMb: (Number(fields[21]) * 4096) / 2 ** 20 };
}

async function inParallel<T>(count: number, limit: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await fn(i);
      }
    }),
  );
  return results;
}

function open(baseUrl: string, phone: DeviceIdentity, token: string): Promise<WebSocket> {
  const url = `${baseUrl}/v1/stream`;
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url.replace(/^http/, 'ws'), {
      headers: { authorization: `Bearer ${token}`, 'x-device-proof': deviceProof(phone, 'GET', url, token) },
    });
    socket.on('message', (raw: Buffer) => {
      if ((JSON.parse(raw.toString()) as { type: string }).type === 'hello') resolve(socket);
    });
    socket.once('unexpected-response', (_request, response) =>
      reject(new Error(`stream upgrade: HTTP ${response.statusCode}`)),
    );
    socket.once('error', reject);
  });
}

export async function streamCapacity(opts: {
  streams: number;
}): Promise<{ streams: number; streamRssMb: number; streamIdleCpuPct: number }> {
  const alice = DEMO_USERS[0];
  if (alice === undefined) throw new Error('no demo user');
  const gateway = await startGateway({
    GATEHOUSE_LOGIN_IP_RATE_LIMIT_MAX: '1000000',
    GATEHOUSE_SESSIONS_MAX_LIVE_PER_USER: String(Math.max(50, Math.min(10_000, opts.streams + 10))),
    GATEHOUSE_LOG_LEVEL: 'warn',
  });
  const sockets: WebSocket[] = [];
  try {
    const { cookie, csrf } = await webLogin(gateway.url, alice, totpCode(alice.totpSecret, Date.now()));
    const enrol = (await (
      await fetch(`${gateway.url}/v1/devices/mobile/enroll`, {
        method: 'POST',
        headers: { cookie, 'x-csrf-token': csrf },
      })
    ).json()) as { activationUri: string };
    const phone = await enrolDevice(enrol.activationUri, {
      name: 'bench phone',
      platform: 'bench',
      pin: PIN,
    });
    const started = Date.now();
    // At most four logins of the phone at once: a fifth PIN check in flight counts as a fifth failure (login/mobile.ts).
    await inParallel(opts.streams, 4, async () => {
      const { token } = await mobileLogin(gateway.url, phone, PIN);
      sockets.push(await open(gateway.url, phone, token));
    });
    log(`streams: ${sockets.length} open in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    let closed = 0;
    for (const socket of sockets) socket.once('close', () => (closed += 1));
    const pid = gateway.process.pid ?? 0;
    const from = processUsage(pid);
    const t0 = performance.now();
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
    const to = processUsage(pid);
    const idleCpuPct = (100 * (to.cpuMs - from.cpuMs)) / (performance.now() - t0);
    if (closed > 0) throw new Error(`streams: ${closed} closed while idle`);
    log(`streams: idle ${idleCpuPct.toFixed(1)} % CPU, ${to.rssMb.toFixed(0)} MB RSS`);
    return {
      streams: sockets.length,
      streamRssMb: round(to.rssMb, 0),
      streamIdleCpuPct: round(idleCpuPct, 1),
    };
  } finally {
    for (const socket of sockets) socket.terminate();
    await gateway.stop();
  }
}

export async function main() {
  return streamCapacity({ streams: Number(process.env.BENCH_STREAMS ?? 1_000) });
}
