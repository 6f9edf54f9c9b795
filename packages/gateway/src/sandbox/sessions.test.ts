/**
 * The sessions family of faults, each shown by what follows it downstream, as after the real event: an expiry's
 * `SESSION_EXPIRED` and the session-loss policy; a token expired early or revoked (`INVALID_TOKEN`, then a refresh or
 * a new token works); a competing login that turns the holder competing at once; a network change that needs a
 * step-up; a revoked device ending its sessions; the daily reset (`SESSION_RESET`); and the token endpoint refusing,
 * hanging, or losing its answer after committing (with the reuse leeway that makes the last survivable). A fault on
 * one user's target never touches another's.
 */
import type { Fault, FaultRequest } from '@gatehouse/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { INSTRUMENTS, type Instrument } from '../instruments/index.js';
import {
  ALICE,
  BRUNO,
  callAs,
  errorCode,
  json,
  type LoggedIn,
  loginAs,
  loginTrading,
  startTestGateway,
  type TestGateway,
} from '../test-support/gateway.js';
import {
  ADMIN_TOKEN,
  authorizeApp,
  botToken,
  exchangeCode,
  registerApp,
  registerBot,
  type TestProgram,
} from '../test-support/program.js';

let gw: TestGateway;
afterEach(async () => {
  await gw?.close();
});

async function start(listen = false) {
  gw = await startTestGateway({
    config: {
      sandbox: { enabled: true },
      secrets: { adminApiToken: ADMIN_TOKEN },
      ...(listen ? { server: { port: 0, host: '127.0.0.1' } } : {}),
    },
  });
  const base = listen ? await gw.listen() : '';
  return { sandbox: gw.ctx.sandbox as NonNullable<TestGateway['ctx']['sandbox']>, base };
}

const op = { type: 'operator' } as const;
/** Injects a fault as an operator; resolves to it as listed once its action (if any) is done: state and hits. */
async function inject(fault: FaultRequest) {
  const sandbox = gw.ctx.sandbox as NonNullable<typeof gw.ctx.sandbox>;
  const { id } = await sandbox.inject(fault, op);
  return (await sandbox.list()).find((f) => f.id === id) as Fault;
}

const AAPL = INSTRUMENTS.find((i) => i.symbol === 'AAPL') as Instrument;
let n = 0;
/** A resting DAY limit 3 % under the bid: it neither fills nor needs confirmation. */
function resting() {
  n += 1;
  const bid = gw.ctx.marketData.live(AAPL).bid;
  return {
    clientOrderId: `sbx-${n}`,
    instrumentId: AAPL.id,
    side: 'BUY',
    type: 'LMT',
    quantity: 1,
    limitPrice: Number((bid * 0.97).toFixed(2)),
    tif: 'DAY',
  };
}

const order = (as: LoggedIn, account = 'DU1000001') =>
  callAs(gw, 'POST', `/v1/accounts/${account}/orders`, as, resting());

const statusOf = async (orderId: string) =>
  (
    await gw.ctx.store.db
      .selectFrom('orders')
      .select('status')
      .where('id', '=', orderId)
      .executeTakeFirstOrThrow()
  ).status;

const lossReasons = async () =>
  (
    await gw.ctx.store.db
      .selectFrom('audit_log')
      .select('data')
      .where('type', '=', 'safety.session_loss')
      .execute()
  ).map((a) => JSON.parse(a.data).reason as string);

/** Bruno (delayed data only: his orders are confirmation questions) still holds trading, nothing pending. */
async function stillTrades(as: LoggedIn) {
  expect(json(await callAs(gw, 'POST', '/v1/session/tickle', as))).toMatchObject({
    tier: 'brokerage',
    competing: false,
    stepUpRequired: false,
  });
}

/** Alice trading with a working order under `cancel_all`, and Bruno trading beside her. */
async function twoTraders() {
  const alice = await loginTrading(gw, ALICE);
  await callAs(gw, 'PUT', '/v1/accounts/DU1000001/session-loss-policy', alice, { policy: 'cancel_all' });
  const placed = json(await order(alice));
  expect(placed.status).toBe('working');
  const bruno = await loginTrading(gw, BRUNO);
  return { alice, bruno, orderId: placed.id as string };
}

describe('session expiry faults', () => {
  for (const [kind, reason, loss] of [
    ['session.idle_expiry', 'idle', 'idle'],
    ['session.absolute_expiry', 'absolute', 'expired'],
  ] as const) {
    it(`${kind}: the next request is SESSION_EXPIRED and the session-loss policy cancels its orders`, async () => {
      await start();
      const { alice, bruno, orderId } = await twoTraders();
      const fault = await inject({ kind, target: { type: 'session', id: alice.sessionId } });
      expect(fault).toMatchObject({ state: 'done', hits: 1 });
      const next = await callAs(gw, 'GET', '/v1/session', alice);
      expect(errorCode(next)).toBe('SESSION_EXPIRED');
      expect(json(next).error).toMatchObject({ details: { reason } });
      await gw.ctx.safety.sweep();
      expect(await statusOf(orderId)).toBe('cancelled');
      expect(await lossReasons()).toEqual([loss]);
      // Bruno's session is not touched.
      expect((await callAs(gw, 'GET', '/v1/session', bruno)).statusCode).toBe(200);
      await stillTrades(bruno);
    });
  }

  it('expires a client’s program sessions (one per instance), and the bot gets a new session with a new token', async () => {
    await start();
    const alice = await loginAs(gw, ALICE);
    const bot = await registerBot(gw, alice);
    const token = await botToken(bot);
    const before = json(await bot.call('GET', '/v1/session', token)) as { session: { id: string } };
    const fault = await inject({ kind: 'session.idle_expiry', target: { type: 'client', id: bot.clientId } });
    expect(fault.hits).toBe(1);
    expect(errorCode(await bot.call('GET', '/v1/session', token))).toBe('SESSION_EXPIRED');
    const again = await botToken(bot);
    const after = json(await bot.call('GET', '/v1/session', again)) as { session: { id: string } };
    expect(after.session.id).not.toBe(before.session.id);
    // The person's own session is not the client's.
    expect((await callAs(gw, 'GET', '/v1/session', alice)).statusCode).toBe(200);
  });
});

describe('token faults', () => {
  async function app(user = ALICE) {
    const program = await registerApp(gw, { rotate: true });
    const flow = await authorizeApp(program, await loginAs(gw, user));
    const tokens = json(await exchangeCode(program, flow.code, flow.verifier)) as {
      access_token: string;
      refresh_token: string;
    };
    return { program, tokens };
  }
  const refresh = (program: TestProgram, refreshToken: string) =>
    program.form('/oauth2/token', { grant_type: 'refresh_token', refresh_token: refreshToken });

  it('token.expired_early: the next resource request is INVALID_TOKEN, and a refresh works', async () => {
    await start();
    const { program, tokens } = await app();
    const bruno = await registerBot(gw, await loginAs(gw, BRUNO), { accounts: ['U2000002'] });
    const brunoToken = await botToken(bruno);
    expect((await program.call('GET', '/v1/session', tokens.access_token)).statusCode).toBe(200);
    const fault = await inject({
      kind: 'token.expired_early',
      target: { type: 'client', id: program.clientId },
    });
    expect(fault.hits).toBe(1);
    const expired = await program.call('GET', '/v1/session', tokens.access_token);
    expect(errorCode(expired)).toBe('INVALID_TOKEN');
    const row = await gw.ctx.store.db
      .selectFrom('oauth_tokens')
      .select(['expires_at', 'revoked_at'])
      .where('kind', '=', 'access')
      .where('grant_id', 'in', (q) =>
        q.selectFrom('oauth_grants').select('id').where('client_id', '=', program.clientId),
      )
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ expires_at: gw.clock.now(), revoked_at: null });
    const renewed = json(await refresh(program, tokens.refresh_token)) as { access_token: string };
    expect((await program.call('GET', '/v1/session', renewed.access_token)).statusCode).toBe(200);
    // Bruno's bot is not the target.
    expect((await bruno.call('GET', '/v1/session', brunoToken)).statusCode).toBe(200);
  });

  it('token.revoked: only those tokens end, as the revocation endpoint ends them; the grant lives on', async () => {
    await start();
    const alice = await loginAs(gw, ALICE);
    const bot = await registerBot(gw, alice);
    const token = await botToken(bot);
    const bruno = await registerBot(gw, await loginAs(gw, BRUNO), { accounts: ['U2000002'] });
    const brunoToken = await botToken(bruno);
    const fault = await inject({ kind: 'token.revoked', target: { type: 'user', id: await userId(ALICE) } });
    expect(fault.hits).toBe(1);
    expect(errorCode(await bot.call('GET', '/v1/session', token))).toBe('INVALID_TOKEN');
    const grants = await gw.ctx.store.db
      .selectFrom('oauth_grants')
      .select('revoked_at')
      .where('client_id', '=', bot.clientId)
      .execute();
    expect(grants).toEqual([{ revoked_at: null }]);
    expect((await bot.call('GET', '/v1/session', await botToken(bot))).statusCode).toBe(200);
    expect((await bruno.call('GET', '/v1/session', brunoToken)).statusCode).toBe(200);
  });
});

async function userId(user: { username: string }): Promise<string> {
  return (
    await gw.ctx.store.db
      .selectFrom('users')
      .select('id')
      .where('username', '=', user.username)
      .executeTakeFirstOrThrow()
  ).id;
}

describe('login.competing', () => {
  it('a real login on another channel, from the named device, takes trading: the holder is competing at once', async () => {
    await start();
    const { alice, bruno } = await twoTraders();
    const competing: string[] = [];
    gw.ctx.bus.subscribe('session.competing', (m) => competing.push(m.sessionId));
    const takeovers = async () => (await gw.ctx.metrics.takeovers.get()).values;
    const fault = await inject({
      kind: 'login.competing',
      target: { type: 'user', id: await userId(ALICE) },
      params: { channel: 'mobile', device: 'Alice’s phone' },
    });
    expect(fault.hits).toBe(1);
    expect(competing).toEqual([alice.sessionId]);
    expect(await takeovers()).toEqual([expect.objectContaining({ labels: { channel: 'mobile' }, value: 1 })]);
    const tickle = json(await callAs(gw, 'POST', '/v1/session/tickle', alice));
    expect(tickle).toMatchObject({ competing: true, tier: 'read_only' });
    expect(errorCode(await order(alice))).toBe('SESSION_COMPETING');
    // The new session is on the phone the registry knows, and the login is audited as one.
    const sessions = await gw.ctx.sessions.listForUser(await userId(ALICE));
    const phone = sessions.find((s) => s.channel === 'mobile');
    const device = await gw.ctx.store.db
      .selectFrom('devices')
      .select(['name', 'kind', 'status'])
      .where('id', '=', phone?.deviceId ?? '')
      .executeTakeFirstOrThrow();
    expect(device).toEqual({ name: 'Alice’s phone', kind: 'mobile', status: 'active' });
    const audit = await gw.ctx.store.db
      .selectFrom('audit_log')
      .select(['type', 'data'])
      .where('session_id', '=', phone?.id ?? '')
      .execute();
    expect(audit.map((a) => a.type)).toEqual(['login.succeeded', 'session.brokerage_acquired']);
    expect(JSON.parse(audit[1]?.data ?? '{}')).toMatchObject({ tookOverFrom: alice.sessionId });
    // Asking to hold trading again names the phone.
    const held = await callAs(gw, 'POST', '/v1/session/brokerage', alice, { compete: false });
    expect(json(held).error).toMatchObject({
      code: 'BROKERAGE_HELD_ELSEWHERE',
      details: { channel: 'mobile', device: 'Alice’s phone' },
    });
    // Bruno still trades.
    await stillTrades(bruno);
  });

  it('tells the holder’s open stream at once that it is competing, naming the phone’s session', async () => {
    const { base } = await start(true);
    const alice = await loginTrading(gw, ALICE);
    const socket = new WebSocket(`${base.replace('http', 'ws')}/v1/stream`, {
      headers: { cookie: alice.cookie, origin: base },
    });
    const messages: { type: string; bySessionId?: string }[] = [];
    socket.on('message', (raw: Buffer) => messages.push(JSON.parse(raw.toString())));
    try {
      await until(() => messages.some((m) => m.type === 'hello'));
      await inject({
        kind: 'login.competing',
        target: { type: 'session', id: alice.sessionId },
        params: { channel: 'desktop', device: 'Office workstation' },
      });
      await until(() => messages.some((m) => m.type === 'competing'));
      const phone = (await gw.ctx.sessions.listForUser(await userId(ALICE))).find(
        (s) => s.channel === 'desktop',
      );
      expect(messages.find((m) => m.type === 'competing')).toMatchObject({ bySessionId: phone?.id });
    } finally {
      socket.close();
    }
  });
});

describe('an open stream', () => {
  it('ends with its session when the session expires now, and says reset when trading ends by a reset now', async () => {
    const { base } = await start(true);
    const alice = await loginTrading(gw, ALICE);
    const open = () => {
      const socket = new WebSocket(`${base.replace('http', 'ws')}/v1/stream`, {
        headers: { cookie: alice.cookie, origin: base },
      });
      const messages: { type: string; code?: string }[] = [];
      socket.on('message', (raw: Buffer) => messages.push(JSON.parse(raw.toString())));
      const closed = new Promise<string>((resolve) =>
        socket.once('close', (_code, reason) => resolve(reason.toString())),
      );
      return { socket, messages, closed };
    };
    const first = open();
    try {
      await until(() => first.messages.some((m) => m.type === 'hello'));
      await inject({ kind: 'reset.daily', target: { type: 'session', id: alice.sessionId } });
      await until(() => first.messages.some((m) => m.type === 'reset'));
      await inject({ kind: 'session.idle_expiry', target: { type: 'session', id: alice.sessionId } });
      expect(await first.closed).toBe('SESSION_EXPIRED');
      expect(first.messages.at(-1)).toMatchObject({ type: 'expired', code: 'SESSION_EXPIRED' });
    } finally {
      first.socket.close();
    }
  });
});

/** Waits until `check()` holds, polling every 5 ms; throws after 3 s. */
async function until(check: () => boolean): Promise<void> {
  const end = Date.now() + 3_000;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('network.changed', () => {
  it('the session sees another network: the next order needs a step-up, audited as a network change', async () => {
    await start();
    const { alice, bruno } = await twoTraders();
    const fault = await inject({
      kind: 'network.changed',
      target: { type: 'session', id: alice.sessionId },
      params: { address: '198.51.100.23' },
    });
    expect(fault.hits).toBe(1);
    const refused = await order(alice);
    expect(errorCode(refused)).toBe('STEP_UP_REQUIRED');
    expect(json(refused).error).toMatchObject({ details: { reason: 'network_changed' } });
    const audit = await gw.ctx.store.db
      .selectFrom('audit_log')
      .select('data')
      .where('type', '=', 'session.network_changed')
      .where('session_id', '=', alice.sessionId)
      .orderBy('seq')
      .executeTakeFirstOrThrow();
    expect(JSON.parse(audit.data)).toMatchObject({ to: '198.51.100.0/24' });
    await stillTrades(bruno);
  });
});

describe('device.revoked', () => {
  it('revokes the device the session is bound to, and the sessions bound to it end', async () => {
    await start();
    const { alice, bruno } = await twoTraders();
    const session = await gw.ctx.sessions.findById(alice.sessionId);
    expect(session?.deviceId).not.toBeNull();
    const fault = await inject({ kind: 'device.revoked', target: { type: 'session', id: alice.sessionId } });
    expect(fault.hits).toBe(1);
    const next = await callAs(gw, 'GET', '/v1/session', alice);
    expect(errorCode(next)).toBe('SESSION_REVOKED');
    expect(json(next).error).toMatchObject({ details: { reason: 'device_revoked' } });
    const device = await gw.ctx.store.db
      .selectFrom('devices')
      .select('status')
      .where('id', '=', session?.deviceId ?? '')
      .executeTakeFirstOrThrow();
    expect(device.status).toBe('revoked');
    expect((await callAs(gw, 'GET', '/v1/session', bruno)).statusCode).toBe(200);
  });

  it('leaves a named device alone when it is not the target user’s', async () => {
    await start();
    const { alice, bruno } = await twoTraders();
    const brunoDevice = (await gw.ctx.sessions.findById(bruno.sessionId))?.deviceId ?? '';
    const fault = await inject({
      kind: 'device.revoked',
      target: { type: 'user', id: await userId(ALICE) },
      params: { deviceId: brunoDevice },
    });
    expect(fault.hits).toBe(0);
    expect((await callAs(gw, 'GET', '/v1/session', bruno)).statusCode).toBe(200);
    expect((await callAs(gw, 'GET', '/v1/session', alice)).statusCode).toBe(200);
  });
});

describe('reset.daily', () => {
  it('ends the target’s brokerage tier as the reset does: SESSION_RESET, the loss policy, and taking it back', async () => {
    await start();
    const { alice, bruno, orderId } = await twoTraders();
    const fault = await inject({ kind: 'reset.daily', target: { type: 'user', id: await userId(ALICE) } });
    expect(fault.hits).toBe(1);
    expect(errorCode(await order(alice))).toBe('SESSION_RESET');
    expect(json(await callAs(gw, 'POST', '/v1/session/tickle', alice))).toMatchObject({
      tier: 'read_only',
      competing: false,
    });
    await gw.ctx.safety.sweep();
    expect(await statusOf(orderId)).toBe('cancelled');
    expect(await lossReasons()).toEqual(['reset']);
    // Nobody holds trading since the reset: asking again, without competing, takes it.
    gw.clock.advance(1_500);
    expect((await callAs(gw, 'POST', '/v1/session/brokerage', alice, { compete: false })).statusCode).toBe(
      200,
    );
    expect(json(await order(alice)).status).toBe('working');
    // The re-authentication time counts from the injected reset, not from the last real one hours before.
    const samples = await gw.ctx.store.db
      .selectFrom('reauthentication_samples')
      .select(['ms', 'channel'])
      .execute();
    expect(samples.map((r) => ({ ms: Number(r.ms), channel: r.channel }))).toEqual([
      { ms: 1_500, channel: 'web' },
    ]);
    await stillTrades(bruno);
  });
});

describe('the token endpoint’s faults', () => {
  /** An app with rotation, authorized by Alice: its client, tokens, and a fetch of the token endpoint over HTTP. */
  async function rotatingApp(base: string) {
    const program = await registerApp(gw, { rotate: true });
    const flow = await authorizeApp(program, await loginAs(gw, ALICE));
    const tokens = json(await exchangeCode(program, flow.code, flow.verifier)) as {
      access_token: string;
      refresh_token: string;
    };
    /** A refresh over a real connection (a cut connection rejects, as it does for a client). */
    const refreshOverHttp = async (refreshToken: string) =>
      fetch(`${base}/oauth2/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          dpop: await program.proof('POST', '/oauth2/token'),
        },
        body: new URLSearchParams({
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: await program.assertion(),
          grant_type: 'refresh_token',
          refresh_token: refreshToken,
        }).toString(),
      });
    return { program, tokens, refreshOverHttp };
  }
  const tokenRows = () =>
    gw.ctx.store.db.selectFrom('oauth_tokens').select(['kind', 'spent_at']).orderBy('created_at').execute();

  it('refresh.refused: the 5xx, before anything changes; the same refresh token works after', async () => {
    const { sandbox } = await start();
    const { program, tokens } = await rotatingApp('');
    const before = await tokenRows();
    const fault = await inject({
      kind: 'refresh.refused',
      target: { type: 'client', id: program.clientId },
      params: { status: 502 },
    });
    const refused = await program.form('/oauth2/token', {
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token,
    });
    expect(refused.statusCode).toBe(502);
    expect(refused.headers['cache-control']).toBe('no-store');
    expect(errorCode(refused)).toBe('INTERNAL');
    expect(await tokenRows()).toEqual(before);
    await sandbox.clear(fault.id, op);
    const after = await program.form('/oauth2/token', {
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token,
    });
    expect(after.statusCode).toBe(200);
  });

  it('refresh.timeout: the connection hangs, then closes with no answer; nothing was committed', async () => {
    const { sandbox, base } = await start(true);
    const { program, tokens, refreshOverHttp } = await rotatingApp(base);
    const before = await tokenRows();
    const fault = await inject({
      kind: 'refresh.timeout',
      target: { type: 'user', id: await userId(ALICE) },
      params: { hangMs: 30 },
    });
    const started = Date.now();
    await expect(refreshOverHttp(tokens.refresh_token)).rejects.toThrow();
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
    expect(await tokenRows()).toEqual(before);
    await sandbox.clear(fault.id, op);
    const after = await refreshOverHttp(tokens.refresh_token);
    expect(after.status).toBe(200);
    void program;
  });

  it('refresh.response_lost: committed, then cut; the retry within the leeway gets the same successor, no reuse', async () => {
    const { sandbox, base } = await start(true);
    const { program, tokens, refreshOverHttp } = await rotatingApp(base);
    const fault = await inject({
      kind: 'refresh.response_lost',
      target: { type: 'client', id: program.clientId },
    });
    await expect(refreshOverHttp(tokens.refresh_token)).rejects.toThrow();
    // Committed: the refresh token was spent for a successor the client never saw.
    const spent = await gw.ctx.store.db
      .selectFrom('oauth_tokens')
      .select('spent_at')
      .where('kind', '=', 'refresh')
      .where('spent_at', 'is not', null)
      .execute();
    expect(spent).toHaveLength(1);
    await sandbox.clear(fault.id, op);
    gw.clock.advance(3_000);
    const retried = await refreshOverHttp(tokens.refresh_token);
    expect(retried.status).toBe(200);
    const body = (await retried.json()) as { access_token: string; refresh_token: string };
    expect(body.refresh_token).not.toBe(tokens.refresh_token);
    expect((await program.call('GET', '/v1/session', body.access_token)).statusCode).toBe(200);
    // The successor works in its turn; the grant was never revoked.
    const next = await refreshOverHttp(body.refresh_token);
    expect(next.status).toBe(200);
    const reused = await gw.ctx.store.db
      .selectFrom('audit_log')
      .select('type')
      .where('type', '=', 'oauth.refresh_token_reused')
      .execute();
    expect(reused).toEqual([]);
  });

  it('a spent refresh token whose successor was used is reuse, even within the leeway: the grant is revoked', async () => {
    await start();
    const { program, tokens } = await rotatingApp('');
    const form = (refreshToken: string) =>
      program.form('/oauth2/token', { grant_type: 'refresh_token', refresh_token: refreshToken });
    const successor = (json(await form(tokens.refresh_token)) as { refresh_token: string }).refresh_token;
    expect((await form(successor)).statusCode).toBe(200);
    gw.clock.advance(1_000);
    const again = await form(tokens.refresh_token);
    expect(json(again).error).toBe('invalid_grant');
    const grant = await gw.ctx.store.db
      .selectFrom('oauth_grants')
      .select('revoke_reason')
      .where('client_id', '=', program.clientId)
      .executeTakeFirstOrThrow();
    expect(grant.revoke_reason).toBe('refresh_token_reused');
  });

  it('acts on a personal client’s client-credentials request, its way of refreshing, and on no one else’s', async () => {
    const { sandbox } = await start();
    const alice = await loginAs(gw, ALICE);
    const bot = await registerBot(gw, alice);
    const bruno = await registerBot(gw, await loginAs(gw, BRUNO), { accounts: ['U2000002'] });
    const fault = await inject({
      kind: 'refresh.refused',
      target: { type: 'user', id: await userId(ALICE) },
    });
    const refused = await bot.form('/oauth2/token', { grant_type: 'client_credentials' });
    expect(refused.statusCode).toBe(503);
    expect(errorCode(refused)).toBe('SERVICE_UNAVAILABLE');
    expect((await bruno.form('/oauth2/token', { grant_type: 'client_credentials' })).statusCode).toBe(200);
    expect((await sandbox.list()).find((f) => f.id === fault.id)?.hits).toBe(1);
    await sandbox.clear(fault.id, op);
    expect((await bot.form('/oauth2/token', { grant_type: 'client_credentials' })).statusCode).toBe(200);
  });
});
