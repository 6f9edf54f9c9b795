/**
 * PostgreSQL faults under load, against a real `gatehouse serve` (the build) on a PostgreSQL cluster of the test's
 * own (`support/private-postgres.ts`; the shared one is never touched). While orders stream in and people log in,
 * the server is restarted (`pg_ctl restart -m fast`) or its postmaster killed with SIGKILL and started again.
 * Checked: every answer is a success or a coded error, every 503 carries `Retry-After`, no request hangs, none is a
 * 500; the same gateway process serves again once the server is back (its pool reconnects, trading resumes); every
 * acknowledged order (201) and every acknowledged login (its `login.succeeded` audit row) is in the database; the
 * audit chain verifies (`gatehouse audit verify`). Runs where the PostgreSQL tests run (GATEHOUSE_TEST_DATABASE_URL).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { totpCode } from '../packages/gateway/src/factors/index.js';
import { type Spawned, sleep, spawnGroup } from './support/cluster.js';
import { freePort } from './support/local.js';
import { type PrivatePostgres, postgresFaultsRun, startPrivatePostgres } from './support/private-postgres.js';

const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'packages/gateway/dist/cli/main.js');
const ACCOUNT = 'DU1000001';
/** A request that has not answered in this long hangs (the pool's acquire timeout is 2 s here). */
const HANG_MS = 8_000;

interface Answer {
  what: 'order' | 'login' | 'factor';
  status: number;
  code?: string;
  retryAfter: string | null;
  at: number;
}

const run = promisify(execFile);
let server: PrivatePostgres;
let gateway: Spawned;
let url: string;
let tradingHeaders: Record<string, string>;
const secret = randomBytes(32).toString('base64');

async function query<T>(statement: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  try {
    return (await client.query(statement, params)).rows as T[];
  } finally {
    await client.end();
  }
}

function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(HANG_MS),
  });
}

async function answer(what: Answer['what'], response: Response): Promise<Answer & { body: unknown }> {
  const body = (await response.json().catch(() => null)) as { error?: { code?: string } } | null;
  return {
    what,
    status: response.status,
    ...(body?.error?.code === undefined ? {} : { code: body.error.code }),
    retryAfter: response.headers.get('retry-after'),
    at: Date.now(),
    body,
  };
}

async function readyz(): Promise<number> {
  try {
    const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
}

async function waitReady(timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while ((await readyz()) !== 200) {
    if (gateway.process.exitCode !== null) throw new Error(`gateway exited:\n${gateway.output.join('\n')}`);
    if (Date.now() > end)
      throw new Error(`gateway not ready in ${timeoutMs} ms:\n${gateway.output.join('\n')}`);
    await sleep(100);
  }
}

/** A full web login (password, then TOTP at time step `step`); the session's cookie and CSRF token. */
async function login(username: string, secret: string, step: number) {
  const started = await answer(
    'login',
    await post('/v1/auth/login', { username, password: `${username}-demo-password`, channel: 'web' }),
  );
  if (started.status !== 200) return { started, done: undefined };
  const { loginId } = started.body as { loginId: string };
  const response = await post(`/v1/auth/login/${loginId}/factor`, {
    type: 'totp',
    code: totpCode(secret, step * 30_000),
  });
  const cookie = (response.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  return { started, done: { ...(await answer('factor', response)), cookie } };
}

const USERS: Record<string, string> = {
  bruno: 'KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU',
  charlotte: 'MFRGGZDFMZTWQ2LKMFRGGZDFMZTWQ2LK',
  hana: 'NBSWY3DPO5XXE3DENBSWY3DPO5XXE3DE',
  viktor: 'OZUWW5DPOIWWCZDWNFZWK4RNOZUWW5DP',
};

beforeAll(async () => {
  if (!postgresFaultsRun()) return;
  if (!existsSync(cli)) throw new Error('The gateway is not built: run `npm run build` first');
  server = await startPrivatePostgres();
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  gateway = spawnGroup(
    process.execPath,
    [cli, 'serve', '--demo', '--port', String(port), '--host', '127.0.0.1', '--db', server.url],
    {
      ...process.env,
      GATEHOUSE_LOG_LEVEL: 'warn',
      GATEHOUSE_SECRETS_SERVER_SECRET: secret,
      GATEHOUSE_LOGIN_IP_RATE_LIMIT_MAX: '100000',
      GATEHOUSE_SESSIONS_MAX_LIVE_PER_USER: '10000',
      GATEHOUSE_DATABASE_ACQUIRE_TIMEOUT_MS: '2000',
    },
  );
  await waitReady(30_000);
  const { done } = await login('alice', 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP', Math.floor(Date.now() / 30_000));
  if (done?.status !== 200) throw new Error(`alice's login failed: ${JSON.stringify(done)}`);
  const { csrfToken } = done.body as { csrfToken: string };
  tradingHeaders = { cookie: done.cookie, 'x-csrf-token': csrfToken };
  expect((await post('/v1/session/brokerage', { compete: true }, tradingHeaders)).status).toBe(200);
}, 60_000);

afterAll(async () => {
  gateway?.signal('SIGKILL');
  await gateway?.exited;
  await server?.close();
});

/**
 * Orders and logins run while `fault` strikes, and go on until orders are acknowledged again after it (bounded).
 * Returns every answer, the acknowledged orders and logins, and how long the gateway took to serve orders again.
 */
async function trafficAcross(tag: string, loginUsers: string[], fault: () => Promise<void>) {
  const answers: Answer[] = [];
  const orders: string[] = [];
  const logins = new Map<string, number>();
  const hung: string[] = [];
  let faultEnded = 0;
  let recoveredAt = 0;
  let stop = false;
  let next = 0;
  const guard = async (what: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (error) {
      // An aborted fetch is a request that hung; any other failure is the gateway's connection dropping.
      hung.push(`${what}: ${(error as Error).name} ${(error as Error).message}`);
    }
  };
  const orderWorker = async () => {
    while (!stop) {
      const clientOrderId = `${tag}-${next++}`;
      await guard(`order ${clientOrderId}`, async () => {
        const market = next % 3 === 0;
        const response = await post(
          `/v1/accounts/${ACCOUNT}/orders`,
          {
            clientOrderId,
            instrumentId: 265598,
            side: 'BUY',
            type: market ? 'MKT' : 'LMT',
            ...(market ? {} : { limitPrice: 1 }),
            quantity: 1,
            tif: 'GTC',
          },
          tradingHeaders,
        );
        const a = await answer('order', response);
        answers.push(a);
        if (a.status === 201) {
          orders.push(clientOrderId);
          if (faultEnded > 0 && recoveredAt === 0) recoveredAt = Date.now();
        } else if (a.status === 503) await sleep(50);
      });
    }
  };
  const loginWorker = async (username: string) => {
    const secret = USERS[username] as string;
    // The accepted window is one step either side: three codes, each usable once.
    const now = Math.floor(Date.now() / 30_000);
    const steps = [now - 1, now, now + 1];
    while (!stop) {
      await guard(`login ${username}`, async () => {
        const step = steps[0];
        const { started, done } = await login(username, secret, step ?? now);
        answers.push(started);
        if (done !== undefined) {
          answers.push(done);
          if (done.status === 200) logins.set(username, (logins.get(username) ?? 0) + 1);
          // A code answered (accepted or refused) is spent; one the database never saw may be tried again.
          if (done.status !== 503) steps.shift();
        }
      });
      await sleep(100);
    }
  };
  const workers = [...Array.from({ length: 6 }, orderWorker), ...loginUsers.map((u) => loginWorker(u))];
  await sleep(700);
  const faultAt = Date.now();
  await fault();
  faultEnded = Date.now();
  const end = Date.now() + 20_000;
  while (recoveredAt === 0 && Date.now() < end) await sleep(50);
  await sleep(300);
  stop = true;
  await Promise.all(workers);
  return { answers, orders, logins, hung, faultAt, faultEnded, recoveredAt };
}

/** What every run must show, whatever the fault. */
async function checkAfter(run: Awaited<ReturnType<typeof trafficAcross>>, pid: number) {
  expect(run.hung, 'requests that hung or lost their connection').toEqual([]);
  // Never a 500: every answer is a success or a coded error; every 503 says when to come back.
  for (const a of run.answers) {
    expect(a.status, JSON.stringify(a)).not.toBe(500);
    if (a.status >= 400) expect(a.code, JSON.stringify(a)).toMatch(/^[A-Z_]+$/);
    if (a.status === 503) {
      expect(['SERVICE_UNAVAILABLE', 'TRADING_HALTED']).toContain(a.code);
      expect(Number(a.retryAfter), JSON.stringify(a)).toBeGreaterThanOrEqual(1);
    }
  }
  // The fault was felt, and the same process served orders again once the server was back.
  expect(run.answers.some((a) => a.status === 503)).toBe(true);
  expect(run.recoveredAt, 'orders acknowledged again after the fault').toBeGreaterThan(0);
  expect(gateway.process.pid).toBe(pid);
  expect(gateway.process.exitCode).toBeNull();
  await waitReady(10_000);

  // Every acknowledged order is in the database, accepted.
  const stored = await query<{ client_order_id: string }>(
    `select o.client_order_id from orders o join account_events e on e.order_id = o.id and e.type = 'accepted'
     where o.account_id = $1`,
    [ACCOUNT],
  );
  const ids = new Set(stored.map((r) => r.client_order_id));
  for (const id of run.orders) expect(ids.has(id), id).toBe(true);
  // Every acknowledged login left its audit row.
  for (const [username, count] of run.logins) {
    const [row] = await query<{ n: string }>(
      `select count(*) as n from audit_log a join users u on u.id = a.user_id
       where a.type = 'login.succeeded' and u.username = $1`,
      [username],
    );
    expect(Number(row?.n), username).toBeGreaterThanOrEqual(count);
  }
  // The audit chain verifies.
  const verify = await runCli(['audit', 'verify', '--db', server.url]);
  expect(verify).toMatch(/^OK: \d+ rows, chain intact/);
}

/** How many 503s each code answered. */
function codes(answers: Answer[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of answers) if (a.status === 503) out[a.code ?? '?'] = (out[a.code ?? '?'] ?? 0) + 1;
  return out;
}

async function runCli(args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [cli, ...args], {
    env: { ...process.env, GATEHOUSE_LOG_LEVEL: 'warn', GATEHOUSE_SECRETS_SERVER_SECRET: secret },
  });
  return stdout;
}

describe.skipIf(!postgresFaultsRun())(
  'PostgreSQL restarts and crashes under an order burst and logins',
  () => {
    it('pg_ctl restart -m fast: coded 503s with Retry-After, no hang or 500, the pool reconnects, nothing acknowledged lost, the audit chain verifies', async () => {
      const pid = gateway.process.pid as number;
      const result = await trafficAcross('restart', ['bruno', 'charlotte'], () => server.restartFast());
      await checkAfter(result, pid);
      console.info(
        `pg_ctl restart: ${result.orders.length} orders and ${[...result.logins.values()].reduce((a, b) => a + b, 0)} logins acknowledged, ` +
          `503s: ${JSON.stringify(codes(result.answers))}; ` +
          `orders acknowledged again ${result.recoveredAt - result.faultEnded} ms after the server was back`,
      );
    }, 40_000);

    it('SIGKILL of the postmaster, then a start: coded 503s with Retry-After while it is down, no hang or 500, the pool reconnects, nothing acknowledged lost, the audit chain verifies', async () => {
      const pid = gateway.process.pid as number;
      const result = await trafficAcross('kill9', ['hana', 'viktor'], async () => {
        await server.killPostmaster();
        // Down for a while: requests meanwhile meet a server that refuses connections.
        await sleep(1_500);
        await server.start();
      });
      await checkAfter(result, pid);
      console.info(
        `kill -9: ${result.orders.length} orders and ${[...result.logins.values()].reduce((a, b) => a + b, 0)} logins acknowledged, ` +
          `503s: ${JSON.stringify(codes(result.answers))}; ` +
          `orders acknowledged again ${result.recoveredAt - result.faultEnded} ms after the server was back`,
      );
    }, 40_000);
  },
);
