/**
 * bench/api.ts — programs' access. Three figures, each over the real HTTP API of a gateway on its default SQLite:
 *
 * 1. `GET /v1/session` by a bot (personal client, client credentials) with `Authorization: DPoP <token>` and a fresh
 *    DPoP proof per request (ES256, signed by the load generator before the round, each with its own jti, verified
 *    by the gateway: signature, method, URL, age, `ath`, replay cache), 50 connections, against the bare node:http
 *    baseline in the same run (`dpopRps`, `rawRps`, `ratio`).
 * 2. Refresh-token grants per second by a third-party app (no rotation): each a client assertion (`private_key_jwt`,
 *    single-use jti) plus a DPoP proof, 8 concurrent clients (`refreshPerSec`).
 * 3. The dead-man switch: 50 resting orders, a switch armed for 5 s on the account; the time from its deadline to
 *    the last `cancelled` event received on the account's stream (`deadmanCancelMs`, end to end).
 *
 *    The cryptographic floor in the same run: a bare node:http server verifying the same proofs' ES256 signatures,
 *    one per request (`cryptoRps`); `cryptoRatio` = DPoP GETs per second over it.
 *
 * Prints {dpopRps, rawRps, ratio, cryptoRps, cryptoRatio, dpopP99Ms, refreshPerSec, deadmanCancelMs}.
 */
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { DEMO_USERS } from '../packages/gateway/src/demo/index.js';
import { totpCode } from '../packages/gateway/src/factors/index.js';
import { ASSERTION_TYPE, dpopBot, form, Signer, sha256 } from './dpop.js';
import { load, log, median, round, startCryptoBaseline, startGateway, startRaw, webLogin } from './lib.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = 50;
const REFRESH_CLIENTS = 8;
const DEADMAN_ORDERS = 50;
const ADMIN = 'b'.repeat(40);
const REDIRECT = 'https://bench.example/cb';

export async function main() {
  const alice = DEMO_USERS[0];
  if (alice === undefined) throw new Error('no demo user');
  const gateway = await startGateway({
    GATEHOUSE_LOG_LEVEL: 'warn',
    GATEHOUSE_SECRETS_ADMIN_API_TOKEN: ADMIN,
  });
  const raw = await startRaw();
  const crypto = await startCryptoBaseline();
  const base = gateway.url;
  const issuer = base;
  try {
    const { cookie, csrf } = await webLogin(base, alice, totpCode(alice.totpSecret, Date.now()));
    const asAlice = { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' };

    // 1. A bot's DPoP-bound reads. Proofs are signed before each round (a fresh jti each), so the load generator's
    // signing does not share the round's CPU with the gateway; should the pool run dry, proofs are signed on the fly.
    const bot = await dpopBot(base, asAlice);
    const { url, fill, headers } = bot;
    const tokenUrl = `${base}/oauth2/token`;
    fill(20_000);
    await load(url, { connections: CONNECTIONS, seconds: 1, perRequestHeaders: headers });
    await load(raw.url, { connections: CONNECTIONS, seconds: 1 });
    await load(crypto.url, { connections: CONNECTIONS, seconds: 1, perRequestHeaders: headers });
    const dpop: number[] = [];
    const rawRps: number[] = [];
    const cryptoRps: number[] = [];
    const p99: number[] = [];
    for (let r = 1; r <= ROUNDS; r += 1) {
      fill(SECONDS * 20_000);
      const d = await load(url, { connections: CONNECTIONS, seconds: SECONDS, perRequestHeaders: headers });
      if (bot.ranDry()) log(`round ${r}: the proof pool ran dry; the rest were signed during the round`);
      if (d.non2xx > 0 || d.errors > 0)
        throw new Error(`dpop round ${r}: ${d.non2xx} non-2xx, ${d.errors} errors`);
      const b = await load(raw.url, { connections: CONNECTIONS, seconds: SECONDS });
      // The same proofs, verified by the bare baseline: one ES256 verification per request and nothing else.
      fill(SECONDS * 20_000);
      const c = await load(crypto.url, {
        connections: CONNECTIONS,
        seconds: SECONDS,
        perRequestHeaders: headers,
      });
      if (c.non2xx > 0 || c.errors > 0) throw new Error(`crypto baseline round ${r}: ${c.non2xx} non-2xx`);
      cryptoRps.push(c.rps);
      log(
        `round ${r}: DPoP ${d.rps.toFixed(0)} req/s (p99 ${d.p99Ms} ms), raw ${b.rps.toFixed(0)} req/s, one ES256 verification ${c.rps.toFixed(0)} req/s`,
      );
      dpop.push(d.rps);
      rawRps.push(b.rps);
      p99.push(d.p99Ms);
    }

    // 2. An app's refresh grants.
    const appKey = new Signer();
    const created = await fetch(`${base}/v1/admin/oauth/clients`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'bench app',
        keys: [appKey.jwk],
        redirectUris: [REDIRECT],
        scopes: ['read'],
      }),
    });
    const appId = ((await created.json()) as { clientId: string }).clientId;
    const auth = () => ({
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: appKey.assertion(appId, issuer),
    });
    const verifier = randomBytes(32).toString('base64url');
    const par = await form(`${base}/oauth2/par`, {
      ...auth(),
      response_type: 'code',
      redirect_uri: REDIRECT,
      scope: 'read',
      code_challenge: sha256(verifier),
      code_challenge_method: 'S256',
    });
    const consent = await fetch(`${base}/oauth2/authorize/consent`, {
      method: 'POST',
      headers: asAlice,
      body: JSON.stringify({
        clientId: appId,
        requestUri: par.body.request_uri,
        approve: true,
        accounts: ['DU1000001'],
      }),
    });
    const code = new URL(((await consent.json()) as { redirectTo: string }).redirectTo).searchParams.get(
      'code',
    ) as string;
    const exchanged = await form(
      tokenUrl,
      { ...auth(), grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT },
      appKey.proof('POST', tokenUrl),
    );
    const refreshToken = exchanged.body.refresh_token as string;
    let refreshes = 0;
    const refreshEnd = Date.now() + SECONDS * 1000;
    await Promise.all(
      Array.from({ length: REFRESH_CLIENTS }, async () => {
        while (Date.now() < refreshEnd) {
          const r = await form(
            tokenUrl,
            { ...auth(), grant_type: 'refresh_token', refresh_token: refreshToken },
            appKey.proof('POST', tokenUrl),
          );
          if (r.status !== 200) throw new Error(`refresh: ${JSON.stringify(r.body)}`);
          refreshes += 1;
        }
      }),
    );
    const refreshPerSec = refreshes / SECONDS;
    log(`refresh: ${refreshPerSec.toFixed(0)} grants/s`);

    // 3. The dead-man switch, end to end.
    await fetch(`${base}/v1/session/brokerage`, {
      method: 'POST',
      headers: asAlice,
      body: JSON.stringify({ compete: true }),
    });
    const quote = (await (
      await fetch(`${base}/v1/marketdata/snapshot?instruments=265598&accountId=DU1000001`, {
        headers: asAlice,
      })
    ).json()) as {
      quotes: { bid: number }[];
    };
    const limitPrice = Number(((quote.quotes[0]?.bid ?? 100) * 0.97).toFixed(2));
    for (let i = 0; i < DEADMAN_ORDERS; i += 1) {
      const placed = await fetch(`${base}/v1/accounts/DU1000001/orders`, {
        method: 'POST',
        headers: asAlice,
        body: JSON.stringify({
          clientOrderId: `dm-${i}`,
          instrumentId: 265598,
          side: 'BUY',
          type: 'LMT',
          quantity: 1,
          limitPrice,
          tif: 'GTC',
        }),
      });
      if (placed.status !== 201) throw new Error(`order: ${placed.status} ${await placed.text()}`);
    }
    const socket = new WebSocket(`${base.replace('http', 'ws')}/v1/stream`, { headers: { cookie } });
    const cancelledAt: number[] = [];
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    socket.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString()) as { topic: string; type: string; data?: { by?: string } };
      if (message.topic === 'orders' && message.type === 'cancelled' && message.data?.by === 'dead_man')
        cancelledAt.push(Date.now());
    });
    const armed = await fetch(`${base}/v1/safety/dead-man`, {
      method: 'PUT',
      headers: asAlice,
      body: JSON.stringify({ timeoutMs: 5_000, scope: 'account', accountId: 'DU1000001' }),
    });
    const deadline = Date.parse(((await armed.json()) as { deadline: string }).deadline);
    const waitUntil = deadline + 5_000;
    while (cancelledAt.length < DEADMAN_ORDERS && Date.now() < waitUntil)
      await new Promise((r) => setTimeout(r, 5));
    socket.close();
    if (cancelledAt.length < DEADMAN_ORDERS)
      throw new Error(`dead-man: ${cancelledAt.length} of ${DEADMAN_ORDERS} cancelled`);
    const deadmanCancelMs = Math.max(...cancelledAt) - deadline;
    log(`dead-man: ${DEADMAN_ORDERS} orders cancelled ${deadmanCancelMs} ms after the deadline`);

    const dpopRps = median(dpop);
    const rawMedian = median(rawRps);
    const cryptoMedian = median(cryptoRps);
    return {
      dpopRps: round(dpopRps, 0),
      rawRps: round(rawMedian, 0),
      cryptoRps: round(cryptoMedian, 0),
      cryptoRatio: round(dpopRps / cryptoMedian, 3),
      ratio: round(dpopRps / rawMedian, 3),
      dpopP99Ms: median(p99),
      refreshPerSec: round(refreshPerSec, 0),
      deadmanCancelMs,
    };
  } finally {
    await gateway.stop();
    await raw.stop();
    await crypto.stop();
  }
}
