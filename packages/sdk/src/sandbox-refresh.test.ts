/**
 * A refresh whose response is lost after the server committed it (the failure sandbox's `refresh.response_lost`),
 * against the real SDK: the token keeper sees the connection cut, retries the same refresh with the same key, and
 * ends with the same grant — for an app with refresh-token rotation (the server's reuse leeway answers the retry with
 * the successor it had committed) and for a personal client, whose "refresh" is a new client-credentials request
 * (the same instance session, so its trading too). No `oauth.refresh_token_reused`, the grant not revoked, orders
 * still accepted.
 */
import {
  ALICE,
  callAs,
  loginAs,
  REDIRECT_URI,
  registerApp,
  registerBot,
  type TestGateway,
} from '@gatehouse/gateway/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { ServerClock } from './clock.js';
import { AppAuth, importPrivateJwk, newDpopKey, SessionSupervisor, Transport } from './index.js';
import { botOptions, listeningGateway, restingOrder, skewed, until } from './test-support.js';

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

const OPERATOR = { type: 'operator' } as const;

async function gateway() {
  const started = await listeningGateway({
    sandbox: { enabled: true },
    oauth: { accessTokenTtlMs: 60_000 },
  });
  gw = started.g;
  return started;
}

/** Injects `refresh.response_lost` for the client, and clears it once it has cut one answer. */
async function loseOneRefresh(g: TestGateway, clientId: string): Promise<() => Promise<void>> {
  const sandbox = g.ctx.sandbox;
  if (sandbox === null) throw new Error('sandbox off');
  const fault = await sandbox.inject(
    { kind: 'refresh.response_lost', target: { type: 'client', id: clientId } },
    OPERATOR,
  );
  return async () => {
    for (let i = 0; i < 500; i += 1) {
      const hits = (await sandbox.list()).find((f) => f.id === fault.id)?.hits ?? 0;
      if (hits >= 1) {
        await sandbox.clear(fault.id, OPERATOR);
        return;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error('the fault never struck');
  };
}

async function grantState(g: TestGateway, clientId: string) {
  const db = g.ctx.store.db;
  const grants = await db
    .selectFrom('oauth_grants')
    .select(['id', 'revoked_at'])
    .where('client_id', '=', clientId)
    .execute();
  const reused = await db
    .selectFrom('audit_log')
    .select('type')
    .where('type', '=', 'oauth.refresh_token_reused')
    .execute();
  return { grants, reused: reused.length };
}

describe('a refresh response lost after the server committed it', () => {
  it('leaves an app (rotating refresh tokens) with the same grant: the retry gets the committed successor', async () => {
    const { g, base, issuer } = await gateway();
    const app = await registerApp(g, { rotate: true });
    const clientKey = await importPrivateJwk(
      app.clientKey.privateKey.export({ format: 'jwk' }) as JsonWebKey,
    );
    const auth = new AppAuth({ clientId: app.clientId, clientKey, issuer });
    const dpopKey = await newDpopKey();
    const transport = new Transport(base, dpopKey, new ServerClock(skewed(g, 0)));
    const pushed = await auth.pushAuthorization(transport, {
      redirectUri: REDIRECT_URI,
      scope: 'read trade',
    });
    const alice = await loginAs(g, ALICE);
    const consent = await callAs(g, 'POST', '/oauth2/authorize/consent', alice, {
      clientId: app.clientId,
      requestUri: pushed.requestUri,
      approve: true,
      accounts: ['DU1000001'],
    });
    const redirectTo = (consent.json() as { redirectTo: string }).redirectTo;
    const tokens = await auth.exchangeCode(transport, {
      code: auth.readRedirect(redirectTo, { state: pushed.state }),
      codeVerifier: pushed.codeVerifier,
      redirectUri: REDIRECT_URI,
    });
    const supervisor = new SessionSupervisor({
      baseUrl: base,
      auth,
      dpopKey,
      initialTokens: tokens,
      scheduler: skewed(g, 0),
      keepAliveMs: null,
      trading: { compete: true },
      backoff: { initialMs: 50, maxMs: 200 },
    });
    await supervisor.start();
    const before = await grantState(g, app.clientId);
    expect(before.grants).toEqual([expect.objectContaining({ revoked_at: null })]);

    const cleared = await loseOneRefresh(g, app.clientId);
    g.clock.advance(61_000); // the access token expired: the next request refreshes first
    const [session] = await Promise.all([
      supervisor.request<{ session: { id: string } }>('GET', '/v1/session'),
      cleared(),
    ]);
    expect(session.session.id).toBeDefined();
    expect(supervisor.stats.refreshFailures).toBeGreaterThanOrEqual(1);
    expect(supervisor.stats.refreshes).toBeGreaterThanOrEqual(1);
    expect(await grantState(g, app.clientId)).toEqual({ grants: before.grants, reused: 0 });
    const placed = await supervisor.placeOrder('DU1000001', restingOrder(g, 'after-lost-refresh'));
    expect(placed.status).toBe('accepted');
    // The refresh token the SDK holds now is the successor the lost answer carried, and it rotates in its turn.
    g.clock.advance(61_000);
    await supervisor.request('GET', '/v1/session');
    expect(await grantState(g, app.clientId)).toEqual({ grants: before.grants, reused: 0 });
    await supervisor.stop();
  });

  it('leaves a personal client (client credentials) with the same grant, session and trading', async () => {
    const { g, base, issuer } = await gateway();
    const alice = await loginAs(g, ALICE);
    const bot = await registerBot(g, alice);
    const supervisor = new SessionSupervisor({
      ...(await botOptions(bot, base, issuer)),
      scheduler: skewed(g, 0),
      keepAliveMs: null,
      trading: { compete: true },
      backoff: { initialMs: 50, maxMs: 200 },
    });
    await supervisor.start();
    const first = await supervisor.request<{ session: { id: string } }>('GET', '/v1/session');
    const before = await grantState(g, bot.clientId);

    const cleared = await loseOneRefresh(g, bot.clientId);
    g.clock.advance(61_000);
    const [after] = await Promise.all([
      supervisor.request<{ session: { id: string } }>('GET', '/v1/session'),
      cleared(),
    ]);
    expect(after.session.id).toBe(first.session.id);
    expect(supervisor.stats.refreshFailures).toBeGreaterThanOrEqual(1);
    expect(await grantState(g, bot.clientId)).toEqual({ grants: before.grants, reused: 0 });
    const placed = await supervisor.placeOrder('DU1000001', restingOrder(g, 'bot-after-lost-refresh'));
    expect(placed.status).toBe('accepted');
    await until(() => supervisor.state === 'ready');
    await supervisor.stop();
  });

  it('retries a refresh the server refused with a 5xx, or held back in a maintenance window, and keeps the grant', async () => {
    const { g, base, issuer } = await gateway();
    const sandbox = g.ctx.sandbox;
    if (sandbox === null) throw new Error('sandbox off');
    const alice = await loginAs(g, ALICE);
    const bot = await registerBot(g, alice);
    const supervisor = new SessionSupervisor({
      ...(await botOptions(bot, base, issuer)),
      scheduler: skewed(g, 0),
      keepAliveMs: null,
      trading: { compete: true },
      backoff: { initialMs: 50, maxMs: 200 },
    });
    await supervisor.start();
    const first = await supervisor.request<{ session: { id: string } }>('GET', '/v1/session');
    for (const kind of ['refresh.refused', 'maintenance'] as const) {
      const fault = await sandbox.inject(
        {
          kind,
          target: { type: 'client', id: bot.clientId },
          params: kind === 'maintenance' ? { retryAfterS: 1 } : {},
        },
        OPERATOR,
      );
      const failuresBefore = supervisor.stats.refreshFailures;
      g.clock.advance(61_000);
      const asked = supervisor.request<{ session: { id: string } }>('GET', '/v1/session');
      await until(() => supervisor.stats.refreshFailures > failuresBefore);
      await sandbox.clear(fault.id, OPERATOR);
      const after = await asked;
      expect(after.session.id, kind).toBe(first.session.id);
    }
    expect((await grantState(g, bot.clientId)).grants.every((grant) => grant.revoked_at === null)).toBe(true);
    await supervisor.stop();
  });
});
