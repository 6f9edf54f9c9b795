/**
 * bench/sdk.ts — the SDK's session supervisor against a gateway in this process (frozen clock, SQLite in memory,
 * access tokens of 60 s), over real HTTP on loopback:
 *
 * 1. Soak: 1,000 token lifetimes in compressed time (the supervisor's timers run on the gateway's clock); three
 *    requests per lifetime, the last 3 s before the token's end, proactive refresh on. Counts the requests the
 *    gateway refused for an expired token (`expiryFailures`, target 0).
 * 2. Overhead: the median latency of `supervisor.request('GET', '/v1/session')` against plain `fetch` of the same
 *    URL with the same token and a proof signed beforehand by the same key, interleaved in one run. The difference
 *    is what the supervisor adds (token check, a fresh DPoP proof signed with Node's crypto as a Node bot does with
 *    `@gatehouse/sdk/node`, skew bookkeeping, parsing), target < 0.2 ms.
 *
 * Prints {expiryFailures, lifetimes, refreshes, overheadMedianMs, supervisedMedianMs, fetchMedianMs}.
 */
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { ALICE, loginAs, startTestGateway } from '../packages/gateway/src/test-support/gateway.js';
import { registerBot } from '../packages/gateway/src/test-support/program.js';
import {
  DpopKey,
  type EcPublicJwk,
  importPrivateJwk,
  MemoryTokenStore,
  PersonalClientAuth,
  SessionSupervisor,
  SteppedScheduler,
} from '../packages/sdk/src/index.js';
import { log, median, round } from './lib.js';

const LIFETIMES = Number(process.env.BENCH_LIFETIMES ?? 1_000);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 2_000);

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

export async function main() {
  const gw = await startTestGateway({
    config: { server: { port: 0, host: '127.0.0.1' }, oauth: { accessTokenTtlMs: 60_000 } },
  });
  try {
    const base = await gw.listen();
    const issuer = base.replace('localhost', '127.0.0.1');
    const bot = await registerBot(gw, await loginAs(gw, ALICE));
    const clientKey = await importPrivateJwk(
      bot.clientKey.privateKey.export({ format: 'jwk' }) as JsonWebKey,
    );
    // A Node bot's DPoP key (as `newNodeDpopKey` of @gatehouse/sdk/node makes it), kept here so the plain-fetch
    // baseline can sign with the same key.
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const key = pair.privateKey;
    const dpopKey = new DpopKey(
      (data) => sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' }),
      pair.publicKey.export({ format: 'jwk' }) as EcPublicJwk,
    );
    let expiryFailures = 0;
    const counting = async (input: string, init: RequestInit) => {
      const response = await fetch(input, init);
      if (response.status === 401 && response.headers.get('www-authenticate')?.includes('invalid_token'))
        expiryFailures += 1;
      return response;
    };
    const scheduler = new SteppedScheduler(gw.clock);
    const store = new MemoryTokenStore();
    const supervisor = new SessionSupervisor({
      baseUrl: base,
      auth: new PersonalClientAuth({ clientId: bot.clientId, clientKey, issuer }),
      dpopKey,
      tokenStore: store,
      scheduler,
      fetch: counting,
    });
    await supervisor.start();
    const started = performance.now();
    for (let i = 0; i < LIFETIMES; i += 1) {
      for (const step of [6_000, 24_000, 27_000]) {
        await scheduler.advance(step, () => supervisor.settled());
        await supervisor.request('GET', '/v1/session');
      }
      await scheduler.advance(3_000, () => supervisor.settled());
    }
    const { refreshes } = supervisor.stats;
    log(
      `soak: ${LIFETIMES} lifetimes, ${refreshes} refreshes, ${expiryFailures} expiry failures in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );

    // Overhead, with the clock frozen: the supervisor's request against plain fetch with the same token and key.
    await supervisor.request('GET', '/v1/session');
    const token = (await store.load())?.accessToken as string;
    const jwk = dpopKey.publicJwk;
    const url = `${base}/v1/session`;
    const ath = createHash('sha256').update(token).digest('base64url');
    const proof = () => {
      const input = `${b64({ alg: 'ES256', typ: 'dpop+jwt', jwk })}.${b64({ htm: 'GET', htu: url, iat: Math.floor(gw.clock.now() / 1000), jti: crypto.randomUUID(), ath })}`;
      return `${input}.${sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
    };
    const supervised: number[] = [];
    const direct: number[] = [];
    for (let i = 0; i < SAMPLES; i += 1) {
      let t = performance.now();
      await supervisor.request('GET', '/v1/session');
      supervised.push(performance.now() - t);
      const headers = { authorization: `DPoP ${token}`, dpop: proof(), accept: 'application/json' };
      t = performance.now();
      const response = await fetch(url, { headers });
      await response.json();
      direct.push(performance.now() - t);
      if (response.status !== 200) throw new Error(`plain fetch: ${response.status}`);
    }
    const supervisedMedian = median(supervised);
    const fetchMedian = median(direct);
    log(
      `request: supervisor median ${supervisedMedian.toFixed(3)} ms, plain fetch ${fetchMedian.toFixed(3)} ms`,
    );
    supervisor.stop();
    return {
      expiryFailures,
      lifetimes: LIFETIMES,
      refreshes,
      overheadMedianMs: round(supervisedMedian - fetchMedian, 3),
      supervisedMedianMs: round(supervisedMedian, 3),
      fetchMedianMs: round(fetchMedian, 3),
    };
  } finally {
    await gw.close();
  }
}
