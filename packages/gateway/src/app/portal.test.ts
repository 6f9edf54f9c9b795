/**
 * The gateway serves the built portal: its pages under a strict Content-Security-Policy, its hashed assets with a
 * year's cache, the consent page at the authorization endpoint for browsers (the JSON answer stays behind the
 * session), and a clear 503 when the portal was not built. Also the two reads only the portal needed: the holder's
 * view of an account and their own security events.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type TestDatabase, type TestDatabaseFactory, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  BRUNO,
  callAs,
  errorCode,
  json,
  loginAs,
  startTestGateway,
  type TestGateway,
  type TestGatewayOptions,
} from '../test-support/gateway.js';

let gw: TestGateway;
let database: TestDatabase | undefined;
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gh-portal-dist-'));
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>Gatehouse</title><div id="root"></div>');
  writeFileSync(join(dir, 'assets', 'index-abc123.js'), 'console.log(1)');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  await gw?.close();
  await database?.drop();
  database = undefined;
});

/** A gateway on a fresh database from `makeDatabase`, dropped after the test. */
async function gatewayOn(makeDatabase: TestDatabaseFactory, options: TestGatewayOptions = {}) {
  database = await makeDatabase();
  return startTestGateway({ ...options, database });
}

// Static files from the portal's folder: the database plays no part, so these run once, on the default one.
describe('the portal, served by the gateway', () => {
  it('serves each page path with a strict CSP and no framing, and hashed assets with a long cache', async () => {
    gw = await startTestGateway({ config: { server: { portalDir: dir } }, demo: false });
    for (const path of [
      '/',
      '/login',
      '/trade',
      '/security',
      '/account',
      '/api-clients',
      '/readiness',
      '/authenticator',
    ]) {
      const page = await gw.app.inject({ method: 'GET', url: path });
      expect(page.statusCode, path).toBe(200);
      expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(page.body).toContain('<div id="root">');
      const csp = String(page.headers['content-security-policy']);
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-inline');
      expect(page.headers['x-frame-options']).toBe('DENY');
    }
    const asset = await gw.app.inject({ method: 'GET', url: '/assets/index-abc123.js' });
    expect(asset.statusCode).toBe(200);
    expect(asset.headers['cache-control']).toContain('immutable');
    expect((await gw.app.inject({ method: 'GET', url: '/assets/missing.js' })).statusCode).toBe(404);
    expect((await gw.app.inject({ method: 'GET', url: '/assets/../index.html' })).body).not.toContain(
      '<title>',
    );
    // An unknown path is not a page: the API's 404, not the portal.
    expect(errorCode(await gw.app.inject({ method: 'GET', url: '/nowhere' }))).toBe('NOT_FOUND');
  });

  it('serves the Sandbox page, and lists it and the sandbox section in the reference, only with the sandbox on', async () => {
    for (const enabled of [false, true]) {
      if (enabled) await gw.close();
      gw = await startTestGateway({
        config: { server: { portalDir: dir }, sandbox: { enabled } },
        demo: false,
      });
      expect((await gw.app.inject({ method: 'GET', url: '/sandbox' })).statusCode).toBe(enabled ? 200 : 404);
      const reference = json(await gw.app.inject({ method: 'GET', url: '/openapi.json' })) as {
        paths: Record<string, unknown>;
        tags: { name: string }[];
      };
      expect(Object.keys(reference.paths).includes('/sandbox')).toBe(enabled);
      expect(reference.tags.map((t) => t.name).includes('sandbox')).toBe(enabled);
      expect(reference.tags.map((t) => t.name)).toContain('service');
    }
  });

  it('answers the authorization endpoint with the consent page for a browser, and JSON only with a session', async () => {
    gw = await startTestGateway({ config: { server: { portalDir: dir } }, demo: false });
    const url = '/oauth2/authorize?client_id=cli_x&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3Ax';
    const browser = await gw.app.inject({ method: 'GET', url, headers: { accept: 'text/html,*/*' } });
    expect(browser.statusCode).toBe(200);
    expect(browser.body).toContain('<div id="root">');
    const script = await gw.app.inject({ method: 'GET', url, headers: { accept: 'application/json' } });
    expect(errorCode(script)).toBe('UNAUTHENTICATED');
  });

  it('says the portal is not built, and serves the API only when told to', async () => {
    gw = await startTestGateway({ config: { server: { portalDir: join(dir, 'absent') } }, demo: false });
    const missing = await gw.app.inject({ method: 'GET', url: '/' });
    expect(missing.statusCode).toBe(503);
    expect(missing.body).toContain('npm run build');
    await gw.close();
    gw = await startTestGateway({ config: { server: { portalDir: false } }, demo: false });
    expect(errorCode(await gw.app.inject({ method: 'GET', url: '/' }))).toBe('NOT_FOUND');
    expect((await gw.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });
});

describe.each(testDatabases())('what the portal reads on %s', (_name, makeDatabase) => {
  it('shows the holder an account with its entity, data per exchange group and product rules; never another’s', async () => {
    gw = await gatewayOn(makeDatabase, { config: { server: { portalDir: false } } });
    const bruno = await loginAs(gw, BRUNO);
    const view = json(await callAs(gw, 'GET', '/v1/accounts/U2000002', bruno)) as {
      entity: { code: string; regulator: string; investorProtection: string };
      marketData: { bundle: string; access: string }[];
      rules: { id: string }[];
      permissions: { assetClass: string; region: string }[];
    };
    expect(view.entity).toMatchObject({ code: 'IBIE', investorProtection: 'Irish ICS' });
    expect(view.marketData.find((m) => m.bundle === 'US_EQUITY')?.access).toBe('delayed');
    expect(view.marketData.find((m) => m.bundle === 'BONDS')?.access).toBe('none');
    expect(view.marketData.find((m) => m.bundle === 'FX')?.access).toBe('live');
    expect(view.rules.map((r) => r.id)).toContain('PRIIPS_KID');
    expect(view.rules.map((r) => r.id)).not.toContain('UK_CRYPTO_DERIV_RETAIL');
    expect(view.permissions).toContainEqual({ assetClass: 'ETF', region: 'US' });

    // Alice's account, asked by Bruno, answers as an unknown one does.
    expect(errorCode(await callAs(gw, 'GET', '/v1/accounts/U1000001', bruno))).toBe('ACCOUNT_NOT_FOUND');
    expect(errorCode(await callAs(gw, 'GET', '/v1/accounts/U9999999', bruno))).toBe('ACCOUNT_NOT_FOUND');
    expect(errorCode(await gw.app.inject({ method: 'GET', url: '/v1/accounts/U2000002' }))).toBe(
      'UNAUTHENTICATED',
    );
  });

  it('lists the user’s own security events, newest first, with no secret in them', async () => {
    gw = await gatewayOn(makeDatabase, { config: { server: { portalDir: false } } });
    const alice = await loginAs(gw, ALICE);
    await loginAs(gw, BRUNO);
    const events = (
      json(await callAs(gw, 'GET', '/v1/security/events', alice)) as {
        events: { seq: number; type: string; sessionId: string | null }[];
      }
    ).events;
    expect(events.map((e) => e.type)).toContain('login.succeeded');
    expect(events.map((e) => e.seq)).toEqual([...events.map((e) => e.seq)].sort((a, b) => b - a));
    const text = JSON.stringify(events);
    expect(text).not.toContain(ALICE.password);
    expect(text).not.toContain(ALICE.totpSecret);
    expect(text).not.toContain(alice.cookie.split('=')[1]);
    // Bruno's login is not among Alice's events.
    const brunoEvents = (
      json(await callAs(gw, 'GET', '/v1/security/events', await loginAs(gw, BRUNO))) as {
        events: { sessionId: string | null }[];
      }
    ).events;
    const aliceSessions = new Set(events.map((e) => e.sessionId).filter((id) => id !== null));
    expect(brunoEvents.some((e) => e.sessionId !== null && aliceSessions.has(e.sessionId))).toBe(false);
    expect(errorCode(await gw.app.inject({ method: 'GET', url: '/v1/security/events' }))).toBe(
      'UNAUTHENTICATED',
    );
  });
});
