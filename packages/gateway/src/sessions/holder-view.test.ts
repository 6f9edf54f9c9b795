/**
 * The tier answered from this node's view (sessions/holder-view): no database read for a tickle or an order's
 * re-check while nothing changed; a takeover heard on the bus (from this node or another) stops the old session's
 * orders at once; a takeover whose announcement never arrived is seen within the 30 s re-read; a read that raced
 * an announcement is not kept.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InProcessEventBus, ManualClock, sha256 } from '../core/index.js';
import { type TestDatabase, type TestDatabaseFactory, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  callAs,
  errorCode,
  json,
  type LoggedIn,
  loginTrading,
  startTestGateway,
  type TestGateway,
  type TestGatewayOptions,
} from '../test-support/gateway.js';
import { HolderView } from './holder-view.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(options: TestGatewayOptions): Promise<TestGateway> {
  const gw = await startTestGateway(options);
  cleanups.push(() => gw.close());
  return gw;
}

/** A database two gateways can open at once (a file for SQLite), dropped after the test. */
async function sharedDatabase(
  makeDatabase: TestDatabaseFactory,
): Promise<{ database: TestDatabase; url: string }> {
  const database = await makeDatabase();
  cleanups.push(() => database.drop());
  if (database.dialect !== 'sqlite') return { database, url: database.url };
  const dir = mkdtempSync(join(tmpdir(), 'gh-holders-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return { database, url: join(dir, 'g.db') };
}

const tickle = async (gw: TestGateway, as: LoggedIn) =>
  json(await callAs(gw, 'POST', '/v1/session/tickle', as)) as { tier: string; competing: boolean };

let orders = 0;
const order = (gw: TestGateway, as: LoggedIn) => {
  orders += 1;
  return callAs(gw, 'POST', '/v1/accounts/U1000001/orders', as, {
    clientOrderId: `view-${orders}`,
    instrumentId: 265598,
    side: 'BUY',
    type: 'MKT',
    quantity: 1,
    tif: 'DAY',
  });
};

const principalOf = (gw: TestGateway, as: LoggedIn) =>
  gw.ctx.sessions.authenticate(decodeURIComponent(as.cookie.split('=')[1] ?? ''));

describe.each(testDatabases())('the tier from this node’s view on %s', (_name, makeDatabase) => {
  it('answers the tickle and the re-check of every order from memory while nothing changed', async () => {
    const database = await makeDatabase();
    cleanups.push(() => database.drop());
    const gw = await start({ database });
    const web = await loginTrading(gw, ALICE);
    expect(await tickle(gw, web)).toMatchObject({ tier: 'brokerage', competing: false });
    const reads = gw.queries.count;
    for (let i = 0; i < 5; i += 1) expect(await tickle(gw, web)).toMatchObject({ tier: 'brokerage' });
    await expect(gw.ctx.brokerage.requireTrading(await principalOf(gw, web))).resolves.toMatchObject({
      tier: 'brokerage',
    });
    expect(gw.queries.count).toBe(reads);

    // A load of the session that an announcement overtook is answered, but not kept as current.
    const token = decodeURIComponent(web.cookie.split('=')[1] ?? '');
    const changed = () =>
      gw.ctx.bus.publish('session.changed', { sessionId: web.sessionId, tokenHash: sha256(token) });
    await changed();
    const loading = gw.ctx.sessions.authenticate(token);
    await changed();
    expect(gw.ctx.sessions.isCurrent(await loading)).toBe(false);
    expect(gw.ctx.sessions.isCurrent(await gw.ctx.sessions.authenticate(token))).toBe(true);

    // A takeover on this node drops the view at once: the old session's next order is refused, nothing placed.
    const desk = await loginTrading(gw, ALICE);
    expect(await tickle(gw, web)).toMatchObject({ tier: 'read_only', competing: true });
    expect(errorCode(await order(gw, web))).toBe('SESSION_COMPETING');
    expect((await order(gw, desk)).statusCode).toBe(201);
  });

  it('a takeover on another node stops this node’s orders as soon as the bus brings it', async () => {
    const { database, url } = await sharedDatabase(makeDatabase);
    const shared = { bus: new InProcessEventBus(), clock: new ManualClock(), config: { database: { url } } };
    const a = await start({ ...shared, database });
    const b = await start({ ...shared, database, demo: false });
    const web = await loginTrading(a, ALICE);
    expect((await order(a, web)).statusCode).toBe(201);
    expect(await tickle(a, web)).toMatchObject({ tier: 'brokerage' });

    const elsewhere = await loginTrading(b, ALICE);
    const refused = await order(a, web);
    expect(errorCode(refused)).toBe('SESSION_COMPETING');
    expect(await tickle(a, web)).toMatchObject({ tier: 'read_only', competing: true });
    expect((await order(b, elsewhere)).statusCode).toBe(201);
  });

  it('a takeover whose announcement never arrived is seen within the 30 s re-read', async () => {
    const { database, url } = await sharedDatabase(makeDatabase);
    const clock = new ManualClock();
    const config = { database: { url } };
    // Each node its own bus: node A hears nothing of node B (a lost message).
    const a = await start({ bus: new InProcessEventBus(), clock, config, database });
    const b = await start({ bus: new InProcessEventBus(), clock, config, database, demo: false });
    const web = await loginTrading(a, ALICE);
    expect(await tickle(a, web)).toMatchObject({ tier: 'brokerage' });

    await loginTrading(b, ALICE);
    clock.advance(30_001);
    expect(errorCode(await order(a, web))).toBe('SESSION_COMPETING');
    expect(await tickle(a, web)).toMatchObject({ tier: 'read_only', competing: true });
  });
});

describe('HolderView', () => {
  it('does not keep a read that an announcement overtook, and drops an entry on each tier announcement', () => {
    const bus = new InProcessEventBus();
    const clock = new ManualClock();
    const view = new HolderView({ bus, clock, maxEntries: 10, revalidateAfterMs: 30_000 });
    const holder = { shared: false, holderSessionId: 'ses_old' };

    const raced = view.begin();
    void bus.publish('session.brokerage', { sessionId: 'ses_new', tokenHash: 'h', userId: 'usr_1' });
    view.remember('usr_1', holder, raced);
    expect(view.current('usr_1')).toBeUndefined();

    const announcements = [
      () => bus.publish('session.brokerage', { sessionId: 's', tokenHash: 'h', userId: 'usr_1' }),
      () => bus.publish('session.competing', { sessionId: 's', bySessionId: 't', userId: 'usr_1' }),
      () =>
        bus.publish('session.revoked', { sessionId: 's', tokenHash: 'h', userId: 'usr_1', reason: 'logout' }),
      () => bus.publish('user.changed', { userId: 'usr_1' }),
    ];
    for (const announce of announcements) {
      view.remember('usr_1', holder, view.begin());
      expect(view.current('usr_1')).toMatchObject(holder);
      void announce();
      expect(view.current('usr_1')).toBeUndefined();
    }

    view.remember('usr_1', holder, view.begin());
    clock.advance(30_001);
    expect(view.current('usr_1')).toBeUndefined();
    view.close();
  });
});
