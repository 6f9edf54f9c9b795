/**
 * bench/compare.ts — this tree against another build of Gatehouse, interleaved in one run, for a before/after that
 * the machine's noise does not decide: `BENCH_OTHER=<path of another checkout, installed and built>` (e.g. a
 * `git worktree` of an earlier commit). Both gateways run at once on their own SQLite files; rounds alternate which
 * goes first. Per round and tree: `GET /v1/session` (who-am-I, cookie session), `POST /v1/session/tickle`, and
 * order entry (1-share market orders that pass the gate and fill, as in bench/orders.ts), and a bot's
 * `GET /v1/session` with a DPoP-bound token and a fresh proof per request (as in bench/api.ts), 50 connections each.
 *
 * Prints {rounds, whoami: {this, other, ratio}, tickle: {…}, orders: {…}, dpop: {…}}: medians per second,
 * `ratio` = this ÷ other.
 */
import { join } from 'node:path';
import { DEMO_USERS } from '../packages/gateway/src/demo/index.js';
import { totpCode } from '../packages/gateway/src/factors/index.js';
import { dpopBot } from './dpop.js';
import { type Child, load, log, marketOrders, median, round, startGateway, webLogin } from './lib.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const CONNECTIONS = 50;

type Lib = { startGateway: typeof startGateway };
type Measure = 'whoami' | 'tickle' | 'orders' | 'dpop';
const MEASURES = ['whoami', 'tickle', 'orders', 'dpop'] as const;

export async function main() {
  const otherRoot = process.env.BENCH_OTHER;
  if (otherRoot === undefined)
    throw new Error('set BENCH_OTHER to another checkout of Gatehouse, installed and built');
  const other = (await import(join(otherRoot, 'bench/lib.ts'))) as Lib;
  const alice = DEMO_USERS[0];
  if (alice === undefined) throw new Error('no demo user');
  const gateways: Record<'this' | 'other', Child> = {
    this: await startGateway({ GATEHOUSE_LOG_LEVEL: 'warn' }),
    other: await other.startGateway({ GATEHOUSE_LOG_LEVEL: 'warn' }),
  };
  try {
    const targets = [];
    for (const name of ['this', 'other'] as const) {
      const url = gateways[name].url;
      const { cookie, csrf } = await webLogin(url, alice, totpCode(alice.totpSecret, Date.now()));
      const headers = { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' };
      const acquired = await fetch(`${url}/v1/session/brokerage`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ compete: true }),
      });
      if (acquired.status !== 200) throw new Error(`brokerage on ${name}: ${acquired.status}`);
      const order = marketOrders('compare');
      const bot = await dpopBot(url, headers);
      const run = (measure: Measure, seconds: number) => {
        if (measure === 'dpop') {
          bot.fill(seconds * 20_000);
          return load(bot.url, { connections: CONNECTIONS, seconds, perRequestHeaders: bot.headers });
        }
        if (measure === 'whoami')
          return load(`${url}/v1/session`, { connections: CONNECTIONS, seconds, headers: { cookie } });
        if (measure === 'tickle')
          return load(`${url}/v1/session/tickle`, {
            connections: CONNECTIONS,
            seconds,
            headers,
            perRequestBody: () => '{}',
          });
        return load(`${url}/v1/accounts/DU1000001/orders`, {
          connections: CONNECTIONS,
          seconds,
          headers,
          perRequestBody: order,
        });
      };
      for (const measure of MEASURES) await run(measure, 1);
      targets.push({ name, run });
    }
    const figures: Record<Measure, Record<'this' | 'other', number[]>> = {
      whoami: { this: [], other: [] },
      tickle: { this: [], other: [] },
      orders: { this: [], other: [] },
      dpop: { this: [], other: [] },
    };
    for (let r = 1; r <= ROUNDS; r += 1) {
      for (const measure of MEASURES) {
        for (const t of r % 2 === 1 ? targets : [...targets].reverse()) {
          const result = await t.run(measure, SECONDS);
          if (result.non2xx > 0 || result.errors > 0)
            throw new Error(`${measure} on ${t.name}: ${result.non2xx} non-2xx, ${result.errors} errors`);
          figures[measure][t.name].push(result.rps);
          log(`round ${r} ${measure} ${t.name}: ${result.rps.toFixed(0)}/s`);
        }
      }
    }
    const summary = (m: Measure) => {
      const mine = median(figures[m].this);
      const theirs = median(figures[m].other);
      return { this: round(mine, 0), other: round(theirs, 0), ratio: round(mine / theirs, 3) };
    };
    return {
      rounds: ROUNDS,
      whoami: summary('whoami'),
      tickle: summary('tickle'),
      orders: summary('orders'),
      dpop: summary('dpop'),
    };
  } finally {
    await gateways.this.stop();
    await gateways.other.stop();
  }
}
