/**
 * The supervisor's safety against a real gateway: the dead-man switch armed at ready and re-armed, and the keep-alive
 * that stops a quiet bot's session from idling out; open orders cancelled when trading is lost (onSessionLoss:
 * cancel-all); a confirmation question handed back to the program to answer; and the session lost, and said to be,
 * when the user revokes the bot.
 */
import {
  ALICE,
  callAs,
  INSTRUMENTS,
  type Instrument,
  loginAs,
  registerBot,
  type TestGateway,
  type TestGatewayOptions,
} from '@gatehouse/gateway/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { type Fetch, SessionSupervisor } from './index.js';
import { botOptions, listeningGateway, skewed } from './test-support.js';

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

async function gateway(config: TestGatewayOptions['config'] = {}) {
  const started = await listeningGateway(config);
  gw = started.g;
  return started;
}

describe('SessionSupervisor safety', () => {
  it('arms the dead-man switch at ready and re-arms it, and keeps a quiet session alive', async () => {
    const { g, base, issuer } = await gateway();
    const bot = await registerBot(g, await loginAs(g, ALICE));
    const paths: string[] = [];
    const watching: Fetch = async (input, init) => {
      paths.push(`${init.method} ${new URL(input).pathname}`);
      return fetch(input, init);
    };
    const supervisor = new SessionSupervisor({
      ...(await botOptions(bot, base, issuer)),
      scheduler: skewed(g, 0),
      fetch: watching,
      trading: { compete: true },
      deadMan: { timeoutMs: 6_000, scope: 'account', accountId: 'DU1000001' },
      keepAliveMs: 500,
    });
    await supervisor.start();
    const row = () => g.ctx.store.db.selectFrom('dead_man_switches').selectAll().executeTakeFirst();
    const first = await row();
    expect(first).toMatchObject({ id: 'account:DU1000001', timeout_ms: 6_000 });
    g.clock.advance(1_000);
    await new Promise((r) => setTimeout(r, 2_300)); // a third of 6 s: re-armed, with a later deadline
    expect(Number((await row())?.deadline)).toBeGreaterThan(Number(first?.deadline));
    expect(paths.filter((p) => p === 'PUT /v1/safety/dead-man').length).toBeGreaterThanOrEqual(2);
    expect(paths).toContain('POST /v1/session/tickle');
    supervisor.stop();
  });

  it('cancels the open orders when trading is lost, with onSessionLoss: cancel-all', async () => {
    const { g, base, issuer } = await gateway();
    const alice = await loginAs(g, ALICE);
    const bot = await registerBot(g, alice);
    const safeFails: string[] = [];
    const supervisor = new SessionSupervisor({
      ...(await botOptions(bot, base, issuer)),
      scheduler: skewed(g, 0),
      trading: { compete: true },
      onSessionLoss: 'cancel-all',
      keepAliveMs: null,
    });
    supervisor.on('safeFail', (e) => safeFails.push(`${e.reason}:${e.action}`));
    await supervisor.start();
    const bid = g.ctx.marketData.live(INSTRUMENTS.find((i) => i.id === 265598) as Instrument).bid;
    const resting = await supervisor.placeOrder('DU1000001', {
      instrumentId: 265598,
      side: 'BUY',
      type: 'LMT',
      quantity: 1,
      limitPrice: Number((bid * 0.97).toFixed(2)),
      tif: 'GTC',
    });
    expect(resting.status).toBe('accepted');
    await callAs(g, 'POST', '/v1/session/brokerage', alice, { compete: true });
    const market = { instrumentId: 265598, side: 'BUY', type: 'MKT', quantity: 1, tif: 'DAY' } as const;
    await expect(supervisor.placeOrder('DU1000001', market)).rejects.toMatchObject({
      code: 'SESSION_COMPETING',
    });
    // The competing session may not cancel (the gateway refuses it as it refuses orders); the supervisor arms the
    // session's dead-man switch at its minimum instead, and the gateway cancels when it fires.
    const open = async () =>
      (await g.ctx.store.db.selectFrom('orders').select('id').where('status', '=', 'working').execute())
        .length;
    const armed = () =>
      g.ctx.store.db
        .selectFrom('dead_man_switches')
        .select(['scope', 'timeout_ms'])
        .where('scope', '=', 'session')
        .executeTakeFirst();
    for (let i = 0; i < 100 && (await armed()) === undefined; i += 1)
      await new Promise((r) => setTimeout(r, 20));
    expect(await armed()).toMatchObject({ scope: 'session', timeout_ms: 5_000 });
    expect(await open()).toBe(1);
    g.clock.advance(5_000);
    await g.ctx.safety.fireDue();
    expect(await open()).toBe(0);
    const cancelled = await g.ctx.store.db
      .selectFrom('account_events')
      .select('data')
      .where('type', '=', 'cancelled')
      .executeTakeFirstOrThrow();
    expect(JSON.parse(cancelled.data)).toMatchObject({ by: 'dead_man', scope: 'session' });
    expect(safeFails).toEqual(['competing:cancel-all']);
    supervisor.stop();
  });

  it('hands a confirmation question back to the program, which answers it explicitly', async () => {
    const { g, base, issuer } = await gateway();
    const bot = await registerBot(g, await loginAs(g, ALICE));
    const supervisor = new SessionSupervisor({
      ...(await botOptions(bot, base, issuer)),
      scheduler: skewed(g, 0),
      trading: { compete: true },
      keepAliveMs: null,
    });
    await supervisor.start();
    const ask = g.ctx.marketData.live(INSTRUMENTS.find((i) => i.id === 265598) as Instrument).ask;
    // A limit 10 % through the market: the gate asks before placing it.
    const result = await supervisor.placeOrder('DU1000001', {
      instrumentId: 265598,
      side: 'BUY',
      type: 'LMT',
      quantity: 1,
      limitPrice: Number((ask * 1.1).toFixed(2)),
      tif: 'DAY',
    });
    if (result.status !== 'confirmation_required')
      throw new Error(`expected a question, got ${result.status}`);
    expect(result.questions.map((q) => q.id)).toEqual(['price_far_through_market']);
    expect(await g.ctx.store.db.selectFrom('orders').select('id').execute()).toEqual([]);
    const confirmed = await result.confirm();
    expect(confirmed).toMatchObject({ status: 'accepted', order: { type: 'LMT' } });
    supervisor.stop();
  });

  it('is lost, and says so, when the user revokes the bot', async () => {
    const { g, base, issuer } = await gateway();
    const alice = await loginAs(g, ALICE);
    const bot = await registerBot(g, alice);
    const supervisor = new SessionSupervisor({
      ...(await botOptions(bot, base, issuer)),
      scheduler: skewed(g, 0),
      keepAliveMs: null,
    });
    const seen: string[] = [];
    supervisor.on('state', (e) => seen.push(`${e.to}${e.reason === undefined ? '' : `:${e.reason}`}`));
    supervisor.on('safeFail', (e) => seen.push(`safeFail:${e.reason}:${e.action}`));
    await supervisor.start();
    expect((await callAs(g, 'DELETE', `/v1/oauth/clients/${bot.clientId}`, alice)).statusCode).toBe(204);
    await expect(supervisor.request('GET', '/v1/session')).rejects.toMatchObject({ error: 'invalid_client' });
    expect(supervisor.state).toBe('lost');
    expect(seen.slice(-2)).toEqual(['lost:client_revoked', 'safeFail:client_revoked:pause']);
    supervisor.stop();
  });
});
