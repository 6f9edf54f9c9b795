/**
 * bench/session.ts — `GET /v1/session` (cookie session, cache hit, no database round trip) against a bare node:http
 * server answering a small JSON body, alternating rounds over 50 connections in the same run (target: ratio ≥ 0.6);
 * then the mobile channel: the same request with a bearer token and a fresh device-key proof on every request
 * (signed by the load generator, verified by the gateway). Prints {whoamiRps, rawRps, ratio, whoamiP99Ms,
 * mobileRps, mobileRatio}.
 */

import { randomBytes } from 'node:crypto';
import { deviceProof, enrolDevice, signWithDevice } from '../packages/gateway/src/authenticator/index.js';
import { DEMO_USERS } from '../packages/gateway/src/demo/index.js';
import { totpCode } from '../packages/gateway/src/factors/index.js';
import { mobileLoginMessage } from '../packages/gateway/src/login/mobile.js';
import { load, log, median, round, startGateway, startRaw, webLogin } from './lib.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = 50;

/** Enrols a device for alice, logs it in on the mobile channel, and loads who-am-I with a proof per request. */
async function mobileRps(baseUrl: string, cookie: string): Promise<number> {
  const csrf = (
    (await (await fetch(`${baseUrl}/v1/session`, { headers: { cookie } })).json()) as { csrfToken: string }
  ).csrfToken;
  const enroll = (await (
    await fetch(`${baseUrl}/v1/devices/mobile/enroll`, {
      method: 'POST',
      headers: { cookie, 'x-csrf-token': csrf },
    })
  ).json()) as { activationUri: string };
  const phone = await enrolDevice(enroll.activationUri, {
    name: 'bench phone',
    platform: 'bench',
    pin: '2468',
  });
  const ts = Date.now();
  const nonce = randomBytes(16).toString('base64url');
  const login = await fetch(`${baseUrl}/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      channel: 'mobile',
      deviceId: phone.deviceId,
      pin: '2468',
      ts,
      nonce,
      signature: signWithDevice(phone.privateKey, mobileLoginMessage(phone.deviceId, ts, nonce)),
    }),
  });
  const { token } = (await login.json()) as { token: string };
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
    const mobile = await mobileRps(gateway.url, cookie);
    const whoamiRps = median(whoami);
    const rawMedian = median(rawRps);
    return {
      whoamiRps: round(whoamiRps, 0),
      rawRps: round(rawMedian, 0),
      ratio: round(whoamiRps / rawMedian, 3),
      whoamiP99Ms: median(p99),
      mobileRps: round(mobile, 0),
      mobileRatio: round(mobile / rawMedian, 3),
    };
  } finally {
    await gateway.stop();
    await raw.stop();
  }
}
