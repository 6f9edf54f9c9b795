/**
 * A request refused by a storage fault (`503 STORAGE_UNAVAILABLE`, "nothing was changed") changed nothing, even when
 * the fault struck after some of its writes had succeeded: the disk fills at one chosen statement, late in the
 * request (`fullDiskAt`: SQLITE_FULL on SQLite, SQLSTATE 53100 on PostgreSQL), and the whole database's digest
 * (test-support/fuzz/digest.ts) is compared before and after. The same request, sent again once room is back,
 * succeeds. Writes a refused request makes by design are the ones the fuzzer exempts (`WRITING_REFUSALS`): the
 * client assertion spent when presented (`oauth_assertions`), a login attempt claimed before the password check
 * (`login_throttle`), a second-factor attempt counted before the code is checked (`login_transactions`).
 */
import type { LightMyRequestResponse } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { type BusTopic, sha256 } from '../core/index.js';
import { totpCode } from '../factors/index.js';
import { type TestDatabase, type TestDatabaseFactory, testDatabases } from '../test-support/databases.js';
import { changedTables, databaseDigest } from '../test-support/fuzz/digest.js';
import {
  ALICE,
  BRUNO,
  callAs,
  errorCode,
  json,
  loginAs,
  loginTrading,
  startLogin,
  startTestGateway,
  type TestGateway,
} from '../test-support/gateway.js';
import {
  ADMIN_TOKEN,
  authorizeApp,
  exchangeCode,
  registerApp,
  registerBot,
} from '../test-support/program.js';
import { fullDiskAt } from '../test-support/storage-faults.js';

let gw: TestGateway | undefined;
let database: TestDatabase | undefined;
afterEach(async () => {
  await gw?.close();
  await database?.drop();
  gw = undefined;
  database = undefined;
});

async function gatewayOn(makeDatabase: TestDatabaseFactory): Promise<TestGateway> {
  database = await makeDatabase();
  gw = await startTestGateway({ database, config: { secrets: { adminApiToken: ADMIN_TOKEN } } });
  return gw;
}

/**
 * Sends `request` with the disk full at the first `event` on `table`; expects 503 STORAGE_UNAVAILABLE and returns
 * the tables it changed (none but `allowed`, the by-design writes, may be among them).
 */
async function refusedAt(
  g: TestGateway,
  table: string,
  event: 'INSERT' | 'UPDATE',
  request: () => Promise<LightMyRequestResponse>,
): Promise<string[]> {
  // The last-seen times written behind are another request's writes: written now, not during this one.
  await g.ctx.sessions.flushLastSeen();
  const undo = await fullDiskAt(g.ctx.store, table, event);
  const before = await databaseDigest(g.ctx.store);
  let response: LightMyRequestResponse;
  try {
    response = await request();
  } finally {
    await undo();
  }
  expect(response.statusCode, response.body).toBe(503);
  expect(response.headers['retry-after']).toBe('5');
  const body = response.json() as { error: unknown };
  // The OAuth endpoints answer in RFC 6749's shape; the others with a coded error.
  if (typeof body.error === 'string') expect(body.error).toBe('temporarily_unavailable');
  else expect(errorCode(response)).toBe('STORAGE_UNAVAILABLE');
  await g.ctx.sessions.flushLastSeen();
  return changedTables(before, await databaseDigest(g.ctx.store));
}

/** The oauth_tokens row of a token, by its value. */
function tokenRow(g: TestGateway, token: string) {
  return g.ctx.store.db
    .selectFrom('oauth_tokens')
    .selectAll()
    .where('token_hash', '=', sha256(token))
    .executeTakeFirstOrThrow();
}

describe.each(testDatabases())('on %s', (_name, makeDatabase) => {
  it('a rotating refresh whose new tokens meet a full disk (insert into oauth_tokens) answers 503, leaves its token unspent and the grant live; retried past the reuse leeway once room is back, it succeeds', async () => {
    const g = await gatewayOn(makeDatabase);
    const app = await registerApp(g, { rotate: true });
    const alice = await loginAs(g, ALICE);
    const { code, verifier } = await authorizeApp(app, alice);
    const exchanged = await exchangeCode(app, code, verifier);
    expect(exchanged.statusCode, exchanged.body).toBe(200);
    const refresh = (exchanged.json() as { refresh_token: string }).refresh_token;

    const changed = await refusedAt(g, 'oauth_tokens', 'INSERT', () =>
      app.form('/oauth2/token', { grant_type: 'refresh_token', refresh_token: refresh }),
    );
    expect(changed.filter((t) => t !== 'oauth_assertions')).toEqual([]);
    expect((await tokenRow(g, refresh)).spent_at).toBeNull();

    // The client waits as told, several times over the reuse leeway: the retry is not taken for a reuse.
    g.clock.advance(120_000);
    const retried = await app.form('/oauth2/token', { grant_type: 'refresh_token', refresh_token: refresh });
    expect(retried.statusCode, retried.body).toBe(200);
    const grants = await g.ctx.store.db.selectFrom('oauth_grants').select('revoked_at').execute();
    expect(grants.map((r) => r.revoked_at)).toEqual([null]);
  });

  it('a non-rotating refresh whose access token meets a full disk (insert into oauth_tokens, after its last use was written) answers 503 and changes nothing', async () => {
    const g = await gatewayOn(makeDatabase);
    const app = await registerApp(g);
    const alice = await loginAs(g, ALICE);
    const { code, verifier } = await authorizeApp(app, alice);
    const exchanged = await exchangeCode(app, code, verifier);
    const refresh = (exchanged.json() as { refresh_token: string }).refresh_token;
    g.clock.advance(1_000);

    const changed = await refusedAt(g, 'oauth_tokens', 'INSERT', () =>
      app.form('/oauth2/token', { grant_type: 'refresh_token', refresh_token: refresh }),
    );
    expect(changed.filter((t) => t !== 'oauth_assertions')).toEqual([]);
    const retried = await app.form('/oauth2/token', { grant_type: 'refresh_token', refresh_token: refresh });
    expect(retried.statusCode, retried.body).toBe(200);
  });

  it('an authorization-code exchange whose tokens meet a full disk (insert into oauth_tokens, after the code was claimed and the session opened) answers 503, leaves the code unused and opens no session; the same code succeeds once room is back', async () => {
    const g = await gatewayOn(makeDatabase);
    const app = await registerApp(g, { rotate: true });
    const alice = await loginAs(g, ALICE);
    const { code, verifier } = await authorizeApp(app, alice);

    const changed = await refusedAt(g, 'oauth_tokens', 'INSERT', () => exchangeCode(app, code, verifier));
    expect(changed.filter((t) => t !== 'oauth_assertions')).toEqual([]);
    const codeRow = await g.ctx.store.db
      .selectFrom('oauth_codes')
      .select('used_at')
      .where('code_hash', '=', sha256(code))
      .executeTakeFirstOrThrow();
    expect(codeRow.used_at).toBeNull();

    const again = await exchangeCode(app, code, verifier);
    expect(again.statusCode, again.body).toBe(200);
    // The code still works once: presented again, it is refused (and revokes what it granted).
    expect((await exchangeCode(app, code, verifier)).statusCode).toBe(400);
  });

  it('a client-credentials request whose token meets a full disk (insert into oauth_tokens, after its instance session was opened) answers 503 and opens no session; its retry succeeds', async () => {
    const g = await gatewayOn(makeDatabase);
    const alice = await loginAs(g, ALICE);
    const bot = await registerBot(g, alice);

    const changed = await refusedAt(g, 'oauth_tokens', 'INSERT', () =>
      bot.form('/oauth2/token', { grant_type: 'client_credentials' }),
    );
    expect(changed.filter((t) => t !== 'oauth_assertions')).toEqual([]);
    const retried = await bot.form('/oauth2/token', { grant_type: 'client_credentials' });
    expect(retried.statusCode, retried.body).toBe(200);
  });

  it('a brokerage takeover whose audit row meets a full disk (insert into audit_log, after the holder moved) answers 503 and moves nothing: no bus announcement, the holder keeps trading, the taker does not; its retry takes over', async () => {
    const g = await gatewayOn(makeDatabase);
    const a = await loginTrading(g, ALICE);
    const b = await loginAs(g, ALICE);
    const heard: string[] = [];
    const topics: BusTopic[] = ['session.brokerage', 'session.competing'];
    const stops = topics.map((topic) => g.ctx.bus.subscribe(topic, () => void heard.push(topic)));

    const changed = await refusedAt(g, 'audit_log', 'INSERT', () =>
      callAs(g, 'POST', '/v1/session/brokerage', b, { compete: true }),
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(changed).toEqual([]);
    expect(heard).toEqual([]);
    const stateA = json(await callAs(g, 'POST', '/v1/session/tickle', a)) as {
      tier: string;
      competing: boolean;
    };
    const stateB = json(await callAs(g, 'POST', '/v1/session/tickle', b)) as {
      tier: string;
      competing: boolean;
    };
    expect(stateA).toMatchObject({ tier: 'brokerage', competing: false });
    expect(stateB.tier).not.toBe('brokerage');

    const retried = await callAs(g, 'POST', '/v1/session/brokerage', b, { compete: true });
    expect(retried.statusCode, retried.body).toBe(200);
    await new Promise((resolve) => setImmediate(resolve));
    expect(heard.sort()).toEqual(['session.brokerage', 'session.competing']);
    for (const stop of stops) stop();
  });

  it('a login whose login transaction meets a full disk (insert into login_transactions, after the password check) answers 503 and writes no session and no audit row, only the attempt claimed in login_throttle', async () => {
    const g = await gatewayOn(makeDatabase);
    // Another user's session active meanwhile: its last-seen time is written behind, not by the login.
    const alice = await loginAs(g, ALICE);
    await callAs(g, 'POST', '/v1/session/tickle', alice);

    const changed = await refusedAt(g, 'login_transactions', 'INSERT', () =>
      startLogin(g, BRUNO.username, BRUNO.password),
    );
    expect(changed.filter((t) => t !== 'login_throttle')).toEqual([]);
    const started = await startLogin(g, BRUNO.username, BRUNO.password);
    expect(started.statusCode, started.body).toBe(200);
  });

  it('a second factor whose session meets a full disk (insert into sessions) answers 503 and issues nothing: the login stays open, only the attempt counted; the next code completes it', async () => {
    const g = await gatewayOn(makeDatabase);
    g.clock.advance(30_000);
    const started = await startLogin(g, BRUNO.username, BRUNO.password);
    const { loginId } = json(started) as { loginId: string };
    const factor = () =>
      g.app.inject({
        method: 'POST',
        url: `/v1/auth/login/${loginId}/factor`,
        payload: { type: 'totp', code: totpCode(BRUNO.totpSecret, g.clock.now()) },
      });

    const changed = await refusedAt(g, 'sessions', 'INSERT', factor);
    expect(changed.filter((t) => t !== 'login_transactions' && t !== 'login_throttle')).toEqual([]);
    const completed = await factor();
    expect(completed.statusCode, completed.body).toBe(200);
  });
  it('a login whose new-device notice meets a full disk (insert into notifications, after the session committed) is answered 200 with a working session, not a 503 for a login that happened; the notice alone is lost', async () => {
    const g = await gatewayOn(makeDatabase);
    const notices = async () =>
      (await g.ctx.store.db.selectFrom('notifications').select('id').execute()).length;
    const login = async () => {
      g.clock.advance(30_000);
      const started = await startLogin(g, BRUNO.username, BRUNO.password);
      const { loginId } = json(started) as { loginId: string };
      return g.app.inject({
        method: 'POST',
        url: `/v1/auth/login/${loginId}/factor`,
        payload: { type: 'totp', code: totpCode(BRUNO.totpSecret, g.clock.now()) },
      });
    };
    // A browser without a device cookie is a new device: its login leaves a notice.
    const first = await notices();
    expect((await login()).statusCode).toBe(200);
    expect(await notices()).toBe(first + 1);

    const undo = await fullDiskAt(g.ctx.store, 'notifications', 'INSERT');
    let completed: LightMyRequestResponse;
    try {
      completed = await login();
    } finally {
      await undo();
    }
    expect(completed.statusCode, completed.body).toBe(200);
    expect(await notices()).toBe(first + 1);
    const cookie = String(completed.headers['set-cookie']).split(';')[0] as string;
    const session = await g.app.inject({ method: 'GET', url: '/v1/session', headers: { cookie } });
    expect(session.statusCode, session.body).toBe(200);
  });
});
