/**
 * Concurrent requests that take the same rows in one transaction each: the brokerage holder and the session row
 * (acquire, release, the daily reset), and one authorization code exchanged several times at once. On PostgreSQL
 * these wait on each other's row locks; they must never deadlock into a 5xx nor let a replayed code keep its grant.
 */
import type { LightMyRequestResponse } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { listUserAccounts } from '../identity/accounts.js';
import { type TestDatabase, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  callAs,
  loginAs,
  loginTrading,
  startTestGateway,
  type TestGateway,
  type TestGatewayOptions,
} from '../test-support/gateway.js';
import { ADMIN_TOKEN, authorizeApp, exchangeCode, registerApp } from '../test-support/program.js';

let gw: TestGateway | undefined;
let database: TestDatabase | undefined;
afterEach(async () => {
  await gw?.close();
  await database?.drop();
  gw = undefined;
  database = undefined;
});

/** Rounds of each race: enough to meet the interleaving that deadlocked (PostgreSQL, 5 in 40 before the fix). */
const ROUNDS = 40;
const show = (rs: readonly LightMyRequestResponse[]) =>
  rs.map((r) => `${r.statusCode} ${r.body.slice(0, 160)}`);

describe.each(testDatabases())('lock order on %s', (_name, makeDatabase) => {
  async function gatewayOn(config?: TestGatewayOptions['config']): Promise<TestGateway> {
    database = await makeDatabase();
    gw = await startTestGateway({ database, config });
    return gw;
  }

  async function holderAndMark(g: TestGateway, sessionId: string) {
    const db = g.ctx.store.db;
    const holder = await db.selectFrom('brokerage_holders').select('session_id').executeTakeFirst();
    const session = await db
      .selectFrom('sessions')
      .select('brokerage_at')
      .where('id', '=', sessionId)
      .executeTakeFirstOrThrow();
    return { holder: holder?.session_id ?? null, marked: session.brokerage_at !== null };
  }

  it('acquire racing release of one session (40 rounds): never a 5xx; the holder row exists exactly when the session is marked', async () => {
    const g = await gatewayOn();
    const a = await loginTrading(g, ALICE);
    for (let round = 0; round < ROUNDS; round += 1) {
      const rs = await Promise.all([
        callAs(g, 'POST', '/v1/session/brokerage', a, { compete: false }),
        callAs(g, 'POST', '/v1/session/brokerage/release', a, {}),
      ]);
      expect(
        rs.every((r) => r.statusCode < 500),
        show(rs).join('\n'),
      ).toBe(true);
      const state = await holderAndMark(g, a.sessionId);
      // Either order of the two is consistent: released (no holder, no mark) or held (holder is this session, marked).
      expect(
        state.holder === null ? !state.marked : state.holder === a.sessionId && state.marked,
        JSON.stringify(state),
      ).toBe(true);
      g.clock.advance(1000);
    }
  });

  it('release racing the daily reset of the holding session (40 rounds): never a 5xx; the release always ends the hold', async () => {
    const g = await gatewayOn();
    const a = await loginAs(g, ALICE);
    const db = g.ctx.store.db;
    for (let round = 0; round < ROUNDS; round += 1) {
      const acquired = await callAs(g, 'POST', '/v1/session/brokerage', a, { compete: true });
      expect(acquired.statusCode, acquired.body).toBe(200);
      const [released, reset] = await Promise.allSettled([
        callAs(g, 'POST', '/v1/session/brokerage/release', a, {}),
        g.ctx.brokerage.resetNow([a.sessionId], (userId) => listUserAccounts(db, userId)),
      ]);
      expect(reset.status, String((reset as PromiseRejectedResult).reason)).toBe('fulfilled');
      expect(released.status).toBe('fulfilled');
      const r = (released as PromiseFulfilledResult<LightMyRequestResponse>).value;
      expect(r.statusCode, r.body).toBeLessThan(300);
      expect((await holderAndMark(g, a.sessionId)).holder).toBeNull();
      g.clock.advance(1000);
    }
  });

  it('one code exchanged 5 times at once: exactly one 200, the rest invalid_grant, and the grant and its tokens revoked (RFC 6749 §4.1.2)', async () => {
    const g = await gatewayOn({ secrets: { adminApiToken: ADMIN_TOKEN } });
    const app = await registerApp(g, { rotate: true });
    const alice = await loginAs(g, ALICE);
    const db = g.ctx.store.db;
    for (let round = 0; round < 3; round += 1) {
      const { code, verifier } = await authorizeApp(app, alice);
      const rs = await Promise.all(Array.from({ length: 5 }, () => exchangeCode(app, code, verifier)));
      expect(rs.filter((r) => r.statusCode === 200).length, show(rs).join('\n')).toBe(1);
      const refused = rs.filter((r) => r.statusCode !== 200);
      expect(
        refused.map((r) => [r.statusCode, (r.json() as { error: string }).error]),
        show(rs).join('\n'),
      ).toEqual(refused.map(() => [400, 'invalid_grant']));
      const grant = await db
        .selectFrom('oauth_codes')
        .innerJoin('oauth_grants', 'oauth_grants.id', 'oauth_codes.grant_id')
        .select(['oauth_grants.id', 'oauth_grants.revoked_at'])
        .where('oauth_codes.used_at', 'is not', null)
        .orderBy('oauth_codes.used_at', 'desc')
        .executeTakeFirstOrThrow();
      expect(grant.revoked_at).not.toBeNull();
      const live = await db
        .selectFrom('oauth_tokens')
        .select('token_hash')
        .where('grant_id', '=', grant.id)
        .where('revoked_at', 'is', null)
        .execute();
      expect(live).toEqual([]);
      g.clock.advance(1000);
    }
  });
});
