/**
 * bench/peers.ts — Gatehouse beside the libraries a broker's team might use instead, in one run on one machine, every
 * server in its own child process on loopback, driven by the same load generator (autocannon), rounds interleaved
 * (odd rounds in one order, even rounds in the reverse order):
 *
 * 1. A session check over HTTP with a cookie, 50 connections: Gatehouse's `GET /v1/session` (web session) against
 *    better-auth's `GET /api/auth/get-session` on SQLite (better-sqlite3, WAL, as Gatehouse's default store), served
 *    by a plain node:http server, once with its cookie cache off (a database read per request) and once on
 *    (`session.cookieCache`: the session is read from a signed cookie, no database read).
 * 2. The client-credentials grant with `private_key_jwt` client authentication and a DPoP-bound token, ES256 for
 *    both (a fresh client assertion and a fresh proof per request, signed before each round), 8 connections:
 *    Gatehouse's `POST /oauth2/token` (a personal client) against node-oidc-provider's `POST /token`, whose adapter
 *    keeps its tokens and replay records in SQLite too (better-sqlite3, WAL).
 *
 * Each round also reads the server process's CPU time (user + system, all its threads, from /proc) before and after,
 * so each server's requests per CPU-second are known: a figure a busy shared machine disturbs less than throughput,
 * and the one published sizing guides quote (requests per second per vCPU).
 *
 * Prints {node, cpus, rounds, seconds, session: {gatehouse, betterAuth, betterAuthCookieCache}, token: {gatehouse,
 * oidcProvider}}: each `{median, min, max, p99Ms, perCpuSecond, perCpuSecondMin, perCpuSecondMax}` (requests per
 * second across rounds; p99 the median of the rounds' p99s; perCpuSecond the median of the rounds' requests per
 * CPU-second of the server process, with the lowest and highest round).
 * BENCHMARKS.md quotes a run and says what differs between the servers.
 */
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { DEMO_USERS } from '../packages/gateway/src/demo/index.js';
import { totpCode } from '../packages/gateway/src/factors/index.js';
import { ASSERTION_TYPE, Signer } from './dpop.js';
import { type Child, type LoadResult, load, log, median, round, startGateway, webLogin } from './lib.js';
import { BETTER_AUTH_SERVER, OIDC_PROVIDER_SERVER, startModule } from './peer-servers.js';
import { processUsage } from './stream.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const SESSION_CONNECTIONS = 50;
const TOKEN_CONNECTIONS = 8;
/** Signed ahead per token round: more than either server answers in a round here (it is counted if it runs dry). */
const TOKENS_PER_SECOND_AHEAD = 2_500;

function pidOf(child: Child): number {
  if (child.process.pid === undefined) throw new Error('a server without a process id');
  return child.process.pid;
}

/** Every cookie a response sets, as one Cookie header value. */
function cookiesOf(response: Response): string {
  return response.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
}

/** Signs up a user on better-auth; returns the cookies that authenticate the session check. */
async function betterAuthSession(url: string): Promise<string> {
  const signedUp = await fetch(`${url}/api/auth/sign-up/email`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: url },
    body: JSON.stringify({ email: 'alice@bench.example', password: 'correct-horse-battery', name: 'Alice' }),
  });
  if (signedUp.status !== 200)
    throw new Error(`better-auth sign-up: ${signedUp.status} ${await signedUp.text()}`);
  return cookiesOf(signedUp);
}

/** A cookie session check target: answers 200 with the user when the cookie is good (checked before and after). */
interface SessionTarget {
  name: 'gatehouse' | 'betterAuth' | 'betterAuthCookieCache';
  /** The server's process. */
  pid: number;
  url: string;
  cookie: string;
  /** Something the answer holds only when the session was recognised. */
  expect: string;
}

async function checkSession(t: SessionTarget): Promise<number> {
  const response = await fetch(t.url, { headers: { cookie: t.cookie } });
  const body = await response.text();
  if (response.status !== 200 || !body.includes(t.expect))
    throw new Error(`${t.name}: the session was not recognised (${response.status} ${body.slice(0, 200)})`);
  return Buffer.byteLength(body);
}

/** A token endpoint target: client assertions and DPoP proofs signed ahead into pools, one of each per request. */
interface TokenTarget {
  name: 'gatehouse' | 'oidcProvider';
  pid: number;
  url: string;
  fill(count: number): void;
  body(): string;
  headers(): Record<string, string>;
  ranDry(): boolean;
}

function tokenTarget(
  name: TokenTarget['name'],
  pid: number,
  tokenUrl: string,
  key: Signer,
  clientId: string,
  audience: string,
): TokenTarget {
  const sign = () =>
    new URLSearchParams({
      grant_type: 'client_credentials',
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: key.assertion(clientId, audience),
    }).toString();
  let bodies: string[] = [];
  let proofs: string[] = [];
  let next = 0;
  let nextProof = 0;
  return {
    name,
    pid,
    url: tokenUrl,
    fill(count) {
      bodies = Array.from({ length: count }, sign);
      proofs = Array.from({ length: count }, () => key.proof('POST', tokenUrl));
      next = 0;
      nextProof = 0;
    },
    body: () => (next < bodies.length ? (bodies[next++] as string) : sign()),
    headers: () => ({
      'content-type': 'application/x-www-form-urlencoded',
      dpop: nextProof < proofs.length ? (proofs[nextProof++] as string) : key.proof('POST', tokenUrl),
    }),
    ranDry: () => next >= bodies.length,
  };
}

async function checkToken(t: TokenTarget): Promise<void> {
  t.fill(1);
  const response = await fetch(t.url, { method: 'POST', headers: t.headers(), body: t.body() });
  const body = (await response.json()) as Record<string, unknown>;
  if (response.status !== 200 || body.token_type !== 'DPoP')
    throw new Error(`${t.name}: no DPoP-bound token (${response.status} ${JSON.stringify(body)})`);
}

/** Registers a personal client (a bot) on the gateway from alice's web session; its key signs assertions. */
async function gatehouseClient(base: string, headers: Record<string, string>, key: Signer): Promise<string> {
  const registered = await fetch(`${base}/v1/oauth/clients`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ name: 'bench bot', keys: [key.jwk], accounts: ['DU1000001'], scopes: ['read'] }),
  });
  if (registered.status !== 201) throw new Error(`client: ${registered.status} ${await registered.text()}`);
  return ((await registered.json()) as { clientId: string }).clientId;
}

/** A round's load result and the CPU time the server process spent in it. */
type Round = LoadResult & { cpuMs: number };

type Figures = {
  median: number;
  min: number;
  max: number;
  p99Ms: number;
  perCpuSecond: number;
  perCpuSecondMin: number;
  perCpuSecondMax: number;
};

function summary(results: Round[]): Figures {
  const rps = results.map((r) => r.rps);
  const perCpu = results.map((r) => (r.rps * SECONDS) / (r.cpuMs / 1000));
  return {
    median: round(median(rps), 0),
    min: round(Math.min(...rps), 0),
    max: round(Math.max(...rps), 0),
    p99Ms: median(results.map((r) => r.p99Ms)),
    perCpuSecond: round(median(perCpu), 0),
    perCpuSecondMin: round(Math.min(...perCpu), 0),
    perCpuSecondMax: round(Math.max(...perCpu), 0),
  };
}

/** Runs one round against the server process `pid`, reading its CPU time around it. */
async function measured(pid: number, run: () => Promise<LoadResult>): Promise<Round> {
  const before = processUsage(pid).cpuMs;
  const result = await run();
  return { ...result, cpuMs: processUsage(pid).cpuMs - before };
}

function failed(name: string, r: LoadResult): void {
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${name}: ${r.non2xx} non-2xx, ${r.errors} errors`);
}

export async function main() {
  const alice = DEMO_USERS[0];
  if (alice === undefined) throw new Error('no demo user');
  const clientKey = new Signer();
  const signingKey = new Signer();
  const children: Child[] = [];
  try {
    const gateway = await startGateway({ GATEHOUSE_LOG_LEVEL: 'warn' });
    children.push(gateway);
    const secret = randomBytes(32).toString('base64url');
    const betterAuth = await startModule(BETTER_AUTH_SERVER, { BENCH_SECRET: secret });
    children.push(betterAuth);
    const betterAuthCache = await startModule(BETTER_AUTH_SERVER, {
      BENCH_SECRET: secret,
      BENCH_COOKIE_CACHE: '1',
    });
    children.push(betterAuthCache);
    const oidc = await startModule(OIDC_PROVIDER_SERVER, {
      BENCH_CLIENT_JWK: JSON.stringify({ ...clientKey.jwk, alg: 'ES256', use: 'sig' }),
      BENCH_SIGNING_JWK: JSON.stringify({
        ...(signingKey.privateKey.export({ format: 'jwk' }) as object),
        alg: 'ES256',
        use: 'sig',
        kid: 'bench',
      }),
    });
    children.push(oidc);

    const { cookie, csrf } = await webLogin(gateway.url, alice, totpCode(alice.totpSecret, Date.now()));
    const sessions: SessionTarget[] = [
      {
        name: 'gatehouse',
        pid: pidOf(gateway),
        url: `${gateway.url}/v1/session`,
        cookie,
        expect: alice.username,
      },
      {
        name: 'betterAuth',
        pid: pidOf(betterAuth),
        url: `${betterAuth.url}/api/auth/get-session`,
        cookie: await betterAuthSession(betterAuth.url),
        expect: 'alice@bench.example',
      },
      {
        name: 'betterAuthCookieCache',
        pid: pidOf(betterAuthCache),
        url: `${betterAuthCache.url}/api/auth/get-session`,
        cookie: await betterAuthSession(betterAuthCache.url),
        expect: 'alice@bench.example',
      },
    ];
    for (const t of sessions) log(`${t.name}: ${await checkSession(t)} B per answer`);

    const asAlice = { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' };
    const gatehouseClientId = await gatehouseClient(gateway.url, asAlice, clientKey);
    const tokens: TokenTarget[] = [
      tokenTarget(
        'gatehouse',
        pidOf(gateway),
        `${gateway.url}/oauth2/token`,
        clientKey,
        gatehouseClientId,
        gateway.url,
      ),
      tokenTarget('oidcProvider', pidOf(oidc), `${oidc.url}/token`, clientKey, 'bench', oidc.url),
    ];
    for (const t of tokens) await checkToken(t);

    const runSession = (t: SessionTarget, seconds: number) =>
      load(t.url, { connections: SESSION_CONNECTIONS, seconds, headers: { cookie: t.cookie } });
    const runToken = (t: TokenTarget, seconds: number) =>
      load(t.url, {
        connections: TOKEN_CONNECTIONS,
        seconds,
        perRequestBody: t.body,
        perRequestHeaders: t.headers,
      });
    // Warm every server (JIT, caches, SQLite pages) before measuring.
    for (const t of sessions) failed(t.name, await runSession(t, 1));
    for (const t of tokens) {
      t.fill(TOKENS_PER_SECOND_AHEAD);
      failed(t.name, await runToken(t, 1));
    }

    const sessionResults: Record<SessionTarget['name'], Round[]> = {
      gatehouse: [],
      betterAuth: [],
      betterAuthCookieCache: [],
    };
    const tokenResults: Record<TokenTarget['name'], Round[]> = { gatehouse: [], oidcProvider: [] };
    for (let r = 1; r <= ROUNDS; r += 1) {
      for (const t of r % 2 === 1 ? sessions : [...sessions].reverse()) {
        const result = await measured(t.pid, () => runSession(t, SECONDS));
        failed(`round ${r} ${t.name}`, result);
        sessionResults[t.name].push(result);
        log(
          `round ${r} session ${t.name}: ${result.rps.toFixed(0)}/s (p99 ${result.p99Ms} ms, ${result.cpuMs} ms CPU)`,
        );
      }
      for (const t of r % 2 === 1 ? tokens : [...tokens].reverse()) {
        // Signed before the round and its CPU reading: the pool is the load generator's work, not the server's.
        t.fill(Math.ceil(SECONDS * TOKENS_PER_SECOND_AHEAD));
        const result = await measured(t.pid, () => runToken(t, SECONDS));
        failed(`round ${r} ${t.name}`, result);
        if (t.ranDry())
          log(`round ${r} ${t.name}: the signed pool ran dry; the rest were signed during the round`);
        tokenResults[t.name].push(result);
        log(
          `round ${r} token ${t.name}: ${result.rps.toFixed(0)}/s (p99 ${result.p99Ms} ms, ${result.cpuMs} ms CPU)`,
        );
      }
    }
    // The sessions were still recognised at the end (a rejected cookie would also have answered 200 on better-auth).
    for (const t of sessions) await checkSession(t);

    return {
      node: process.version,
      cpus: cpus().length,
      rounds: ROUNDS,
      seconds: SECONDS,
      session: {
        gatehouse: summary(sessionResults.gatehouse),
        betterAuth: summary(sessionResults.betterAuth),
        betterAuthCookieCache: summary(sessionResults.betterAuthCookieCache),
      },
      token: {
        gatehouse: summary(tokenResults.gatehouse),
        oidcProvider: summary(tokenResults.oidcProvider),
      },
    };
  } finally {
    for (const child of children) await child.stop();
  }
}
