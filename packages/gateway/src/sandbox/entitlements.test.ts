/**
 * The sandbox's entitlement faults act where the account's entitlements are read, as if an operator had changed
 * them: a revoked market-data bundle turns the next quote delayed and the next order into a confirmation question;
 * a removed permission, a lowered options level, closing-only and frozen meet the gate's own refusals. Nothing
 * stored changes, no cache holds the faulted view, and clearing the fault restores the account at the next read.
 * The same fault on another account leaves Alice's alone.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { loadEntitlements } from '../entitlements/index.js';
import { INSTRUMENTS, type Instrument } from '../instruments/index.js';
import {
  ALICE,
  callAs,
  errorCode,
  json,
  type LoggedIn,
  loginTrading,
  startTestGateway,
  type TestGateway,
} from '../test-support/gateway.js';
import type { Sandbox } from './index.js';

let gw: TestGateway;
afterEach(async () => {
  await gw?.close();
});

const bySymbol = (symbol: string) => INSTRUMENTS.find((i) => i.symbol === symbol) as Instrument;
const AAPL = bySymbol('AAPL');
const MSFT = bySymbol('MSFT');
const SPY = bySymbol('SPY');
const AAPL_CALL = INSTRUMENTS.find(
  (i) => i.option?.underlyingId === AAPL.id && i.option.right === 'C',
) as Instrument;
const OPERATOR = { type: 'operator' } as const;
let n = 0;

async function start(): Promise<{ sandbox: Sandbox; alice: LoggedIn }> {
  gw = await startTestGateway({ config: { sandbox: { enabled: true } } });
  if (gw.ctx.sandbox === null) throw new Error('sandbox off');
  return { sandbox: gw.ctx.sandbox, alice: await loginTrading(gw, ALICE) };
}

const place = (as: LoggedIn, order: Record<string, unknown> = {}, account = 'U1000001') => {
  n += 1;
  return callAs(gw, 'POST', `/v1/accounts/${account}/orders`, as, {
    clientOrderId: `ent-${n}`,
    instrumentId: AAPL.id,
    side: 'BUY',
    type: 'MKT',
    quantity: 10,
    tif: 'DAY',
    ...order,
  });
};

async function quotes(as: LoggedIn, instruments: Instrument[], account = 'U1000001') {
  const url = `/v1/marketdata/snapshot?instruments=${instruments.map((i) => i.id).join(',')}&accountId=${account}`;
  const body = json(await callAs(gw, 'GET', url, as)) as {
    quotes: { symbol: string; entitlement: { type: string; delayMs: number } }[];
  };
  return Object.fromEntries(body.quotes.map((q) => [q.symbol, q.entitlement.type]));
}

async function accountView(as: LoggedIn, account = 'U1000001') {
  return json(await callAs(gw, 'GET', `/v1/accounts/${account}`, as)) as {
    frozen: boolean;
    closingOnly: boolean;
    optionsLevel: number;
    permissions: { assetClass: string; region: string }[];
    marketData: { bundle: string; access: string }[];
  };
}

const fault = (kind: string, params: Record<string, unknown> = {}, account = 'U1000001') => ({
  kind,
  target: { type: 'account', id: account },
  params,
});

describe('entitlement faults', () => {
  it('marketdata.revoked: quotes turn delayed mid-session and the next order asks first; cleared, live again', async () => {
    const { sandbox, alice } = await start();
    expect(await quotes(alice, [AAPL, AAPL_CALL])).toEqual({ AAPL: 'live', [AAPL_CALL.symbol]: 'live' });
    expect((await place(alice)).statusCode).toBe(201);

    // Injected by Alice on her own account, through her session.
    const { id: userId } = await gw.ctx.store.db
      .selectFrom('users')
      .select('id')
      .where('username', '=', ALICE.username)
      .executeTakeFirstOrThrow();
    const injected = await sandbox.inject(fault('marketdata.revoked', { bundle: 'US_EQUITY' }), {
      type: 'user',
      userId,
      sessionId: alice.sessionId,
    });
    // The next quote is the bundle's free view; another bundle stays live.
    expect(await quotes(alice, [AAPL, AAPL_CALL])).toEqual({ AAPL: 'delayed', [AAPL_CALL.symbol]: 'live' });
    const view = await accountView(alice);
    expect(view.marketData.find((m) => m.bundle === 'US_EQUITY')?.access).toBe('delayed');

    // The next market order is a confirmation question, not an acceptance; answering it places the order.
    const asked = await place(alice);
    expect(asked.statusCode).toBe(409);
    const { confirmationId, questions } = json(asked) as {
      confirmationId: string;
      questions: { id: string }[];
    };
    expect(questions.map((q) => q.id)).toEqual(['delayed_market_data']);
    const answered = await callAs(
      gw,
      'POST',
      `/v1/accounts/U1000001/orders/confirmations/${confirmationId}`,
      alice,
      { confirmed: true },
    );
    expect(answered.statusCode).toBe(201);
    const audit = await gw.ctx.store.db.selectFrom('audit_log').select('type').execute();
    expect(audit.map((a) => a.type)).toContain('order.confirmed_without_market_data');

    // Nothing stored changed: the subscription is still there.
    const stored = await loadEntitlements(gw.ctx.store.db, 'U1000001');
    expect(stored?.subscriptions.has('US_EQUITY')).toBe(true);
    expect((await sandbox.list()).find((f) => f.id === injected.id)?.hits).toBeGreaterThan(0);

    await sandbox.clear(injected.id, OPERATOR);
    expect(await quotes(alice, [AAPL])).toEqual({ AAPL: 'live' });
    expect((await place(alice)).statusCode).toBe(201);
  });

  it('marketdata.revoked on an instrument: its quotes and orders only, for every account', async () => {
    const { sandbox, alice } = await start();
    await sandbox.inject(
      {
        kind: 'marketdata.revoked',
        target: { type: 'instrument', id: 'AAPL' },
        params: { bundle: 'US_EQUITY' },
      },
      OPERATOR,
    );
    expect(await quotes(alice, [AAPL, MSFT])).toEqual({ AAPL: 'delayed', MSFT: 'live' });
    expect((await place(alice)).statusCode).toBe(409);
    expect((await place(alice, { instrumentId: MSFT.id })).statusCode).toBe(201);
  });

  it('permission.removed: PERMISSION_MISSING for that asset class and region only; cleared, accepted', async () => {
    const { sandbox, alice } = await start();
    const injected = await sandbox.inject(
      fault('permission.removed', { assetClass: 'STK', region: 'US' }),
      OPERATOR,
    );
    const refused = await place(alice);
    expect(errorCode(refused)).toBe('PERMISSION_MISSING');
    expect(json(refused)).toMatchObject({ error: { details: { permission: 'STK:US' } } });
    expect((await place(alice, { instrumentId: SPY.id })).statusCode).toBe(201);
    const view = await accountView(alice);
    expect(view.permissions).not.toContainEqual({ assetClass: 'STK', region: 'US' });
    expect(view.permissions).toContainEqual({ assetClass: 'ETF', region: 'US' });
    // Without a region, the asset class goes everywhere.
    await sandbox.clear(injected.id, OPERATOR);
    expect((await place(alice)).statusCode).toBe(201);
    await sandbox.inject(fault('permission.removed', { assetClass: 'ETF' }), OPERATOR);
    expect(errorCode(await place(alice, { instrumentId: SPY.id }))).toBe('PERMISSION_MISSING');
    expect((await place(alice)).statusCode).toBe(201);
  });

  it('options_level.lowered: a long call needs level 2, so OPTIONS_LEVEL_INSUFFICIENT; cleared, accepted', async () => {
    const { sandbox, alice } = await start();
    const call = { instrumentId: AAPL_CALL.id, quantity: 1 };
    const injected = await sandbox.inject(fault('options_level.lowered', { level: 1 }), OPERATOR);
    const refused = await place(alice, call);
    expect(errorCode(refused)).toBe('OPTIONS_LEVEL_INSUFFICIENT');
    expect(json(refused)).toMatchObject({ error: { details: { required: 2, level: 1 } } });
    expect((await accountView(alice)).optionsLevel).toBe(1);
    await sandbox.clear(injected.id, OPERATOR);
    expect((await place(alice, call)).statusCode).toBe(201);
    expect((await accountView(alice)).optionsLevel).toBe(2);
  });

  it('account.closing_only: a buy is refused ACCOUNT_CLOSING_ONLY, a reducing sell accepted', async () => {
    const { sandbox, alice } = await start();
    expect(json(await place(alice))).toMatchObject({ status: 'filled', filledQuantity: 10 });
    const injected = await sandbox.inject(fault('account.closing_only'), OPERATOR);
    expect(errorCode(await place(alice))).toBe('ACCOUNT_CLOSING_ONLY');
    expect((await accountView(alice)).closingOnly).toBe(true);
    const sell = await place(alice, { side: 'SELL', quantity: 4 });
    expect(sell.statusCode).toBe(201);
    expect(json(sell)).toMatchObject({ status: 'filled', side: 'SELL' });
    await sandbox.clear(injected.id, OPERATOR);
    expect((await place(alice)).statusCode).toBe(201);
  });

  it('account.frozen: ACCOUNT_FROZEN for every order; the stored account is not frozen; cleared, accepted', async () => {
    const { sandbox, alice } = await start();
    const injected = await sandbox.inject(fault('account.frozen'), OPERATOR);
    expect(errorCode(await place(alice))).toBe('ACCOUNT_FROZEN');
    expect(errorCode(await place(alice, { side: 'SELL' }))).toBe('ACCOUNT_FROZEN');
    expect((await accountView(alice)).frozen).toBe(true);
    const row = await gw.ctx.store.db
      .selectFrom('accounts')
      .select('frozen')
      .where('id', '=', 'U1000001')
      .executeTakeFirstOrThrow();
    expect(row.frozen).toBe(0);
    // A fault with a duration ends by itself.
    await sandbox.clear(injected.id, OPERATOR);
    await sandbox.inject({ ...fault('account.frozen'), schedule: { durationMs: 5_000 } }, OPERATOR);
    expect(errorCode(await place(alice))).toBe('ACCOUNT_FROZEN');
    gw.clock.advance(5_000);
    await sandbox.tick();
    expect((await place(alice)).statusCode).toBe(201);
    expect((await accountView(alice)).frozen).toBe(false);
  });

  it('leaves Alice’s account alone when the same faults are on another account', async () => {
    const { sandbox, alice } = await start();
    const other = 'DU1000001';
    for (const [kind, params] of [
      ['marketdata.revoked', { bundle: 'US_EQUITY' }],
      ['permission.removed', { assetClass: 'STK' }],
      ['options_level.lowered', { level: 0 }],
      ['account.closing_only', {}],
      ['account.frozen', {}],
    ] as const)
      await sandbox.inject(fault(kind, params, other), OPERATOR);
    expect(errorCode(await place(alice, {}, other))).toBe('ACCOUNT_FROZEN');
    expect(await quotes(alice, [AAPL], other)).toEqual({ AAPL: 'delayed' });
    expect(await quotes(alice, [AAPL])).toEqual({ AAPL: 'live' });
    expect((await place(alice)).statusCode).toBe(201);
    expect((await place(alice, { instrumentId: AAPL_CALL.id, quantity: 1 })).statusCode).toBe(201);
    expect(await accountView(alice)).toMatchObject({ frozen: false, closingOnly: false, optionsLevel: 2 });
  });
});
