/**
 * A drill's recording against a test gateway: a program client trading, a competing login, an expired token and a
 * fault acting on it, as the recording shows them; and who may start, read and stop one (a person for their own
 * client, an operator for any; another user's → FORBIDDEN, no credentials → 401, a program → API_NOT_ALLOWED, the
 * sandbox off → 404).
 */
import type { Recording } from '@gatehouse/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { INSTRUMENTS } from '../instruments/index.js';
import {
  ALICE,
  BRUNO,
  callAs,
  errorCode,
  json,
  type LoggedIn,
  loginAs,
  startTestGateway,
  type TestGateway,
} from '../test-support/gateway.js';
import { ADMIN_TOKEN, botToken, registerBot, type TestProgram } from '../test-support/program.js';
import { gradeRecording } from './drill/grade.js';

const RECORDINGS = '/v1/sandbox/recordings';
const ADMIN_RECORDINGS = '/v1/admin/sandbox/recordings';
const ACCOUNT = 'DU1000001';
const AAPL = INSTRUMENTS.find((i) => i.symbol === 'AAPL') as (typeof INSTRUMENTS)[number];

let gw: TestGateway;
afterEach(async () => {
  await gw?.close();
});

async function start(sandbox = true) {
  gw = await startTestGateway({
    config: { sandbox: { enabled: sandbox }, secrets: { adminApiToken: ADMIN_TOKEN } },
  });
  return gw;
}

function operator(method: 'GET' | 'POST' | 'DELETE', url: string, payload?: unknown) {
  return gw.app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
}

function limit(clientOrderId: string) {
  return {
    clientOrderId,
    instrumentId: AAPL.id,
    side: 'BUY',
    type: 'LMT',
    quantity: 1,
    limitPrice: Number((gw.ctx.marketData.live(AAPL).bid * 0.97).toFixed(2)),
    tif: 'GTC',
  };
}

/** Alice, her bot (a personal client on DU1000001) trading, and a recording of it she started. */
async function tradingBot(): Promise<{ alice: LoggedIn; bot: TestProgram; token: string; id: string }> {
  const alice = await loginAs(gw, ALICE);
  const bot = await registerBot(gw, alice);
  const token = await botToken(bot);
  expect((await bot.call('POST', '/v1/session/brokerage', token, { compete: true })).statusCode).toBe(200);
  const started = await callAs(gw, 'POST', RECORDINGS, alice, { clientId: bot.clientId, accountId: ACCOUNT });
  expect(started.statusCode).toBe(201);
  const { id, subject } = json(started) as { id: string; subject: { clientId: string; accountId: string } };
  expect(subject).toMatchObject({ clientId: bot.clientId, accountId: ACCOUNT });
  return { alice, bot, token, id };
}

async function read(as: LoggedIn, id: string): Promise<Recording> {
  const response = await callAs(gw, 'GET', `${RECORDINGS}/${id}`, as);
  expect(response.statusCode).toBe(200);
  return json(response) as unknown as Recording;
}

describe('a drill recording', () => {
  it('shows what the gateway saw of a trading bot: requests, orders, cancels, the dead-man switch, a competing login, an expired token, a fault', async () => {
    await start();
    const { alice, bot, token, id } = await tradingBot();
    const sandbox = gw.ctx.sandbox;
    if (sandbox === null) throw new Error('sandbox off');
    expect(gw.ctx.recorders?.active).toBe(true);

    expect((await bot.call('GET', '/v1/session', token)).statusCode).toBe(200);
    const armed = await bot.call('PUT', '/v1/safety/dead-man', token, {
      scope: 'session',
      timeoutMs: 30_000,
    });
    expect(armed.statusCode).toBe(200);
    const placed = await bot.call('POST', `/v1/accounts/${ACCOUNT}/orders`, token, limit('rec-1'));
    expect(placed.statusCode).toBe(201);
    const orderId = (json(placed) as { id: string }).id;
    expect((await bot.call('POST', `/v1/accounts/${ACCOUNT}/orders`, token, limit('rec-1'))).statusCode).toBe(
      200,
    );
    expect((await bot.call('DELETE', `/v1/accounts/${ACCOUNT}/orders/${orderId}`, token)).statusCode).toBe(
      200,
    );
    expect((await bot.call('GET', `/v1/accounts/${ACCOUNT}/events?after=0`, token)).statusCode).toBe(200);

    // A fault on the bot's client, from the registry; then the person takes trading: the bot is competing.
    const fault = await sandbox.inject(
      {
        kind: 'order.rejected',
        target: { type: 'client', id: bot.clientId },
        schedule: { durationMs: 5_000 },
      },
      { type: 'operator' },
    );
    const taken = await callAs(gw, 'POST', '/v1/session/brokerage', alice, { compete: true });
    expect(taken.statusCode).toBe(200);
    const refused = await bot.call('POST', `/v1/accounts/${ACCOUNT}/orders`, token, limit('rec-2'));
    expect(errorCode(refused)).toBe('SESSION_COMPETING');
    gw.clock.advance(6_000);
    await sandbox.tick();

    // The access token runs out: a request with it is refused, recorded as an expired token; a new token is issued.
    gw.clock.advance(gw.ctx.config.oauth.accessTokenTtlMs);
    const expired = await bot.call('GET', '/v1/session', token);
    expect(errorCode(expired)).toBe('INVALID_TOKEN');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const fresh = await botToken(bot);
    expect((await bot.call('GET', '/v1/session', fresh)).statusCode).toBe(200);

    // Alice's web session idled out meanwhile: she reads it from a new one.
    const again = await loginAs(gw, ALICE);
    const recording = await read(again, id);
    expect(recording.state).toBe('recording');
    const botSession = recording.requests[0]?.sessionId;
    expect(botSession).toEqual(expect.any(String));
    expect(recording.sessions).toContain(botSession);
    expect(recording.requests.map((r) => [r.method, r.route, r.status, r.code])).toEqual([
      ['GET', '/v1/session', 200, null],
      ['PUT', '/v1/safety/dead-man', 200, null],
      ['POST', '/v1/accounts/:accountId/orders', 201, null],
      ['POST', '/v1/accounts/:accountId/orders', 200, null],
      ['DELETE', '/v1/accounts/:accountId/orders/:orderId', 200, null],
      ['GET', '/v1/accounts/:accountId/events', 200, null],
      ['POST', '/v1/accounts/:accountId/orders', 403, 'SESSION_COMPETING'],
      ['GET', '/v1/session', 401, 'INVALID_TOKEN'],
      ['GET', '/v1/session', 200, null],
    ]);
    expect(recording.requests.filter((r) => r.tokenExpired)).toHaveLength(1);
    expect(recording.requests.at(-2)).toMatchObject({ sessionId: botSession, tokenExpired: true });
    expect(recording.placements.map((p) => [p.clientOrderId, p.outcome, p.code, p.orderId])).toEqual([
      ['rec-1', 'accepted', null, orderId],
      ['rec-1', 'existing', null, orderId],
      ['rec-2', 'refused', 'SESSION_COMPETING', null],
    ]);
    expect(recording.cancels).toEqual([expect.objectContaining({ orderId, status: 200, tookEffect: true })]);
    expect(recording.deadMan).toEqual([
      expect.objectContaining({
        action: 'armed',
        scope: 'session',
        timeoutMs: 30_000,
        sessionId: botSession,
      }),
    ]);
    expect(recording.streams).toEqual([expect.objectContaining({ event: 'read', after: 0 })]);
    expect(recording.sessionChanges).toEqual([
      expect.objectContaining({ change: 'brokerage_acquired', own: false }),
      expect.objectContaining({ change: 'competing', own: true, sessionId: botSession }),
    ]);
    expect(recording.tokenRequests).toEqual([
      expect.objectContaining({
        grantType: 'client_credentials',
        outcome: 'issued',
        status: 200,
        retry: false,
      }),
    ]);
    expect(recording.faults).toEqual([
      expect.objectContaining({ id: fault.id, kind: 'order.rejected', mode: 'condition', state: 'done' }),
    ]);
    expect(recording.orders).toEqual([
      expect.objectContaining({
        orderId,
        clientOrderId: 'rec-1',
        status: 'cancelled',
        sessionId: botSession,
      }),
    ]);
    // The account's log, the refusal included (the gate logs it with the clientOrderId).
    expect(recording.events.map((e) => [e.type, e.clientOrderId])).toEqual([
      ['accepted', 'rec-1'],
      ['cancelled', null],
      ['rejected', 'rec-2'],
    ]);

    // Stopped, it records no more, and stays readable.
    const stopped = await callAs(gw, 'DELETE', `${RECORDINGS}/${id}`, again);
    expect(json(stopped)).toEqual({ id, state: 'stopped' });
    expect(gw.ctx.recorders?.active).toBe(false);
    await bot.call('GET', '/v1/session', fresh);
    const after = await read(again, id);
    expect(after.state).toBe('stopped');
    expect(after.requests).toHaveLength(recording.requests.length);

    // Graded: the dead-man switch was armed, one order sent while competing is tolerated, the expired token is not.
    const card = gradeRecording(after);
    const verdict = (itemId: string) => card.items.find((i) => i.id === itemId)?.verdict;
    expect(verdict('dead_man_armed')).toBe('pass');
    expect(verdict(`not_ready_orders@${fault.id}`)).toBe('pass');
    expect(verdict('expired_token_failures')).toBe('fail');
    expect(verdict('duplicate_orders')).toBe('pass');
    expect(verdict('missed_cancels')).toBe('pass');
  });

  it('records an order whose answer was lost (order.response_lost) as placed without an answer', async () => {
    await start();
    const { alice, bot, token, id } = await tradingBot();
    await gw.ctx.sandbox?.inject(
      { kind: 'order.response_lost', target: { type: 'client', id: bot.clientId } },
      { type: 'operator' },
    );
    await bot.call('POST', `/v1/accounts/${ACCOUNT}/orders`, token, limit('lost-1')).catch(() => undefined);
    const recording = await read(alice, id);
    expect(recording.placements).toEqual([
      expect.objectContaining({ clientOrderId: 'lost-1', outcome: 'no_response', status: 0 }),
    ]);
    expect(recording.placements[0]?.orderId).toBe(recording.orders[0]?.orderId);
    expect(recording.faults.map((f) => f.kind)).toEqual(['order.response_lost']);
  });

  it('records a stream opened with resumeAfter and its close', async () => {
    gw = await startTestGateway({
      config: { sandbox: { enabled: true }, server: { port: 0, host: '127.0.0.1' } },
    });
    const base = await gw.listen();
    const { alice, bot, token, id } = await tradingBot();
    const htu = `http://${new URL(base).host}/v1/stream`;
    const socket = new WebSocket(`${base.replace('http', 'ws')}/v1/stream?resumeAfter=${ACCOUNT}:0`, {
      headers: {
        authorization: `DPoP ${token}`,
        dpop: await bot.proof('GET', '/v1/stream', { accessToken: token, htu }),
      },
    });
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    socket.close();
    let streams: Recording['streams'] = [];
    for (let i = 0; i < 100 && streams.length < 2; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      streams = (await read(alice, id)).streams;
    }
    expect(streams).toEqual([
      expect.objectContaining({ event: 'open', after: 0, stream: 1 }),
      expect.objectContaining({ event: 'close', after: null, stream: 1 }),
    ]);
  });

  it('records a retried refresh and an operator may record any client', async () => {
    await start();
    const alice = await loginAs(gw, ALICE);
    const bot = await registerBot(gw, alice);
    const started = await operator('POST', ADMIN_RECORDINGS, { clientId: bot.clientId, accountId: ACCOUNT });
    expect(started.statusCode).toBe(201);
    const { id } = json(started) as { id: string };
    await botToken(bot);
    const bad = await bot.form('/oauth2/token', {
      grant_type: 'refresh_token',
      refresh_token: 'not-a-token',
    });
    expect(bad.statusCode).toBe(400);
    await bot.form('/oauth2/token', { grant_type: 'refresh_token', refresh_token: 'not-a-token' });
    const recording = json(await operator('GET', `${ADMIN_RECORDINGS}/${id}`)) as unknown as Recording;
    expect(recording.tokenRequests.map((t) => [t.grantType, t.outcome, t.retry])).toEqual([
      ['client_credentials', 'issued', false],
      ['refresh_token', 'refused', false],
      ['refresh_token', 'refused', true],
    ]);
    expect(recording.tokenRequests[1]?.error).toEqual(expect.any(String));
    expect(JSON.stringify(recording)).not.toContain('not-a-token');
    expect((await operator('DELETE', `${ADMIN_RECORDINGS}/${id}`)).statusCode).toBe(200);
  });

  it('refuses another user’s client or recording, no credentials, a program, bad input; 404 with the sandbox off', async () => {
    await start();
    const { bot, token, id } = await tradingBot();
    const bruno = await loginAs(gw, BRUNO);
    const body = { clientId: bot.clientId, accountId: ACCOUNT };
    expect(errorCode(await callAs(gw, 'POST', RECORDINGS, bruno, body))).toBe('FORBIDDEN');
    expect(errorCode(await callAs(gw, 'GET', `${RECORDINGS}/${id}`, bruno))).toBe('FORBIDDEN');
    expect(errorCode(await callAs(gw, 'DELETE', `${RECORDINGS}/${id}`, bruno))).toBe('FORBIDDEN');
    const anonymous = await gw.app.inject({ method: 'POST', url: RECORDINGS, payload: body });
    expect(anonymous.statusCode).toBe(401);
    expect((await gw.app.inject({ method: 'GET', url: `${ADMIN_RECORDINGS}/${id}` })).statusCode).toBe(401);
    expect(errorCode(await bot.call('POST', RECORDINGS, token, body))).toBe('API_NOT_ALLOWED');
    const unknown = await callAs(gw, 'POST', RECORDINGS, bruno, {
      clientId: 'cli_nobody',
      accountId: ACCOUNT,
    });
    expect(errorCode(unknown)).toBe('INVALID_REQUEST');
    expect(errorCode(await callAs(gw, 'POST', RECORDINGS, bruno, { clientId: bot.clientId }))).toBe(
      'INVALID_REQUEST',
    );
    expect(errorCode(await operator('GET', `${ADMIN_RECORDINGS}/rec_nothing`))).toBe('NOT_FOUND');
    await gw.close();

    await start(false);
    const alice = await loginAs(gw, ALICE);
    const off = await callAs(gw, 'POST', RECORDINGS, alice, body);
    expect(off.statusCode).toBe(404);
    expect((await operator('POST', ADMIN_RECORDINGS, body)).statusCode).toBe(404);
    expect(gw.ctx.recorders).toBeNull();
  });
});
