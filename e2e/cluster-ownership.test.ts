/**
 * Account ownership across three `gatehouse serve` nodes, real processes on PostgreSQL and Redis
 * (e2e/support/cluster.ts, leases of 1.5 s): orders for one account sent round-robin to every node are worked by one
 * node; the owner killed (`kill -9`) during an order burst loses no acknowledged order, its lease moves, trading goes
 * on elsewhere and a dead-man switch armed before the kill fires once; an owner frozen (SIGSTOP) until its lease moved
 * writes nothing when it wakes (SIGCONT). Each test says what it injects and checks; the times are written to stderr.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, type ClusterNode, clusterAvailable, sleep, startCluster } from './support/cluster.js';
import { asWeb, type OrderAnswer, placeOrder, type WebSession, webLogin } from './support/cluster-clients.js';

const ACCOUNT = 'DU1000001';

function report(what: string, ms: number) {
  process.stderr.write(`cluster ownership: ${what}: ${ms.toFixed(0)} ms\n`);
}

async function leaseOf(cluster: Cluster) {
  const [row] = await cluster.query<{ node_id: string; fence: string; expires_at: string }>(
    'select node_id, fence, expires_at from account_leases where account_id = $1',
    [ACCOUNT],
  );
  return row === undefined ? undefined : { nodeId: row.node_id, fence: Number(row.fence) };
}

/** Polls until the account's lease names another node than `from`; resolves to the new lease. */
async function leaseMoves(cluster: Cluster, from: string, limitMs: number) {
  const end = Date.now() + limitMs;
  for (;;) {
    const lease = await leaseOf(cluster);
    if (lease !== undefined && lease.nodeId !== from) return lease;
    if (Date.now() > end) throw new Error(`the lease stayed with ${from} for ${limitMs} ms`);
    await sleep(10);
  }
}

/** The account's event sequence numbers, in order. */
async function sequence(cluster: Cluster): Promise<number[]> {
  const rows = await cluster.query<{ seq: string }>(
    'select seq from account_events where account_id = $1 order by seq',
    [ACCOUNT],
  );
  return rows.map((r) => Number(r.seq));
}

/** Every order of the account with its fills: each filled market order has exactly one execution. */
async function ordersAndFills(cluster: Cluster) {
  const orders = await cluster.query<{ client_order_id: string; status: string; filled: string }>(
    `select o.client_order_id, o.status, (select count(*) from executions e where e.order_id = o.id) as filled
       from orders o where o.account_id = $1`,
    [ACCOUNT],
  );
  return new Map(orders.map((o) => [o.client_order_id, { status: o.status, fills: Number(o.filled) }]));
}

/** Sends market orders to `node` from `clients` loops until `stop()`; records every answer by clientOrderId. */
function burst(node: ClusterNode, session: WebSession, tag: string, clients: number) {
  const answers = new Map<string, OrderAnswer | Error>();
  let stopped = false;
  let n = 0;
  const loops = Array.from({ length: clients }, async () => {
    while (!stopped) {
      n += 1;
      const id = `${tag}-${n}`;
      try {
        answers.set(id, await placeOrder(node, session, id));
      } catch (error) {
        // No answer (the node died, or the connection was cut): not acknowledged.
        answers.set(id, error as Error);
        await sleep(20);
      }
    }
  });
  return {
    answers,
    acknowledged: () =>
      [...answers].filter(([, a]) => !(a instanceof Error) && a.status === 201).map(([id]) => id),
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

const gapFree = (seqs: number[]) => seqs.every((seq, i) => seq === i + 1);

/** The node that works the account (an order placed first if none does yet). */
async function ownerOf(cluster: Cluster, session: WebSession): Promise<ClusterNode> {
  if ((await leaseOf(cluster)) === undefined)
    expect((await placeOrder(cluster.node(0), session, `first-${Date.now()}`)).status).toBe(201);
  return cluster.node((await leaseOf(cluster))?.nodeId as string);
}

describe.skipIf(!clusterAvailable())('account ownership across three nodes (real processes)', () => {
  let cluster: Cluster;
  let alice: WebSession;

  beforeAll(async () => {
    cluster = await startCluster({ nodes: 3 });
    alice = await webLogin(cluster.node(0), 'alice');
    const taken = await asWeb(cluster.node(0), alice, 'POST', '/v1/session/brokerage', { compete: true });
    expect(taken.status).toBe(200);
  }, 90_000);

  afterAll(async () => {
    await cluster?.close();
  });

  it('works one account on one node when its orders arrive round-robin at all three: no double fill, no gap', async () => {
    const ids = Array.from({ length: 30 }, (_, i) => `rr-${i}`);
    for (const [i, id] of ids.entries()) {
      const answer = await placeOrder(cluster.node(i % 3), alice, id);
      expect(answer.status, `${id}: ${JSON.stringify(answer.body)}`).toBe(201);
    }
    const lease = await leaseOf(cluster);
    expect(lease).toMatchObject({ fence: 1 });
    const leases = await cluster.query('select account_id from account_leases');
    expect(leases).toHaveLength(1);
    const orders = await ordersAndFills(cluster);
    for (const id of ids) expect(orders.get(id), id).toEqual({ status: 'filled', fills: 1 });
    expect(gapFree(await sequence(cluster))).toBe(true);
  }, 60_000);

  it('loses no acknowledged order when the owner is killed mid-burst; the lease moves, trading resumes, the dead-man fires once', async () => {
    const owner = await ownerOf(cluster, alice);
    const other = cluster.nodes.find((n) => n !== owner) as ClusterNode;
    // A resting order, and an account dead-man switch armed (5 s) on the owner before the kill.
    const resting = await asWeb(owner, alice, 'POST', `/v1/accounts/${ACCOUNT}/orders`, {
      clientOrderId: 'resting-1',
      instrumentId: 265598,
      side: 'BUY',
      type: 'LMT',
      limitPrice: 1,
      quantity: 1,
      tif: 'GTC',
    });
    expect(resting.status, JSON.stringify(resting.body)).toBe(201);
    const armed = await asWeb(owner, alice, 'PUT', '/v1/safety/dead-man', {
      timeoutMs: 5_000,
      scope: 'account',
      accountId: ACCOUNT,
    });
    expect(armed.status).toBe(200);
    const armedAt = Date.now();

    const load = burst(owner, alice, 'kill', 6);
    await sleep(400);
    const killedAt = Date.now();
    await cluster.kill(owner.index);
    await load.stop();
    const acknowledged = load.acknowledged();
    expect(acknowledged.length).toBeGreaterThan(0);

    const moved = await leaseMoves(cluster, owner.nodeId, 4 * cluster.leaseMs);
    const movedMs = Date.now() - killedAt;
    report(`lease moved from the killed ${owner.nodeId} to ${moved.nodeId}`, movedMs);
    expect(moved.fence).toBeGreaterThan(1);
    // Its lease expired (1.5 s) and another node's sweep (every half lease) took the account.
    expect(movedMs).toBeLessThan(2 * cluster.leaseMs + 1_000);

    // Every acknowledged order is in the database, filled once.
    const orders = await ordersAndFills(cluster);
    for (const id of acknowledged) expect(orders.get(id), id).toEqual({ status: 'filled', fills: 1 });
    // Trading resumes on another node.
    const after = await placeOrder(other, alice, 'after-kill-1', { retryMs: 5_000 });
    expect(after.status, `${JSON.stringify(after.body)}\n${other.output()}`).toBe(201);

    // The switch armed before the kill fires once, on a live node: the resting order is cancelled.
    const deadline = armedAt + 5_000;
    const fired = async () =>
      cluster.query<{ data: string }>(`select data from audit_log where type = 'safety.dead_man_fired'`);
    for (let end = deadline + 6_000; Date.now() < end && (await fired()).length === 0; ) await sleep(50);
    report('dead-man fired after its deadline', Date.now() - deadline);
    await sleep(1_000);
    expect(await fired()).toHaveLength(1);
    expect((await ordersAndFills(cluster)).get('resting-1')?.status).toBe('cancelled');
    expect(gapFree(await sequence(cluster))).toBe(true);

    await cluster.restart(owner.index);
    await cluster.waitReady(owner.index, 30_000);
  }, 90_000);

  it('lets a frozen owner write nothing once it wakes after its lease moved (SIGSTOP, then SIGCONT)', async () => {
    const owner = await ownerOf(cluster, alice);
    const resting = await asWeb(owner, alice, 'POST', `/v1/accounts/${ACCOUNT}/orders`, {
      clientOrderId: 'resting-2',
      instrumentId: 265598,
      side: 'BUY',
      type: 'LMT',
      limitPrice: 1,
      quantity: 1,
      tif: 'GTC',
    });
    expect(resting.status, JSON.stringify(resting.body)).toBe(201);
    const fenceBefore = (await leaseOf(cluster))?.fence as number;

    const load = burst(owner, alice, 'zombie', 6);
    await sleep(300);
    cluster.pause(owner.index);
    const moved = await leaseMoves(cluster, owner.nodeId, 4 * cluster.leaseMs);
    expect(moved.fence).toBeGreaterThan(fenceBefore);
    const successor = cluster.node(moved.nodeId);
    for (let i = 0; i < 3; i += 1)
      expect((await placeOrder(successor, alice, `successor-${i}`, { retryMs: 3_000 })).status).toBe(201);

    // The zombie wakes with requests half done: each either ran on the new owner or was refused (ACCOUNT_MOVING).
    cluster.resume(owner.index);
    await sleep(1_000);
    await load.stop();

    const orders = await ordersAndFills(cluster);
    const refused: string[] = [];
    for (const [id, answer] of load.answers) {
      const row = orders.get(id);
      if (!(answer instanceof Error) && answer.status === 201)
        expect(row, id).toEqual({ status: 'filled', fills: 1 });
      else {
        // Not acknowledged: the frozen owner wrote nothing of it.
        expect(
          row,
          `${id}: ${answer instanceof Error ? answer.message : answer.code}\n${owner.output()}`,
        ).toBeUndefined();
        refused.push(id);
      }
    }
    process.stderr.write(
      `cluster ownership: zombie ${owner.nodeId}: ${load.acknowledged().length} acknowledged, ${refused.length} not\n`,
    );
    expect((await leaseOf(cluster))?.nodeId).toBe(moved.nodeId);
    expect(gapFree(await sequence(cluster))).toBe(true);
    // The zombie let the account go and is not halted; orders through it run on the new owner.
    const ready = await fetch(`${owner.url}/readyz`);
    expect(ready.status).toBe(200);
    expect((await placeOrder(owner, alice, 'via-woken-1', { retryMs: 3_000 })).status).toBe(201);
    expect((await leaseOf(cluster))?.nodeId).toBe(moved.nodeId);
  }, 90_000);
});
