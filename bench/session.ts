/**
 * bench/session.ts — `GET /v1/session` (cookie session, cache hit, no database round trip) against a bare node:http
 * server answering a small JSON body, alternating rounds over 50 connections in the same run (target: ratio ≥ 0.6);
 * and against a bare Fastify route answering the same body, already serialised (`sameBodyRatio`: what our
 * authentication and presentation cost beyond the framework's floor for that response); then the mobile channel: the same request with a bearer token and a fresh device-key proof on every request
 * (signed by the load generator, verified by the gateway); then the session stream with 1,000 connected sessions
 * (bench/stream.ts). Prints {whoamiRps, rawRps, ratio, sameBodyRps, sameBodyRatio, whoamiP99Ms, mobileRps, mobileRatio, streamSessions,
 * streamIdleCpuPct, streamRssMb, streamMsgsPerSec, streamTakeoversPerSec, streamCompetingP99Ms}.
 */

import {
  type DeviceIdentity,
  deviceProof,
  enrolDevice,
} from '../packages/gateway/src/authenticator/index.js';
import { DEMO_USERS } from '../packages/gateway/src/demo/index.js';
import { totpCode } from '../packages/gateway/src/factors/index.js';
import { load, log, median, round, startGateway, startRaw, startSameBody, webLogin } from './lib.js';
import { mobileLogin, streamBench } from './stream.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = 50;
const PIN = '2468';

/** Enrols a device for alice from her web session; the device then logs in on the mobile channel. */
async function enrolPhone(baseUrl: string, cookie: string): Promise<DeviceIdentity> {
  const csrf = (
    (await (await fetch(`${baseUrl}/v1/session`, { headers: { cookie } })).json()) as { csrfToken: string }
  ).csrfToken;
  const enroll = (await (
    await fetch(`${baseUrl}/v1/devices/mobile/enroll`, {
      method: 'POST',
      headers: { cookie, 'x-csrf-token': csrf },
    })
  ).json()) as { activationUri: string };
  return enrolDevice(enroll.activationUri, { name: 'bench phone', platform: 'bench', pin: PIN });
}

/** Loads who-am-I on the mobile channel: bearer token plus a fresh device proof on every request. */
async function mobileRps(baseUrl: string, phone: DeviceIdentity): Promise<number> {
  const { token } = await mobileLogin(baseUrl, phone, PIN);
  const url = `${baseUrl}/v1/session`;
  const headers = () => ({
    authorization: `Bearer ${token}`,
    'x-device-proof': deviceProof(phone, 'GET', url, token),
  });
  await load(url, { connections: CONNECTIONS, seconds: 1, perRequestHeaders: headers });
  const rounds: number[] = [];
  for (let round = 1; round <= ROUNDS; round += 1) {
    const r = await load(url, { connections: CONNECTIONS, seconds: SECONDS, perRequestHeaders: headers });
    if (r.non2xx > 0 || r.errors > 0)
      throw new Error(`mobile round ${round}: ${r.non2xx} non-2xx, ${r.errors} errors`);
    log(`mobile round ${round}: ${r.rps.toFixed(0)} req/s (p99 ${r.p99Ms} ms)`);
    rounds.push(r.rps);
  }
  return median(rounds);
}

export async function main() {
  const alice = DEMO_USERS[0];
  if (alice === undefined) throw new Error('no demo user');
  // The stream part logs one device in a thousand times from loopback: lift the per-address login limit, and the
  // cap on one user's live sessions (each of those logins is a session of its own).
  const gateway = await startGateway({
    GATEHOUSE_LOGIN_IP_RATE_LIMIT_MAX: '1000000',
    GATEHOUSE_SESSIONS_MAX_LIVE_PER_USER: '10000',
  });
  const raw = await startRaw();
  let sameBody: Awaited<ReturnType<typeof startSameBody>> | undefined;
  try {
    const { cookie } = await webLogin(gateway.url, alice, totpCode(alice.totpSecret, Date.now()));
    const whoamiUrl = `${gateway.url}/v1/session`;
    // The same-body baseline answers the who-am-I body itself, as the gateway serialises it.
    const body = await (await fetch(whoamiUrl, { headers: { cookie } })).text();
    sameBody = await startSameBody(body);
    // Warm the servers (JIT, caches) before measuring.
    await load(whoamiUrl, { connections: CONNECTIONS, seconds: 1, headers: { cookie } });
    await load(raw.url, { connections: CONNECTIONS, seconds: 1 });
    await load(sameBody.url, { connections: CONNECTIONS, seconds: 1 });
    const whoami: number[] = [];
    const rawRps: number[] = [];
    const sameBodyRps: number[] = [];
    const p99: number[] = [];
    for (let round = 1; round <= ROUNDS; round += 1) {
      const w = await load(whoamiUrl, { connections: CONNECTIONS, seconds: SECONDS, headers: { cookie } });
      if (w.non2xx > 0 || w.errors > 0)
        throw new Error(`whoami round ${round}: ${w.non2xx} non-2xx, ${w.errors} errors`);
      const r = await load(raw.url, { connections: CONNECTIONS, seconds: SECONDS });
      const b = await load(sameBody.url, { connections: CONNECTIONS, seconds: SECONDS });
      log(
        `round ${round}: whoami ${w.rps.toFixed(0)} req/s (p99 ${w.p99Ms} ms), raw ${r.rps.toFixed(0)} req/s, same body ${b.rps.toFixed(0)} req/s (${body.length} B)`,
      );
      whoami.push(w.rps);
      rawRps.push(r.rps);
      sameBodyRps.push(b.rps);
      p99.push(w.p99Ms);
    }
    const phone = await enrolPhone(gateway.url, cookie);
    const mobile = await mobileRps(gateway.url, phone);
    const stream = await streamBench(gateway.url, gateway.process.pid ?? 0, phone, PIN, ROUNDS, SECONDS);
    const whoamiRps = median(whoami);
    const rawMedian = median(rawRps);
    const sameBodyMedian = median(sameBodyRps);
    return {
      whoamiRps: round(whoamiRps, 0),
      rawRps: round(rawMedian, 0),
      ratio: round(whoamiRps / rawMedian, 3),
      sameBodyRps: round(sameBodyMedian, 0),
      sameBodyRatio: round(whoamiRps / sameBodyMedian, 3),
      whoamiP99Ms: median(p99),
      mobileRps: round(mobile, 0),
      mobileRatio: round(mobile / rawMedian, 3),
      ...stream,
    };
  } finally {
    await gateway.stop();
    await raw.stop();
    await sameBody?.stop();
  }
}
