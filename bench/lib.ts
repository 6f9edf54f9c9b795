/**
 * Shared bench plumbing: the gateway and a bare node:http baseline each run in their own child process (so the
 * load generator in this process does not steal their event loop), both on loopback, both driven the same way.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';

export const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'packages/gateway/dist/cli/main.js');

export function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

export interface Child {
  url: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

function waitForUrl(child: ChildProcess, pattern: RegExp, seen?: (output: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const collect = (chunk: Buffer) => {
      out = (out + chunk.toString()).slice(-8000);
      const match = pattern.exec(out);
      if (match?.[1] !== undefined) {
        // Stop collecting: from here on the output is only drained, never held.
        child.stdout?.off('data', collect);
        child.stderr?.off('data', collect);
        if (process.env.BENCH_CHILD_LOG !== undefined) child.stdout?.pipe(process.stderr);
        else child.stdout?.resume();
        child.stderr?.resume();
        seen?.(out);
        resolve(match[1]);
      }
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    child.once('exit', (code) => reject(new Error(`child exited with ${code}: ${out.slice(-2000)}`)));
  });
}

/**
 * Runs a bench script's own gateway (`<script> --serve …args`, under tsx, profiled with `BENCH_PROFILE_DIR`) with
 * `env` added; resolves once it prints "serving on <url>".
 */
export async function spawnServing(
  script: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    [
      ...(process.env.BENCH_PROFILE_DIR
        ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`]
        : []),
      '--import',
      'tsx',
      script,
      '--serve',
      ...args,
    ],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const url = await waitForUrl(child, /serving on (http:\/\/\S+)/);
  return { child, url };
}

/** Stops a child process (SIGTERM) and resolves once it exited. */
export function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
}

/** Starts `gatehouse serve --demo` on a fresh SQLite file; returns its URL. */
export async function startGateway(
  env: Record<string, string> = {},
  dbFile?: string,
  args: string[] = [],
  /** What to wait for in its output (default: the "serving on" line); `output` holds what came until then. */
  ready = /serving on (http:\/\/\S+)/,
): Promise<Child & { dir: string; output: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-bench-'));
  const child = spawn(
    process.execPath,
    [
      ...(process.env.BENCH_PROFILE_DIR
        ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`]
        : []),
      cli,
      'serve',
      '--demo',
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      '--db',
      dbFile ?? join(dir, 'g.db'),
      ...args,
    ],
    {
      env: { ...process.env, GATEHOUSE_LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  await waitForUrl(child, ready, (out) => {
    output = out;
  });
  const url = /serving on (http:\/\/\S+)/.exec(output)?.[1] ?? '';
  const stop = stopper(child);
  return {
    url: url.replace('localhost', '127.0.0.1'),
    output,
    process: child,
    dir,
    async stop() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const RAW_SERVER = `
const http = require('node:http');
const body = JSON.stringify({ status: 'ok', user: { id: 'usr_1', username: 'alice' } });
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
server.listen(0, '127.0.0.1', () => console.log('raw on http://127.0.0.1:' + server.address().port));
`;

/** A bare node:http server answering a small JSON body: the baseline every ratio is quoted against. */
export async function startRaw(): Promise<Child> {
  const child = spawn(process.execPath, ['-e', RAW_SERVER], { stdio: ['ignore', 'pipe', 'pipe'] });
  const url = await waitForUrl(child, /raw on (http:\/\/\S+)/);
  return { url, process: child, stop: stopper(child) };
}

function startScript(script: string, env: Record<string, string> = {}): Promise<Child> {
  const child = spawn(process.execPath, ['-e', script], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return waitForUrl(child, /baseline on (http:\/\/\S+)/).then((url) => ({
    url,
    process: child,
    stop: stopper(child),
  }));
}

const SAME_BODY_SERVER = `
const fastify = require('fastify')({ logger: false });
const body = process.env.BENCH_BODY;
fastify.get('/', (request, reply) => { reply.type('application/json; charset=utf-8').send(body); });
fastify.listen({ port: 0, host: '127.0.0.1' }).then((url) => console.log('baseline on ' + url));
`;

/**
 * A bare Fastify route answering `body` (already serialised) to every GET: the floor for a response of that size
 * through the same framework, with no authentication and no work.
 */
export function startSameBody(body: string): Promise<Child> {
  return startScript(SAME_BODY_SERVER, { BENCH_BODY: body });
}

const DURABLE_SERVER = `
const http = require('node:http');
const Database = require('better-sqlite3');
const db = new Database(process.env.BENCH_DB);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.exec(\`create table if not exists orders (
  id text primary key, account_id text not null, client_order_id text not null, instrument_id integer not null,
  side text not null, type text not null, quantity text not null, limit_price text, tif text not null,
  status text not null, created_at integer not null, updated_at integer not null)\`);
const insert = db.prepare('insert into orders values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
const commit = db.transaction((rows) => { for (const row of rows) insert.run(row); });
let pending = [];
let n = 0;
function flush() {
  const batch = pending;
  pending = [];
  commit(batch.map((p) => p.row));
  for (const p of batch) {
    const out = JSON.stringify({ status: 'accepted', orderId: p.row[0] });
    p.res.writeHead(201, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
    p.res.end(out);
  }
}
http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const o = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    const now = Date.now();
    n += 1;
    const row = ['ord_' + n, 'DU1000001', o.clientOrderId, o.instrumentId, o.side, o.type, String(o.quantity),
      o.limitPrice === undefined ? null : String(o.limitPrice), o.tif, 'accepted', now, now];
    if (pending.length === 0) setImmediate(flush);
    pending.push({ row, res });
  });
}).listen(0, '127.0.0.1', function () { console.log('baseline on http://127.0.0.1:' + this.address().port); });
`;

/**
 * The least work a durable acknowledgement of an order needs: a bare node:http server that parses the JSON body and
 * group-commits one order-sized row per request into SQLite (WAL, synchronous NORMAL, as the gateway's default)
 * before it answers. `file` is the SQLite file.
 */
export function startDurableBaseline(file: string): Promise<Child> {
  return startScript(DURABLE_SERVER, { BENCH_DB: file });
}

const CRYPTO_SERVER = `
const http = require('node:http');
const { createPublicKey, verify } = require('node:crypto');
const keys = new Map();
const body = JSON.stringify({ status: 'ok' });
http.createServer((req, res) => {
  const [h, p, s] = String(req.headers.dpop).split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
  JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
  let key = keys.get(header.jwk.x);
  if (key === undefined) { key = createPublicKey({ key: header.jwk, format: 'jwk' }); keys.set(header.jwk.x, key); }
  const ok = verify('sha256', Buffer.from(h + '.' + p), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url'));
  res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}).listen(0, '127.0.0.1', function () { console.log('baseline on http://127.0.0.1:' + this.address().port); });
`;

/**
 * The cryptographic floor of a DPoP-authenticated request: a bare node:http server that decodes the `DPoP` header's
 * compact JWS and verifies its ES256 signature (one verification per request, the key imported once), then answers.
 */
export function startCryptoBaseline(): Promise<Child> {
  return startScript(CRYPTO_SERVER);
}

/**
 * Bodies of 1-share market orders that pass the gate and fill, each with a fresh clientOrderId (`prefix-1`, …);
 * buys and sells alternate, so buying power holds however many are placed.
 */
export function marketOrders(prefix: string): () => string {
  let n = 0;
  return () => {
    n += 1;
    return JSON.stringify({
      clientOrderId: `${prefix}-${n}`,
      instrumentId: 265598,
      side: n % 2 === 0 ? 'BUY' : 'SELL',
      type: 'MKT',
      quantity: 1,
      tif: 'DAY',
    });
  };
}

/** Runs a Node script in a child process and parses the JSON it prints on stdout. */
export function runJsonScript<T>(script: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.once('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out) as T) : reject(new Error(`script exited ${code}`)),
    );
  });
}

export interface LoadResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
}

/** Drives `url` with autocannon for `seconds` over `connections` keep-alive connections. */
export async function load(
  url: string,
  options: {
    connections: number;
    seconds: number;
    headers?: Record<string, string>;
    pipelining?: number;
    /** Builds each request's headers (for per-request proofs). */
    perRequestHeaders?: () => Record<string, string>;
    /** POSTs a body built per request (for unique client order ids). */
    perRequestBody?: () => string;
  },
): Promise<LoadResult> {
  const headersOf = options.perRequestHeaders;
  const bodyOf = options.perRequestBody;
  const perRequest =
    headersOf === undefined && bodyOf === undefined
      ? undefined
      : (request: autocannon.Request) => {
          const headers = {
            ...request.headers,
            ...(bodyOf === undefined ? {} : { 'content-type': 'application/json' }),
            ...headersOf?.(),
          };
          return bodyOf === undefined
            ? { ...request, headers }
            : { ...request, method: 'POST' as const, body: bodyOf(), headers };
        };
  const result = await autocannon({
    url,
    connections: options.connections,
    duration: options.seconds,
    pipelining: options.pipelining ?? 1,
    ...(options.headers === undefined ? {} : { headers: options.headers }),
    ...(perRequest === undefined
      ? {}
      : {
          requests: [
            {
              setupRequest: perRequest,
            } satisfies autocannon.Request,
          ],
        }),
  });
  return {
    rps: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

export const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

/** Logs a demo user in over HTTP (password + TOTP); returns the cookie header value and CSRF token. */
export async function webLogin(
  baseUrl: string,
  user: { username: string; password: string },
  code: string,
): Promise<{ cookie: string; csrf: string }> {
  const started = await fetch(`${baseUrl}/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: user.username, password: user.password, channel: 'web' }),
  });
  if (started.status !== 200) throw new Error(`login failed: ${started.status} ${await started.text()}`);
  const { loginId } = (await started.json()) as { loginId: string };
  const done = await fetch(`${baseUrl}/v1/auth/login/${loginId}/factor`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'totp', code }),
  });
  if (done.status !== 200) throw new Error(`factor failed: ${done.status} ${await done.text()}`);
  const setCookie = done.headers.get('set-cookie') ?? '';
  const cookie = setCookie.split(';')[0] ?? '';
  const { csrfToken } = (await done.json()) as { csrfToken: string };
  return { cookie, csrf: csrfToken };
}
