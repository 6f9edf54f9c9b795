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
 * oidcProvider}}: each `{median, min, max, p99Ms, perCpuSecond}` (requests per second across rounds; p99 the median
 * of the rounds' p99s; perCpuSecond the median of the rounds' requests per CPU-second of the server process).
 * BENCHMARKS.md quotes a run and says what differs between the servers.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_USERS } from '../packages/gateway/src/demo/index.js';
import { totpCode } from '../packages/gateway/src/factors/index.js';
import { ASSERTION_TYPE, Signer } from './dpop.js';
import {
  type Child,
  type LoadResult,
  load,
  log,
  median,
  root,
  round,
  startGateway,
  webLogin,
} from './lib.js';
import { processUsage } from './stream.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const SESSION_CONNECTIONS = 50;
const TOKEN_CONNECTIONS = 8;
/** Signed ahead per token round: more than either server answers in a round here (it is counted if it runs dry). */
const TOKENS_PER_SECOND_AHEAD = 2_500;

/** better-auth on SQLite behind node:http. BENCH_COOKIE_CACHE=1 turns its session cookie cache on. */
const BETTER_AUTH_SERVER = `
import http from 'node:http';
import Database from 'better-sqlite3';
import { betterAuth } from 'better-auth';
import { getMigrations } from 'better-auth/db/migration';
import { toNodeHandler } from 'better-auth/node';
const db = new Database(process.env.BENCH_DB);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const baseURL = 'http://127.0.0.1:' + server.address().port;
const options = {
  database: db,
  baseURL,
  secret: process.env.BENCH_SECRET,
  emailAndPassword: { enabled: true },
  session: process.env.BENCH_COOKIE_CACHE === '1' ? { cookieCache: { enabled: true, maxAge: 3600 } } : {},
  rateLimit: { enabled: false },
  telemetry: { enabled: false },
  trustedOrigins: [baseURL],
};
const { runMigrations } = await getMigrations(options);
await runMigrations();
const auth = betterAuth(options);
server.on('request', toNodeHandler(auth));
console.log('baseline on ' + baseURL);
`;

/**
 * node-oidc-provider with one confidential client (private_key_jwt, ES256), the client-credentials grant and DPoP
 * (ES256), its models (tokens, replay records of assertions and proofs) in SQLite through a small adapter.
 */
const OIDC_PROVIDER_SERVER = `
import http from 'node:http';
import Database from 'better-sqlite3';
import Provider from 'oidc-provider';
const db = new Database(process.env.BENCH_DB);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.exec('create table if not exists models (name text not null, id text not null, payload text not null, grant_id text, uid text, user_code text, expires_at integer, consumed integer, primary key (name, id))');
const upsert = db.prepare('insert into models (name, id, payload, grant_id, uid, user_code, expires_at) values (?, ?, ?, ?, ?, ?, ?) on conflict (name, id) do update set payload = excluded.payload, grant_id = excluded.grant_id, uid = excluded.uid, user_code = excluded.user_code, expires_at = excluded.expires_at');
const byId = db.prepare('select payload, expires_at, consumed from models where name = ? and id = ?');
const byUid = db.prepare('select payload, expires_at, consumed from models where name = ? and uid = ?');
const byUserCode = db.prepare('select payload, expires_at, consumed from models where name = ? and user_code = ?');
const consume = db.prepare('update models set consumed = ? where name = ? and id = ?');
const destroy = db.prepare('delete from models where name = ? and id = ?');
const revokeGrant = db.prepare('delete from models where grant_id = ?');
const row = (r) => {
  if (r === undefined || (r.expires_at !== null && r.expires_at < Date.now())) return undefined;
  const payload = JSON.parse(r.payload);
  return r.consumed === null ? payload : { ...payload, consumed: r.consumed };
};
class SqliteAdapter {
  constructor(name) { this.name = name; }
  async upsert(id, payload, expiresIn) {
    upsert.run(this.name, id, JSON.stringify(payload), payload.grantId ?? null, payload.uid ?? null,
      payload.userCode ?? null, expiresIn ? Date.now() + expiresIn * 1000 : null);
  }
  async find(id) { return row(byId.get(this.name, id)); }
  async findByUid(uid) { return row(byUid.get(this.name, uid)); }
  async findByUserCode(code) { return row(byUserCode.get(this.name, code)); }
  async consume(id) { consume.run(Math.floor(Date.now() / 1000), this.name, id); }
  async destroy(id) { destroy.run(this.name, id); }
  async revokeByGrantId(grantId) { revokeGrant.run(grantId); }
}
const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = 'http://127.0.0.1:' + server.address().port;
const provider = new Provider(issuer, {
  adapter: SqliteAdapter,
  clients: [{
    client_id: 'bench',
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'ES256',
    id_token_signed_response_alg: 'ES256',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    jwks: { keys: [JSON.parse(process.env.BENCH_CLIENT_JWK)] },
  }],
  jwks: { keys: [JSON.parse(process.env.BENCH_SIGNING_JWK)] },
  features: {
    clientCredentials: { enabled: true },
    dPoP: { enabled: true },
    devInteractions: { enabled: false },
    introspection: { enabled: false },
    revocation: { enabled: false },
  },
  enabledJWA: {
    clientAuthSigningAlgValues: ['ES256'],
    dPoPSigningAlgValues: ['ES256'],
    idTokenSigningAlgValues: ['ES256'],
  },
  scopes: ['read'],
});
server.on('request', provider.callback());
console.log('baseline on ' + issuer);
`;

/** Starts an ES module script (resolving packages from the repository root) and waits for its "baseline on" line. */
function startModule(script: string, env: Record<string, string>): Promise<Child & { dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-peers-'));
  const child = spawn(process.execPath, ['--no-warnings', '--input-type=module', '-e', script], {
    cwd: root,
    env: { ...process.env, NODE_ENV: 'production', BENCH_DB: join(dir, 'peer.db'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const collect = (chunk: Buffer) => {
      out = (out + chunk.toString()).slice(-8000);
      const url = /baseline on (http:\/\/\S+)/.exec(out)?.[1];
      if (url === undefined) return;
      child.stdout.off('data', collect);
      child.stderr.off('data', collect);
      child.stdout.resume();
      child.stderr.resume();
      resolve({
        url,
        dir,
        process: child,
        stop: () =>
          new Promise<void>((done) => {
            const finish = () => {
              rmSync(dir, { recursive: true, force: true });
              done();
            };
            if (child.exitCode !== null) return finish();
            child.once('exit', finish);
            child.kill('SIGTERM');
          }),
      });
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.once('exit', (code) => reject(new Error(`peer exited with ${code}: ${out.slice(-2000)}`)));
  });
}

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

type Figures = { median: number; min: number; max: number; p99Ms: number; perCpuSecond: number };

function summary(results: Round[]): Figures {
  const rps = results.map((r) => r.rps);
  return {
    median: round(median(rps), 0),
    min: round(Math.min(...rps), 0),
    max: round(Math.max(...rps), 0),
    p99Ms: median(results.map((r) => r.p99Ms)),
    perCpuSecond: round(median(results.map((r) => (r.rps * SECONDS) / (r.cpuMs / 1000))), 0),
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
