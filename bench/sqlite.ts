/**
 * bench/sqlite.ts — the two embedded SQLite drivers side by side, in the same run: `node:sqlite` (built into
 * Node.js ≥ 22.13) and better-sqlite3 (a native addon). Needs a runtime with both, e.g. Node 24.
 *
 * 1. Over HTTP, one gateway per driver on its own SQLite file, loaded in alternating rounds (50 connections):
 *    order entry (`POST /v1/accounts/DU1000001/orders`, 1-share market orders that pass the gate and fill; each
 *    response waits for both commits, as in bench/orders.ts) and who-am-I (`GET /v1/session`).
 * 2. In process, through Kysely on a file database with the gateway's pragmas: a point read by primary key and a
 *    one-row insert committed alone, microseconds per operation, alternating rounds.
 *
 * Prints {orders: {nodeSqlite, betterSqlite3, ratio}, whoami: {…}, pointReadUs: {…}, insertUs: {…}} where `ratio`
 * is node:sqlite over better-sqlite3 (above 1: node:sqlite is faster for throughput; below 1 for microseconds).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { DEMO_USERS } from '../packages/gateway/src/demo/index.js';
import { totpCode } from '../packages/gateway/src/factors/index.js';
import { openDatabase } from '../packages/gateway/src/store/index.js';
import { nodeSqlite, type SqliteDriver } from '../packages/gateway/src/store/sqlite.js';
import { load, log, marketOrders, median, round, startGateway, webLogin } from './lib.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const OPS = Number(process.env.BENCH_OPS ?? 20_000);
const CONNECTIONS = 50;
const DRIVERS: SqliteDriver[] = ['node:sqlite', 'better-sqlite3'];

interface Pair {
  nodeSqlite: number;
  betterSqlite3: number;
  ratio: number;
}

function pair(byDriver: Map<SqliteDriver, number[]>, digits: number): Pair {
  const n = median(byDriver.get('node:sqlite') ?? []);
  const b = median(byDriver.get('better-sqlite3') ?? []);
  return { nodeSqlite: round(n, digits), betterSqlite3: round(b, digits), ratio: round(n / b, 3) };
}

function push(map: Map<SqliteDriver, number[]>, driver: SqliteDriver, value: number): void {
  map.set(driver, [...(map.get(driver) ?? []), value]);
}

async function http(): Promise<{ orders: Pair; whoami: Pair }> {
  const alice = DEMO_USERS[0];
  if (alice === undefined) throw new Error('no demo user');
  const gateways = [];
  try {
    for (const driver of DRIVERS) {
      const gateway = await startGateway({
        GATEHOUSE_LOG_LEVEL: 'warn',
        GATEHOUSE_DATABASE_SQLITE_DRIVER: driver,
      });
      gateways.push(gateway);
    }
    const targets = [];
    for (const [i, driver] of DRIVERS.entries()) {
      const gateway = gateways[i];
      if (gateway === undefined) throw new Error('gateway missing');
      const { cookie, csrf } = await webLogin(gateway.url, alice, totpCode(alice.totpSecret, Date.now()));
      const headers = { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' };
      const acquired = await fetch(`${gateway.url}/v1/session/brokerage`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ compete: true }),
      });
      if (acquired.status !== 200) throw new Error(`brokerage on ${driver}: ${acquired.status}`);
      const body = marketOrders('bench');
      const ordersUrl = `${gateway.url}/v1/accounts/DU1000001/orders`;
      const whoamiUrl = `${gateway.url}/v1/session`;
      await load(ordersUrl, { connections: CONNECTIONS, seconds: 1, headers, perRequestBody: body });
      await load(whoamiUrl, { connections: CONNECTIONS, seconds: 1, headers: { cookie } });
      targets.push({ driver, ordersUrl, whoamiUrl, headers, body, cookie });
    }
    const orders = new Map<SqliteDriver, number[]>();
    const whoami = new Map<SqliteDriver, number[]>();
    for (let r = 1; r <= ROUNDS; r += 1) {
      for (const t of r % 2 === 1 ? targets : [...targets].reverse()) {
        const o = await load(t.ordersUrl, {
          connections: CONNECTIONS,
          seconds: SECONDS,
          headers: t.headers,
          perRequestBody: t.body,
        });
        if (o.non2xx > 0 || o.errors > 0) throw new Error(`orders on ${t.driver}: ${o.non2xx} non-2xx`);
        const w = await load(t.whoamiUrl, {
          connections: CONNECTIONS,
          seconds: SECONDS,
          headers: { cookie: t.cookie },
        });
        if (w.non2xx > 0 || w.errors > 0) throw new Error(`who-am-I on ${t.driver}: ${w.non2xx} non-2xx`);
        log(`round ${r} ${t.driver}: orders ${o.rps.toFixed(0)}/s, who-am-I ${w.rps.toFixed(0)} req/s`);
        push(orders, t.driver, o.rps);
        push(whoami, t.driver, w.rps);
      }
    }
    return { orders: pair(orders, 0), whoami: pair(whoami, 0) };
  } finally {
    for (const gateway of gateways) await gateway.stop();
  }
}

async function inProcess(): Promise<{ pointReadUs: Pair; insertUs: Pair }> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-bench-sqlite-'));
  const stores = DRIVERS.map((driver) => ({
    driver,
    store: openDatabase(join(dir, `${driver.replace(':', '-')}.db`), { sqliteDriver: driver }),
  }));
  try {
    for (const { store } of stores) {
      await sql`create table kv (k integer primary key, v text not null)`.execute(store.db);
    }
    const reads = new Map<SqliteDriver, number[]>();
    const inserts = new Map<SqliteDriver, number[]>();
    let key = 0;
    for (let r = 1; r <= ROUNDS; r += 1) {
      for (const { driver, store } of r % 2 === 1 ? stores : [...stores].reverse()) {
        const first = key;
        let start = process.hrtime.bigint();
        for (let i = 0; i < OPS; i += 1) {
          key += 1;
          await sql`insert into kv (k, v) values (${key}, ${`value-${key}`})`.execute(store.db);
        }
        const insertUs = Number(process.hrtime.bigint() - start) / 1000 / OPS;
        start = process.hrtime.bigint();
        let found = 0;
        for (let i = 1; i <= OPS; i += 1) {
          const { rows } = await sql<{ v: string }>`select v from kv where k = ${first + i}`.execute(
            store.db,
          );
          if (rows[0]?.v === `value-${first + i}`) found += 1;
        }
        const readUs = Number(process.hrtime.bigint() - start) / 1000 / OPS;
        if (found !== OPS) throw new Error(`${driver}: ${OPS - found} rows not read back`);
        log(`round ${r} ${driver}: insert ${insertUs.toFixed(1)} µs, point read ${readUs.toFixed(1)} µs`);
        push(inserts, driver, insertUs);
        push(reads, driver, readUs);
      }
    }
    return { pointReadUs: pair(reads, 2), insertUs: pair(inserts, 2) };
  } finally {
    for (const { store } of stores) await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function main() {
  if (nodeSqlite() === undefined) {
    throw new Error(
      `node:sqlite is not available on ${process.version}: run this bench on Node.js 22.13 or later`,
    );
  }
  log(`Node ${process.version}`);
  const micro = await inProcess();
  const served = await http();
  return { node: process.version, ...served, ...micro };
}
