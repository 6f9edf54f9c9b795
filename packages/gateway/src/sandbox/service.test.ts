/** The sandbox's registry: checks before injecting, schedules, seeded probability, ownership, audit. */
import { afterEach, describe, expect, it } from 'vitest';
import { listAuditForUser } from '../audit/index.js';
import { GatehouseError } from '../core/index.js';
import { ALICE, BRUNO, startTestGateway, type TestGateway } from '../test-support/gateway.js';

let gw: TestGateway;
afterEach(async () => {
  await gw?.close();
});

async function start() {
  gw = await startTestGateway({ config: { sandbox: { enabled: true } } });
  const sandbox = gw.ctx.sandbox;
  if (sandbox === null) throw new Error('sandbox off');
  const alice = await gw.ctx.store.db
    .selectFrom('users')
    .select('id')
    .where('username', '=', ALICE.username)
    .executeTakeFirstOrThrow();
  const bruno = await gw.ctx.store.db
    .selectFrom('users')
    .select('id')
    .where('username', '=', BRUNO.username)
    .executeTakeFirstOrThrow();
  return { sandbox, alice: alice.id, bruno: bruno.id };
}

async function refusal(promise: Promise<unknown>): Promise<GatehouseError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof GatehouseError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('the sandbox registry', () => {
  it('is off by default: the probe is never armed', async () => {
    gw = await startTestGateway();
    expect(gw.ctx.sandbox).toBeNull();
    expect(gw.ctx.faults.armed).toBe(false);
  });

  it('refuses bad input with the field named, and injects nothing', async () => {
    const { sandbox, alice } = await start();
    const cases: [unknown, string][] = [
      [{ kind: 'push.exploded', target: { type: 'all' } }, 'kind'],
      [{ kind: 'push.late', target: { type: 'all' }, params: {} }, 'params.delayMs'],
      [{ kind: 'push.late', target: { type: 'all' }, params: { delayMs: 10, extra: 1 } }, 'params'],
      [{ kind: 'maintenance', target: { type: 'user' } }, 'target.id'],
      [
        {
          kind: 'maintenance',
          target: { type: 'all' },
          schedule: { at: new Date(gw.clock.now() - 60_000).toISOString() },
        },
        'schedule.at',
      ],
      [{ kind: 'sms.lost', target: { type: 'user', id: 'usr_nobody' } }, 'target.id'],
      [
        {
          kind: 'sms.lost',
          target: { type: 'user', id: alice },
          schedule: { at: new Date(gw.clock.now()).toISOString(), afterMs: 5 },
        },
        'schedule',
      ],
    ];
    for (const [input, path] of cases) {
      const error = await refusal(sandbox.inject(input, { type: 'operator' }));
      expect(error.code, JSON.stringify(input)).toBe('INVALID_REQUEST');
      expect(error.message.startsWith(path), `${error.message} names ${path}`).toBe(true);
    }
    expect(await sandbox.list()).toEqual([]);
    expect(sandbox.armed).toBe(false);
  });

  it('lets a user put faults on their own targets only; everyone and instruments need an operator', async () => {
    const { sandbox, alice, bruno } = await start();
    const asAlice = { type: 'user', userId: alice, sessionId: 'ses_x' } as const;
    expect(
      (await refusal(sandbox.inject({ kind: 'sms.lost', target: { type: 'user', id: bruno } }, asAlice)))
        .code,
    ).toBe('FORBIDDEN');
    expect(
      (await refusal(sandbox.inject({ kind: 'maintenance', target: { type: 'all' } }, asAlice))).code,
    ).toBe('FORBIDDEN');
    expect(
      (
        await refusal(
          sandbox.inject(
            { kind: 'http.latency', target: { type: 'instrument', id: 'AAPL' }, params: { ms: 5 } },
            asAlice,
          ),
        )
      ).code,
    ).toBe('FORBIDDEN');
    const own = await sandbox.inject({ kind: 'sms.lost', target: { type: 'user', id: alice } }, asAlice);
    expect(own).toMatchObject({ kind: 'sms.lost', state: 'active', family: 'factors', mode: 'condition' });
    // Bruno cannot clear Alice's fault, nor see it in his list.
    const asBruno = { type: 'user', userId: bruno, sessionId: 'ses_y' } as const;
    expect((await refusal(sandbox.clear(own.id, asBruno))).code).toBe('FORBIDDEN');
    expect(await sandbox.list({ ownerUserId: bruno })).toEqual([]);
    expect((await refusal(sandbox.clear('flt_nothing', asBruno))).code).toBe('NOT_FOUND');
    const audit = await listAuditForUser(gw.ctx.store.db, alice, 10);
    expect(audit.map((a) => a.type)).toContain('sandbox.fault_injected');
  });

  it('keeps a person to faults that act on what is theirs, end by themselves on the HTTP layer, and fit the limit', async () => {
    const { sandbox, alice } = await start();
    const asAlice = { type: 'user', userId: alice, sessionId: 'ses_x' } as const;
    const refused = async (input: unknown) => refusal(sandbox.inject(input, asAlice));
    // An account she owns: its entitlements and orders, never the sessions or devices of its users.
    for (const kind of [
      'device.revoked',
      'login.competing',
      'token.revoked',
      'session.idle_expiry',
      'reset.daily',
    ])
      expect((await refused({ kind, target: { type: 'account', id: 'DU1000001' } })).code, kind).toBe(
        'FORBIDDEN',
      );
    expect(
      (
        await sandbox.inject(
          { kind: 'account.frozen', target: { type: 'account', id: 'DU1000001' } },
          asAlice,
        )
      ).state,
    ).toBe('active');
    // The HTTP layer: a duration of at most an hour.
    expect((await refused({ kind: 'maintenance', target: { type: 'user', id: alice } })).message).toMatch(
      /^schedule\.durationMs: a fault on the HTTP layer ends within 60 minutes/,
    );
    expect(
      (
        await refused({
          kind: 'http.latency',
          target: { type: 'user', id: alice },
          params: { ms: 10 },
          schedule: { durationMs: 2 * 3_600_000 },
        })
      ).code,
    ).toBe('INVALID_REQUEST');
    // An action takes no request count, probability or duration; nothing starts more than a day ahead.
    for (const schedule of [{ probability: 0 }, { afterRequests: 3 }, { durationMs: 1_000 }])
      expect(
        (await refused({ kind: 'session.idle_expiry', target: { type: 'user', id: alice }, schedule }))
          .message,
      ).toMatch(/^schedule\.(probability|afterRequests|durationMs): an action happens once/);
    expect(
      (
        await refused({
          kind: 'sms.lost',
          target: { type: 'user', id: alice },
          schedule: { at: new Date(gw.clock.now() + 2 * 86_400_000).toISOString() },
        })
      ).message,
    ).toMatch(/^schedule: a fault starts within a day/);
    // A network change names an address.
    expect(
      (
        await refused({
          kind: 'network.changed',
          target: { type: 'user', id: alice },
          params: { address: 'x' },
        })
      ).code,
    ).toBe('INVALID_REQUEST');
    // At most 100 live faults per person: the 101st is refused, and clearing makes room.
    for (let i = 1; i < 100; i += 1)
      await sandbox.inject({ kind: 'sms.lost', target: { type: 'user', id: alice }, note: `n${i}` }, asAlice);
    const full = await refused({ kind: 'sms.lost', target: { type: 'user', id: alice } });
    expect(full).toMatchObject({ code: 'FAULT_LIMIT_REACHED', details: { limit: 100 } });
    expect(await sandbox.clear(undefined, asAlice)).toBe(100);
    expect(
      (await sandbox.inject({ kind: 'sms.lost', target: { type: 'user', id: alice } }, asAlice)).state,
    ).toBe('active');
    // The audit says what was asked for, parameters and schedule included.
    const audit = await listAuditForUser(gw.ctx.store.db, alice, 1);
    expect(audit[0]).toMatchObject({
      type: 'sandbox.fault_injected',
      data: { kind: 'sms.lost', params: {}, schedule: {} },
    });
  });

  it('lets only an account’s owner put faults on it: a trader of it may not', async () => {
    const { sandbox, bruno } = await start();
    await gw.ctx.store.db
      .insertInto('account_roles')
      .values({ user_id: bruno, account_id: 'U1000001', role: 'trader' })
      .execute();
    const asBruno = { type: 'user', userId: bruno, sessionId: 'ses_y' } as const;
    const error = await refusal(
      sandbox.inject({ kind: 'account.frozen', target: { type: 'account', id: 'U1000001' } }, asBruno),
    );
    expect(error.code).toBe('FORBIDDEN');
    expect(await sandbox.list()).toEqual([]);
  });

  it('refuses an exclusive kind that overlaps on the same target, and takes one after it', async () => {
    const { sandbox } = await start();
    const op = { type: 'operator' } as const;
    await sandbox.inject(
      { kind: 'maintenance', target: { type: 'all' }, schedule: { durationMs: 10_000 } },
      op,
    );
    const clash = await refusal(
      sandbox.inject(
        { kind: 'maintenance', target: { type: 'all' }, schedule: { afterMs: 5_000, durationMs: 10_000 } },
        op,
      ),
    );
    expect(clash.code).toBe('FAULT_CONFLICT');
    const later = await sandbox.inject(
      { kind: 'maintenance', target: { type: 'all' }, schedule: { afterMs: 10_000, durationMs: 1_000 } },
      op,
    );
    expect(later.state).toBe('scheduled');
  });

  it('acts between its start and end, after N matching requests, on the subject it targets', async () => {
    const { sandbox, alice, bruno } = await start();
    await sandbox.inject(
      {
        kind: 'sms.lost',
        target: { type: 'user', id: alice },
        schedule: { afterMs: 1_000, durationMs: 5_000, afterRequests: 2 },
      },
      { type: 'operator' },
    );
    expect(sandbox.armed).toBe(true);
    expect(sandbox.take('sms.lost', { userId: alice })).toBeUndefined(); // not started
    gw.clock.advance(1_000);
    await sandbox.tick();
    expect(sandbox.take('sms.lost', { userId: bruno })).toBeUndefined(); // not the target
    expect(sandbox.take('sms.lost', { userId: alice })).toBeUndefined(); // 1st of 2 passes
    expect(sandbox.take('sms.lost', { userId: alice })).toBeUndefined(); // 2nd of 2 passes
    expect(sandbox.take('sms.lost', { userId: alice })?.kind).toBe('sms.lost');
    expect(sandbox.take('sms.late', { userId: alice })).toBeUndefined(); // another kind
    gw.clock.advance(5_000);
    await sandbox.tick();
    expect(sandbox.take('sms.lost', { userId: alice })).toBeUndefined();
    expect(sandbox.armed).toBe(false);
    const [listed] = await sandbox.list();
    expect(listed).toMatchObject({ state: 'done', hits: 1 });
  });

  it('names an instrument by its symbol whatever named it, refuses a bundle or asset class there is none of, and answers every fault of a kind', async () => {
    const { sandbox } = await start();
    const op = { type: 'operator' } as const;
    const aapl = await sandbox.inject(
      {
        kind: 'marketdata.revoked',
        target: { type: 'instrument', id: '265598' },
        params: { bundle: 'US_EQUITY' },
      },
      op,
    );
    expect(aapl.target).toEqual({ type: 'instrument', id: 'AAPL' });
    expect(sandbox.holds('marketdata.revoked', { instrument: 'AAPL' })?.id).toBe(aapl.id);
    for (const params of [
      { bundle: 'MOON_EQUITY' },
      { assetClass: 'BEANS' },
      { assetClass: 'STK', region: 'MARS' },
    ]) {
      const kind = 'bundle' in params ? 'marketdata.revoked' : 'permission.removed';
      const error = await refusal(
        sandbox.inject({ kind, target: { type: 'account', id: 'DU1000001' }, params }, op),
      );
      expect(error.code).toBe('INVALID_REQUEST');
      expect(error.message).toMatch(/^params\.(bundle|assetClass|region): not one of/);
    }
    await sandbox.inject(
      {
        kind: 'marketdata.revoked',
        target: { type: 'account', id: 'DU1000001' },
        params: { bundle: 'US_OPTIONS' },
      },
      op,
    );
    await sandbox.inject(
      { kind: 'marketdata.revoked', target: { type: 'account', id: 'DU1000001' }, params: { bundle: 'CME' } },
      op,
    );
    const both = sandbox.holdsAll('marketdata.revoked', { accountId: 'DU1000001' });
    expect(both.map((f) => f.params.bundle).sort()).toEqual(['CME', 'US_OPTIONS']);
    expect(sandbox.takeAll('marketdata.revoked', { accountId: 'DU1000001' })).toHaveLength(2);
    expect(sandbox.take('marketdata.revoked', { accountId: 'U1000001' })).toBeUndefined();
  });

  it('draws the same requests for the same seed', async () => {
    const { sandbox } = await start();
    const pattern = async (seed: number) => {
      const fault = await sandbox.inject(
        {
          kind: 'http.error',
          target: { type: 'all' },
          params: { status: 503 },
          schedule: { probability: 0.3, seed },
        },
        { type: 'operator' },
      );
      const hits = Array.from({ length: 40 }, () => sandbox.take('http.error', {}) !== undefined);
      await sandbox.clear(fault.id, { type: 'operator' });
      return hits;
    };
    const first = await pattern(42);
    expect(await pattern(42)).toEqual(first);
    expect(await pattern(7)).not.toEqual(first);
    const count = first.filter(Boolean).length;
    expect(count).toBeGreaterThan(3);
    expect(count).toBeLessThan(25);
  });
});
