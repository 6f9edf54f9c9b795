/**
 * The password lifecycle through the real routes, on every database: a user's change (ASVS 5.0 6.2.2, 6.2.3,
 * 7.4.3), passwords verified exactly as received (6.2.8), initial passwords that expire (6.4.1), and an operator's
 * reset that leaves second factors alone (6.4.3) — with the refusals that must change nothing, and no password in
 * the logs, the audit log or a notification.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { totpCode } from '../factors/index.js';
import { findUserByUsername } from '../identity/index.js';
import { listNotifications } from '../notifications/index.js';
import { testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  BRUNO,
  callAs,
  errorCode,
  json,
  type LoggedIn,
  loginAs,
  loginWithSms,
  renewed,
  startLogin,
  startTestGateway,
  submitTotp,
  type TestGateway,
  type TestGatewayOptions,
} from '../test-support/gateway.js';
import {
  ADMIN_TOKEN,
  authorizeApp,
  botToken,
  exchangeCode,
  registerApp,
  registerBot,
} from '../test-support/program.js';
import { type PasswordResetDeps, resetPassword } from './index.js';

const NEW_PASSWORD = 'lanterns drift over quiet water';
const HOUR = 3_600_000;

let gw: TestGateway | undefined;
let drop: (() => Promise<void>) | undefined;
afterEach(async () => {
  await gw?.close();
  await drop?.();
  gw = undefined;
  drop = undefined;
});

describe.each(testDatabases())('passwords on %s', (_name, makeDatabase) => {
  const logs: string[] = [];
  async function gateway(config: TestGatewayOptions['config'] = {}) {
    const database = await makeDatabase();
    drop = () => database.drop();
    logs.length = 0;
    gw = await startTestGateway({ database, config, logSink: (line) => logs.push(line) });
    return gw;
  }
  const deps = (g: TestGateway): PasswordResetDeps => ({
    db: g.ctx.store.db,
    clock: g.ctx.clock,
    hasher: g.ctx.hasher,
    policy: g.ctx.passwordPolicy,
    sessions: g.ctx.sessions,
    bus: g.ctx.bus,
    notifier: g.ctx.notifier,
    initialLifetimeMs: g.ctx.config.password.initialLifetimeMs,
    oauth: g.ctx.oauth,
  });
  const change = (g: TestGateway, as: LoggedIn, body: Record<string, unknown>) =>
    callAs(g, 'POST', '/v1/password', as, body);
  const loginWorks = async (g: TestGateway, username: string, password: string) => {
    g.clock.advance(1_000);
    return (await startLogin(g, username, password)).statusCode === 200;
  };
  const audit = async (g: TestGateway, type: string) =>
    (
      await g.ctx.store.db
        .selectFrom('audit_log')
        .select(['data', 'session_id'])
        .where('type', '=', type)
        .orderBy('seq')
        .execute()
    ).map((r) => ({ ...(JSON.parse(r.data) as Record<string, unknown>), sessionId: r.session_id }));
  const userId = async (g: TestGateway, username: string) =>
    (await findUserByUsername(g.ctx.store.db, username))?.id as string;
  /** Every place a secret could leak to: the log lines, the audit log and the notifications. */
  const everythingWritten = async (g: TestGateway) => {
    const rows = await g.ctx.store.db.selectFrom('audit_log').select('data').execute();
    const notes = await g.ctx.store.db.selectFrom('notifications').select('data').execute();
    return [...logs, ...rows.map((r) => r.data), ...notes.map((n) => n.data)].join('\n');
  };

  // ASVS 6.2.2 (users can change their password) and 6.2.3 (with the current and the new password).
  it('changes the password with the current one: audited, notified, the old one stops working', async () => {
    const g = await gateway();
    const alice = await loginAs(g, ALICE);
    const response = await change(g, alice, { currentPassword: ALICE.password, newPassword: NEW_PASSWORD });
    expect(response.statusCode).toBe(200);
    expect(json(response)).toEqual({ status: 'changed', endedSessions: 0 });

    expect(await loginWorks(g, 'alice', ALICE.password)).toBe(false);
    expect(await loginWorks(g, 'alice', NEW_PASSWORD)).toBe(true);
    // The session that changed it goes on, with a new token (ASVS 5.0 7.2.4: checking the current password
    // re-authenticates); the token it had names no session any more.
    expect((await callAs(g, 'GET', '/v1/session', renewed(alice, response))).statusCode).toBe(200);
    expect(errorCode(await callAs(g, 'GET', '/v1/session', alice))).toBe('UNAUTHENTICATED');
    expect(await audit(g, 'password.changed')).toEqual([
      { by: 'user', wasInitial: false, endOtherSessions: false, sessionId: alice.sessionId },
    ]);
    const notes = await listNotifications(g.ctx.store.db, await userId(g, 'alice'));
    expect(notes.map((n) => n.kind)).toContain('password_changed');
    const written = await everythingWritten(g);
    expect(written).not.toContain(NEW_PASSWORD);
    expect(written).not.toContain(ALICE.password);
  });

  // ASVS 7.4.3: the option to end every other session after a password change.
  it('ends every other session of the user when asked, and says how many', async () => {
    const g = await gateway();
    const alice = await loginAs(g, ALICE);
    const phone = await loginAs(g, ALICE);
    const laptop = await loginAs(g, ALICE);
    const bruno = await loginAs(g, BRUNO);
    const response = await change(g, alice, {
      currentPassword: ALICE.password,
      newPassword: NEW_PASSWORD,
      endOtherSessions: true,
    });
    expect(json(response)).toEqual({ status: 'changed', endedSessions: 2 });
    expect((await callAs(g, 'GET', '/v1/session', renewed(alice, response))).statusCode).toBe(200);
    for (const other of [phone, laptop]) {
      const gone = await callAs(g, 'GET', '/v1/session', other);
      expect(errorCode(gone)).toBe('SESSION_REVOKED');
    }
    expect((await callAs(g, 'GET', '/v1/session', bruno)).statusCode).toBe(200);
    const revoked = await audit(g, 'session.revoked');
    expect(revoked.map((r) => r.sessionId).sort()).toEqual([phone.sessionId, laptop.sessionId].sort());
    expect(revoked[0]).toMatchObject({ by: alice.sessionId, cause: 'password_changed' });
  });

  it('refuses a wrong current password with INVALID_CREDENTIALS, changing nothing, under the brute-force limits', async () => {
    const g = await gateway();
    const alice = await loginAs(g, ALICE);
    const wrong = await change(g, alice, {
      currentPassword: 'not-alices-password',
      newPassword: NEW_PASSWORD,
    });
    expect(wrong.statusCode).toBe(401);
    expect(errorCode(wrong)).toBe('INVALID_CREDENTIALS');
    expect(await loginWorks(g, 'alice', ALICE.password)).toBe(true);
    expect(await loginWorks(g, 'alice', NEW_PASSWORD)).toBe(false);
    expect(await audit(g, 'password.change_failed')).toEqual([
      expect.objectContaining({ cause: 'wrong_password', failures: 1, sessionId: alice.sessionId }),
    ]);
    expect(await audit(g, 'password.changed')).toEqual([]);

    // The attempt was claimed in the bucket of the browser the session is bound to, as a login's would be.
    const session = await g.ctx.store.db
      .selectFrom('sessions')
      .select('device_id')
      .where('id', '=', alice.sessionId)
      .executeTakeFirstOrThrow();
    const bucket = () =>
      g.ctx.store.db
        .selectFrom('login_throttle')
        .select('failures')
        .where('subject', '=', `device ${session.device_id}`)
        .executeTakeFirst();
    expect((await bucket())?.failures).toBe(1);
    // Four more wrong guesses are free; then the bucket waits, and even the right password is not checked.
    for (let i = 0; i < 4; i += 1)
      expect(
        errorCode(await change(g, alice, { currentPassword: `guess-${i}`, newPassword: NEW_PASSWORD })),
      ).toBe('INVALID_CREDENTIALS');
    const held = await change(g, alice, { currentPassword: ALICE.password, newPassword: NEW_PASSWORD });
    expect(errorCode(held)).toBe('TOO_MANY_ATTEMPTS');
    expect(await loginWorks(g, 'alice', NEW_PASSWORD)).toBe(false);
    g.clock.advance(2_000);
    const right = await change(g, alice, { currentPassword: ALICE.password, newPassword: NEW_PASSWORD });
    expect(right.statusCode).toBe(200);
    // A right password gives its claim back.
    expect((await bucket())?.failures).toBe(5);
  });

  it('checks the session user’s own password: another user’s answers INVALID_CREDENTIALS, and no user can be named', async () => {
    const g = await gateway();
    const alice = await loginAs(g, ALICE);
    const withBrunos = await change(g, alice, { currentPassword: BRUNO.password, newPassword: NEW_PASSWORD });
    expect(errorCode(withBrunos)).toBe('INVALID_CREDENTIALS');
    const naming = await change(g, alice, {
      username: 'bruno',
      currentPassword: ALICE.password,
      newPassword: NEW_PASSWORD,
    });
    expect(errorCode(naming)).toBe('INVALID_REQUEST');
    expect(await loginWorks(g, 'bruno', BRUNO.password)).toBe(true);
    expect(await loginWorks(g, 'alice', ALICE.password)).toBe(true);
    expect(await loginWorks(g, 'bruno', NEW_PASSWORD)).toBe(false);
  });

  it('is for people only: a program’s token gets API_NOT_ALLOWED', async () => {
    const g = await gateway();
    const alice = await loginAs(g, ALICE);
    const bot = await registerBot(g, alice);
    const token = await botToken(bot);
    const refused = await bot.call('POST', '/v1/password', token, {
      currentPassword: ALICE.password,
      newPassword: NEW_PASSWORD,
    });
    expect(refused.statusCode).toBe(403);
    expect(errorCode(refused)).toBe('API_NOT_ALLOWED');
    expect(await loginWorks(g, 'alice', ALICE.password)).toBe(true);
  });

  it('refuses a session with a step-up pending or a stale second factor before checking the password', async () => {
    const g = await gateway();
    let alice = await loginAs(g, ALICE);
    const body = { currentPassword: ALICE.password, newPassword: NEW_PASSWORD };
    const from = (ip: string, url = '/v1/password', payload: unknown = body) =>
      g.app.inject({
        method: 'POST',
        url,
        headers: { cookie: alice.cookie, 'x-csrf-token': alice.csrf },
        remoteAddress: ip,
        payload: payload as Record<string, unknown>,
      });
    // The session moves to another network: a step-up is pending.
    const moved = await from('203.0.113.5');
    expect(errorCode(moved)).toBe('STEP_UP_REQUIRED');
    expect((json(moved).error as { details: { reason: string } }).details.reason).toBe('network_changed');
    expect(await audit(g, 'password.change_failed')).toEqual([]);
    g.clock.advance(30_000);
    const stepped = await from('203.0.113.5', '/v1/session/step-up', {
      type: 'totp',
      code: totpCode(ALICE.totpSecret, g.clock.now()),
    });
    expect(stepped.statusCode).toBe(200);
    // A step-up renews the session's cookie (ASVS 5.0 7.2.4).
    alice = renewed(alice, stepped);

    // Five minutes after the last second factor, one is asked for again.
    g.clock.advance(5 * 60_000 + 1);
    const stale = await from('203.0.113.5');
    expect(errorCode(stale)).toBe('STEP_UP_REQUIRED');
    expect((json(stale).error as { details: { reason: string } }).details.reason).toBe('stale_second_factor');
    expect(await loginWorks(g, 'alice', ALICE.password)).toBe(true);
    g.clock.advance(30_000);
    const again = await from('203.0.113.5', '/v1/session/step-up', {
      type: 'totp',
      code: totpCode(ALICE.totpSecret, g.clock.now()),
    });
    alice = renewed(alice, again);
    expect((await from('203.0.113.5')).statusCode).toBe(200);
  });

  it('accepts a second factor verified by SMS (a user with SMS alone must be able to change their password)', async () => {
    const g = await gateway();
    const alice = await loginAs(g, ALICE);
    const bySms = await loginWithSms(g, ALICE, alice);
    const response = await change(g, bySms, { currentPassword: ALICE.password, newPassword: NEW_PASSWORD });
    expect(response.statusCode).toBe(200);
  });

  // ASVS 6.2.1, 6.2.4, 6.2.11 at the route; bad input of every kind changes nothing.
  it('answers PASSWORD_POLICY naming the rule, or INVALID_REQUEST, and changes nothing', async () => {
    const g = await gateway();
    const alice = await loginAs(g, ALICE);
    const cases: [string, string][] = [
      ['too_short', 'short-one'],
      ['too_long', 'x'.repeat(129)],
      ['common', 'Password2024!'],
      ['common', 'iloveyou1234'],
      ['context', 'alice and the looking glass'],
      ['context', 'my gatehouse passphrase'],
      ['unchanged', ALICE.password],
    ];
    for (const [rule, newPassword] of cases) {
      const refused = await change(g, alice, { currentPassword: ALICE.password, newPassword });
      expect(refused.statusCode, rule).toBe(400);
      expect(json(refused).error).toMatchObject({ code: 'PASSWORD_POLICY', details: { rule } });
      expect(refused.body).not.toContain(newPassword);
    }
    for (const payload of [
      {},
      { currentPassword: ALICE.password },
      { currentPassword: '', newPassword: NEW_PASSWORD },
      { currentPassword: ALICE.password, newPassword: NEW_PASSWORD, endOtherSessions: 'yes' },
      { currentPassword: ALICE.password, newPassword: 42 },
    ]) {
      const refused = await change(g, alice, payload);
      expect(errorCode(refused), JSON.stringify(payload)).toBe('INVALID_REQUEST');
      expect(refused.body).not.toContain(ALICE.password);
    }
    // Nothing was checked, claimed or changed.
    expect(await audit(g, 'password.change_failed')).toEqual([]);
    expect(await audit(g, 'password.changed')).toEqual([]);
    expect(await loginWorks(g, 'alice', ALICE.password)).toBe(true);
  });

  // ASVS 6.2.8: the password is verified exactly as received — no case change, trimming or truncation.
  it('verifies the password as received: case, a trailing space and truncation at 72 characters all fail', async () => {
    const g = await gateway();
    const alice = await loginAs(g, ALICE);
    const chosen = 'Quiet Lanterns Drift Over The Harbour While Seven Herons Watch The Tide Roll In Slowly';
    expect(chosen.length).toBeGreaterThan(72);
    const response = await change(g, alice, { currentPassword: ALICE.password, newPassword: chosen });
    expect(response.statusCode).toBe(200);
    expect(await loginWorks(g, 'alice', chosen.toLowerCase())).toBe(false);
    expect(await loginWorks(g, 'alice', chosen.toUpperCase())).toBe(false);
    expect(await loginWorks(g, 'alice', `${chosen} `)).toBe(false);
    expect(await loginWorks(g, 'alice', ` ${chosen}`)).toBe(false);
    expect(await loginWorks(g, 'alice', chosen.slice(0, 72))).toBe(false);
    expect(await loginWorks(g, 'alice', chosen)).toBe(true);
    // NFKC only: the same text typed composed or decomposed is the same password.
    const bob = await loginAs(g, BRUNO);
    const composed = 'café terrace at midnight';
    expect(
      (await change(g, bob, { currentPassword: BRUNO.password, newPassword: composed })).statusCode,
    ).toBe(200);
    expect(await loginWorks(g, 'bruno', composed.normalize('NFD'))).toBe(true);
  });

  // ASVS 6.4.1: an operator's password is an initial secret that expires and must be replaced.
  it('treats an operator’s password as initial: the session says so until it is changed, and it expires', async () => {
    const g = await gateway();
    const before = await loginAs(g, ALICE);
    const who = async (as: LoggedIn) => json(await callAs(g, 'GET', '/v1/session', as));
    // Demo users' passwords are their own.
    expect(await who(before)).toMatchObject({ passwordChangeRequired: false, passwordExpiresAt: null });

    const reset = await resetPassword(deps(g), 'alice', { via: 'cli' });
    const initial = reset.generatedPassword as string;
    expect(reset.expiresAt).toBe(g.clock.now() + 72 * HOUR);
    const alice = await loginAs(g, { ...ALICE, password: initial });
    expect(await who(alice)).toMatchObject({
      passwordChangeRequired: true,
      passwordExpiresAt: new Date(reset.expiresAt).toISOString(),
    });
    // The initial secret cannot become the long-term password.
    const same = await change(g, alice, { currentPassword: initial, newPassword: initial });
    expect(json(same).error).toMatchObject({ code: 'PASSWORD_POLICY', details: { rule: 'unchanged' } });
    const changed = await change(g, alice, { currentPassword: initial, newPassword: NEW_PASSWORD });
    expect(changed.statusCode).toBe(200);
    expect(await who(renewed(alice, changed))).toMatchObject({
      passwordChangeRequired: false,
      passwordExpiresAt: null,
    });
    expect(await audit(g, 'password.changed')).toEqual([expect.objectContaining({ wasInitial: true })]);

    // Bruno does not change his: it works until the lifetime ends, then fails like a wrong password.
    const brunos = (await resetPassword(deps(g), 'bruno', { via: 'cli' })).generatedPassword as string;
    g.clock.advance(72 * HOUR - 60_000);
    expect(await loginWorks(g, 'bruno', brunos)).toBe(true);
    g.clock.advance(60_000);
    const expired = await startLogin(g, 'bruno', brunos);
    expect(expired.statusCode).toBe(401);
    expect(errorCode(expired)).toBe('INVALID_CREDENTIALS');
    expect(json(expired)).toEqual(json(await startLogin(g, 'bruno', 'not-brunos-password')));
    const failed = await g.ctx.store.db
      .selectFrom('audit_log')
      .select('data')
      .where('type', '=', 'login.password_failed')
      .execute();
    expect(failed.map((f) => JSON.parse(f.data).cause)).toContain('initial_password_expired');
    // Alice's own password has no lifetime.
    expect(await loginWorks(g, 'alice', NEW_PASSWORD)).toBe(true);
  });

  // ASVS 6.4.3: a reset by an operator never bypasses the second factor.
  it('resets a password for an operator: every session ends, second factors stay, audited and notified', async () => {
    const g = await gateway();
    const alice = await loginAs(g, ALICE);
    const other = await loginAs(g, ALICE);
    const bot = await registerBot(g, alice);
    const token = await botToken(bot);
    const id = await userId(g, 'alice');
    const factorsBefore = await g.ctx.store.db
      .selectFrom('second_factors')
      .selectAll()
      .where('user_id', '=', id)
      .execute();

    const reset = await resetPassword(deps(g), 'alice', { via: 'cli' });
    expect(reset.endedSessions).toBe(3); // two web sessions and the bot's program session
    expect(reset.generatedPassword).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(g.ctx.passwordPolicy.check(reset.generatedPassword as string, ALICE)).toBeNull();
    for (const as of [alice, other]) {
      expect(errorCode(await callAs(g, 'GET', '/v1/session', as))).toBe('SESSION_REVOKED');
    }
    expect((await bot.call('GET', '/v1/session', token)).statusCode).toBe(401);
    expect(await loginWorks(g, 'alice', ALICE.password)).toBe(false);

    // The new password opens only the first step: the second factor is still asked for, and is the same.
    g.clock.advance(30_000);
    const started = await startLogin(g, 'alice', reset.generatedPassword as string);
    expect(json(started)).toMatchObject({ status: 'second_factor_required', factors: [{ type: 'totp' }] });
    const wrongCode = await submitTotp(g, (json(started) as { loginId: string }).loginId, '000000');
    expect(errorCode(wrongCode)).toBe('INVALID_CREDENTIALS');
    const factorsAfter = await g.ctx.store.db
      .selectFrom('second_factors')
      .selectAll()
      .where('user_id', '=', id)
      .execute();
    expect(factorsAfter).toEqual(factorsBefore);

    expect(await audit(g, 'password.reset')).toEqual([
      {
        via: 'cli',
        generated: true,
        expiresAt: new Date(reset.expiresAt).toISOString(),
        sessionId: null,
      },
    ]);
    const notes = await listNotifications(g.ctx.store.db, id);
    expect(notes.map((n) => n.kind)).toContain('password_reset');
    expect(await everythingWritten(g)).not.toContain(reset.generatedPassword as string);
  });

  // Security review F4: before the fix a personal client registered (or an app authorized) by whoever held the
  // account outlived the operator's reset: the bot took new tokens with client credentials (a new program session)
  // and placed an order.
  it('revokes every grant and personal client of the user at a reset, audited; other users’ stay', async () => {
    const g = await gateway({ secrets: { adminApiToken: ADMIN_TOKEN } });
    const alice = await loginAs(g, ALICE);
    const bot = await registerBot(g, alice);
    const botAccess = await botToken(bot);
    const app = await registerApp(g);
    const { code, verifier } = await authorizeApp(app, alice);
    const appTokens = json(await exchangeCode(app, code, verifier)) as {
      access_token: string;
      refresh_token: string;
    };
    const brunoBot = await registerBot(g, await loginAs(g, BRUNO), { accounts: ['U2000002'] });

    const reset = await resetPassword(deps(g), 'alice', { via: 'cli' });
    expect(reset.endedSessions).toBe(3); // the web session and the two programs' sessions

    // Neither program gets a token again, nor uses one it had.
    expect((await bot.form('/oauth2/token', { grant_type: 'client_credentials' })).json()).toMatchObject({
      error: 'invalid_client',
    });
    const refreshed = await app.form('/oauth2/token', {
      grant_type: 'refresh_token',
      refresh_token: appTokens.refresh_token,
    });
    expect(refreshed.json()).toMatchObject({ error: 'invalid_grant' });
    expect(errorCode(await bot.call('GET', '/v1/session', botAccess))).toBe('INVALID_TOKEN');
    expect(errorCode(await app.call('GET', '/v1/session', appTokens.access_token))).toBe('INVALID_TOKEN');
    // The app itself is the operator's: it stays, for other users.
    const live = await g.ctx.store.db
      .selectFrom('oauth_clients')
      .select('id')
      .where('revoked_at', 'is', null)
      .execute();
    expect(live.map((c) => c.id).sort()).toEqual([app.clientId, brunoBot.clientId].sort());
    expect((await brunoBot.form('/oauth2/token', { grant_type: 'client_credentials' })).statusCode).toBe(200);
    expect(reset.revokedGrants).toBe(2);

    const id = await userId(g, 'alice');
    const revoked = await g.ctx.store.db
      .selectFrom('audit_log')
      .select(['type', 'user_id', 'data'])
      .where('type', 'in', ['oauth.grant_revoked', 'oauth.client_revoked'])
      .orderBy('seq')
      .execute();
    const rows = revoked.map((r) => [r.type, r.user_id, JSON.parse(r.data)]);
    // The client first (no new grant session can be made from then on), then each grant.
    expect(rows[0]).toEqual([
      'oauth.client_revoked',
      id,
      { clientId: bot.clientId, cause: 'password_reset' },
    ]);
    expect(rows.slice(1)).toHaveLength(2);
    expect(rows.slice(1)).toEqual(
      expect.arrayContaining(
        [bot, app].map((p) => [
          'oauth.grant_revoked',
          id,
          { grantId: expect.any(String), clientId: p.clientId, cause: 'password_reset' },
        ]),
      ),
    );
    const notes = await listNotifications(g.ctx.store.db, id);
    expect(notes.find((n) => n.kind === 'password_reset')?.data).toMatchObject({ revokedGrants: 2 });
  });

  it('refuses a reset to a password the policy forbids, or of an unknown user, changing nothing', async () => {
    const g = await gateway();
    const bruno = await loginAs(g, BRUNO);
    await expect(
      resetPassword(deps(g), 'bruno', { via: 'cli', password: 'harbour berger lights' }),
    ).rejects.toMatchObject({
      code: 'PASSWORD_POLICY',
      details: { rule: 'context' },
    });
    await expect(resetPassword(deps(g), 'bruno', { via: 'cli', password: 'short' })).rejects.toMatchObject({
      code: 'PASSWORD_POLICY',
      details: { rule: 'too_short' },
    });
    await expect(resetPassword(deps(g), 'nobody', { via: 'cli' })).rejects.toMatchObject({
      code: 'USER_NOT_FOUND',
    });
    expect((await callAs(g, 'GET', '/v1/session', bruno)).statusCode).toBe(200);
    expect(await loginWorks(g, 'bruno', BRUNO.password)).toBe(true);

    // A given password that passes is an initial one too.
    const given = 'seven herons watch the tide';
    const reset = await resetPassword(deps(g), 'bruno', { via: 'cli', password: given });
    expect(reset.generatedPassword).toBeUndefined();
    expect(await loginWorks(g, 'bruno', given)).toBe(true);
    expect(await everythingWritten(g)).not.toContain(given);
  });
});
