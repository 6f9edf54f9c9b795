/**
 * The rest of the SDK against a real gateway: an app's authorization (PAR + PKCE helper, code exchange, refresh
 * grants with rotation, single-flight), a clock minutes off corrected from the server's `Date`, the dead-man switch
 * armed and re-armed by the supervisor, and the keep-alive that stops a quiet bot's session from idling out.
 */

import { afterEach, describe, expect, it } from 'vitest';
import {
  ALICE,
  callAs,
  loginAs,
  startTestGateway,
  type TestGateway,
} from '../../gateway/src/test-support/gateway.js';
import {
  ADMIN_TOKEN,
  REDIRECT_URI,
  registerApp,
  registerBot,
} from '../../gateway/src/test-support/program.js';
import { INSTRUMENTS, type Instrument } from '../../gateway/src/instruments/index.js';
import { ServerClock } from './clock.js';
import {
  AppAuth,
  AuthorizationResponseError,
  type Fetch,
  importPrivateJwk,
  newDpopKey,
  type Scheduler,
  SessionSupervisor,
  Transport,
} from './index.js';
import { botOptions } from './test-support.js';

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

async function gateway(config: Record<string, unknown> = {}) {
  gw = await startTestGateway({
    config: { server: { port: 0, host: '127.0.0.1' }, secrets: { adminApiToken: ADMIN_TOKEN }, ...config },
  });
  const base = await gw.listen();
  return { g: gw, base, issuer: base.replace('localhost', '127.0.0.1') };
}

/** Real timers, on a clock that is `skewMs` off the gateway's. */
function skewed(g: TestGateway, skewMs: number): Scheduler {
  return {
    now: () => g.clock.now() + skewMs,
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
  };
}

describe('SDK', () => {
  it('authorizes an app with PAR and PKCE, then refreshes with rotation, once for many callers', async () => {
    const { g, base, issuer } = await gateway({ oauth: { accessTokenTtlMs: 60_000 } });
    const app = await registerApp(g, { rotate: true });
    const clientKey = await importPrivateJwk(
      app.clientKey.privateKey.export({ format: 'jwk' }) as JsonWebKey,
    );
    const auth = new AppAuth({ clientId: app.clientId, clientKey, issuer });
    const dpopKey = await newDpopKey();
    let tokenCalls = 0;
    const counting: Fetch = async (input, init) => {
      if (input.endsWith('/oauth2/token')) tokenCalls += 1;
      return fetch(input, init);
    };
    const transport = new Transport(base, dpopKey, new ServerClock(skewed(g, 0)), counting);
    const pushed = await auth.pushAuthorization(transport, {
      redirectUri: REDIRECT_URI,
      scope: 'read trade',
      state: 's1',
    });
    expect(pushed.authorizeUrl).toContain('/oauth2/authorize?client_id=');
    // The user consents in the portal (here: its JSON API).
    const alice = await loginAs(g, ALICE);
    const consent = await callAs(g, 'POST', '/oauth2/authorize/consent', alice, {
      clientId: app.clientId,
      requestUri: pushed.requestUri,
      approve: true,
      accounts: ['DU1000001'],
    });
    const redirectTo = (consent.json() as { redirectTo: string }).redirectTo;
    // ASVS 5.0 10.1.2, 10.2.2: the client takes the code only from the answer to its own request, from this issuer.
    expect(() => auth.readRedirect(redirectTo, { state: 'another' })).toThrow(AuthorizationResponseError);
    const forged = new URL(redirectTo);
    forged.searchParams.set('iss', 'https://attacker.example');
    expect(() => auth.readRedirect(forged.toString(), { state: pushed.state })).toThrow(
      AuthorizationResponseError,
    );
    const denied = new URL(REDIRECT_URI);
    denied.searchParams.set('iss', issuer);
    denied.searchParams.set('state', pushed.state);
    denied.searchParams.set('error', 'access_denied');
    expect(() => auth.readRedirect(denied.toString(), { state: pushed.state })).toThrow(
      expect.objectContaining({ error: 'access_denied' }),
    );
    expect(pushed.state).toBe('s1');
    const tokens = await auth.exchangeCode(transport, {
      code: auth.readRedirect(redirectTo, { state: pushed.state }),
      codeVerifier: pushed.codeVerifier,
      redirectUri: REDIRECT_URI,
    });
    expect(tokens.refresh_token).toBeDefined();
    const supervisor = new SessionSupervisor({
      baseUrl: base,
      auth,
      dpopKey,
      initialTokens: tokens,
      scheduler: skewed(g, 0),
      fetch: counting,
      keepAliveMs: null,
    });
    await supervisor.start();
    const before = tokenCalls;
    g.clock.advance(61_000);
    await Promise.all(Array.from({ length: 20 }, () => supervisor.request('GET', '/v1/session')));
    expect(tokenCalls - before).toBe(1); // one refresh; with rotation, a second would have revoked the grant
    g.clock.advance(61_000);
    await supervisor.request('GET', '/v1/session'); // the rotated refresh token works in its turn
    expect(supervisor.stats.refreshes).toBe(2);
    supervisor.stop();
  });

  it('corrects a clock that is minutes off from the server’s Date header', async () => {
    const { g, base, issuer } = await gateway();
    const bot = await registerBot(g, await loginAs(g, ALICE));
    const supervisor = new SessionSupervisor({
      ...(await botOptions(bot, base, issuer)),
      scheduler: skewed(g, -7 * 60_000), // this machine is 7 minutes slow
      keepAliveMs: null,
    });
    await supervisor.start();
    expect(Math.round(supervisor.clock.offsetMs / 1000)).toBe(7 * 60);
    expect(await supervisor.request('GET', '/v1/session')).toMatchObject({ session: { channel: 'api' } });
    supervisor.stop();
  });

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
