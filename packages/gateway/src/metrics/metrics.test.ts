/**
 * `/metrics`: sessions by channel and tier, logins by result, second-factor latency, takeovers — served on the
 * metrics listener only (loopback by default, optionally behind a bearer token), never on the public one.
 */
import { createServer, type Server } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/index.js';
import { type TestDatabase, type TestDatabaseFactory, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  loginAs,
  startLogin,
  startTestGateway,
  type TestGateway,
  type TestGatewayOptions,
} from '../test-support/gateway.js';

let gw: TestGateway;
const databases: TestDatabase[] = [];
afterEach(async () => {
  await gw.close();
  for (const database of databases.splice(0)) await database.drop();
});

/** A fresh database from `makeDatabase`, dropped after the test. */
async function fresh(makeDatabase: TestDatabaseFactory): Promise<TestDatabase> {
  const database = await makeDatabase();
  databases.push(database);
  return database;
}

function metricsApp(g: TestGateway = gw) {
  if (g.metricsApp === null) throw new Error('the metrics listener is off');
  return g.metricsApp;
}

async function scrape(): Promise<string> {
  const response = await metricsApp().inject({ method: 'GET', url: '/metrics' });
  expect(response.statusCode).toBe(200);
  expect(response.headers['content-type']).toContain('text/plain');
  return response.body;
}

describe.each(testDatabases())('metrics on %s', (_name, makeDatabase) => {
  beforeEach(async () => {
    gw = await startTestGateway({ database: await fresh(makeDatabase) });
  });

  describe('/metrics', () => {
    it('counts logins, times the second factor, and reports sessions by channel and tier and takeovers', async () => {
      await startLogin(gw, ALICE.username, 'wrong-password');
      const bot = await loginAs(gw, ALICE);
      const phone = await loginAs(gw, ALICE);
      for (const [as, compete] of [
        [bot, false],
        [phone, true],
      ] as const) {
        await gw.app.inject({
          method: 'POST',
          url: '/v1/session/brokerage',
          headers: { cookie: as.cookie, 'x-csrf-token': as.csrf },
          payload: { compete },
        });
      }
      const text = await scrape();
      expect(text).toMatch(/gatehouse_logins_total\{channel="web",result="invalid_credentials"\} 1/);
      expect(text).toMatch(/gatehouse_logins_total\{channel="web",result="success"\} 2/);
      expect(text).toMatch(/gatehouse_second_factor_seconds_count\{factor="totp"\} 2/);
      expect(text).toMatch(/gatehouse_active_sessions\{channel="web",tier="brokerage"\} 1/);
      expect(text).toMatch(/gatehouse_active_sessions\{channel="web",tier="read_only"\} 1/);
      expect(text).toMatch(/gatehouse_brokerage_takeovers_total\{channel="web"\} 1/);
      expect(text).toContain('gatehouse_process_cpu_seconds_total');
    });
  });

  describe('re-authentication latency', () => {
    it('measures from a trading session’s loss to the next trading session on that channel', async () => {
      const first = await loginAs(gw, ALICE);
      const brokerage = (as: typeof first) =>
        gw.app.inject({
          method: 'POST',
          url: '/v1/session/brokerage',
          headers: { cookie: as.cookie, 'x-csrf-token': as.csrf },
          payload: { compete: false },
        });
      expect((await brokerage(first)).statusCode).toBe(200);
      // A first trading session follows no loss: nothing is observed.
      expect(await scrape()).not.toMatch(/gatehouse_reauthentication_seconds_count\{channel="web"\}/);
      gw.clock.advance(10_000);
      await gw.app.inject({
        method: 'POST',
        url: '/v1/auth/logout',
        headers: { cookie: first.cookie, 'x-csrf-token': first.csrf },
      });
      const second = await loginAs(gw, ALICE); // 30 s after the logout on the test clock
      expect((await brokerage(second)).statusCode).toBe(200);
      const text = await scrape();
      expect(text).toMatch(/gatehouse_reauthentication_seconds_count\{channel="web"\} 1/);
      expect(text).toMatch(/gatehouse_reauthentication_seconds_sum\{channel="web"\} 30\b/);

      // Trading passed between two web sessions and back: the web channel never lacked it, so nothing is observed.
      const other = await loginAs(gw, ALICE);
      await gw.app.inject({
        method: 'POST',
        url: '/v1/session/brokerage',
        headers: { cookie: other.cookie, 'x-csrf-token': other.csrf },
        payload: { compete: true },
      });
      gw.clock.advance(45_000);
      await gw.app.inject({
        method: 'POST',
        url: '/v1/session/brokerage',
        headers: { cookie: second.cookie, 'x-csrf-token': second.csrf },
        payload: { compete: true },
      });
      const later = await scrape();
      expect(later).toMatch(/gatehouse_reauthentication_seconds_count\{channel="web"\} 1/);
    });
  });

  describe('the metrics listener', () => {
    const others: TestGateway[] = [];
    const blockers: Server[] = [];
    afterEach(async () => {
      for (const g of others.splice(0)) await g.close();
      for (const b of blockers.splice(0)) await new Promise((resolve) => b.close(resolve));
    });
    async function listening(options: TestGatewayOptions = {}) {
      const g = await startTestGateway({
        database: await fresh(makeDatabase),
        ...options,
        config: { ...options.config, server: { port: 0, host: '127.0.0.1' } },
      });
      others.push(g);
      return { g, base: await g.listen() };
    }
    function metricsUrl(g: TestGateway): string {
      const address = metricsApp(g).server.address();
      if (typeof address !== 'object' || address === null) throw new Error('not listening');
      return `http://127.0.0.1:${address.port}/metrics`;
    }

    it('is not the public listener: /metrics there is not found', async () => {
      // Issue 14 (also): `/metrics` was served on the public listener to anyone, with no setting to keep it in.
      const { g, base } = await listening();
      const open = await fetch(`${base}/metrics`);
      expect(open.status).toBe(404);
      expect(await open.text()).not.toContain('gatehouse_');
      const scraped = await fetch(metricsUrl(g));
      expect(scraped.status).toBe(200);
      expect(await scraped.text()).toContain('gatehouse_logins_total');
    });

    it('listens on loopback by default, and can be turned off', async () => {
      expect(loadConfig({ env: {} }).metrics.listen).toBe('127.0.0.1:9464');
      const off = await startTestGateway({
        database: await fresh(makeDatabase),
        config: { metrics: { listen: 'off' } },
      });
      others.push(off);
      expect(off.metricsApp).toBeNull();
    });

    it('requires the bearer token when one is set', async () => {
      const token = 'm'.repeat(40);
      const { g } = await listening({ config: { metrics: { listen: '127.0.0.1:0', bearerToken: token } } });
      const url = metricsUrl(g);
      const attempts: Record<string, string>[] = [
        {},
        { authorization: 'Bearer wrong' },
        { authorization: `Basic ${token}` },
      ];
      for (const headers of attempts) {
        const refused = await fetch(url, { headers });
        expect(refused.status).toBe(401);
        expect(refused.headers.get('www-authenticate')).toBe('Bearer');
      }
      expect((await fetch(url, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    });

    it('refuses a malformed address or a short token at start-up, naming the setting', () => {
      for (const listen of ['9464', 'localhost', '127.0.0.1:99999', 'on', 'http://127.0.0.1:9464']) {
        expect(() => loadConfig({ env: { GATEHOUSE_METRICS_LISTEN: listen } }), listen).toThrow(
          /metrics\.listen.*GATEHOUSE_METRICS_LISTEN/,
        );
      }
      expect(() => loadConfig({ env: { GATEHOUSE_METRICS_BEARER_TOKEN: 'short' } })).toThrow(
        /metrics\.bearerToken/,
      );
      expect(loadConfig({ env: { GATEHOUSE_METRICS_LISTEN: '[::1]:9464' } }).metrics.listen).toBe(
        '[::1]:9464',
      );
    });

    it('warns when it listens beyond loopback without a token', async () => {
      const lines: string[] = [];
      const { g } = await listening({
        logSink: (line) => lines.push(line),
        config: { metrics: { listen: '0.0.0.0:0' } },
      });
      expect(metricsApp(g).server.listening).toBe(true);
      expect(lines.join('\n')).toMatch(/metrics\.bearerToken/);
    });

    it('keeps the gateway serving when its address is taken, and says so', async () => {
      const blocker = createServer();
      blockers.push(blocker);
      await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
      const address = blocker.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      const lines: string[] = [];
      const { base } = await listening({
        logSink: (line) => lines.push(line),
        config: { metrics: { listen: `127.0.0.1:${port}` } },
      });
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect(lines.join('\n')).toMatch(/metrics\.listen/);
    });
  });
});
