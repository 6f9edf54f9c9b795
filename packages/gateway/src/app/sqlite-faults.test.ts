/**
 * Storage faults on a single SQLite gateway (issue 23), each on a real file database in a temporary folder: the disk
 * fills (`SQLITE_FULL` at `max_page_count`), the database turns read-only (`SQLITE_READONLY`), a journal batch fails
 * part way. For each: what the client sees (codes, `Retry-After`), what `/readyz` says, what the database holds
 * after (every answered order, no refused one), and the way back (logins and reads by themselves, trading by the
 * operator's resume or a restart), with the audit chain verifying at the end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { verifyAuditChain } from '../audit/index.js';
import { INSTRUMENTS, type Instrument } from '../instruments/index.js';
import {
  ALICE,
  BRUNO,
  callAs,
  errorCode,
  json,
  type LoggedIn,
  loginAs,
  loginTrading,
  startLogin,
  startTestGateway,
  type TestGateway,
} from '../test-support/gateway.js';
import { fillDisk, freeDisk, makeReadOnly, makeWritable } from '../test-support/storage-faults.js';

const ADMIN_TOKEN = 'operator-token-for-the-storage-fault-tests-0123';
const AAPL = INSTRUMENTS.find((i) => i.symbol === 'AAPL') as Instrument;

let dir: string;
let gw: TestGateway | undefined;
const file = () => join(dir, 'gatehouse.db');

async function gateway(): Promise<TestGateway> {
  gw = await startTestGateway({
    // A restart keeps the clock going: its TOTP codes are not the ones already used.
    ...(gw === undefined ? {} : { clock: gw.clock }),
    database: { dialect: 'sqlite', url: file(), options: {}, drop: async () => {} },
    config: { secrets: { adminApiToken: ADMIN_TOKEN } },
    // Seeded once: a restart on the same file finds the demo users there.
    demo: gw === undefined,
  });
  return gw;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-sqlite-faults-'));
  gw = undefined;
});

afterEach(async () => {
  await gw?.close();
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
/** A resting buy (far below the market): it stays working, so each answered order is one row. */
function placeResting(g: TestGateway, as: LoggedIn) {
  n += 1;
  const clientOrderId = `fault-${n}`;
  return {
    clientOrderId,
    response: callAs(g, 'POST', '/v1/accounts/U1000001/orders', as, {
      clientOrderId,
      instrumentId: AAPL.id,
      side: 'BUY',
      type: 'LMT',
      limitPrice: 1,
      quantity: 1,
      tif: 'GTC',
    }),
  };
}

const readyz = (g: TestGateway) => g.app.inject({ method: 'GET', url: '/readyz' });
const resume = (g: TestGateway) =>
  g.app.inject({
    method: 'POST',
    url: '/v1/admin/trading/resume',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });

async function storedClientOrderIds(g: TestGateway): Promise<string[]> {
  const rows = await g.ctx.store.db.selectFrom('orders').select('client_order_id').execute();
  return rows.map((r) => r.client_order_id).sort();
}

function expectStorageRefusal(response: LightMyRequestResponse, fault: 'full' | 'read-only') {
  expect(response.statusCode).toBe(503);
  expect(json(response).error).toMatchObject({
    code: 'STORAGE_UNAVAILABLE',
    details: { fault, retryAfterMs: 5_000 },
  });
  expect(response.headers['retry-after']).toBe('5');
}

/** Places resting orders one by one until one is refused; returns the answered and the refused clientOrderIds. */
async function placeUntilRefused(g: TestGateway, as: LoggedIn, most: number) {
  const answered: string[] = [];
  for (let i = 0; i < most; i += 1) {
    const { clientOrderId, response } = placeResting(g, as);
    const placed = await response;
    if (placed.statusCode === 201) answered.push(clientOrderId);
    else return { answered, refused: clientOrderId, response: placed };
  }
  throw new Error(`the disk never filled in ${most} orders`);
}

describe('a single SQLite gateway under storage faults', () => {
  it('disk full (SQLITE_FULL at max_page_count): trading halts, logins get STORAGE_UNAVAILABLE with Retry-After, /readyz names the full disk; with room again logins recover by themselves, trading after the operator resumes, and nothing answered is lost', async () => {
    const g = await gateway();
    const alice = await loginTrading(g, ALICE);
    const before = [placeResting(g, alice), placeResting(g, alice)];
    for (const { response } of before) expect((await response).statusCode).toBe(201);

    // Injected: the file may not grow. Orders go on while they fit in the pages there are, then one is refused.
    fillDisk(g.ctx.store);
    const { answered, refused, response } = await placeUntilRefused(g, alice, 400);
    expect(response.statusCode).toBe(503);
    expect(json(response).error).toMatchObject({ code: 'TRADING_HALTED', details: { fault: 'full' } });
    expect(errorCode(await placeResting(g, alice).response)).toBe('TRADING_HALTED');

    // Logins write (the login, the audit chain): each is answered, or refused with the coded 503 and nothing kept.
    let refusedLogin: LightMyRequestResponse | undefined;
    for (let i = 0; i < 40 && refusedLogin === undefined; i += 1) {
      const started = await startLogin(g, BRUNO.username, BRUNO.password);
      if (started.statusCode !== 200) refusedLogin = started;
    }
    expect(refusedLogin).toBeDefined();
    expectStorageRefusal(refusedLogin as LightMyRequestResponse, 'full');
    // Reads go on: the database is the record.
    const listed = await callAs(g, 'GET', '/v1/accounts/U1000001/orders?status=open', alice);
    expect(listed.statusCode).toBe(200);
    const ready = await readyz(g);
    expect(ready.statusCode).toBe(503);
    expect(json(ready).error).toMatchObject({ code: 'TRADING_HALTED' });
    expect((json(ready).error as { message: string }).message).toMatch(/disk is full.*still/);
    // The operator cannot resume while the disk is full: nothing changes.
    expectStorageRefusal(await resume(g), 'full');
    expect(g.ctx.trading.halted).not.toBeNull();

    // In the database: every answered order, not the refused one.
    const acknowledged = [...before.map((b) => b.clientOrderId), ...answered].sort();
    expect(await storedClientOrderIds(g)).toEqual(acknowledged);
    expect(acknowledged).not.toContain(refused);

    // Room again: logins work by themselves; trading waits for the operator, and /readyz says so.
    freeDisk(g.ctx.store);
    expect((await startLogin(g, BRUNO.username, BRUNO.password)).statusCode).toBe(200);
    const halted = await readyz(g);
    expect(errorCode(halted)).toBe('TRADING_HALTED');
    expect((json(halted).error as { message: string }).message).toMatch(/disk is full\. Resume it/);
    const resumed = await resume(g);
    expect(resumed.statusCode).toBe(200);
    expect(json(resumed)).toEqual({ status: 'running', resumed: true, workingOrders: acknowledged.length });
    expect((await readyz(g)).statusCode).toBe(200);
    const again = placeResting(g, alice);
    expect((await again.response).statusCode).toBe(201);
    expect(await storedClientOrderIds(g)).toEqual([...acknowledged, again.clientOrderId].sort());
    // A second resume while trading runs changes nothing.
    expect(json(await resume(g))).toEqual({ status: 'running', resumed: false, workingOrders: 0 });
    expect(await verifyAuditChain(g.ctx.store.db)).toMatchObject({ ok: true });
    const audited = await g.ctx.store.db
      .selectFrom('audit_log')
      .select('data')
      .where('type', '=', 'trading.resumed')
      .execute();
    expect(audited.map((a) => JSON.parse(a.data))).toEqual([
      { workingOrders: acknowledged.length, by: 'operator', fault: 'full' },
    ]);
  });

  it('read-only database (SQLITE_READONLY): every write is refused with a code and changes nothing, reads go on, /readyz names it; writable again, logins recover by themselves and trading after the resume', async () => {
    const g = await gateway();
    const alice = await loginTrading(g, ALICE);
    const first = placeResting(g, alice);
    expect((await first.response).statusCode).toBe(201);
    const auditRows = async () =>
      (await g.ctx.store.db.selectFrom('audit_log').select('seq').execute()).length;
    const auditBefore = await auditRows();

    // Injected: the database refuses every write.
    makeReadOnly(g.ctx.store);
    const refused = placeResting(g, alice);
    const placed = await refused.response;
    expect(placed.statusCode).toBe(503);
    expect(json(placed).error).toMatchObject({ code: 'TRADING_HALTED', details: { fault: 'read-only' } });
    expectStorageRefusal(await startLogin(g, BRUNO.username, BRUNO.password), 'read-only');
    const listed = await callAs(g, 'GET', '/v1/accounts/U1000001/orders?status=open', alice);
    expect(listed.statusCode).toBe(200);
    expect((json(listed).orders as { clientOrderId: string }[]).map((o) => o.clientOrderId)).toEqual([
      first.clientOrderId,
    ]);
    const ready = await readyz(g);
    expect(ready.statusCode).toBe(503);
    expect((json(ready).error as { message: string }).message).toContain('the database is read-only');
    expectStorageRefusal(await resume(g), 'read-only');
    expect(await storedClientOrderIds(g)).toEqual([first.clientOrderId]);
    expect(await auditRows()).toBe(auditBefore);

    makeWritable(g.ctx.store);
    expect((await startLogin(g, BRUNO.username, BRUNO.password)).statusCode).toBe(200);
    expect(json(await resume(g))).toMatchObject({ resumed: true, workingOrders: 1 });
    expect((await readyz(g)).statusCode).toBe(200);
    // The refused order's id is free: sent again, it is placed once.
    const retried = await callAs(g, 'POST', '/v1/accounts/U1000001/orders', alice, {
      clientOrderId: refused.clientOrderId,
      instrumentId: AAPL.id,
      side: 'BUY',
      type: 'LMT',
      limitPrice: 1,
      quantity: 1,
      tif: 'GTC',
    });
    expect(retried.statusCode).toBe(201);
    expect(await storedClientOrderIds(g)).toEqual([first.clientOrderId, refused.clientOrderId].sort());
    expect(await verifyAuditChain(g.ctx.store.db)).toMatchObject({ ok: true });
  });

  it('refuses a resume from anyone but the operator (no token, a wrong or longer token, another scheme, a trader with CSRF): trading stays halted', async () => {
    const g = await gateway();
    const alice = await loginTrading(g, ALICE);
    expect((await placeResting(g, alice).response).statusCode).toBe(201);
    makeReadOnly(g.ctx.store);
    expect((await placeResting(g, alice).response).statusCode).toBe(503);
    makeWritable(g.ctx.store);
    const attempt = (authorization?: string) =>
      g.app.inject({
        method: 'POST',
        url: '/v1/admin/trading/resume',
        headers: authorization === undefined ? {} : { authorization },
      });
    for (const authorization of [
      undefined,
      'Bearer not-the-operator-token-0123456789abcdef',
      `Bearer ${ADMIN_TOKEN}x`,
      `Basic ${ADMIN_TOKEN}`,
    ])
      expect((await attempt(authorization)).statusCode).toBe(401);
    const asTrader = await callAs(g, 'POST', '/v1/admin/trading/resume', alice);
    expect(asTrader.statusCode).toBe(401);
    expect(g.ctx.trading.halted).not.toBeNull();
    expect(errorCode(await placeResting(g, alice).response)).toBe('TRADING_HALTED');
    expect(json(await resume(g))).toMatchObject({ resumed: true });
    expect(g.ctx.trading.halted).toBeNull();
  });

  it('read-only database with trading untouched: /readyz answers STORAGE_UNAVAILABLE with Retry-After, and ready again by itself once writable', async () => {
    const g = await gateway();
    await loginAs(g, ALICE);
    makeReadOnly(g.ctx.store);
    expectStorageRefusal(await startLogin(g, BRUNO.username, BRUNO.password), 'read-only');
    expectStorageRefusal(await readyz(g), 'read-only');
    expect((json(await readyz(g)).error as { message: string }).message).toMatch(
      /^The database is read-only: logins and changes are refused/,
    );
    expect(g.ctx.trading.halted).toBeNull();
    makeWritable(g.ctx.store);
    expect((await readyz(g)).statusCode).toBe(200);
    expect(g.ctx.store.health.fault).toBeNull();
  });

  it('a change and a fill the storage refuses (SQLITE_READONLY): the change answers TRADING_HALTED and is not stored, the fill is not recorded; after the resume the order is worked again from the database and fills', async () => {
    const g = await gateway();
    const alice = await loginTrading(g, ALICE);
    const resting = json(await placeResting(g, alice).response) as { id: string };
    const orderUrl = `/v1/accounts/U1000001/orders/${resting.id}`;
    const executions = async () =>
      (await g.ctx.store.db.selectFrom('executions').select('id').execute()).length;

    // A change: applied to this node's view first, then journalled; the journal refuses it.
    makeReadOnly(g.ctx.store);
    const changed = await callAs(g, 'PATCH', orderUrl, alice, { limitPrice: 2 });
    expect(changed.statusCode).toBe(503);
    expect(json(changed).error).toMatchObject({ code: 'TRADING_HALTED', details: { fault: 'read-only' } });
    expect(json(await callAs(g, 'GET', orderUrl, alice))).toMatchObject({ status: 'working', limitPrice: 1 });
    makeWritable(g.ctx.store);
    expect(json(await resume(g))).toMatchObject({ resumed: true, workingOrders: 1 });

    // A fill: the order is changed through the market (committed), then the storage refuses the fill's journal.
    const limitPrice = Number((g.ctx.marketData.live(AAPL).ask + 0.5).toFixed(2));
    expect((await callAs(g, 'PATCH', orderUrl, alice, { limitPrice })).statusCode).toBe(200);
    makeReadOnly(g.ctx.store);
    g.clock.advance(250);
    await g.ctx.trading.matchAll();
    expect(g.ctx.trading.halted).not.toBeNull();
    expect(json(await callAs(g, 'GET', orderUrl, alice))).toMatchObject({ status: 'working', limitPrice });
    expect(await executions()).toBe(0);

    makeWritable(g.ctx.store);
    expect(json(await resume(g))).toMatchObject({ resumed: true, workingOrders: 1 });
    g.clock.advance(250);
    await g.ctx.trading.matchAll();
    expect(json(await callAs(g, 'GET', orderUrl, alice))).toMatchObject({ status: 'filled' });
    expect(await executions()).toBe(1);
    expect(await verifyAuditChain(g.ctx.store.db)).toMatchObject({ ok: true });
  });

  it('two resumes sent at once (injected: a read-only halt with a buy whose quote crosses): one rebuild, both answer it, one audit row, and the order fills exactly once per execution', async () => {
    const g = await gateway();
    const alice = await loginTrading(g, ALICE);
    const quote = g.ctx.marketData.live(AAPL);
    const limitPrice = quote.bid;
    const quantity = Math.min(Math.floor(quote.askSize * 3), Math.floor(230_000 / limitPrice));
    const placed = await callAs(g, 'POST', '/v1/accounts/U1000001/orders', alice, {
      clientOrderId: 'crossing',
      instrumentId: AAPL.id,
      side: 'BUY',
      type: 'LMT',
      limitPrice,
      quantity,
      tif: 'GTC',
    });
    expect(placed.statusCode).toBe(201);
    // The quote moves until it crosses the limit; no matching pass runs (test gateways have no matching timer).
    for (let i = 0; i < 5_000 && g.ctx.marketData.live(AAPL).ask > limitPrice; i += 1) g.clock.advance(250);
    expect(g.ctx.marketData.live(AAPL).ask).toBeLessThanOrEqual(limitPrice);
    makeReadOnly(g.ctx.store);
    expect(errorCode(await placeResting(g, alice).response)).toBe('TRADING_HALTED');
    makeWritable(g.ctx.store);

    const answers = await Promise.all([resume(g), resume(g)]);
    for (const answer of answers)
      expect(json(answer)).toEqual({ status: 'running', resumed: true, workingOrders: 1 });
    expect(json(await resume(g))).toMatchObject({ resumed: false });
    // Matching passes while the quote still crosses: the rebuilt engine works the order.
    for (let i = 0, passes = 0; i < 400 && passes < 20; i += 1) {
      g.clock.advance(250);
      if (g.ctx.marketData.live(AAPL).ask > limitPrice) continue;
      passes += 1;
      await g.ctx.trading.matchAll();
    }
    const db = g.ctx.store.db;
    const order = await db
      .selectFrom('orders')
      .selectAll()
      .where('client_order_id', '=', 'crossing')
      .executeTakeFirstOrThrow();
    const executions = await db
      .selectFrom('executions')
      .select('quantity')
      .where('order_id', '=', order.id)
      .execute();
    const executed = executions.reduce((sum, e) => sum + Number(e.quantity), 0);
    expect(Number(order.filled_quantity)).toBeGreaterThan(0);
    expect(executed).toBe(Number(order.filled_quantity));
    const resumed = await db
      .selectFrom('audit_log')
      .select('data')
      .where('type', '=', 'trading.resumed')
      .execute();
    expect(resumed).toHaveLength(1);
    expect(await verifyAuditChain(db)).toMatchObject({ ok: true });
  });

  it('an operator resume sent while the automatic resume after a lost database rebuilds joins it (injected: the update of an order change failing with ECONNRESET; the resume sent as the rebuild writes its audit row): one rebuild, one trading.resumed row', async () => {
    let operator: Promise<LightMyRequestResponse> | undefined;
    let joinAtAudit = false;
    const g = await startTestGateway({
      database: {
        dialect: 'sqlite',
        url: file(),
        drop: async () => {},
        options: {
          onQuery: (text) => {
            // The automatic rebuild is under way (trading still halted): the operator's resume arrives now.
            if (joinAtAudit && text.startsWith('insert into "audit_log"')) {
              joinAtAudit = false;
              operator = resume(g);
            }
          },
        },
      },
      config: { secrets: { adminApiToken: ADMIN_TOKEN } },
      demo: true,
    });
    gw = g;
    // Injected: the journal's next order update fails as a lost connection does (a halt that ends by itself).
    const sqlite = g.ctx.store.sqlite as NonNullable<typeof g.ctx.store.sqlite>;
    const prepare = sqlite.prepare.bind(sqlite);
    let armed = false;
    sqlite.prepare = ((text: string) => {
      if (armed && text.startsWith('UPDATE orders')) {
        armed = false;
        throw Object.assign(new Error('connection reset'), { code: 'ECONNRESET' });
      }
      return prepare(text);
    }) as typeof sqlite.prepare;
    const alice = await loginTrading(g, ALICE);
    const resting = json(await placeResting(g, alice).response) as { id: string };
    armed = true;
    joinAtAudit = true;
    const lost = await callAs(g, 'PATCH', `/v1/accounts/U1000001/orders/${resting.id}`, alice, {
      limitPrice: 2,
    });
    // The change whose batch was lost is never acknowledged; trading halts until the database answers again.
    expect(lost.statusCode).toBe(503);
    expect(armed).toBe(false);
    expect(g.ctx.trading.halted).not.toBeNull();
    // The probe (every 250 ms) finds the database back and rebuilds; the operator's resume arrives meanwhile.
    for (let i = 0; i < 100 && operator === undefined; i += 1) await new Promise((r) => setTimeout(r, 10));
    expect(operator).toBeDefined();
    expect(json(await (operator as Promise<LightMyRequestResponse>))).toEqual({
      status: 'running',
      resumed: true,
      workingOrders: 1,
    });
    expect(g.ctx.trading.halted).toBeNull();
    const rows = await g.ctx.store.db
      .selectFrom('audit_log')
      .select('data')
      .where('type', '=', 'trading.resumed')
      .execute();
    expect(rows).toHaveLength(1);
    expect(JSON.parse(String(rows[0]?.data))).toMatchObject({ by: 'database_back', workingOrders: 1 });
    expect((await placeResting(g, alice).response).statusCode).toBe(201);
  });

  it('the disk fills under a burst of 60 orders sent at once: answered orders are all in the database, refused ones (TRADING_HALTED) none, and a restart on the same file trades again', async () => {
    const g = await gateway();
    const alice = await loginTrading(g, ALICE);
    expect((await placeResting(g, alice).response).statusCode).toBe(201);
    fillDisk(g.ctx.store);
    // Injected: 60 orders sent at once while the file may not grow (a batch failing part way is store/faults.test.ts').
    const burst = Array.from({ length: 60 }, () => placeResting(g, alice));
    const answers = await Promise.all(burst.map(async (b) => ({ id: b.clientOrderId, r: await b.response })));
    const answered = answers.filter((a) => a.r.statusCode === 201).map((a) => a.id);
    const refused = answers.filter((a) => a.r.statusCode !== 201);
    // The burst needs more pages than there are: some are refused, each with a code, none with a 500.
    expect(refused.length).toBeGreaterThan(0);
    for (const { r } of refused) {
      expect(r.statusCode).toBe(503);
      expect(errorCode(r)).toBe('TRADING_HALTED');
    }
    expect(g.ctx.trading.halted).not.toBeNull();
    const stored = await storedClientOrderIds(g);
    expect(stored).toEqual(expect.arrayContaining(answered));
    for (const { id } of refused) expect(stored).not.toContain(id);
    expect(stored).toHaveLength(answered.length + 1);

    // Restart on the same file (the limit was this connection's, as space freed before a restart would be).
    await g.close();
    const restarted = await gateway();
    expect((await readyz(restarted)).statusCode).toBe(200);
    expect(await storedClientOrderIds(restarted)).toEqual(stored);
    const trader = await loginTrading(restarted, ALICE);
    const open = await callAs(restarted, 'GET', '/v1/accounts/U1000001/orders?status=open', trader);
    expect((json(open).orders as unknown[]).length).toBe(stored.length);
    expect((await placeResting(restarted, trader).response).statusCode).toBe(201);
    expect(await verifyAuditChain(restarted.ctx.store.db)).toMatchObject({ ok: true });
  });
});
