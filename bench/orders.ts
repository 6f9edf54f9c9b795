/**
 * bench/orders.ts — accepted orders per second over HTTP: `POST /v1/accounts/DU1000001/orders` from a web session
 * holding the brokerage capability, 50 connections, each order a fresh clientOrderId, a 1-share market order that
 * passes the whole gate, is committed with its `accepted` event, and is filled by the paper engine (execution,
 * order, position, cash and `filled` event in one more journal entry); the response waits for both commits, so
 * every order counted is durable and filled. Buys and sells alternate, so buying power holds. The gateway runs on
 * its default SQLite file.
 *
 * Baselines in the same run: the bare node:http server (`rawRps`, the ratio's denominator) and
 * `POST /v1/session/tickle` from the same session (`tickleRps`): an authenticated, CSRF-checked POST answered from
 * the session's trading state as order entry re-checks it before its gate (the session cache and the holder view,
 * no database read). `ordersPerTickle` says how much of that floor order entry keeps. Then the gate alone, in process: p99 of one evaluation over a snapshot
 * that passes every check (the longest path through the gate).
 *
 * The physical floor in the same run: a bare node:http server that parses the same body and group-commits one
 * order-sized row into SQLite per request before answering (`durableRps`); `durableRatio` says how much of a
 * durable acknowledgement's floor order entry keeps.
 *
 * Prints {ordersRps, rawRps, ratio, durableRps, durableRatio, ordersP99Ms, tickleRps, ordersPerTickle, gateP99Us}.
 */

import { join } from 'node:path';
import { DEMO_USERS } from '../packages/gateway/src/demo/index.js';
import { totpCode } from '../packages/gateway/src/factors/index.js';
import { passingSnapshot } from '../packages/gateway/src/test-support/gate.js';
import { evaluateGate } from '../packages/gateway/src/trading/index.js';
import {
  load,
  log,
  marketOrders,
  median,
  percentile,
  round,
  startDurableBaseline,
  startGateway,
  startRaw,
  webLogin,
} from './lib.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = 50;
const GATE_RUNS = 200_000;

function gateP99Us(): number {
  const snapshot = passingSnapshot();
  const samples = new Float64Array(GATE_RUNS);
  let accepted = 0;
  for (let i = 0; i < GATE_RUNS; i += 1) {
    const start = process.hrtime.bigint();
    const result = evaluateGate(snapshot);
    samples[i] = Number(process.hrtime.bigint() - start) / 1000;
    if (result.outcome === 'accept') accepted += 1;
  }
  if (accepted !== GATE_RUNS) throw new Error('the prepared snapshot must pass the gate');
  return percentile([...samples], 99);
}

export async function main() {
  const alice = DEMO_USERS[0];
  if (alice === undefined) throw new Error('no demo user');
  const gateway = await startGateway({ GATEHOUSE_LOG_LEVEL: 'warn' });
  const raw = await startRaw();
  const durable = await startDurableBaseline(join(gateway.dir, 'baseline.db'));
  try {
    const { cookie, csrf } = await webLogin(gateway.url, alice, totpCode(alice.totpSecret, Date.now()));
    const headers = { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' };
    const acquired = await fetch(`${gateway.url}/v1/session/brokerage`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ compete: true }),
    });
    if (acquired.status !== 200) throw new Error(`brokerage: ${acquired.status}`);
    const body = marketOrders('bench');
    const url = `${gateway.url}/v1/accounts/DU1000001/orders`;
    await load(url, { connections: CONNECTIONS, seconds: 1, headers, perRequestBody: body });
    await load(raw.url, { connections: CONNECTIONS, seconds: 1 });
    await load(durable.url, { connections: CONNECTIONS, seconds: 1, perRequestBody: body });
    const tickleUrl = `${gateway.url}/v1/session/tickle`;
    const tickle = () =>
      load(tickleUrl, { connections: CONNECTIONS, seconds: SECONDS, headers, perRequestBody: () => '{}' });
    const orders: number[] = [];
    const rawRps: number[] = [];
    const tickles: number[] = [];
    const durables: number[] = [];
    const p99: number[] = [];
    for (let r = 1; r <= ROUNDS; r += 1) {
      const o = await load(url, {
        connections: CONNECTIONS,
        seconds: SECONDS,
        headers,
        perRequestBody: body,
      });
      if (o.non2xx > 0 || o.errors > 0)
        throw new Error(`orders round ${r}: ${o.non2xx} non-2xx, ${o.errors} errors`);
      const b = await load(raw.url, { connections: CONNECTIONS, seconds: SECONDS });
      const t = await tickle();
      if (t.non2xx > 0 || t.errors > 0) throw new Error(`tickle round ${r}: ${t.non2xx} non-2xx`);
      const d = await load(durable.url, { connections: CONNECTIONS, seconds: SECONDS, perRequestBody: body });
      if (d.non2xx > 0 || d.errors > 0) throw new Error(`durable baseline round ${r}: ${d.non2xx} non-2xx`);
      log(
        `round ${r}: orders ${o.rps.toFixed(0)}/s (p99 ${o.p99Ms} ms), raw ${b.rps.toFixed(0)} req/s, tickle ${t.rps.toFixed(0)} req/s, durable baseline ${d.rps.toFixed(0)} req/s`,
      );
      durables.push(d.rps);
      orders.push(o.rps);
      rawRps.push(b.rps);
      tickles.push(t.rps);
      p99.push(o.p99Ms);
    }
    const gate = gateP99Us();
    log(`gate: p99 ${gate.toFixed(2)} µs over ${GATE_RUNS} evaluations`);
    const ordersRps = median(orders);
    const rawMedian = median(rawRps);
    const tickleRps = median(tickles);
    const durableMedian = median(durables);
    return {
      ordersRps: round(ordersRps, 0),
      rawRps: round(rawMedian, 0),
      ratio: round(ordersRps / rawMedian, 3),
      durableRps: round(durableMedian, 0),
      durableRatio: round(ordersRps / durableMedian, 3),
      ordersP99Ms: median(p99),
      tickleRps: round(tickleRps, 0),
      ordersPerTickle: round(ordersRps / tickleRps, 3),
      gateP99Us: round(gate, 2),
    };
  } finally {
    await gateway.stop();
    await raw.stop();
    await durable.stop();
  }
}
