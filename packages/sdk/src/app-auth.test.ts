/**
 * An app's authorization against a real gateway: PAR with the PKCE helper, the redirect read only from the answer to
 * the app's own request and from this issuer, the code exchanged for tokens, and refresh grants with rotation that
 * many callers share (single-flight).
 */
import {
  ALICE,
  callAs,
  loginAs,
  REDIRECT_URI,
  registerApp,
  type TestGateway,
  type TestGatewayOptions,
} from '@gatehouse/gateway/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { ServerClock } from './clock.js';
import {
  AppAuth,
  AuthorizationResponseError,
  type Fetch,
  importPrivateJwk,
  newDpopKey,
  SessionSupervisor,
  Transport,
} from './index.js';
import { listeningGateway, skewed } from './test-support.js';

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

describe('AppAuth', () => {
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
});
