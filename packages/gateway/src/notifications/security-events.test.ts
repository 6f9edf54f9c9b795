/**
 * Issue 20, item 9: the Security page pages through the user's own events (`?before=<seq>&limit=`) instead of
 * loading them all. A page holds only the caller's events, `nextBefore` leads to the next older page and is null on
 * the last; another user's `seq` as `before` shows nothing of theirs; a bad `limit` is refused and changes nothing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type TestDatabase, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  BRUNO,
  callAs,
  errorCode,
  json,
  type LoggedIn,
  loginAs,
  startTestGateway,
  type TestGateway,
} from '../test-support/gateway.js';

interface Page {
  events: { seq: number; type: string }[];
  nextBefore: number | null;
}

let gw: TestGateway | undefined;
let database: TestDatabase | undefined;
afterEach(async () => {
  await gw?.close();
  await database?.drop();
  gw = undefined;
  database = undefined;
});

async function page(as: LoggedIn, query: string): Promise<Page> {
  const answer = await callAs(gw as TestGateway, 'GET', `/v1/security/events${query}`, as);
  expect(answer.statusCode).toBe(200);
  return json(answer) as unknown as Page;
}

async function ownSeqs(userId: string): Promise<number[]> {
  const rows = await (gw as TestGateway).ctx.store.db
    .selectFrom('audit_log')
    .select('seq')
    .where('user_id', '=', userId)
    .orderBy('seq', 'desc')
    .execute();
  return rows.map((r) => r.seq);
}

describe.each(testDatabases())('security events a page at a time on %s', (_name, factory) => {
  it('pages back through the caller’s own events, and only theirs', async () => {
    database = await factory();
    gw = await startTestGateway({ database, config: { server: { portalDir: false } } });
    const alice = await loginAs(gw, ALICE);
    await loginAs(gw, BRUNO);
    await loginAs(gw, ALICE);
    const bruno = await loginAs(gw, BRUNO);
    const aliceId = (
      await gw.ctx.store.db
        .selectFrom('users')
        .select('id')
        .where('username', '=', ALICE.username)
        .executeTakeFirstOrThrow()
    ).id;
    const all = await ownSeqs(aliceId);
    expect(all.length).toBeGreaterThan(4);

    const seen: number[] = [];
    let before: number | null | undefined;
    for (let i = 0; i < 20 && before !== null; i += 1) {
      const p = await page(alice, `?limit=3${before === undefined ? '' : `&before=${before}`}`);
      expect(p.events.length).toBeLessThanOrEqual(3);
      seen.push(...p.events.map((e) => e.seq));
      before = p.nextBefore;
      if (before !== null) expect(before).toBe(p.events.at(-1)?.seq);
    }
    // Every one of Alice's events once, newest first, and none of Bruno's.
    expect(seen).toEqual(all);

    // Bruno paging from Alice's newest event sees only his own older ones.
    const newest = all[0] as number;
    const his = await page(bruno, `?before=${newest}&limit=100`);
    const brunoId = (
      await gw.ctx.store.db
        .selectFrom('users')
        .select('id')
        .where('username', '=', BRUNO.username)
        .executeTakeFirstOrThrow()
    ).id;
    expect(his.events.map((e) => e.seq)).toEqual((await ownSeqs(brunoId)).filter((s) => s < newest));
    expect(his.events.some((e) => all.includes(e.seq))).toBe(false);
  });

  it('answers the newest 50 by default, and refuses a limit out of bounds', async () => {
    database = await factory();
    gw = await startTestGateway({ database, config: { server: { portalDir: false } } });
    const alice = await loginAs(gw, ALICE);
    const first = await page(alice, '');
    expect(first.events.length).toBeLessThanOrEqual(50);
    expect(first.nextBefore).toBeNull();
    for (const query of ['?limit=0', '?limit=101', '?before=abc', '?limit=5&cursor=1']) {
      const answer = await callAs(gw, 'GET', `/v1/security/events${query}`, alice);
      expect(answer.statusCode, query).toBe(400);
      expect(errorCode(answer), query).toBe('INVALID_REQUEST');
    }
    expect(errorCode(await gw.app.inject({ method: 'GET', url: '/v1/security/events?limit=5' }))).toBe(
      'UNAUTHENTICATED',
    );
  });
});
