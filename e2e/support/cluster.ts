/**
 * Several `gatehouse serve` nodes on loopback, as real processes from the build: one fresh PostgreSQL database
 * (GATEHOUSE_TEST_DATABASE_URL), one Redis (GATEHOUSE_TEST_REDIS_URL, or a `redis-server` of the test's own) under a
 * random `cluster.keyPrefix`, one server secret, and per node its own `cluster.nodeId`, HTTP port and node-to-node
 * port. Every node is told the same public URL, as nodes behind one load balancer are: proofs (DPoP, device
 * proofs) and the stream's Origin are checked against it, so a request made for one node is valid on any other.
 *
 * The first node migrates the database and seeds the demo users (`--demo`); the others start after it, so no two
 * seed at once. A node can be killed (SIGKILL), paused (SIGSTOP) and resumed (SIGCONT), and restarted on its port.
 * Each node leads its own process group; `close` kills every group, and so does this process's exit, so a failing
 * test leaves no node behind. Needs the build (`npm run build`). What clients send to the nodes:
 * e2e/support/cluster-clients.ts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { TEST_PG_URL } from '../../packages/gateway/src/test-support/databases.js';
import { testRedisUrl } from '../../packages/gateway/src/test-support/redis.js';
import { freePort } from './local.js';

const root = new URL('../..', import.meta.url).pathname;
const cli = join(root, 'packages/gateway/dist/cli/main.js');

export const ADMIN_TOKEN = 'cluster-admin-token-0123456789abcdef0123456789';

/**
 * Whether there are a PostgreSQL and a Redis to run the rig on (GATEHOUSE_TEST_DATABASE_URL,
 * GATEHOUSE_TEST_REDIS_URL). As for the store's tests: unset on a developer's machine, the cluster tests are
 * skipped; in CI (`CI=true`) unset fails the run; `none` marks a CI run whose PostgreSQL and Redis half runs in
 * another run.
 */
export function clusterAvailable(): boolean {
  const redis = testRedisUrl();
  if (TEST_PG_URL === undefined || TEST_PG_URL === '') {
    if (process.env.CI === 'true')
      throw new Error('CI must set GATEHOUSE_TEST_DATABASE_URL: the cluster tests run on PostgreSQL');
    return false;
  }
  return TEST_PG_URL !== 'none' && redis !== null;
}

export { freePort };

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A watchdog process (its own group) told on its stdin of every process group this process starts (`+pid`) and
 * sees end (`-pid`). When this process ends however it ends (a test runner's worker killed, SIGKILL included), the
 * pipe closes and the watchdog kills every group still listed: no node or redis-server outlives its test.
 */
const WATCHDOG = `
const groups = new Set();
let pending = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  pending += chunk;
  let end;
  while ((end = pending.indexOf('\\n')) >= 0) {
    const line = pending.slice(0, end);
    pending = pending.slice(end + 1);
    const pid = Number(line.slice(1));
    if (line[0] === '+') groups.add(pid); else groups.delete(pid);
  }
});
process.stdin.on('end', () => {
  for (const pid of groups) { try { process.kill(-pid, 'SIGKILL'); } catch {} }
  process.exit(0);
});
`;
let watchdog: ChildProcess | undefined;
const groups = new Set<number>();

function watch(pid: number, started: boolean): void {
  if (started) groups.add(pid);
  else groups.delete(pid);
  if (watchdog === undefined) {
    watchdog = spawn(process.execPath, ['-e', WATCHDOG], {
      stdio: ['pipe', 'ignore', 'ignore'],
      detached: true,
    });
    // Neither the watchdog nor its pipe keeps this process alive.
    watchdog.unref();
    (watchdog.stdin as unknown as { unref(): void }).unref();
  }
  watchdog.stdin?.write(`${started ? '+' : '-'}${pid}\n`);
}

process.once('exit', () => {
  for (const pid of groups) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {}
  }
});

export interface Spawned {
  process: ChildProcess;
  /** The last lines it wrote (stdout and stderr), for a failing test's message. */
  output: string[];
  exited: Promise<number | null>;
  /** Sends `signal` to its whole process group. */
  signal(signal: NodeJS.Signals): void;
}

/** Starts a command as the leader of its own process group, tracked until it exits. */
export function spawnGroup(command: string, args: string[], env: NodeJS.ProcessEnv): Spawned {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const pid = child.pid as number;
  watch(pid, true);
  const output: string[] = [];
  const collect = (chunk: Buffer) => {
    output.push(...chunk.toString().split('\n').filter(Boolean));
    if (output.length > 400) output.splice(0, output.length - 400);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      watch(pid, false);
      resolve(code);
    }),
  );
  return {
    process: child,
    output,
    exited,
    signal(signal) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-pid, signal);
      } catch {}
    },
  };
}

export type NodeState = 'running' | 'paused' | 'dead';

export interface ClusterNode {
  index: number;
  /** Its `cluster.nodeId`: what its answers' `x-gatehouse-node` say. */
  nodeId: string;
  /** Where this node listens (`http://127.0.0.1:<port>`): requests go here. */
  url: string;
  port: number;
  internalPort: number;
  state: NodeState;
  pid(): number;
  /** The node's last output lines. */
  output(): string;
}

export interface ClusterOptions {
  nodes?: number;
  /** `cluster.leaseMs` (default 1,500: a short lease keeps failover tests short). */
  leaseMs?: number;
  /** The Redis (default GATEHOUSE_TEST_REDIS_URL). */
  redisUrl?: string;
  /** More GATEHOUSE_* variables for every node. */
  env?: Record<string, string>;
}

export interface Cluster {
  nodes: ClusterNode[];
  /** The URL every node is told is its public one (the load balancer's): the `htu` of proofs, the stream's Origin. */
  publicUrl: string;
  databaseUrl: string;
  redisUrl: string;
  keyPrefix: string;
  leaseMs: number;
  node(which: number | string): ClusterNode;
  /** SIGKILL: the node dies at once, its leases and sockets left as they were. */
  kill(which: number | string): Promise<void>;
  /** SIGSTOP: the node is frozen, its sockets open. */
  pause(which: number | string): void;
  /** SIGCONT. */
  resume(which: number | string): void;
  /** Starts a dead node again on its ports (a running or paused one is killed first). */
  restart(which: number | string): Promise<void>;
  /** Waits until the node's `/readyz` answers 200. */
  waitReady(which: number | string, timeoutMs?: number): Promise<void>;
  /** Runs one SQL statement on the cluster's database (what the nodes wrote: orders, events, leases). */
  query<T = Record<string, unknown>>(statement: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

async function pgQuery<T>(url: string, statement: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(statement, params)).rows as T[];
  } finally {
    await client.end();
  }
}

async function pgAdmin(url: string, statement: string): Promise<void> {
  await pgQuery(url, statement);
}

async function readyz(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1_000) });
    await response.arrayBuffer();
    return response.status === 200;
  } catch {
    return false;
  }
}

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  if (!existsSync(cli)) throw new Error('The gateway is not built: run `npm run build` first');
  const baseUrl = TEST_PG_URL;
  if (baseUrl === undefined || baseUrl === '' || baseUrl === 'none')
    throw new Error('The cluster rig needs GATEHOUSE_TEST_DATABASE_URL (PostgreSQL)');
  const redisUrl = options.redisUrl ?? testRedisUrl();
  if (redisUrl === null) throw new Error('The cluster rig needs GATEHOUSE_TEST_REDIS_URL');
  const count = options.nodes ?? 3;
  const leaseMs = options.leaseMs ?? 1_500;
  const tag = randomBytes(5).toString('hex');
  const dbName = `gh_cluster_${tag}`;
  await pgAdmin(baseUrl, `create database ${dbName}`);
  const own = new URL(baseUrl);
  own.pathname = `/${dbName}`;
  const databaseUrl = own.toString();
  const keyPrefix = `gh-test-${tag}:`;
  const secret = randomBytes(32).toString('base64');
  const ports = await Promise.all(Array.from({ length: count * 2 }, () => freePort()));
  const publicUrl = `http://127.0.0.1:${ports[0]}`;

  const processes: (Spawned | undefined)[] = [];
  const nodes: ClusterNode[] = Array.from({ length: count }, (_, index) => {
    const port = ports[index * 2] as number;
    const node: ClusterNode = {
      index,
      nodeId: `node-${String.fromCharCode(97 + index)}`,
      url: `http://127.0.0.1:${port}`,
      port,
      internalPort: ports[index * 2 + 1] as number,
      state: 'dead',
      pid: () => processes[index]?.process.pid ?? 0,
      output: () => processes[index]?.output.join('\n') ?? '',
    };
    return node;
  });

  const node = (which: number | string): ClusterNode => {
    const found = typeof which === 'number' ? nodes[which] : nodes.find((n) => n.nodeId === which);
    if (found === undefined) throw new Error(`no node ${which}`);
    return found;
  };

  const env = (n: ClusterNode): NodeJS.ProcessEnv => ({
    ...process.env,
    GATEHOUSE_LOG_LEVEL: 'warn',
    GATEHOUSE_SECRETS_SERVER_SECRET: secret,
    GATEHOUSE_SECRETS_ADMIN_API_TOKEN: ADMIN_TOKEN,
    GATEHOUSE_SERVER_PUBLIC_URL: publicUrl,
    GATEHOUSE_CLUSTER_REDIS_URL: redisUrl,
    GATEHOUSE_CLUSTER_KEY_PREFIX: keyPrefix,
    GATEHOUSE_CLUSTER_NODE_ID: n.nodeId,
    GATEHOUSE_CLUSTER_LEASE_MS: String(leaseMs),
    GATEHOUSE_CLUSTER_INTERNAL_HOST: '127.0.0.1',
    GATEHOUSE_CLUSTER_INTERNAL_PORT: String(n.internalPort),
    // Every request of a test comes from loopback: the per-address limits are not what is tested by default.
    GATEHOUSE_LOGIN_IP_RATE_LIMIT_MAX: '100000',
    GATEHOUSE_SESSIONS_MAX_LIVE_PER_USER: '10000',
    ...options.env,
  });

  const waitReady = async (which: number | string, timeoutMs = 30_000) => {
    const n = node(which);
    const end = Date.now() + timeoutMs;
    while (!(await readyz(n.url))) {
      if (processes[n.index]?.process.exitCode !== null)
        throw new Error(`${n.nodeId} exited:\n${n.output().slice(-3000)}`);
      if (Date.now() > end) throw new Error(`${n.nodeId} not ready in ${timeoutMs} ms:\n${n.output()}`);
      await sleep(50);
    }
  };

  const start = async (n: ClusterNode) => {
    const child = spawnGroup(
      process.execPath,
      [cli, 'serve', '--demo', '--port', String(n.port), '--host', '127.0.0.1', '--db', databaseUrl],
      env(n),
    );
    processes[n.index] = child;
    n.state = 'running';
    child.exited.then(() => {
      if (processes[n.index] === child) n.state = 'dead';
    });
    await waitReady(n.index);
  };

  const kill = async (which: number | string) => {
    const n = node(which);
    const child = processes[n.index];
    if (child === undefined) return;
    child.signal('SIGKILL');
    await child.exited;
    n.state = 'dead';
  };

  const cluster: Cluster = {
    nodes,
    publicUrl,
    databaseUrl,
    redisUrl,
    keyPrefix,
    leaseMs,
    node,
    kill,
    pause(which) {
      const n = node(which);
      processes[n.index]?.signal('SIGSTOP');
      n.state = 'paused';
    },
    resume(which) {
      const n = node(which);
      processes[n.index]?.signal('SIGCONT');
      n.state = 'running';
    },
    async restart(which) {
      const n = node(which);
      await kill(n.index);
      await start(n);
    },
    waitReady,
    query: (statement, params) => pgQuery(databaseUrl, statement, params),
    async close() {
      await Promise.all(nodes.map((n) => kill(n.index)));
      await pgAdmin(baseUrl, `drop database if exists ${dbName} with (force)`).catch(() => {});
      await dropKeys(redisUrl, keyPrefix).catch(() => {});
    },
  };

  try {
    // The first node migrates and seeds; the others find both done.
    await start(nodes[0] as ClusterNode);
    await Promise.all(nodes.slice(1).map((n) => start(n)));
  } catch (error) {
    await cluster.close();
    throw error;
  }
  return cluster;
}

/** Deletes this run's keys (its prefix only: the Redis is shared). */
async function dropKeys(redisUrl: string, prefix: string): Promise<void> {
  const { Redis } = await import('ioredis');
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** A `redis-server` of the test's own on a free port (no persistence), which a test may stop and start again. */
export interface OwnRedis {
  url: string;
  port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function startOwnRedis(): Promise<OwnRedis> {
  const port = await freePort();
  let child: Spawned | undefined;
  const start = async () => {
    child = spawnGroup(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      process.env,
    );
    const end = Date.now() + 10_000;
    while (!child.output.some((line) => line.includes('Ready to accept connections'))) {
      if (child.process.exitCode !== null) throw new Error(`redis-server exited: ${child.output.join('\n')}`);
      if (Date.now() > end) throw new Error(`redis-server not ready: ${child.output.join('\n')}`);
      await sleep(20);
    }
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    start,
    async stop() {
      if (child === undefined) return;
      child.signal('SIGKILL');
      await child.exited;
      child = undefined;
    },
  };
}
