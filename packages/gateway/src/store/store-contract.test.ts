/**
 * The store contract suite: every store operation the capabilities rely on, run on SQLite and on PostgreSQL
 * (whenever GATEHOUSE_TEST_DATABASE_URL is set; CI sets it and fails if PostgreSQL is unreachable).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit, verifyAuditChain } from '../audit/index.js';
import { ManualClock, SecretBox } from '../core/index.js';
import { addTotpFactor, totpCode, verifyTotp } from '../factors/index.js';
import {
  createAccount,
  createUser,
  findLoginCandidate,
  grantAccountRole,
  LEGAL_ENTITIES,
  listLegalEntities,
  listUserAccounts,
  seedLegalEntities,
} from '../identity/index.js';
import { claimAttempt, clearBuckets, throttleWaitMs } from '../login/index.js';
import {
  deleteExpired,
  findInstance,
  findInstanceSessionId,
  holdLiveGrant,
  insertClient,
  insertGrant,
  insertTokens,
  instanceSessions,
  programSessionIds,
  revokeGrantAndTokens,
  setInstance,
} from '../oauth/store.js';
import type { SessionRecord } from '../sessions/index.js';
import {
  findSessionByTokenHash,
  insertSession,
  listLiveSessions,
  markRevoked,
  markSecondFactor,
  markStepUpRequired,
  writeLastSeen,
} from '../sessions/store.js';
import { testDatabases } from '../test-support/databases.js';
import { migrateToLatest, openDatabase, type Store } from './index.js';

const backoff = {
  freeFailures: 5,
  baseDelayMs: 1_000,
  maxDelayMs: 900_000,
  failureResetMs: 3_600_000,
  maxFailures: 100,
};

describe.each(testDatabases({ everySqliteDriver: true }))('store contract on %s', (_name, factory) => {
  let store: Store;
  let drop: () => Promise<void>;
  const clock = new ManualClock();
  const box = new SecretBox(Buffer.alloc(32, 1));

  beforeAll(async () => {
    const database = await factory();
    drop = database.drop;
    store = openDatabase(database.url, database.options);
    await migrateToLatest(store);
    await seedLegalEntities(store.db);
  });
  afterAll(async () => {
    await store.close();
    await drop();
  });

  let userCounter = 0;
  async function newUser(name = `user${++userCounter}`) {
    return createUser(store.db, clock, { username: name, displayName: name, passwordHash: 'hash' });
  }

  it('migrates idempotently and seeds every legal entity', async () => {
    expect(await migrateToLatest(store)).toEqual([]);
    await seedLegalEntities(store.db);
    const entities = await listLegalEntities(store.db);
    expect(entities.map((e) => e.code).sort()).toEqual(LEGAL_ENTITIES.map((e) => e.code).sort());
    expect(entities.find((e) => e.code === 'IBUK')).toMatchObject({
      regulator: 'FCA (FRN 208159)',
      investorProtection: 'FSCS + CASS segregation',
      region: 'europe',
    });
  });

  it('creates users with unique normalised usernames', async () => {
    const user = await newUser('Mixed.Case');
    expect(user.username).toBe('mixed.case');
    await expect(newUser('MIXED.case')).rejects.toMatchObject({ code: 'USER_EXISTS' });
    const candidate = await findLoginCandidate(store.db, 'mixed.CASE');
    expect(candidate?.user.id).toBe(user.id);
    expect(candidate?.passwordHash).toBe('hash');
    expect(await findLoginCandidate(store.db, 'nobody')).toBeUndefined();
  });

  it('creates accounts with broker-style ids, roles and entities', async () => {
    const user = await newUser();
    const live = await createAccount(store.db, clock, {
      title: 'live',
      paper: false,
      type: 'margin',
      baseCurrency: 'USD',
      clientCategory: 'retail',
      entityCode: 'IBLLC',
    });
    const paper = await createAccount(store.db, clock, {
      title: 'paper',
      paper: true,
      type: 'cash',
      baseCurrency: 'EUR',
      clientCategory: 'professional',
      entityCode: 'IBIE',
    });
    expect(live.id).toMatch(/^U\d{7}$/);
    expect(paper.id).toMatch(/^DU\d{7}$/);
    await expect(createAccount(store.db, clock, { ...live, id: 'U123', paper: false })).rejects.toMatchObject(
      { code: 'INVALID_REQUEST' },
    );
    await expect(
      createAccount(store.db, clock, { ...live, id: 'DU1234567', paper: false }),
    ).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
    await expect(
      createAccount(store.db, clock, { ...live, id: undefined, entityCode: 'NOPE' }),
    ).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
    await grantAccountRole(store.db, user.id, live.id, 'viewer');
    await grantAccountRole(store.db, user.id, live.id, 'owner');
    await grantAccountRole(store.db, user.id, paper.id, 'trader');
    const accounts = await listUserAccounts(store.db, user.id);
    expect(accounts.map((a) => [a.id, a.role, a.entity.code, a.paper])).toEqual(
      [
        [live.id, 'owner', 'IBLLC', false],
        [paper.id, 'trader', 'IBIE', true],
      ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    );
  });

  it('seals TOTP seeds and accepts each step once, even when two verifications race', async () => {
    const user = await newUser();
    const enrolment = await addTotpFactor(store.db, clock, box, {
      userId: user.id,
      label: 'app',
      issuer: 'Gatehouse',
      accountName: user.username,
    });
    const row = await store.db
      .selectFrom('second_factors')
      .selectAll()
      .where('id', '=', enrolment.factorId)
      .executeTakeFirstOrThrow();
    expect(row.secret_sealed).not.toContain(enrolment.secret);
    const code = totpCode(enrolment.secret, clock.now());
    const results = await Promise.all([
      verifyTotp(store.db, clock, box, user.id, code, 1),
      verifyTotp(store.db, clock, box, user.id, code, 1),
      verifyTotp(store.db, clock, box, user.id, code, 1),
    ]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok && r.reason === 'replayed')).toHaveLength(2);
    expect(await verifyTotp(store.db, clock, box, user.id, '000000', 1)).toMatchObject({ ok: false });
  });

  it('stores sessions by token hash, revokes once, and never moves last-seen backwards', async () => {
    const user = await newUser();
    const now = clock.now();
    const session: SessionRecord = {
      id: `ses_${userCounter}`,
      tokenHash: `hash-${userCounter}`,
      userId: user.id,
      channel: 'web',
      aal: 2,
      amr: ['pwd', 'otp'],
      createdAt: now,
      lastSeenAt: now,
      idleTimeoutMs: 900_000,
      expiresAt: now + 43_200_000,
      secondFactorAt: now,
      ip: '127.0.0.1',
      userAgent: 'test',
      revokedAt: null,
      revokeReason: null,
      stepUpRequired: false,
      stepUpReason: null,
      country: null,
      deviceId: null,
      network: '127.0.0.0/24',
      lastFactor: 'totp',
      brokerageAt: null,
      brokerageResetAt: null,
    };
    await insertSession(store.db, session);
    expect(await findSessionByTokenHash(store.db, session.tokenHash)).toEqual(session);
    // A pending step-up keeps its reason (a new country names it) until a second factor clears both.
    await markStepUpRequired(store.db, session.id, '81.2.69.0/24', { reason: 'new_country', country: 'GB' });
    expect(await findSessionByTokenHash(store.db, session.tokenHash)).toMatchObject({
      stepUpRequired: true,
      stepUpReason: { reason: 'new_country', country: 'GB' },
    });
    await markSecondFactor(store.db, session.id, {
      at: now,
      factor: 'totp',
      aal: 2,
      tokenHash: { from: session.tokenHash, to: session.tokenHash },
    });
    expect(await findSessionByTokenHash(store.db, session.tokenHash)).toMatchObject({
      stepUpRequired: false,
      stepUpReason: null,
    });
    await writeLastSeen(store.db, new Map([[session.id, now + 5_000]]));
    await writeLastSeen(store.db, new Map([[session.id, now + 1_000]]));
    expect((await findSessionByTokenHash(store.db, session.tokenHash))?.lastSeenAt).toBe(now + 5_000);
    expect(await listLiveSessions(store.db, user.id, now)).toHaveLength(1);
    expect(await markRevoked(store.db, session.id, now, 'logout')).toBe(true);
    expect(await markRevoked(store.db, session.id, now, 'revoked_by_user')).toBe(false);
    expect((await findSessionByTokenHash(store.db, session.tokenHash))?.revokeReason).toBe('logout');
    expect(await listLiveSessions(store.db, user.id, now)).toHaveLength(0);
  });

  it("finds an instance's session (grant and DPoP key) and every session a grant's tokens act through", async () => {
    const user = await newUser();
    const clientId = `cli_${userCounter}`;
    await insertClient(store.db, {
      id: clientId,
      kind: 'personal',
      user_id: user.id,
      name: 'bot',
      jwks: '{"keys":[]}',
      redirect_uris: '[]',
      scopes: '["read"]',
      rotate_refresh_tokens: 0,
      session_loss_policy: 'none',
      created_at: 0,
      revoked_at: null,
    });
    const grant = (id: string, session: string | null) => ({
      id,
      client_id: clientId,
      user_id: user.id,
      scopes: '["read"]',
      accounts: '[]',
      session_id: session,
      created_at: 0,
      revoked_at: null,
      revoke_reason: null,
    });
    const bots = grant(`grt_bots_${userCounter}`, 'ses_from_before');
    const old = grant(`grt_old_${userCounter}`, 'ses_old_grant');
    await insertGrant(store.db, bots);
    await insertGrant(store.db, old);
    const token = (grantId: string, jkt: string, session: string | null, at: number) => ({
      token_hash: `tok_${grantId}_${at}`,
      kind: 'access',
      grant_id: grantId,
      jkt,
      scopes: '["read"]',
      created_at: at,
      expires_at: at + 900_000,
      last_used_at: null,
      spent_at: null,
      successor_sealed: null,
      revoked_at: at === 2_000 ? at : null,
      session_id: session,
    });
    await insertTokens(store.db, [
      token(bots.id, 'key-a', null, 1_000), // from before tokens recorded their session
      token(bots.id, 'key-a', 'ses_a', 2_000), // the newest of key-a, revoked: still its instance's session
      token(bots.id, 'key-b', 'ses_b', 1_500),
      token(bots.id, 'key-b', 'ses_b', 3_000),
      token(old.id, 'key-c', null, 1_000),
    ]);
    expect(await findInstanceSessionId(store.db, bots.id, 'key-a')).toBe('ses_a');
    expect(await findInstanceSessionId(store.db, bots.id, 'key-b')).toBe('ses_b');
    expect(await findInstanceSessionId(store.db, bots.id, 'key-c')).toBeUndefined();
    expect(await findInstanceSessionId(store.db, old.id, 'key-c')).toBe('ses_old_grant');
    expect(await programSessionIds(store.db, [bots, old, grant('grt_none', null)])).toEqual(
      new Map([
        [bots.id, ['ses_b', 'ses_a', 'ses_from_before']],
        [old.id, ['ses_old_grant']],
        ['grt_none', []],
      ]),
    );
  });

  it("records an instance's session while its grant is held: one per key under concurrent holders", async () => {
    const user = await newUser();
    const now = clock.now();
    const clientId = `cli_inst_${userCounter}`;
    await insertClient(store.db, {
      id: clientId,
      kind: 'personal',
      user_id: user.id,
      name: 'bot',
      jwks: '{"keys":[]}',
      redirect_uris: '[]',
      scopes: '["read"]',
      rotate_refresh_tokens: 0,
      session_loss_policy: 'none',
      created_at: 0,
      revoked_at: null,
    });
    const grantId = `grt_inst_${userCounter}`;
    await insertGrant(store.db, {
      id: grantId,
      client_id: clientId,
      user_id: user.id,
      scopes: '["read"]',
      accounts: '[]',
      session_id: null,
      created_at: 0,
      revoked_at: null,
      revoke_reason: null,
    });
    // Concurrent holders of the grant, each recording its own session for key-a unless one is recorded: one wins.
    const chosen = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        store.db.transaction().execute(async (trx) => {
          expect(await holdLiveGrant(trx, grantId)).toBe(true);
          const known = await findInstance(trx, grantId, 'key-a');
          if (known !== undefined) return known;
          await setInstance(trx, grantId, 'key-a', `ses_inst_${userCounter}_${i}`, now);
          return `ses_inst_${userCounter}_${i}`;
        }),
      ),
    );
    expect(new Set(chosen).size).toBe(1);
    const live = `ses_inst_live_${userCounter}`;
    const ended = `ses_inst_ended_${userCounter}`;
    for (const id of [live, ended, chosen[0] as string])
      await insertSession(store.db, {
        id,
        tokenHash: `hash-${id}`,
        userId: user.id,
        channel: 'api',
        aal: 2,
        amr: ['pop'],
        createdAt: now,
        lastSeenAt: now,
        idleTimeoutMs: 900_000,
        expiresAt: now + 43_200_000,
        secondFactorAt: null,
        ip: '',
        userAgent: 'test',
        revokedAt: null,
        revokeReason: null,
        stepUpRequired: false,
        deviceId: null,
        network: null,
        lastFactor: null,
        brokerageAt: null,
      });
    await markRevoked(store.db, ended, now, 'instance_limit');
    await setInstance(store.db, grantId, 'key-a', live, now + 1); // replaces the recorded one
    await setInstance(store.db, grantId, 'key-b', ended, now + 2);
    await setInstance(store.db, grantId, 'key-c', chosen[0] as string, now + 3);
    expect(await findInstance(store.db, grantId, 'key-a')).toBe(live);
    expect(await findInstance(store.db, grantId, 'key-z')).toBeUndefined();
    expect((await instanceSessions(store.db, grantId, now)).map((s) => s.id).sort()).toEqual(
      [live, chosen[0]].sort(),
    );
    const ids = await programSessionIds(store.db, [{ id: grantId, session_id: null }]);
    expect(ids.get(grantId)).toEqual([chosen[0], ended, live]);
    await deleteExpired(store.db, now, 86_400_000);
    expect(await findInstance(store.db, grantId, 'key-b')).toBeUndefined();
    expect(await findInstance(store.db, grantId, 'key-a')).toBe(live);
    expect(await revokeGrantAndTokens(store.db, grantId, now, 'grant_revoked')).toBe(true);
    expect(await holdLiveGrant(store.db, grantId)).toBe(false);
  });

  it('claims login attempts atomically and forgets failures after the reset time', async () => {
    const bucket = { subject: `throttle-${userCounter++}`, policy: backoff };
    const claims = await Promise.all(
      Array.from({ length: 8 }, () => claimAttempt(store.db, [bucket], clock.now())),
    );
    expect(claims.filter((c) => c.ok)).toHaveLength(backoff.freeFailures);
    expect(claims.filter((c) => !c.ok)).toEqual(Array(3).fill({ ok: false, waitMs: 1_000 }));
    const row = await store.db
      .selectFrom('login_throttle')
      .selectAll()
      .where('subject', '=', bucket.subject)
      .executeTakeFirstOrThrow();
    expect(row.failures).toBe(backoff.freeFailures);
    expect(await throttleWaitMs(store.db, [bucket], clock.now())).toBe(1_000);
    const later = clock.now() + backoff.failureResetMs;
    expect(await claimAttempt(store.db, [bucket], later)).toMatchObject({
      ok: true,
      claims: [{ failures: 1 }],
    });
    await clearBuckets(store.db, [bucket]);
    expect(await throttleWaitMs(store.db, [bucket], later)).toBe(0);
  });

  describe('audit chain', () => {
    async function appendMany(n: number) {
      for (let i = 0; i < n; i += 1) {
        await appendAudit(store.db, clock, {
          type: 'login.succeeded',
          userId: 'u',
          ip: '127.0.0.1',
          data: { i },
        });
      }
    }

    it('verifies an intact chain, including appends that race', async () => {
      await appendMany(3);
      await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          appendAudit(store.db, clock, { type: 'factor.used', data: { i } }),
        ),
      );
      const result = await verifyAuditChain(store.db, 4);
      expect(result.ok).toBe(true);
      expect(result.rows).toBeGreaterThanOrEqual(13);
    });

    it('refuses secrets in audit data', async () => {
      await expect(
        appendAudit(store.db, clock, { type: 'factor.used', data: { code: '123456' } }),
      ).rejects.toThrow(/must not contain secrets/);
      await expect(
        appendAudit(store.db, clock, { type: 'factor.used', data: { nested: { password: 'x' } } }),
      ).rejects.toThrow(/must not contain secrets/);
      expect((await verifyAuditChain(store.db)).ok).toBe(true);
    });

    it('detects an edited row', async () => {
      await appendMany(3);
      const target = await store.db
        .selectFrom('audit_log')
        .select('seq')
        .orderBy('seq', 'desc')
        .offset(1)
        .limit(1)
        .executeTakeFirstOrThrow();
      await store.db
        .updateTable('audit_log')
        .set({ ip: '203.0.113.9' })
        .where('seq', '=', target.seq)
        .execute();
      expect(await verifyAuditChain(store.db)).toMatchObject({ ok: false, brokenAtSeq: target.seq });
      // Recomputing the edited row's own hash does not help: the next row's link breaks instead.
      const { rowHash } = await import('../audit/index.js');
      const edited = await store.db
        .selectFrom('audit_log')
        .selectAll()
        .where('seq', '=', target.seq)
        .executeTakeFirstOrThrow();
      await store.db
        .updateTable('audit_log')
        .set({ hash: rowHash(edited) })
        .where('seq', '=', target.seq)
        .execute();
      expect(await verifyAuditChain(store.db)).toMatchObject({ ok: false, brokenAtSeq: target.seq + 1 });
    });
  });

  describe('audit chain deletions', () => {
    it('detects a deleted row in the middle and at the end', async () => {
      await store.db.deleteFrom('audit_log').execute();
      await store.db
        .updateTable('audit_head')
        .set({ seq: 0, hash: '0'.repeat(64) })
        .execute();
      for (let i = 0; i < 5; i += 1)
        await appendAudit(store.db, clock, { type: 'session.logout', data: { i } });
      expect(await verifyAuditChain(store.db)).toEqual({ ok: true, rows: 5 });

      await store.db.deleteFrom('audit_log').where('seq', '=', 5).execute();
      expect(await verifyAuditChain(store.db)).toMatchObject({ ok: false, brokenAtSeq: 5 });

      await store.db.deleteFrom('audit_log').where('seq', '=', 3).execute();
      expect(await verifyAuditChain(store.db)).toMatchObject({ ok: false, brokenAtSeq: 3 });
    });
  });
});
