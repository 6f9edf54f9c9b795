/**
 * An unmodified third-party CPAPI client against the face: `ibkr-client` 1.0.4 from npm (MIT, "IBKR Web API Client
 * with OAuth support"), which speaks to IBKR's gateway over HTTPS with verification off and opens the WebSocket with
 * the `api` cookie it takes from `tickle`. A short bot session through it: brokerage init, tickle, accounts, a
 * contract search, a snapshot (twice: IBKR's pre-flight), an order with its question answered, live orders, a
 * cancel, and the WebSocket's market-data and order topics. The listener serves HTTPS with a self-signed
 * certificate, as IBKR's gateway does; nothing of the client is changed.
 */
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildOne } from '../app/cpapi.js';
import { findInstrument } from '../instruments/index.js';
import { ALICE, startTestGateway, type TestGateway } from '../test-support/gateway.js';
import type { CpapiListener } from './index.js';

interface IbkrClientLike {
  session: string;
  init(compete?: boolean, publish?: boolean): Promise<unknown>;
  request(input: {
    path: string;
    method?: string;
    data?: object;
    params?: Record<string, string | number | boolean>;
  }): Promise<unknown>;
  socket(debug?: string[]): {
    multiplex(
      subscribe: () => string,
      unsubscribe: () => string,
      filter: (frame: { topic?: string }) => boolean,
    ): { subscribe(next: (frame: Record<string, unknown>) => void): { unsubscribe(): void } };
    complete(): void;
  };
}

// The package's ESM build imports without file extensions, which Node does not resolve; its CommonJS build is the
// one Node users load.
const { IbkrClient } = createRequire(import.meta.url)('ibkr-client') as {
  IbkrClient: new (host: string) => IbkrClientLike;
};

const AAPL = 265598;
let gw: TestGateway | undefined;
let listener: CpapiListener | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await listener?.close();
  await gw?.close();
  gw = undefined;
  listener = undefined;
});

/** Resolves with the first frame `filter` accepts, or fails after `ms`. */
function firstFrame(
  subscribe: (next: (frame: Record<string, unknown>) => void) => { unsubscribe(): void },
  filter: (frame: Record<string, unknown>) => boolean,
  ms = 15_000,
): Promise<Record<string, unknown>> {
  return new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no frame in time')), ms);
    const sub = subscribe((frame) => {
      if (!filter(frame)) return;
      clearTimeout(timer);
      queueMicrotask(() => sub.unsubscribe());
      resolve(frame);
    });
  });
}

describe('a third-party CPAPI client (npm ibkr-client 1.0.4)', () => {
  it('runs a short bot session against the face unchanged', async () => {
    // The client logs every frame it receives (its `debug: true`); the test reads the frames, not the log.
    vi.spyOn(console, 'debug').mockImplementation(() => {});
    vi.spyOn(console, 'log').mockImplementation(() => {});
    gw = await startTestGateway({ config: { cpapi: { pacing: false } }, matchingIntervalMs: 50 });
    listener = await buildOne(gw.ctx, { host: '127.0.0.1', port: 0, tls: 'self-signed' }, ALICE);
    gw.clock.advance(30_000);
    const url = await listener.listen();
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const client = new IbkrClient(url.replace('https://', ''));

    const init = (await client.init(true, true)) as { authenticated: boolean };
    expect(init.authenticated).toBe(true);
    const tickle = (await client.request({ path: 'tickle', method: 'POST' })) as {
      session: string;
      iserver: { authStatus: { authenticated: boolean } };
    };
    expect(tickle.iserver.authStatus.authenticated).toBe(true);
    client.session = tickle.session;

    const accounts = (await client.request({ path: 'iserver/accounts' })) as { accounts: string[] };
    expect(accounts.accounts).toContain('U1000001');
    const stocks = (await client.request({ path: 'trsrv/stocks', params: { symbols: 'AAPL' } })) as Record<
      string,
      { contracts: { conid: number }[] }[]
    >;
    expect(stocks.AAPL?.[0]?.contracts.some((c) => c.conid === AAPL)).toBe(true);

    const snapshot = () =>
      client.request({
        path: 'iserver/marketdata/snapshot',
        params: { conids: String(AAPL), fields: '31,84,86' },
      });
    const first = (await snapshot()) as Record<string, unknown>[];
    expect(first[0]?.conid).toBe(AAPL);
    const second = (await snapshot()) as Record<string, unknown>[];
    expect(typeof second[0]?.['31']).toBe('string');

    const instrument = findInstrument(AAPL);
    if (instrument === undefined) throw new Error('no AAPL');
    const ask = gw.ctx.marketData.live(instrument).ask;
    // Far through the market: IBKR's o163 question, answered yes.
    const asked = (await client.request({
      path: 'iserver/account/U1000001/orders',
      method: 'POST',
      data: {
        orders: [
          {
            conid: AAPL,
            orderType: 'LMT',
            side: 'BUY',
            tif: 'DAY',
            quantity: 1,
            price: Math.round(ask * 108) / 100,
          },
        ],
      },
    })) as { id: string; messageIds: string[] }[];
    expect(asked[0]?.messageIds).toEqual(['o163']);
    const replied = (await client.request({
      path: `iserver/reply/${asked[0]?.id}`,
      method: 'POST',
      data: { confirmed: true },
    })) as { order_id: string }[];
    expect(replied[0]?.order_id).toMatch(/^\d+$/);

    // The WebSocket, with the cookie the client builds from `session`: order updates and market data.
    const socket = client.socket();
    const orders = socket.multiplex(
      () => 'sor+{}',
      () => 'uor+{}',
      (frame) => frame.topic === 'sor',
    );
    const market = socket.multiplex(
      () => `smd+${AAPL}+{"fields":["31","84","86"]}`,
      () => `umd+${AAPL}+{}`,
      (frame) => frame.topic === `smd+${AAPL}`,
    );
    const tick = firstFrame(
      (next) => market.subscribe(next),
      (frame) => typeof frame['31'] === 'string',
    );

    // A resting order, then its cancel.
    const resting = (await client.request({
      path: 'iserver/account/U1000001/orders',
      method: 'POST',
      data: {
        orders: [
          {
            conid: AAPL,
            orderType: 'LMT',
            side: 'BUY',
            tif: 'GTC',
            quantity: 2,
            price: Math.round(ask * 90) / 100,
            cOID: 'tp-1',
          },
        ],
      },
    })) as { order_id: string }[];
    const orderId = Number(resting[0]?.order_id);
    const update = firstFrame(
      (next) => orders.subscribe(next),
      (frame) =>
        Array.isArray(frame.args) && frame.args.some((o: { orderId?: number }) => o.orderId === orderId),
    );
    const live = (await client.request({ path: 'iserver/account/orders' })) as {
      orders: { orderId: number }[];
    };
    expect(live.orders.map((o) => o.orderId)).toContain(orderId);
    const cancelled = (await client.request({
      path: `iserver/account/U1000001/order/${orderId}`,
      method: 'DELETE',
    })) as { msg: string };
    expect(cancelled.msg).toBe('Request was submitted');

    expect((await tick).conid).toBe(AAPL);
    expect((await update).topic).toBe('sor');
    socket.complete();
    const logout = (await client.request({ path: 'logout', method: 'POST' })) as { status: boolean };
    expect(logout.status).toBe(true);
  }, 60_000);
});
