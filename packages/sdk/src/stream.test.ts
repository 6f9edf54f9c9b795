/**
 * The supervisor's stream across a gateway restart: events placed while the bot is connected, while the gateway is
 * down and after it is back all arrive once, in sequence; the reconnect resumes after the last event seen; and the
 * reconciliation after it reports an order placed behind the bot's back (orphaned) and a cancel that was missed.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ALICE,
  callAs,
  type LoggedIn,
  loginAs,
  type ManualClock,
  registerBot,
  startTestGateway,
  type TestGateway,
} from '@gatehouse/gateway/testing';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { SessionSupervisor } from './index.js';
import { newNodeDpopKey } from './node.js';
import { botOptions, restingOrder, until } from './test-support.js';

let gw: TestGateway | undefined;
let dir: string | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

async function start(
  dbFile: string,
  port: number,
  clock?: ManualClock,
): Promise<{ g: TestGateway; base: string }> {
  const g = await startTestGateway({
    config: { server: { port, host: '127.0.0.1' }, database: { url: dbFile } },
    ...(clock === undefined ? {} : { clock, demo: false }),
  });
  gw = g;
  return { g, base: await g.listen() };
}

const order = (id: string) =>
  ({
    clientOrderId: id,
    instrumentId: 265598,
    side: 'BUY',
    type: 'MKT',
    quantity: 1,
    tif: 'DAY',
  }) as const;

describe('supervisor stream', () => {
  it('misses and repeats no event across a gateway restart, and reconciles open orders after it', async () => {
    dir = await mkdtemp(join(tmpdir(), 'gh-sdk-stream-'));
    const dbFile = join(dir, 'g.db');
    let { g, base } = await start(dbFile, 0);
    const port = Number(new URL(base).port);
    const alice: LoggedIn = await loginAs(g, ALICE);
    const bot = await registerBot(g, alice);
    const supervisor = new SessionSupervisor({
      ...(await botOptions(bot, base, base)),
      dpopKey: newNodeDpopKey(),
      trading: { compete: true },
      backoff: { initialMs: 50, maxMs: 500 },
      stream: (url, headers) => new WebSocket(url, { headers }) as never,
    });
    const seen: number[] = [];
    const orphaned: string[] = [];
    const missed: string[] = [];
    supervisor.on('orderEvent', (e) => {
      if (e.accountId === 'DU1000001') seen.push(e.eventSeq);
    });
    supervisor.on('orphanedOrder', (e) => orphaned.push(e.order.clientOrderId));
    supervisor.on('missedCancel', (e) => missed.push(e.order.clientOrderId));
    let connects = 0;
    supervisor.on('streamConnected', () => {
      connects += 1;
    });
    await supervisor.start();
    await until(() => connects === 1);
    expect((await supervisor.placeOrder('DU1000001', order('s1'))).status).toBe('accepted'); // events 1, 2
    await until(() => seen.length === 2);
    // A resting order the bot will try to cancel while the gateway is going down.
    const rest = await supervisor.placeOrder('DU1000001', restingOrder(g, 'rest')); // event 3
    await until(() => seen.length === 3);

    // The gateway stops; the cancel the bot sends meanwhile fails (never reached the server).
    const clock = g.clock;
    await g.close();
    await expect(
      supervisor.cancelOrder('DU1000001', (rest as { order: { id: string } }).order.id),
    ).rejects.toBeDefined();
    ({ g, base } = await start(dbFile, port, clock));
    // While the bot reconnects, the user places an order it knows nothing about.
    await g.ctx.store.db.updateTable('users').set({ brokerage_policy: 'shared' }).execute(); // both may trade
    const web = await loginAs(g, ALICE);
    await callAs(g, 'POST', '/v1/session/brokerage', web, { compete: false });
    // A resting order, so it is still working whenever the bot looks (a market order's fill commits after its
    // acceptance, so whether the bot sees it working depends on when it looks).
    const foreign = restingOrder(g, 'behind-your-back');
    expect((await callAs(g, 'POST', '/v1/accounts/DU1000001/orders', web, foreign)).statusCode).toBe(201); // 4
    await until(() => connects === 2 && seen.length >= 4, 10_000);
    await until(() => orphaned.length >= 1 && missed.length >= 1, 5_000);
    expect(seen).toEqual([1, 2, 3, 4]);
    expect(missed).toEqual(['rest']);
    // Reported once, though both the live event and the reconciliation after the reconnect may find it.
    expect(orphaned).toEqual(['behind-your-back']);
    expect(supervisor.stats.reconnects).toBeGreaterThanOrEqual(1);
    supervisor.stop();
  }, 30_000);
});
