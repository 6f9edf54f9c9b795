/**
 * bench/sandbox.ts — the failure sandbox's cost when nothing is injected, and how fast an injection takes effect.
 *
 * Two gateways from this same tree run at once, each in its own child process on its own SQLite file, the demo
 * users seeded: one with `sandbox.enabled` on, one with it off, no fault injected. Rounds alternate which goes
 * first (on, off, then off, on, …); per round and gateway, 50 connections each: who-am-I (`GET /v1/session`, cookie
 * session), order entry (1-share market orders that pass the gate and fill, as in bench/orders.ts) and a bot's
 * DPoP-authenticated `GET /v1/session` (a fresh proof per request, as in bench/api.ts). Per path the overhead is
 * 100 × (1 − on ÷ off), from the median of the rounds' paired ratios (a pair runs back to back, so drift between
 * rounds cancels). Loading both at once was tried and dropped: two identical gateways (both off) then differ by
 * ~5 % by their place alone.
 * `overheadPct` is the worst of the three.
 *
 * Then, on the gateway with the sandbox on, the time from an operator's `POST /v1/admin/sandbox/faults` to its
 * effect as a client sees it, over `BENCH_TRIALS` trials each: `login.competing` (the holder's stream says
 * `competing`), `network.changed` (the session's next order is `STEP_UP_REQUIRED`), `marketdata.revoked` (the next
 * quote is not `live`) and `stream.dropped` (the socket closes). Each path's first trial warms it and is reported
 * apart (`coldMs`). `injectP99Ms` is the worst p99; a path whose effect never comes (its fault not built) is
 * reported as `null` with the reason.
 *
 * Prints {overheadPct, injectP99Ms, overhead: {whoami, orders, dpop}, rps: {…: {on, off}}, inject: {kind: {p50Ms,
 * p99Ms, coldMs, trials}}, rounds, seconds, trials}.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { createGateway } from '../packages/gateway/src/app/index.js';
import {
  type DeviceIdentity,
  deviceProof,
  enrolDevice,
} from '../packages/gateway/src/authenticator/index.js';
import { loadConfig } from '../packages/gateway/src/config/index.js';
import { DEMO_USERS, seedDemo } from '../packages/gateway/src/demo/index.js';
import { totpCode } from '../packages/gateway/src/factors/index.js';
import { dpopBot } from './dpop.js';
import {
  load,
  log,
  marketOrders,
  median,
  percentile,
  round,
  spawnServing,
  stopper,
  webLogin,
} from './lib.js';
import { mobileLogin } from './stream.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 1.5);
const TRIALS = Number(process.env.BENCH_TRIALS ?? 100);
const CONNECTIONS = 50;
/** How long a trial waits for its effect before the path is reported as not taking effect. */
const EFFECT_TIMEOUT_MS = 3_000;
const ADMIN_TOKEN = 's'.repeat(40);
const PIN = '2468';

type Measure = 'whoami' | 'orders' | 'dpop';
const ALL_MEASURES: readonly Measure[] = ['whoami', 'orders', 'dpop'];
/** `BENCH_MEASURES=orders,dpop` runs some of them (and skips the injection part: `BENCH_TRIALS=0`). */
const MEASURES = ALL_MEASURES.filter((m) => (process.env.BENCH_MEASURES ?? m).split(',').includes(m));
type InjectPath = 'login.competing' | 'network.changed' | 'marketdata.revoked' | 'stream.dropped';

/** The child: a gateway of this tree with the sandbox on or off, the demo users seeded. */
async function serve(sandbox: boolean, dbFile: string): Promise<void> {
  const config = loadConfig({
    env: process.env,
    overrides: {
      server: { host: '127.0.0.1', port: 0 },
      database: { url: dbFile },
      sandbox: { enabled: sandbox },
      development: { exposeOutboxes: true },
      secrets: { adminApiToken: ADMIN_TOKEN },
      metrics: { listen: 'off' },
      log: { level: 'warn' },
    },
  });
  const gateway = await createGateway(config);
  await seedDemo(gateway.ctx);
  await gateway.listen();
  process.stdout.write(`serving on ${gateway.ctx.urls.base}\n`);
  process.once('SIGTERM', () => {
    gateway.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}

if (process.argv[2] === '--serve') await serve(process.argv[3] === 'on', process.argv[4] ?? '');

interface Gateway {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

async function startGateway(sandbox: boolean): Promise<Gateway> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-bench-sandbox-'));
  const { child, url } = await spawnServing(
    fileURLToPath(import.meta.url),
    [sandbox ? 'on' : 'off', join(dir, 'g.db')],
    {
      // Every request comes from 127.0.0.1, and the network-change trials log a device in many times.
      GATEHOUSE_LOGIN_IP_RATE_LIMIT_MAX: '1000000',
      GATEHOUSE_SESSIONS_MAX_LIVE_PER_USER: '10000',
    },
  );
  return {
    url,
    child,
    async stop() {
      await stopper(child)();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

interface Web {
  cookie: string;
  csrf: string;
  sessionId: string;
  headers: Record<string, string>;
}

async function webSession(url: string, totpAt: number): Promise<Web> {
  const alice = DEMO_USERS[0];
  if (alice === undefined) throw new Error('no demo user');
  const { cookie, csrf } = await webLogin(url, alice, totpCode(alice.totpSecret, totpAt));
  const headers = { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' };
  const who = (await (await fetch(`${url}/v1/session`, { headers: { cookie } })).json()) as {
    session: { id: string };
  };
  const acquired = await fetch(`${url}/v1/session/brokerage`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ compete: true }),
  });
  if (acquired.status !== 200) throw new Error(`brokerage: ${acquired.status} ${await acquired.text()}`);
  return { cookie, csrf, sessionId: who.session.id, headers };
}

/** Part (a): the same three hot paths on both gateways, rounds interleaved. */
async function overhead(on: Gateway, off: Gateway, sessions: Map<Gateway, Web>) {
  const targets = [];
  for (const [name, gateway] of [
    ['on', on],
    ['off', off],
  ] as const) {
    const web = sessions.get(gateway) as Web;
    const order = marketOrders(`sandbox-${name}`);
    const bot = await dpopBot(gateway.url, web.headers);
    /** Signs a round's proofs ahead (before either gateway's load starts: signing blocks this process). */
    const prepare = (measure: Measure, seconds: number) => {
      if (measure === 'dpop') bot.fill(seconds * 20_000);
    };
    const run = (measure: Measure, seconds: number) => {
      if (measure === 'dpop')
        return load(bot.url, { connections: CONNECTIONS, seconds, perRequestHeaders: bot.headers });
      if (measure === 'whoami')
        return load(`${gateway.url}/v1/session`, {
          connections: CONNECTIONS,
          seconds,
          headers: { cookie: web.cookie },
        });
      return load(`${gateway.url}/v1/accounts/DU1000001/orders`, {
        connections: CONNECTIONS,
        seconds,
        headers: web.headers,
        perRequestBody: order,
      });
    };
    for (const measure of MEASURES) {
      prepare(measure, 1);
      await run(measure, 1);
    }
    targets.push({ name, prepare, run });
  }
  const rps: Record<Measure, Record<'on' | 'off', number[]>> = {
    whoami: { on: [], off: [] },
    orders: { on: [], off: [] },
    dpop: { on: [], off: [] },
  };
  for (let r = 1; r <= ROUNDS; r += 1) {
    for (const measure of MEASURES) {
      for (const t of r % 2 === 1 ? targets : [...targets].reverse()) {
        t.prepare(measure, SECONDS);
        const result = await t.run(measure, SECONDS);
        if (result.non2xx > 0 || result.errors > 0)
          throw new Error(
            `${measure} with the sandbox ${t.name}: ${result.non2xx} non-2xx, ${result.errors} errors`,
          );
        rps[measure][t.name].push(result.rps);
        log(`round ${r} ${measure} sandbox ${t.name}: ${result.rps.toFixed(0)}/s`);
      }
    }
  }
  const pct = (m: Measure) =>
    round(100 * (1 - median(rps[m].on.map((value, i) => value / (rps[m].off[i] as number)))), 2);
  return {
    overhead: Object.fromEntries(MEASURES.map((m) => [m, pct(m)])),
    rps: Object.fromEntries(
      MEASURES.map((m) => [m, { on: round(median(rps[m].on), 0), off: round(median(rps[m].off), 0) }]),
    ),
  };
}

async function inject(url: string, fault: Record<string, unknown>): Promise<string> {
  const response = await fetch(`${url}/v1/admin/sandbox/faults`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(fault),
  });
  if (response.status !== 201) throw new Error(`inject: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { id: string }).id;
}

async function clear(url: string, id: string): Promise<void> {
  await fetch(`${url}/v1/admin/sandbox/faults?id=${id}`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
}

interface OpenStream {
  socket: WebSocket;
  /** Resolves when a message of `type` arrives after now; rejects after the effect timeout. */
  next(type: string): Promise<void>;
  closed: Promise<void>;
}

function openStream(url: string, web: Web): Promise<OpenStream> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/stream`, {
      headers: { cookie: web.cookie, origin: url },
    });
    const waiters = new Map<string, () => void>();
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('message', (raw: Buffer) => {
      const { type } = JSON.parse(raw.toString()) as { type: string };
      if (type === 'hello')
        resolve({
          socket,
          closed,
          next: (wanted) => within(new Promise<void>((r) => waiters.set(wanted, r)), wanted),
        });
      waiters.get(type)?.();
      waiters.delete(type);
    });
    socket.once('unexpected-response', (_req, res) => reject(new Error(`stream: HTTP ${res.statusCode}`)));
    socket.once('error', reject);
  });
}

function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<T>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no effect within ${EFFECT_TIMEOUT_MS} ms: ${what}`)),
        EFFECT_TIMEOUT_MS,
      );
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Runs `trial` once to warm the path (its time reported apart, `coldMs`), then TRIALS times; each resolves to its ms
 * from injection to effect.
 */
async function trials(name: InjectPath, trial: () => Promise<number>) {
  const times: number[] = [];
  let coldMs: number | null = null;
  try {
    coldMs = round(await trial(), 1);
    for (let i = 0; i < TRIALS; i += 1) times.push(await trial());
  } catch (error) {
    log(`${name}: ${(error as Error).message}`);
    return { p50Ms: null, p99Ms: null, coldMs, trials: times.length, failed: (error as Error).message };
  }
  log(`${name}: p50 ${median(times).toFixed(1)} ms, p99 ${percentile(times, 99).toFixed(1)} ms`);
  return {
    p50Ms: round(median(times), 1),
    p99Ms: round(percentile(times, 99), 1),
    coldMs,
    trials: times.length,
  };
}

/** Part (b): from an operator's injection to its effect as a client sees it. */
async function injection(url: string, web: Web) {
  const out: Partial<Record<InjectPath, Awaited<ReturnType<typeof trials>>>> = {};
  const session = { type: 'session', id: web.sessionId };

  out['stream.dropped'] = await trials('stream.dropped', async () => {
    const stream = await openStream(url, web);
    const t0 = performance.now();
    await inject(url, { kind: 'stream.dropped', target: session });
    await within(stream.closed, 'stream.dropped');
    return performance.now() - t0;
  });

  const holder = await openStream(url, web);
  out['login.competing'] = await trials('login.competing', async () => {
    const competing = holder.next('competing');
    const t0 = performance.now();
    await inject(url, { kind: 'login.competing', target: session });
    await competing;
    const ms = performance.now() - t0;
    const back = holder.next('brokerage_acquired');
    await fetch(`${url}/v1/session/brokerage`, {
      method: 'POST',
      headers: web.headers,
      body: JSON.stringify({ compete: true }),
    });
    await back;
    return ms;
  });
  holder.socket.close();

  const snapshot = `${url}/v1/marketdata/snapshot?instruments=265598&accountId=U1000001`;
  const entitlement = async () => {
    const body = (await (await fetch(snapshot, { headers: { cookie: web.cookie } })).json()) as {
      quotes: { entitlement: { type: string } }[];
    };
    return body.quotes[0]?.entitlement.type;
  };
  out['marketdata.revoked'] = await trials('marketdata.revoked', async () => {
    if ((await entitlement()) !== 'live') throw new Error('the quote is not live before the injection');
    const t0 = performance.now();
    const id = await inject(url, {
      kind: 'marketdata.revoked',
      target: { type: 'account', id: 'U1000001' },
      params: { bundle: 'US_EQUITY' },
    });
    while ((await entitlement()) === 'live')
      if (performance.now() - t0 > EFFECT_TIMEOUT_MS) throw new Error('the quote stayed live');
    const ms = performance.now() - t0;
    await clear(url, id);
    return ms;
  });

  const phone = await enrolPhone(url, web);
  const orders = marketOrders('sandbox-network');
  out['network.changed'] = await trials('network.changed', async () => {
    const { token, sessionId } = await mobileLogin(url, phone, PIN);
    const call = (path: string, body: string) =>
      fetch(`${url}${path}`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'x-device-proof': deviceProof(phone, 'POST', `${url}${path}`, token),
          'content-type': 'application/json',
        },
        body,
      });
    const acquired = await call('/v1/session/brokerage', JSON.stringify({ compete: true }));
    if (acquired.status !== 200) throw new Error(`mobile brokerage: ${acquired.status}`);
    const t0 = performance.now();
    await inject(url, { kind: 'network.changed', target: { type: 'session', id: sessionId } });
    for (;;) {
      const placed = await call('/v1/accounts/DU1000001/orders', orders());
      const { error } = (await placed.json()) as { error?: { code: string } };
      if (error?.code === 'STEP_UP_REQUIRED') return performance.now() - t0;
      if (performance.now() - t0 > EFFECT_TIMEOUT_MS) throw new Error('orders went on without a step-up');
    }
  });
  return out;
}

async function enrolPhone(url: string, web: Web): Promise<DeviceIdentity> {
  const enroll = (await (
    await fetch(`${url}/v1/devices/mobile/enroll`, {
      method: 'POST',
      headers: { cookie: web.cookie, 'x-csrf-token': web.csrf },
    })
  ).json()) as { activationUri: string };
  return enrolDevice(enroll.activationUri, { name: 'bench phone', platform: 'bench', pin: PIN });
}

export async function main() {
  const [on, off] = await Promise.all([startGateway(true), startGateway(false)]);
  try {
    const sandboxOff = await fetch(`${off.url}/v1/admin/sandbox/faults`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    if (sandboxOff.status !== 404) throw new Error('the gateway meant to run without the sandbox has it on');
    const now = Date.now();
    const sessions = new Map([
      [on, await webSession(on.url, now)],
      [off, await webSession(off.url, now)],
    ]);
    const cost = await overhead(on, off, sessions);
    const inject = await injection(on.url, sessions.get(on) as Web);
    const p99s = Object.values(inject).map((path) => path.p99Ms);
    return {
      overheadPct: Math.max(...Object.values(cost.overhead)),
      injectP99Ms: p99s.some((p) => p === null) ? null : Math.max(...(p99s as number[])),
      ...cost,
      inject,
      rounds: ROUNDS,
      seconds: SECONDS,
      trials: TRIALS,
    };
  } finally {
    await on.stop();
    await off.stop();
  }
}
