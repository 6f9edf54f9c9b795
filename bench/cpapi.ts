/**
 * bench/cpapi.ts — what the IBKR-compatible face costs over `/v1`, in the same run, on one gateway (`serve --demo
 * --cpapi 0 --cpapi-user alice`, pacing off so the load is not refused as IBKR would refuse it):
 *
 * - tickle: `POST /v1/api/tickle` on the face (no credentials: the listener presents Alice's session) against
 *   `POST /v1/session/tickle` from Alice's web session (cookie and CSRF token);
 * - order entry: `POST /v1/api/iserver/account/DU1000001/orders` (IBKR's ticket, a 1-share market order, fresh
 *   `cOID`) against `POST /v1/accounts/DU1000001/orders` (the same order, fresh `clientOrderId`); both pass the whole
 *   gate and fill; each face order also gets its IBKR order number. The brokerage tier is taken by the path about
 *   to be measured before each of its rounds (one user holds it once).
 *
 * Rounds alternate, 50 connections; the figure per path is the median round. `…OverheadPct` is how much slower the
 * face is (100 × (1 − face/v1); negative: faster). Prints {tickleOverheadPct, orderOverheadPct, faceTickleRps,
 * v1TickleRps, faceOrdersRps, v1OrdersRps, rounds}.
 */

import { DEMO_USERS } from '../packages/gateway/src/demo/index.js';
import { totpCode } from '../packages/gateway/src/factors/index.js';
import { load, log, marketOrders, median, round, startGateway, webLogin } from './lib.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = 50;

/** IBKR tickets of 1-share market orders that pass the gate and fill; buys and sells alternate. */
function faceOrders(prefix: string): () => string {
  let n = 0;
  return () => {
    n += 1;
    return JSON.stringify({
      orders: [
        {
          conid: 265598,
          cOID: `${prefix}-${n}`,
          side: n % 2 === 0 ? 'BUY' : 'SELL',
          orderType: 'MKT',
          quantity: 1,
          tif: 'DAY',
        },
      ],
    });
  };
}

export async function main() {
  const alice = DEMO_USERS[0];
  if (alice === undefined) throw new Error('no demo user');
  const gateway = await startGateway(
    { GATEHOUSE_LOG_LEVEL: 'warn', GATEHOUSE_CPAPI_PACING: 'false' },
    undefined,
    ['--cpapi', '0', '--cpapi-user', 'alice'],
    /Client Portal Web API: (http:\/\/\S+?)\/v1\/api\//,
  );
  try {
    const face = /Client Portal Web API: (http:\/\/\S+?)\/v1\/api\//.exec(gateway.output)?.[1];
    if (face === undefined) throw new Error('no CPAPI listener in the output');
    // A TOTP code is accepted once: the web login uses the next step's code (the window accepts it).
    const { cookie, csrf } = await webLogin(
      gateway.url,
      alice,
      totpCode(alice.totpSecret, Date.now() + 30_000),
    );
    const web = { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' };
    const json = { 'content-type': 'application/json' };
    const v1Brokerage = async () => {
      const r = await fetch(`${gateway.url}/v1/session/brokerage`, {
        method: 'POST',
        headers: web,
        body: JSON.stringify({ compete: true }),
      });
      if (r.status !== 200) throw new Error(`v1 brokerage: ${r.status}`);
    };
    const faceBrokerage = async () => {
      const r = await fetch(`${face}/v1/api/iserver/auth/ssodh/init`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ publish: true, compete: true }),
      });
      const body = (await r.json()) as { authenticated?: boolean };
      if (body.authenticated !== true) throw new Error(`face brokerage: ${JSON.stringify(body)}`);
    };

    const paths = {
      faceTickle: () =>
        load(`${face}/v1/api/tickle`, {
          connections: CONNECTIONS,
          seconds: SECONDS,
          perRequestBody: () => '{}',
        }),
      v1Tickle: () =>
        load(`${gateway.url}/v1/session/tickle`, {
          connections: CONNECTIONS,
          seconds: SECONDS,
          headers: web,
          perRequestBody: () => '{}',
        }),
      faceOrders: async () => {
        await faceBrokerage();
        return load(`${face}/v1/api/iserver/account/DU1000001/orders`, {
          connections: CONNECTIONS,
          seconds: SECONDS,
          perRequestBody: faceOrders(`face-${Date.now()}`),
        });
      },
      v1Orders: async () => {
        await v1Brokerage();
        return load(`${gateway.url}/v1/accounts/DU1000001/orders`, {
          connections: CONNECTIONS,
          seconds: SECONDS,
          headers: web,
          perRequestBody: marketOrders(`v1-${Date.now()}`),
        });
      },
    };
    // Warm both paths (JIT, caches, the statement cache) before measuring.
    for (const run of Object.values(paths)) await run();
    const rps: Record<keyof typeof paths, number[]> = {
      faceTickle: [],
      v1Tickle: [],
      faceOrders: [],
      v1Orders: [],
    };
    for (let r = 1; r <= ROUNDS; r += 1) {
      // Alternate which path goes first, so drift on the machine does not favour one.
      const order = (
        r % 2 === 1 ? Object.keys(paths) : Object.keys(paths).reverse()
      ) as (keyof typeof paths)[];
      for (const name of order) {
        const result = await paths[name]();
        if (result.non2xx > 0 || result.errors > 0)
          throw new Error(`${name} round ${r}: ${result.non2xx} non-2xx, ${result.errors} errors`);
        log(`${name} round ${r}: ${result.rps.toFixed(0)} req/s (p99 ${result.p99Ms} ms)`);
        rps[name].push(result.rps);
      }
    }
    const m = Object.fromEntries(Object.entries(rps).map(([k, v]) => [k, median(v)])) as Record<
      keyof typeof paths,
      number
    >;
    const overhead = (faceRps: number, v1Rps: number) => round(100 * (1 - faceRps / v1Rps), 1);
    return {
      tickleOverheadPct: overhead(m.faceTickle, m.v1Tickle),
      orderOverheadPct: overhead(m.faceOrders, m.v1Orders),
      faceTickleRps: round(m.faceTickle, 0),
      v1TickleRps: round(m.v1Tickle, 0),
      faceOrdersRps: round(m.faceOrders, 0),
      v1OrdersRps: round(m.v1Orders, 0),
      rounds: ROUNDS,
    };
  } finally {
    await gateway.stop();
  }
}
