/**
 * Three `gatehouse serve` nodes as real processes on loopback, on one PostgreSQL database and one Redis
 * (e2e/support/cluster.ts): what a person or a program does through one node holds on the others. Each test says
 * what it injects and what it checks, and is bounded in time. The times a revocation takes to reach the other nodes
 * are written to stderr.
 *
 * Each demo user logs in with TOTP at most twice here (a code is accepted once, so a third login would wait for the
 * next 30 s step): hana for revocation, alice for the program, the phone and the orders, bruno for push, charlotte
 * for the takeover; viktor only types wrong passwords.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { connectDevice, type DeviceIdentity } from '../packages/gateway/src/authenticator/index.js';
import { TestProgram } from '../packages/gateway/src/test-support/program.js';
import { type Cluster, type ClusterNode, clusterAvailable, sleep, startCluster } from './support/cluster.js';
import {
  asWeb,
  call,
  demoUser,
  enrolPhone,
  mobileLogin,
  phoneHeaders,
  placeOrder,
  type WebSession,
  webLogin,
} from './support/cluster-clients.js';

/** Polls `refused` until it holds, at most `limitMs`; resolves to the time it took. */
async function within(limitMs: number, refused: () => Promise<boolean>): Promise<number> {
  const start = performance.now();
  while (!(await refused())) {
    if (performance.now() - start > limitMs) throw new Error(`not within ${limitMs} ms`);
    await sleep(2);
  }
  return performance.now() - start;
}

function report(what: string, ms: number) {
  process.stderr.write(`cluster: ${what}: ${ms.toFixed(1)} ms\n`);
}

interface StreamMessage {
  topic?: string;
  type: string;
  seq: number;
  eventSeq?: number;
  replayed?: boolean;
  accountId?: string;
  bySessionId?: string;
}

interface OpenStream {
  socket: WebSocket;
  messages: StreamMessage[];
  closed: Promise<number>;
}

/** Opens `/v1/stream` on `node` with a web session's cookie (from the public origin, as its page would). */
function openStream(
  cluster: Cluster,
  node: ClusterNode,
  session: WebSession,
  query = '',
): Promise<OpenStream> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${node.url.replace('http', 'ws')}/v1/stream${query}`, {
      headers: { cookie: session.cookie, origin: cluster.publicUrl },
    });
    const messages: StreamMessage[] = [];
    const closed = new Promise<number>((done) => socket.once('close', (code) => done(code)));
    socket.on('message', (raw: Buffer) => {
      const message = JSON.parse(raw.toString()) as StreamMessage;
      messages.push(message);
      if (message.type === 'hello') resolve({ socket, messages, closed });
    });
    socket.once('unexpected-response', (_request, response) =>
      reject(new Error(`stream upgrade on ${node.nodeId}: HTTP ${response.statusCode}`)),
    );
    socket.once('error', reject);
  });
}

async function until(messages: StreamMessage[], done: (m: StreamMessage[]) => boolean, limitMs = 5_000) {
  const end = Date.now() + limitMs;
  while (!done(messages)) {
    if (Date.now() > end)
      throw new Error(`waited for: ${JSON.stringify(messages.map((m) => [m.type, m.eventSeq]))}`);
    await sleep(5);
  }
}

const orderSeqs = (messages: StreamMessage[]) =>
  messages
    .filter((m) => m.topic === 'orders' && m.accountId === 'DU1000001' && m.eventSeq !== undefined)
    .map((m) => m.eventSeq as number);

/** A program (an OAuth client) calling the nodes over HTTP: its assertions and proofs name the public URL. */
function program(cluster: Cluster): TestProgram {
  const urls = { issuer: cluster.publicUrl, base: cluster.publicUrl };
  return new TestProgram({ clock: { now: () => Date.now() }, ctx: { urls } } as never);
}

async function programForm(
  node: ClusterNode,
  bot: TestProgram,
  path: string,
  params: Record<string, string>,
  dpop?: string,
) {
  const body = new URLSearchParams({
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: await bot.assertion(),
    ...params,
  });
  const response = await fetch(`${node.url}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(dpop === undefined ? {} : { dpop }),
    },
    body: body.toString(),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

function programCall(node: ClusterNode, token: string, dpop: string) {
  return call(`${node.url}/v1/instruments`, { headers: { authorization: `DPoP ${token}`, dpop } });
}

describe.skipIf(!clusterAvailable())('three gatehouse serve nodes on one PostgreSQL and one Redis', () => {
  let cluster: Cluster;
  let A: ClusterNode;
  let B: ClusterNode;
  let C: ClusterNode;
  /** Alice on A: registers the program and the phone, holds brokerage for the orders. */
  let alice: WebSession;

  beforeAll(async () => {
    // The backoff's first wait (after the free failures) is longer than any test's run, so a slow machine cannot
    // let it lapse between two attempts of the backoff test.
    cluster = await startCluster({ nodes: 3, env: { GATEHOUSE_LOGIN_BACKOFF_BASE_MS: '60000' } });
    [A, B, C] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
    alice = await webLogin(A, 'alice');
  }, 90_000);

  afterAll(async () => {
    await cluster?.close();
  }, 30_000);

  it('answers from each node with its own name (x-gatehouse-node)', async () => {
    const names = await Promise.all(
      cluster.nodes.map(async (n) => (await asWeb(n, alice, 'GET', '/v1/session')).node),
    );
    expect(names).toEqual(['node-a', 'node-b', 'node-c']);
  });

  it('freezes a paused node and wakes it on resume (the rig a zombie-owner test stands on)', async () => {
    // Injected: SIGSTOP to C, then SIGCONT. Checked: C answers nothing while paused, and is ready once resumed;
    // the other nodes answer throughout.
    cluster.pause(C.index);
    try {
      await expect(fetch(`${C.url}/readyz`, { signal: AbortSignal.timeout(300) })).rejects.toThrow();
      expect((await call(`${B.url}/readyz`)).status).toBe(200);
    } finally {
      cluster.resume(C.index);
    }
    await cluster.waitReady(C.index, 5_000);
    const rows = await cluster.query<{ n: string }>('select count(*) as n from users');
    expect(Number(rows[0]?.n)).toBeGreaterThanOrEqual(5);
  });

  it('refuses on B and C a web session revoked on A, and one logged out on A, within two seconds', async () => {
    // Injected: two sessions of hana, both read (and cached) by B and C; on A one revokes the other, then logs out.
    // Checked: B and C refuse each at once (SESSION_REVOKED), well before their 30 s re-read.
    const first = await webLogin(A, 'hana');
    const second = await webLogin(A, 'hana');
    for (const node of [B, C]) {
      expect((await asWeb(node, first, 'GET', '/v1/session')).status).toBe(200);
      expect((await asWeb(node, second, 'GET', '/v1/session')).status).toBe(200);
    }
    const revoked = await asWeb(A, first, 'DELETE', `/v1/sessions/${second.sessionId}`);
    expect(revoked.status).toBe(200);
    for (const node of [B, C]) {
      const ms = await within(
        2_000,
        async () => (await asWeb(node, second, 'GET', '/v1/session')).code === 'SESSION_REVOKED',
      );
      report(`session revoked on A, refused on ${node.nodeId}`, ms);
    }
    expect((await asWeb(A, first, 'POST', '/v1/auth/logout', {})).status).toBe(200);
    for (const node of [B, C]) {
      const ms = await within(
        2_000,
        async () => (await asWeb(node, first, 'GET', '/v1/session')).code === 'SESSION_REVOKED',
      );
      report(`logout on A, refused on ${node.nodeId}`, ms);
    }
  });

  describe('a program', () => {
    let bot: TestProgram;

    beforeAll(async () => {
      bot = program(cluster);
      const created = await asWeb(A, alice, 'POST', '/v1/oauth/clients', {
        name: 'cluster bot',
        keys: [bot.clientKey.publicJwk],
        accounts: ['DU1000001'],
        scopes: ['read', 'trade'],
      });
      expect(created.status).toBe(201);
      bot.clientId = created.body.clientId as string;
    });

    async function token(node: ClusterNode): Promise<string> {
      const issued = await programForm(
        node,
        bot,
        '/oauth2/token',
        { grant_type: 'client_credentials' },
        await bot.proof('POST', '/oauth2/token'),
      );
      expect(issued.status).toBe(200);
      return issued.body.access_token as string;
    }

    it('is refused on B and C once its token is revoked on A', async () => {
      // Injected: a DPoP-bound token issued by A, used on B and C, then revoked at A's /oauth2/revoke.
      // Checked: B and C refuse it within two seconds.
      const access = await token(A);
      for (const node of [B, C]) {
        const ok = await programCall(
          node,
          access,
          await bot.proof('GET', '/v1/instruments', { accessToken: access }),
        );
        expect(ok.status).toBe(200);
      }
      expect((await programForm(A, bot, '/oauth2/revoke', { token: access })).status).toBe(200);
      for (const node of [B, C]) {
        const ms = await within(2_000, async () => {
          const proof = await bot.proof('GET', '/v1/instruments', { accessToken: access });
          return (await programCall(node, access, proof)).status === 401;
        });
        report(`program token revoked on A, refused on ${node.nodeId}`, ms);
      }
    });

    it('refuses a DPoP proof replayed to the node that took it (the control for the next test)', async () => {
      const access = await token(A);
      const proof = await bot.proof('GET', '/v1/instruments', { accessToken: access });
      expect((await programCall(A, access, proof)).status).toBe(200);
      expect((await programCall(A, access, proof)).status).toBe(401);
    });

    it('cannot replay a DPoP proof to another node', async () => {
      // Injected: one proof, accepted by A, sent again unchanged to B, then to C.
      // Checked: each replay is refused as A refuses its own (the proof's jti is remembered for every node).
      const access = await token(A);
      const proof = await bot.proof('GET', '/v1/instruments', { accessToken: access });
      expect((await programCall(A, access, proof)).status).toBe(200);
      const replays = [];
      for (const node of [B, C]) replays.push((await programCall(node, access, proof)).status);
      expect(replays).toEqual([401, 401]);
    });
  });

  describe('a phone', () => {
    let phone: DeviceIdentity;

    beforeAll(async () => {
      phone = await enrolPhone(A, alice);
    });

    it('refuses a device proof replayed to the node that took it (the control for the next test)', async () => {
      const session = await mobileLogin(A, phone);
      const headers = phoneHeaders(cluster, phone, session, 'GET', '/v1/session');
      expect((await call(`${A.url}/v1/session`, { headers })).status).toBe(200);
      expect((await call(`${A.url}/v1/session`, { headers })).code).toBe('PROOF_REPLAYED');
    });

    it('cannot replay a device proof to another node', async () => {
      // Injected: one bearer request with its device proof, accepted by A, sent again unchanged to B and C.
      // Checked: each replay is refused with PROOF_REPLAYED.
      const session = await mobileLogin(A, phone);
      const headers = phoneHeaders(cluster, phone, session, 'GET', '/v1/session');
      expect((await call(`${A.url}/v1/session`, { headers })).status).toBe(200);
      const replays = [];
      for (const node of [B, C]) replays.push((await call(`${node.url}/v1/session`, { headers })).code);
      expect(replays).toEqual(['PROOF_REPLAYED', 'PROOF_REPLAYED']);
    });

    it('is refused on B and C once its session logs out on A', async () => {
      // Injected: a mobile session read on B and C, then logged out on A. Checked: B and C refuse it within two seconds.
      const session = await mobileLogin(A, phone);
      for (const node of [B, C]) {
        const read = await call(`${node.url}/v1/session`, {
          headers: phoneHeaders(cluster, phone, session, 'GET', '/v1/session'),
        });
        expect(read.status).toBe(200);
      }
      const out = await call(`${A.url}/v1/auth/logout`, {
        method: 'POST',
        headers: phoneHeaders(cluster, phone, session, 'POST', '/v1/auth/logout'),
        body: {},
      });
      expect(out.status).toBe(200);
      for (const node of [B, C]) {
        const ms = await within(2_000, async () => {
          const headers = phoneHeaders(cluster, phone, session, 'GET', '/v1/session');
          return (await call(`${node.url}/v1/session`, { headers })).code === 'SESSION_REVOKED';
        });
        report(`mobile logout on A, refused on ${node.nodeId}`, ms);
      }
    });
  });

  it('holds the login backoff across nodes: wrong passwords spread over A, B and C count as one', async () => {
    // Injected: viktor's wrong passwords, one node after the other (A, B, C, A, B: the free failures), then a sixth
    // attempt on C and the right password on A. Checked: both are held back (TOO_MANY_ATTEMPTS), as on one node.
    const user = demoUser('viktor');
    const attempt = (node: ClusterNode, password: string) =>
      call(`${node.url}/v1/auth/login`, {
        method: 'POST',
        body: { username: user.username, password, channel: 'web' },
      });
    const free = [];
    for (const node of [A, B, C, A, B]) free.push((await attempt(node, 'not-the-password')).code);
    expect(free).toEqual(Array(5).fill('INVALID_CREDENTIALS'));
    const sixth = await attempt(C, 'not-the-password');
    expect(sixth.code).toBe('TOO_MANY_ATTEMPTS');
    const right = await attempt(A, user.password);
    expect(right.code).toBe('TOO_MANY_ATTEMPTS');
  });

  it('completes on B a push login the phone approves over its socket to A', async () => {
    // Injected: bruno's phone holds its device socket on A; a web login starts on B and asks for a push.
    // Checked: the phone gets the push through A, approves, and the login completes on B with a session B accepts.
    const bruno = demoUser('bruno');
    const enrolling = await webLogin(A, 'bruno');
    const phone = await enrolPhone(A, enrolling);
    const pushes: string[] = [];
    const device = await connectDevice(phone, {
      onPush: (push, stream) => {
        pushes.push(push.challengeId);
        stream.decide(push, 'approve');
      },
    });
    try {
      const started = await call(`${B.url}/v1/auth/login`, {
        method: 'POST',
        body: { username: bruno.username, password: bruno.password, channel: 'web' },
      });
      expect(started.status).toBe(200);
      const loginId = started.body.loginId as string;
      const push = await call(`${B.url}/v1/auth/login/${loginId}/factor`, {
        method: 'POST',
        body: { type: 'push' },
      });
      expect(push.status).toBe(200);
      const response = await fetch(`${B.url}/v1/auth/login/${loginId}?waitMs=8000`);
      const body = (await response.json()) as { status: string; csrfToken: string };
      expect(body.status).toBe('authenticated');
      expect(response.headers.get('x-gatehouse-node')).toBe('node-b');
      expect(pushes).toHaveLength(1);
      const cookie = (response.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
      const who = await call(`${B.url}/v1/session`, { headers: { cookie } });
      expect(who.status).toBe(200);
      expect((who.body.user as { username: string }).username).toBe('bruno');
    } finally {
      device.close();
    }
  }, 30_000);

  it('shows competing on the holder stream held on C when another session takes brokerage on B', async () => {
    // Injected: charlotte's first session holds brokerage (taken on A) and has its stream on C; her second session
    // takes brokerage on B. Checked: the stream on C gets `competing`, naming the second session, within two seconds.
    const holder = await webLogin(A, 'charlotte');
    const taker = await webLogin(B, 'charlotte');
    expect((await asWeb(A, holder, 'POST', '/v1/session/brokerage', { compete: true })).status).toBe(200);
    const stream = await openStream(cluster, C, holder);
    try {
      const t0 = performance.now();
      expect((await asWeb(B, taker, 'POST', '/v1/session/brokerage', { compete: true })).status).toBe(200);
      await until(stream.messages, (m) => m.some((x) => x.type === 'competing'), 2_000);
      report('takeover on B, competing on the stream on C', performance.now() - t0);
      expect(stream.messages.find((m) => m.type === 'competing')?.bySessionId).toBe(taker.sessionId);
    } finally {
      stream.socket.close();
    }
  });

  it('resumes on B an order stream whose node C was killed, with no gap and no duplicate', async () => {
    // Injected: alice's stream on C sees live order events; C is killed (SIGKILL); orders are placed meanwhile; the
    // client reconnects to B naming its last eventSeq. Checked: B replays every missed event in sequence, then live
    // events follow without a gap or a duplicate. C is started again afterwards.
    expect((await asWeb(A, alice, 'POST', '/v1/session/brokerage', { compete: true })).status).toBe(200);
    const onC = await openStream(cluster, C, alice);
    const first = await placeOrder(A, alice, `resume-${Date.now()}-1`, { retryMs: 3 * cluster.leaseMs });
    expect(first.status).toBe(201);
    await until(onC.messages, (m) => orderSeqs(m).length >= 2);
    const seen = orderSeqs(onC.messages);
    const last = seen[seen.length - 1] as number;
    await cluster.kill(C.index);
    await onC.closed;

    const sides = ['SELL', 'BUY'] as const;
    for (const [i, side] of sides.entries()) {
      const placed = await placeOrder(B, alice, `resume-${Date.now()}-${i + 2}`, {
        side,
        retryMs: 3 * cluster.leaseMs,
      });
      expect(placed.status).toBe(201);
    }
    const onB = await openStream(cluster, B, alice, `?resumeAfter=DU1000001:${last}`);
    try {
      await until(onB.messages, (m) => m.some((x) => x.type === 'replayed'));
      const replayed = onB.messages.filter((m) => m.replayed === true).map((m) => m.eventSeq as number);
      expect(replayed.length).toBeGreaterThanOrEqual(4);
      expect(replayed).toEqual(replayed.map((_, i) => last + 1 + i));
      const live = await placeOrder(A, alice, `resume-${Date.now()}-4`, {
        side: 'SELL',
        retryMs: 3 * cluster.leaseMs,
      });
      expect(live.status).toBe(201);
      const upTo = (replayed[replayed.length - 1] as number) + 2;
      await until(onB.messages, (m) => orderSeqs(m).includes(upTo));
      const all = orderSeqs(onB.messages);
      expect(all).toEqual(all.map((_, i) => last + 1 + i));
    } finally {
      onB.socket.close();
      await cluster.restart(C.index);
    }
    expect((await call(`${C.url}/readyz`)).status).toBe(200);
  }, 45_000);
});
