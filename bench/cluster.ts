/**
 * bench/cluster.ts — three `gatehouse serve` nodes on one PostgreSQL database and one Redis (the rig of the
 * cluster tests, e2e/support/cluster.ts; GATEHOUSE_TEST_DATABASE_URL and GATEHOUSE_TEST_REDIS_URL name them).
 *
 * - Revocation: `BENCH_REVOCATIONS` (200) mobile sessions of one phone, each with a `/v1/stream` open on the two
 *   other nodes, logged out on one node in turn; the time from the revocation (the logout answered: committed and
 *   told to the bus) to both streams closing (the other nodes dropped the session), whose p99 is `revocationP99Ms`;
 *   `revocationFromRequest…` count from sending the logout instead. After each, both other nodes must refuse it.
 * - Non-owner overhead: one account's orders (1-share market orders from a web session holding brokerage), placed
 *   alternately at the account's owner (the `node_id` of its row in `account_leases`) and at another node, one at a
 *   time; `nonOwnerOverheadP50Ms` = p50 through the other node − p50 through the owner, and `nonOwnerForwarded` says
 *   the lease stayed with the owner throughout (the other node had the owner run its orders).
 * - Failover: the owner killed (SIGKILL), then an order sent to another node every 20 ms until one is accepted;
 *   `failoverMs` from the kill, beside `leaseExpiryMs` (`cluster.leaseMs`, BENCH_LEASE_MS, default 5,000 as shipped).
 * - Throughput: who-am-I (`GET /v1/session`) and orders driven at one node, then at all three at once
 *   (`BENCH_SECONDS`, 3 s each, 48 connections in all: 48 at one node or 16 at each), with each node's CPU time per request (from /proc) for a
 *   sizing model. On a 2-core machine three nodes and the load generator share the cores: the sum does not grow.
 * - Stream capacity of one node: `streamCapacity` (bench/stream-capacity.ts; BENCH_STREAMS streams, default 10,000).
 *
 * Prints {revocationP99Ms, nonOwnerOverheadP50Ms, failoverMs, leaseExpiryMs, streams, streamRssMb,
 * streamIdleCpuPct, …} with the details named below.
 */
import WebSocket from 'ws';
import { type Cluster, type ClusterNode, sleep, startCluster } from '../e2e/support/cluster.js';
import {
  asWeb,
  call,
  enrolPhone,
  type MobileSession,
  mobileLogin,
  phoneHeaders,
  placeOrder,
  type WebSession,
  webLogin,
} from '../e2e/support/cluster-clients.js';
import type { DeviceIdentity } from '../packages/gateway/src/authenticator/index.js';
import { type LoadResult, load, log, marketOrders, percentile, round } from './lib.js';
import { processUsage } from './stream.js';
import { streamCapacity } from './stream-capacity.js';

const REVOCATIONS = Number(process.env.BENCH_REVOCATIONS ?? 200);
const ORDER_SAMPLES = Number(process.env.BENCH_ORDER_SAMPLES ?? 200);
const LEASE_MS = Number(process.env.BENCH_LEASE_MS ?? 5_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const CONNECTIONS = 16;
const STREAMS = Number(process.env.BENCH_STREAMS ?? 10_000);

function openStream(cluster: Cluster, node: ClusterNode, phone: DeviceIdentity, session: MobileSession) {
  return new Promise<{ socket: WebSocket; closed: Promise<{ at: number; code: number }> }>(
    (resolve, reject) => {
      const socket = new WebSocket(`${node.url.replace('http', 'ws')}/v1/stream`, {
        headers: phoneHeaders(cluster, phone, session, 'GET', '/v1/stream'),
      });
      const closed = new Promise<{ at: number; code: number }>((done) =>
        socket.once('close', (code) => done({ at: performance.now(), code })),
      );
      socket.on('message', (raw: Buffer) => {
        if ((JSON.parse(raw.toString()) as { type: string }).type === 'hello') resolve({ socket, closed });
      });
      socket.once('unexpected-response', (_request, response) =>
        reject(new Error(`stream upgrade on ${node.nodeId}: HTTP ${response.statusCode}`)),
      );
      socket.once('error', reject);
    },
  );
}

async function revocation(cluster: Cluster, phone: DeviceIdentity): Promise<Record<string, number>> {
  const times: number[] = [];
  const fromRequest: number[] = [];
  let stillAccepted = 0;
  for (let i = 0; i < REVOCATIONS + 10; i += 1) {
    const origin = cluster.nodes[i % cluster.nodes.length] as ClusterNode;
    const others = cluster.nodes.filter((n) => n !== origin);
    const session = await mobileLogin(origin, phone);
    const streams = await Promise.all(others.map((n) => openStream(cluster, n, phone, session)));
    const t0 = performance.now();
    const out = await call(`${origin.url}/v1/auth/logout`, {
      method: 'POST',
      headers: phoneHeaders(cluster, phone, session, 'POST', '/v1/auth/logout'),
      body: {},
    });
    if (out.status !== 200) throw new Error(`logout: ${JSON.stringify(out.body)}`);
    // The revocation is made (committed, and told to the bus) when the logout's answer leaves the origin node.
    const t1 = performance.now();
    const closes = await Promise.race([
      Promise.all(streams.map((s) => s.closed)),
      sleep(5_000).then(() => null),
    ]);
    if (closes === null) throw new Error(`revocation ${i}: a stream on another node stayed open for 5 s`);
    if (i >= 10) {
      // The first ten warm up. A stream may close before the answer reaches the client: 0 then.
      const last = Math.max(...closes.map((c) => c.at));
      times.push(Math.max(0, last - t1));
      fromRequest.push(last - t0);
    }
    for (const node of others) {
      const headers = phoneHeaders(cluster, phone, session, 'GET', '/v1/session');
      if ((await call(`${node.url}/v1/session`, { headers })).status === 200) stillAccepted += 1;
    }
  }
  if (stillAccepted > 0) throw new Error(`revocation: ${stillAccepted} answers accepted a revoked session`);
  log(`revocation: ${times.length} sessions, p50 ${percentile(times, 50).toFixed(1)} ms`);
  return {
    revocationP50Ms: round(percentile(times, 50)),
    revocationP99Ms: round(percentile(times, 99)),
    revocationMaxMs: round(Math.max(...times)),
    // From sending the logout (its own work on the origin node included).
    revocationFromRequestP50Ms: round(percentile(fromRequest, 50)),
    revocationFromRequestP99Ms: round(percentile(fromRequest, 99)),
    revocations: times.length,
  };
}

async function timedOrder(node: ClusterNode, session: WebSession, id: string, side: 'BUY' | 'SELL') {
  const t0 = performance.now();
  const answer = await placeOrder(node, session, id, { side });
  if (answer.status !== 201) throw new Error(`order on ${node.nodeId}: ${answer.status} ${answer.code}`);
  return { ms: performance.now() - t0, node: answer.node };
}

/** The node that works the account now, and its lease's fencing token (`account_leases`). */
async function leaseOf(cluster: Cluster, accountId = 'DU1000001') {
  const [row] = await cluster.query<{ node_id: string; fence: string }>(
    'select node_id, fence from account_leases where account_id = $1',
    [accountId],
  );
  return row === undefined ? undefined : { nodeId: row.node_id, fence: Number(row.fence) };
}

async function ownership(cluster: Cluster, alice: WebSession) {
  const first = cluster.nodes[0] as ClusterNode;
  const probe = await placeOrder(first, alice, `bench-probe-${Date.now()}`);
  if (probe.status !== 201) throw new Error(`order: ${JSON.stringify(probe.body)}`);
  const before = await leaseOf(cluster);
  const owner = cluster.node(before?.nodeId ?? first.nodeId);
  const other = cluster.nodes.find((n) => n !== owner) as ClusterNode;
  const direct: number[] = [];
  const through: number[] = [];
  for (let i = 0; i < ORDER_SAMPLES + 20; i += 1) {
    const side = i % 2 === 0 ? 'SELL' : 'BUY';
    const a = await timedOrder(owner, alice, `bench-own-${i}-${Date.now()}`, side);
    const b = await timedOrder(
      other,
      alice,
      `bench-fwd-${i}-${Date.now()}`,
      side === 'SELL' ? 'BUY' : 'SELL',
    );
    if (i >= 20) {
      direct.push(a.ms);
      through.push(b.ms);
    }
  }
  const ownerP50 = percentile(direct, 50);
  const otherP50 = percentile(through, 50);
  // The other node's orders ran on the owner if the lease never moved (same node, same fencing token).
  const after = await leaseOf(cluster);
  const forwarded = before !== undefined && after?.nodeId === before.nodeId && after.fence === before.fence;
  log(
    `orders for one account: through the owner ${owner.nodeId} p50 ${ownerP50.toFixed(2)} ms, through ${other.nodeId} p50 ${otherP50.toFixed(2)} ms (lease kept by the owner: ${forwarded})`,
  );
  return {
    owner,
    other,
    figures: {
      ownerOrderP50Ms: round(ownerP50),
      nonOwnerOrderP50Ms: round(otherP50),
      nonOwnerOverheadP50Ms: round(otherP50 - ownerP50),
      // Whether the other node's orders ran on the owner (the lease stayed where it was), or not.
      nonOwnerForwarded: forwarded,
    },
  };
}

async function failover(cluster: Cluster, alice: WebSession, owner: ClusterNode, other: ClusterNode) {
  const t0 = performance.now();
  await cluster.kill(owner.index);
  let attempts = 0;
  for (;;) {
    attempts += 1;
    const answer = await placeOrder(other, alice, `bench-failover-${attempts}-${Date.now()}`);
    if (answer.status === 201) {
      const failoverMs = performance.now() - t0;
      log(
        `failover: ${owner.nodeId} killed; order accepted by ${answer.node} after ${failoverMs.toFixed(0)} ms`,
      );
      return {
        failoverMs: round(failoverMs, 0),
        failoverAttempts: attempts,
        newOwner: (await leaseOf(cluster))?.nodeId ?? null,
      };
    }
    if (answer.status !== 503) throw new Error(`failover: ${answer.status} ${JSON.stringify(answer.body)}`);
    if (performance.now() - t0 > 4 * cluster.leaseMs)
      throw new Error(`failover: no order accepted within ${4 * cluster.leaseMs} ms`);
    await sleep(20);
  }
}

/**
 * Drives `target(node)` at `nodes` at once for SECONDS: the rate of answers in 2xx, the others (refused) and each
 * node's CPU per request. Refusals fail the run unless `refusals` allows them.
 */
async function driven(
  nodes: ClusterNode[],
  target: (node: ClusterNode) => Promise<LoadResult>,
  refusals: 'fail' | 'count' = 'fail',
): Promise<{ rps: number; refused: number; cpuMsPerRequest: Record<string, number> }> {
  const before = nodes.map((n) => processUsage(n.pid()).cpuMs);
  const results = await Promise.all(nodes.map(target));
  const after = nodes.map((n) => processUsage(n.pid()).cpuMs);
  const cpuMsPerRequest: Record<string, number> = {};
  nodes.forEach((n, i) => {
    const r = results[i] as LoadResult;
    if (r.errors > 0 || (r.non2xx > 0 && refusals === 'fail'))
      throw new Error(`${n.nodeId}: ${r.non2xx} non-2xx, ${r.errors} errors`);
    cpuMsPerRequest[n.nodeId] = round(((after[i] as number) - (before[i] as number)) / (r.rps * SECONDS), 3);
  });
  const refused = results.reduce((sum, r) => sum + r.non2xx, 0);
  return { rps: results.reduce((sum, r) => sum + r.rps, 0) - refused / SECONDS, refused, cpuMsPerRequest };
}

async function throughput(cluster: Cluster, alice: WebSession) {
  const headers = { cookie: alice.cookie, 'x-csrf-token': alice.csrf };
  // The same clients in total either way: 48 connections at one node, or 16 at each of three.
  const connections = (nodes: number) => (CONNECTIONS * 3) / nodes;
  const whoami = (nodes: number) => (node: ClusterNode) =>
    load(`${node.url}/v1/session`, {
      connections: connections(nodes),
      seconds: SECONDS,
      headers: { cookie: alice.cookie },
    });
  const orders = (nodes: number) => (node: ClusterNode) =>
    load(`${node.url}/v1/accounts/DU1000001/orders`, {
      connections: connections(nodes),
      seconds: SECONDS,
      headers,
      perRequestBody: marketOrders(`bench-tp-${node.nodeId}-${Date.now()}`),
    });
  const one = [cluster.nodes[0] as ClusterNode];
  // Warm every node (JIT, caches, connections).
  await Promise.all(
    cluster.nodes.map((n) => load(`${n.url}/v1/session`, { connections: 4, seconds: 1, headers })),
  );
  const whoamiOne = await driven(one, whoami(1));
  const whoamiAll = await driven(cluster.nodes, whoami(3));
  const ordersOne = await driven(one, orders(1));
  // One account's orders from three nodes at once: each goes to the account's owner (account ownership). A gateway
  // without it writes one account's journal from three nodes, which fails and halts trading there: counted.
  const ordersAll = await driven(cluster.nodes, orders(3), 'count');
  log(
    `throughput: who-am-I ${whoamiOne.rps.toFixed(0)}/s on one node, ${whoamiAll.rps.toFixed(0)}/s on three; orders ${ordersOne.rps.toFixed(0)}/s on one, ${ordersAll.rps.toFixed(0)}/s on three (${ordersAll.refused} refused)`,
  );
  return {
    whoamiRps1Node: round(whoamiOne.rps, 0),
    whoamiRps3Nodes: round(whoamiAll.rps, 0),
    ordersRps1Node: round(ordersOne.rps, 0),
    ordersRps3Nodes: round(ordersAll.rps, 0),
    ordersRefused3Nodes: ordersAll.refused,
    cpuMsPerRequest: {
      whoami1Node: whoamiOne.cpuMsPerRequest,
      whoami3Nodes: whoamiAll.cpuMsPerRequest,
      orders1Node: ordersOne.cpuMsPerRequest,
      orders3Nodes: ordersAll.cpuMsPerRequest,
    },
  };
}

export async function main() {
  const cluster = await startCluster({ nodes: 3, leaseMs: LEASE_MS });
  log(`cluster: ${cluster.nodes.map((n) => `${n.nodeId} ${n.url}`).join(', ')}; lease ${cluster.leaseMs} ms`);
  let figures: Record<string, unknown>;
  try {
    const first = cluster.nodes[0] as ClusterNode;
    const alice = await webLogin(first, 'alice');
    const held = await asWeb(first, alice, 'POST', '/v1/session/brokerage', { compete: true });
    if (held.status !== 200) throw new Error(`brokerage: ${JSON.stringify(held.body)}`);
    const phone = await enrolPhone(first, alice);
    const revoked = await revocation(cluster, phone);
    const { owner, other, figures: orders } = await ownership(cluster, alice);
    const failed = await failover(cluster, alice, owner, other);
    await cluster.restart(owner.index);
    const rates = await throughput(cluster, alice);
    figures = { ...revoked, ...orders, ...failed, leaseExpiryMs: cluster.leaseMs, ...rates };
  } finally {
    await cluster.close();
  }
  const streams = await streamCapacity({ streams: STREAMS });
  return {
    revocationP99Ms: figures.revocationP99Ms,
    nonOwnerOverheadP50Ms: figures.nonOwnerOverheadP50Ms,
    failoverMs: figures.failoverMs,
    leaseExpiryMs: figures.leaseExpiryMs,
    ...streams,
    ...figures,
  };
}
