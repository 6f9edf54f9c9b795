/**
 * Recovery codes and ASVS 5.0 6.5.2: a lookup secret under 112 bits must be stored with a salted password hash; one
 * of 112 bits or more may be stored with a plain hash. New codes carry 120 bits (SHA-256 stored); codes of the
 * earlier 80-bit format still work until used or replaced, and the factor list reports them so that the user
 * replaces them. On SQLite and PostgreSQL.
 */
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { sha256 } from '../core/index.js';
import { type TestDatabaseFactory, testDatabases } from '../test-support/databases.js';
import {
  ALICE,
  BRUNO,
  callAs,
  errorCode,
  json,
  type LoggedIn,
  loginAs,
  startLogin,
  startTestGateway,
  type TestGateway,
} from '../test-support/gateway.js';
import { normaliseRecoveryCode } from './index.js';

const CROCKFORD = '[0-9a-hjkmnp-tv-z]';
/** Six groups of four Crockford base32 characters: 24 × 5 = 120 bits. */
const NEW_FORMAT = new RegExp(`^(${CROCKFORD}{4}-){5}${CROCKFORD}{4}$`);

async function withGateway(factory: TestDatabaseFactory, run: (gw: TestGateway) => Promise<void>) {
  const database = await factory();
  const gw = await startTestGateway({ database });
  try {
    await run(gw);
  } finally {
    await gw.close();
    await database.drop();
  }
}

async function newCodes(gw: TestGateway, as: LoggedIn): Promise<string[]> {
  const response = await callAs(gw, 'POST', '/v1/factors/recovery-codes', as);
  expect(response.statusCode).toBe(200);
  return (json(response) as { codes: string[] }).codes;
}

async function loginWithCode(gw: TestGateway, code: string, user = ALICE) {
  const { loginId } = json(await startLogin(gw, user.username, user.password)) as { loginId: string };
  return gw.app.inject({
    method: 'POST',
    url: `/v1/auth/login/${loginId}/factor`,
    payload: { type: 'recovery_code', code },
  });
}

async function recoveryStatus(gw: TestGateway, as: LoggedIn) {
  return (json(await callAs(gw, 'GET', '/v1/factors', as)) as { recoveryCodes: unknown }).recoveryCodes;
}

describe.each(testDatabases())('recovery codes on %s', (_name, factory) => {
  it('ASVS 6.5.2: issues codes of 120 bits (24 base32 characters, grouped by four) and stores only their SHA-256', async () => {
    await withGateway(factory, async (gw) => {
      const alice = await loginAs(gw, ALICE);
      const codes = await newCodes(gw, alice);
      expect(codes).toHaveLength(10);
      expect(new Set(codes).size).toBe(10);
      for (const code of codes) expect(code).toMatch(NEW_FORMAT);
      const rows = await gw.ctx.store.db
        .selectFrom('recovery_codes')
        .select(['code_hash', 'bits'])
        .where('used_at', 'is', null)
        .execute();
      expect(rows.map((r) => r.bits)).toEqual(Array(10).fill(120));
      expect(new Set(rows.map((r) => r.code_hash))).toEqual(
        new Set(codes.map((c) => sha256(c.replace(/-/g, '')))),
      );
      expect(JSON.stringify(rows)).not.toContain(codes[0]?.replace(/-/g, '').slice(0, 8));
      expect(await recoveryStatus(gw, alice)).toEqual({ remaining: 10, outdated: 0 });
    });
  });

  it('accepts a new code once, however it is typed, and refuses a wrong, replayed, replaced or foreign code', async () => {
    await withGateway(factory, async (gw) => {
      const alice = await loginAs(gw, ALICE);
      const bruno = await loginAs(gw, BRUNO);
      const replaced = await newCodes(gw, alice);
      const codes = await newCodes(gw, alice);
      const brunos = await newCodes(gw, bruno);
      const first = codes[0] as string;
      // Upper case, spaces for dashes, and the Crockford look-alikes (0 read as o, 1 as l) are the same code.
      const typed = first.toUpperCase().replace(/-/g, ' ').replace(/0/g, 'O').replace(/1/g, 'l');
      expect((await loginWithCode(gw, typed)).statusCode).toBe(200);
      expect(errorCode(await loginWithCode(gw, first))).toBe('INVALID_CREDENTIALS');
      expect(errorCode(await loginWithCode(gw, replaced[1] as string))).toBe('INVALID_CREDENTIALS');
      expect(errorCode(await loginWithCode(gw, brunos[1] as string))).toBe('INVALID_CREDENTIALS');
      // A wrong code of the right shape, and a new code cut to the old length.
      const wrong = `${(codes[1] as string).slice(0, -1)}${(codes[1] as string).endsWith('z') ? 'y' : 'z'}`;
      expect(errorCode(await loginWithCode(gw, wrong))).toBe('INVALID_CREDENTIALS');
      expect(errorCode(await loginWithCode(gw, (codes[2] as string).slice(0, 19)))).toBe(
        'INVALID_CREDENTIALS',
      );
      gw.clock.advance(60_000); // past the backoff the five failures above started
      expect((await loginWithCode(gw, codes[2] as string)).statusCode).toBe(200);
      expect(await recoveryStatus(gw, alice)).toEqual({ remaining: 8, outdated: 0 });
    });
  });

  it('accepts a code of the earlier 80-bit format until it is used, and reports such codes as outdated until replaced', async () => {
    await withGateway(factory, async (gw) => {
      const alice = await loginAs(gw, ALICE);
      const user = await gw.ctx.store.db
        .selectFrom('users')
        .select('id')
        .where('username', '=', ALICE.username)
        .executeTakeFirstOrThrow();
      // Rows as the earlier format stored them, written without the `bits` column as rows before migration 0011
      // were: the column's default marks them 80 bits.
      for (const [id, canonical] of [
        ['rec_legacy1', 'k3f9x2mq7vbdpw4t'],
        ['rec_legacy2', 'a1b2c3d4e5f6g7h8'],
      ] as const) {
        await sql`insert into recovery_codes (id, user_id, code_hash, created_at, used_at)
                  values (${id}, ${user.id}, ${sha256(canonical)}, ${gw.clock.now()}, null)`.execute(
          gw.ctx.store.db,
        );
      }
      expect(await recoveryStatus(gw, alice)).toEqual({ remaining: 2, outdated: 2 });
      expect((await loginWithCode(gw, 'K3F9-X2MQ-7VBD-PW4T')).statusCode).toBe(200);
      expect(errorCode(await loginWithCode(gw, 'k3f9-x2mq-7vbd-pw4t'))).toBe('INVALID_CREDENTIALS');
      expect(await recoveryStatus(gw, alice)).toEqual({ remaining: 1, outdated: 1 });

      // A new set replaces them.
      gw.clock.advance(60_000);
      const fresh = await loginAs(gw, ALICE);
      await newCodes(gw, fresh);
      expect(await recoveryStatus(gw, fresh)).toEqual({ remaining: 10, outdated: 0 });
      expect(errorCode(await loginWithCode(gw, 'a1b2-c3d4-e5f6-g7h8'))).toBe('INVALID_CREDENTIALS');
    });
  });
});

describe('normaliseRecoveryCode', () => {
  it('accepts exactly the 24-character codes and the earlier 16-character ones', () => {
    expect(normaliseRecoveryCode('K3F9-X2MQ-7VBD-PW4T-0000-1111')).toBe('k3f9x2mq7vbdpw4t00001111');
    expect(normaliseRecoveryCode('k3f9 x2mq 7vbd pw4t')).toBe('k3f9x2mq7vbdpw4t');
    for (const bad of [
      '',
      'k3f9-x2mq-7vbd-pw4',
      'k3f9-x2mq-7vbd-pw4t-0000',
      'k3f9-x2mq-7vbd-pw4t-0000-11111',
      'u'.repeat(24),
    ])
      expect(normaliseRecoveryCode(bad)).toBeNull();
  });
});
