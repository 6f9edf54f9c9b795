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

function waitForUrl(child: ChildProcess, pattern: RegExp): Promise<string> {
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
        resolve(match[1]);
      }
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    child.once('exit', (code) => reject(new Error(`child exited with ${code}: ${out.slice(-2000)}`)));
  });
}

function stopper(child: ChildProcess): () => Promise<void> {
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
): Promise<Child & { dir: string }> {
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
    ],
    {
      env: { ...process.env, GATEHOUSE_LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const url = await waitForUrl(child, /serving on (http:\/\/\S+)/);
  const stop = stopper(child);
  return {
    url: url.replace('localhost', '127.0.0.1'),
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
