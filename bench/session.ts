/**
 * bench/session.ts — `GET /v1/session` (cookie session, cache hit, no database round trip) against a bare node:http
 * server answering a small JSON body, alternating rounds over 50 connections in the same run.
 * Target: ratio ≥ 0.6. Prints {whoamiRps, rawRps, ratio, whoamiP99Ms}.
 */

import { DEMO_USERS } from '../packages/gateway/src/demo/index.js';
import { totpCode } from '../packages/gateway/src/factors/index.js';
import { load, log, median, round, startGateway, startRaw, webLogin } from './lib.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = 50;

export async function main() {
  const alice = DEMO_USERS[0];
  if (alice === undefined) throw new Error('no demo user');
  const gateway = await startGateway();
  const raw = await startRaw();
  try {
    const { cookie } = await webLogin(gateway.url, alice, totpCode(alice.totpSecret, Date.now()));
    const whoamiUrl = `${gateway.url}/v1/session`;
    // Warm both servers (JIT, caches) before measuring.
    await load(whoamiUrl, { connections: CONNECTIONS, seconds: 1, headers: { cookie } });
    await load(raw.url, { connections: CONNECTIONS, seconds: 1 });
    const whoami: number[] = [];
    const rawRps: number[] = [];
    const p99: number[] = [];
    for (let round = 1; round <= ROUNDS; round += 1) {
      const w = await load(whoamiUrl, { connections: CONNECTIONS, seconds: SECONDS, headers: { cookie } });
      if (w.non2xx > 0 || w.errors > 0)
        throw new Error(`whoami round ${round}: ${w.non2xx} non-2xx, ${w.errors} errors`);
      const r = await load(raw.url, { connections: CONNECTIONS, seconds: SECONDS });
      log(
        `round ${round}: whoami ${w.rps.toFixed(0)} req/s (p99 ${w.p99Ms} ms), raw ${r.rps.toFixed(0)} req/s`,
      );
      whoami.push(w.rps);
      rawRps.push(r.rps);
      p99.push(w.p99Ms);
    }
    const whoamiRps = median(whoami);
    const rawMedian = median(rawRps);
    return {
      whoamiRps: round(whoamiRps, 0),
      rawRps: round(rawMedian, 0),
      ratio: round(whoamiRps / rawMedian, 3),
      whoamiP99Ms: median(p99),
    };
  } finally {
    await gateway.stop();
    await raw.stop();
  }
}
