/**
 * Operators end sessions and disable users (ASVS 5.0 7.4.2: disabling a user ends all of their sessions; 7.4.5:
 * administrators can end one user's sessions or everyone's). Runs on every database.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { findUserByUsername } from '../identity/index.js';
import { testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  BRUNO,
  callAs,
  errorCode,
  loginAs,
  startLogin,
  startTestGateway,
  type TestGateway,
} from '../test-support/gateway.js';
import { botToken, registerBot } from '../test-support/program.js';
import { revokeLiveSessions, setUserEnabled } from './index.js';

let gw: TestGateway | undefined;
let drop: (() => Promise<void>) | undefined;
afterEach(async () => {
  await gw?.close();
  await drop?.();
  gw = undefined;
  drop = undefined;
});

describe.each(testDatabases())('operator actions on %s', (_name, makeDatabase) => {
  async function gateway() {
    const database = await makeDatabase();
    drop = () => database.drop();
    gw = await startTestGateway({ database });
    return gw;
  }
  const deps = (g: TestGateway) => ({
    db: g.ctx.store.db,
    clock: g.clock,
    bus: g.ctx.bus,
    sessions: g.ctx.sessions,
  });

  it('disables a user: every session ends at once, logins and program tokens are refused, until enabled', async () => {
    const g = await gateway();
    const web = await loginAs(g, ALICE);
    const other = await loginAs(g, ALICE);
    const bot = await registerBot(g, web);
    const token = await botToken(bot);
    expect((await bot.call('GET', '/v1/session', token)).statusCode).toBe(200);
    const bruno = await loginAs(g, BRUNO);

    const { endedSessions } = await setUserEnabled(deps(g), 'alice', false, 'cli');
    expect(endedSessions).toBe(3); // two web sessions and the bot's program session
    expect(errorCode(await callAs(g, 'GET', '/v1/session', web))).toBe('SESSION_REVOKED');
    expect(errorCode(await callAs(g, 'GET', '/v1/session', other))).toBe('SESSION_REVOKED');
    expect((await bot.call('GET', '/v1/session', token)).statusCode).toBe(401);
    const refused = await bot.form('/oauth2/token', { grant_type: 'client_credentials' });
    expect(refused.json()).toMatchObject({ error: 'invalid_grant' });
    // A disabled user's password answers as a wrong one does.
    expect(errorCode(await startLogin(g, ALICE.username, ALICE.password))).toBe('INVALID_CREDENTIALS');
    // Others are untouched.
    expect((await callAs(g, 'GET', '/v1/session', bruno)).statusCode).toBe(200);
    const audit = await g.ctx.store.db
      .selectFrom('audit_log')
      .select(['type', 'data'])
      .where('type', 'in', ['user.disabled', 'session.revoked'])
      .execute();
    expect(audit.filter((a) => a.type === 'session.revoked')).toHaveLength(3);
    expect(audit.filter((a) => a.type === 'user.disabled').map((a) => JSON.parse(a.data))).toEqual([
      { via: 'cli' },
    ]);

    await setUserEnabled(deps(g), 'alice', true, 'cli');
    g.clock.advance(3_600_000); // past the backoff the refused login above may have started
    expect((await callAs(g, 'GET', '/v1/session', await loginAs(g, ALICE))).statusCode).toBe(200);
    await expect(setUserEnabled(deps(g), 'nobody', false, 'cli')).rejects.toMatchObject({
      code: 'USER_NOT_FOUND',
    });
  });

  // Security review F4: an operator's password reset revokes the user's grants (passwords/passwords.test.ts);
  // disabling is reversible, so it leaves them: refused while the user is disabled, working again once enabled.
  it('leaves the user’s grants and clients when disabling: their programs get tokens again once enabled', async () => {
    const g = await gateway();
    const bot = await registerBot(g, await loginAs(g, ALICE));
    await botToken(bot);
    await setUserEnabled(deps(g), 'alice', false, 'cli');
    const refused = await bot.form('/oauth2/token', { grant_type: 'client_credentials' });
    expect(refused.json()).toMatchObject({ error: 'invalid_grant' });
    const grants = await g.ctx.store.db.selectFrom('oauth_grants').select('revoked_at').execute();
    expect(grants).toEqual([{ revoked_at: null }]);
    const audited = await g.ctx.store.db
      .selectFrom('audit_log')
      .select('type')
      .where('type', 'in', ['oauth.grant_revoked', 'oauth.client_revoked'])
      .execute();
    expect(audited).toEqual([]);

    await setUserEnabled(deps(g), 'alice', true, 'cli');
    const token = await botToken(bot);
    expect((await bot.call('GET', '/v1/session', token)).statusCode).toBe(200);
  });

  it('ends one user’s sessions, or every user’s', async () => {
    const g = await gateway();
    const alice = await loginAs(g, ALICE);
    const bruno = await loginAs(g, BRUNO);
    const aliceId = (await findUserByUsername(g.ctx.store.db, 'alice'))?.id ?? '';
    expect(await revokeLiveSessions(deps(g), { userId: aliceId }, 'revoked_by_operator', 'cli')).toBe(1);
    expect(errorCode(await callAs(g, 'GET', '/v1/session', alice))).toBe('SESSION_REVOKED');
    expect((await callAs(g, 'GET', '/v1/session', bruno)).statusCode).toBe(200);
    const again = await loginAs(g, ALICE);
    expect(await revokeLiveSessions(deps(g), 'everyone', 'revoked_by_operator', 'cli')).toBe(2);
    expect(errorCode(await callAs(g, 'GET', '/v1/session', again))).toBe('SESSION_REVOKED');
    expect(errorCode(await callAs(g, 'GET', '/v1/session', bruno))).toBe('SESSION_REVOKED');
    expect(await revokeLiveSessions(deps(g), 'everyone', 'revoked_by_operator', 'cli')).toBe(0);
  });
});
