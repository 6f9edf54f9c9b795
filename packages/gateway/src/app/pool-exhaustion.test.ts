/**
 * Connection exhaustion on PostgreSQL: with every pooled connection held (long transactions of another part of the
 * process), a request that needs the database waits at most `database.acquireTimeoutMs` and is answered
 * `503 SERVICE_UNAVAILABLE` with `Retry-After` — never a hang, never a 500 — and changes nothing; once connections
 * are free again the same requests are served.
 */
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { totpCode } from '../factors/index.js';
import { type TestDatabase, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  callAs,
  errorCode,
  loginTrading,
  startLogin,
  startTestGateway,
  submitTotp,
  type TestGateway,
} from '../test-support/gateway.js';

const postgres = testDatabases().find(([name]) => name === 'postgres')?.[1];
const ACQUIRE_TIMEOUT_MS = 300;

describe.skipIf(postgres === undefined)('a PostgreSQL pool with every connection held', () => {
  let gw: TestGateway | undefined;
  let database: TestDatabase | undefined;
  afterEach(async () => {
    await gw?.close();
    await database?.drop();
    gw = undefined;
  });

  it('answers a login, an order and a read 503 SERVICE_UNAVAILABLE with Retry-After within the acquire timeout, writes nothing, and serves them once freed', async () => {
    if (postgres === undefined) throw new Error('no PostgreSQL');
    database = await postgres();
    gw = await startTestGateway({
      database,
      config: { database: { poolSize: 2, acquireTimeoutMs: ACQUIRE_TIMEOUT_MS } },
    });
    const g = gw;
    const as = await loginTrading(g, ALICE);
    const order = (clientOrderId: string) =>
      callAs(g, 'POST', '/v1/accounts/DU1000001/orders', as, {
        clientOrderId,
        instrumentId: 265598,
        side: 'BUY',
        type: 'LMT',
        limitPrice: 1,
        quantity: 1,
        tif: 'GTC',
      });
    const count = async (table: 'orders' | 'login_transactions') =>
      Number(
        (await sql<{ n: string }>`select count(*) as n from ${sql.table(table)}`.execute(g.ctx.store.db))
          .rows[0]?.n,
      );
    const ordersBefore = await count('orders');
    const loginsBefore = await count('login_transactions');

    // Every connection of the pool is taken by a transaction that does not end until released.
    let release = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let holding = 0;
    const holders = Array.from({ length: 2 }, () =>
      g.ctx.store.db.transaction().execute(async (trx) => {
        await sql`select 1`.execute(trx);
        holding += 1;
        await released;
      }),
    );
    while (holding < 2) await new Promise((r) => setTimeout(r, 5));

    const timed = async <T>(call: () => Promise<T>) => {
      const started = performance.now();
      const response = await call();
      return { response, ms: performance.now() - started };
    };
    const answers = [
      await timed(() => startLogin(g, ALICE.username, ALICE.password)),
      await timed(() => order('held-1')),
      await timed(() => callAs(g, 'GET', '/v1/accounts/DU1000001/orders', as)),
    ];
    for (const { response, ms } of answers) {
      expect(response.statusCode, response.body).toBe(503);
      expect(errorCode(response)).toBe('SERVICE_UNAVAILABLE');
      expect(Number(response.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      // Bounded by the acquire timeout (a request may wait for it more than once), never a hang.
      expect(ms).toBeLessThan(ACQUIRE_TIMEOUT_MS * 4 + 1_000);
    }
    console.info(
      `pool exhausted: answered 503 in ${answers.map((a) => Math.round(a.ms)).join(', ')} ms (login, order, read)`,
    );
    const ready = await g.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    expect(ready.headers['retry-after']).toBe('1');

    release();
    await Promise.all(holders);
    // Refused requests wrote nothing.
    expect(await count('orders')).toBe(ordersBefore);
    expect(await count('login_transactions')).toBe(loginsBefore);
    // The same requests are served once connections are free again.
    expect((await order('held-2')).statusCode).toBe(201);
    const started = await startLogin(g, ALICE.username, ALICE.password);
    expect(started.statusCode).toBe(200);
    g.clock.advance(30_000);
    const { loginId } = started.json() as { loginId: string };
    expect((await submitTotp(g, loginId, totpCode(ALICE.totpSecret, g.clock.now()))).statusCode).toBe(200);
    expect((await g.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });
});
