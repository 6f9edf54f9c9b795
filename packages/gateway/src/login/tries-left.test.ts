/**
 * Issue 20, item 10: a wrong code at a login's second step says how many codes the login still allows
 * (`details.attemptsLeft`), read back from the very UPDATE that reserved the attempt before the code was checked, so
 * parallel wrong codes each learn a different count and together spend no more than `maxFactorAttempts`. After the
 * last one the login is spent: the right code no longer completes it, and the refusal says why (`attemptsLeft: 0`).
 */
import type { LightMyRequestResponse } from 'fastify';
import { describe, expect, it } from 'vitest';
import { totpCode } from '../factors/index.js';
import { testDatabases } from '../test-support/databases.js';
import { ALICE, errorCode, json, startLogin, startTestGateway, submitTotp } from '../test-support/gateway.js';

function details(response: LightMyRequestResponse): Record<string, unknown> {
  return (json(response).error as { details?: Record<string, unknown> }).details ?? {};
}

function wrongCodes(secret: string, now: number, n: number): string[] {
  const valid = new Set([-30_000, 0, 30_000].map((d) => totpCode(secret, now + d)));
  const out: string[] = [];
  for (let i = 0; out.length < n; i += 1) {
    const code = String(100_000 + i * 7919);
    if (!valid.has(code)) out.push(code);
  }
  return out;
}

describe.each(testDatabases())('tries left at the second step on %s', (_name, factory) => {
  it('counts down with each wrong code, then refuses even the right code as spent', async () => {
    const database = await factory();
    const gw = await startTestGateway({ database });
    try {
      const max = gw.ctx.config.login.maxFactorAttempts;
      const started = await startLogin(gw, ALICE.username, ALICE.password);
      const { loginId } = json(started) as { loginId: string };
      const seen: unknown[] = [];
      for (const code of wrongCodes(ALICE.totpSecret, gw.clock.now(), max)) {
        const answer = await submitTotp(gw, loginId, code);
        expect(answer.statusCode).toBe(401);
        expect(errorCode(answer)).toBe('INVALID_CREDENTIALS');
        seen.push(details(answer).attemptsLeft);
      }
      expect(seen).toEqual(Array.from({ length: max }, (_, i) => max - 1 - i));
      // The limit holds: the right code cannot complete the spent login, and the refusal says it is spent.
      const right = await submitTotp(gw, loginId, totpCode(ALICE.totpSecret, gw.clock.now()));
      expect(errorCode(right)).toBe('LOGIN_INVALID');
      expect(details(right)).toEqual({ attemptsLeft: 0 });
      const row = await gw.ctx.store.db
        .selectFrom('login_transactions')
        .select(['attempts', 'completed_at'])
        .executeTakeFirstOrThrow();
      expect(row).toEqual({ attempts: max, completed_at: null });
    } finally {
      await gw.close();
      await database.drop();
    }
  });

  it('reserves each attempt before the check: 20 parallel wrong codes learn distinct counts and spend only the limit', async () => {
    const database = await factory();
    const gw = await startTestGateway({ database, config: { login: { maxFactorAttempts: 4 } } });
    try {
      const started = await startLogin(gw, ALICE.username, ALICE.password);
      const { loginId } = json(started) as { loginId: string };
      const answers = await Promise.all(
        wrongCodes(ALICE.totpSecret, gw.clock.now(), 20).map((code) => submitTotp(gw, loginId, code)),
      );
      const checked = answers.filter((a) => errorCode(a) === 'INVALID_CREDENTIALS');
      expect(checked.map((a) => details(a).attemptsLeft).sort()).toEqual([0, 1, 2, 3]);
      const refused = answers.filter((a) => errorCode(a) === 'LOGIN_INVALID');
      expect(refused).toHaveLength(16);
      for (const a of refused) expect(details(a)).toEqual({ attemptsLeft: 0 });
      const failures = await gw.ctx.store.db
        .selectFrom('audit_log')
        .select('seq')
        .where('type', '=', 'login.factor_failed')
        .execute();
      expect(failures).toHaveLength(4);
    } finally {
      await gw.close();
      await database.drop();
    }
  });

  it('says nothing of tries to a login id it does not know, nor to an expired login', async () => {
    const database = await factory();
    const gw = await startTestGateway({ database });
    try {
      const unknown = await submitTotp(gw, 'x'.repeat(43), '123456');
      expect(errorCode(unknown)).toBe('LOGIN_INVALID');
      expect(details(unknown)).toEqual({});
      const started = await startLogin(gw, ALICE.username, ALICE.password);
      const { loginId } = json(started) as { loginId: string };
      gw.clock.advance(gw.ctx.config.login.transactionTtlMs + 1);
      const expired = await submitTotp(gw, loginId, totpCode(ALICE.totpSecret, gw.clock.now()));
      expect(errorCode(expired)).toBe('LOGIN_INVALID');
      expect(details(expired)).toEqual({});
    } finally {
      await gw.close();
      await database.drop();
    }
  });
});
