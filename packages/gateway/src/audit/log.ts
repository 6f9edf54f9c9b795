/**
 * @module audit/log
 * Appending to and verifying the audit log. Appends run inside a transaction that first bumps the head row, which
 * serialises writers on every node (a row lock on PostgreSQL; SQLite has one writer anyway).
 */
import type { Kysely } from 'kysely';
import type { Clock } from '../core/index.js';
import type { Database } from '../store/index.js';
import { assertNoSecrets, GENESIS_HASH, rowHash } from './chain.js';

/** Audit event types. Security events now; trading events join them in later capabilities. */
export type AuditType =
  | 'account.entitlements_changed'
  | 'account.role_granted'
  | 'account.role_revoked'
  | 'order.cancelled_by_operator'
  | 'order.confirmed_without_market_data'
  | 'login.password_failed'
  | 'login.password_ok'
  | 'login.throttled'
  | 'login.factor_failed'
  | 'login.factor_replayed'
  | 'login.succeeded'
  | 'factor.used'
  | 'factor.added'
  | 'session.logout'
  | 'session.network_changed'
  | 'session.step_up'
  | 'factor.removed'
  | 'factor.renamed'
  | 'factor.confirmed'
  | 'recovery.generated'
  | 'recovery.used'
  | 'sms.sent'
  | 'device.new'
  | 'session.brokerage_acquired'
  | 'session.brokerage_released'
  | 'device.enrolled'
  | 'device.revoked'
  | 'push.sent'
  | 'push.approved'
  | 'push.denied'
  | 'push.wrong_number'
  | 'session.revoked'
  | 'user.created'
  | 'password.changed'
  | 'password.change_failed'
  | 'password.reset'
  | 'user.disabled'
  | 'user.enabled'
  | 'oauth.client_registered'
  | 'oauth.client_revoked'
  | 'oauth.consent_granted'
  | 'oauth.grant_revoked'
  | 'oauth.refresh_token_reused'
  | 'safety.dead_man_armed'
  | 'safety.dead_man_fired'
  | 'safety.session_loss'
  | 'sandbox.fault_injected'
  | 'sandbox.fault_cleared';

export interface AuditEvent {
  type: AuditType;
  userId?: string | null;
  sessionId?: string | null;
  ip?: string | null;
  data?: Readonly<Record<string, unknown>>;
}

export interface AuditRecord {
  seq: number;
  at: number;
  type: string;
  userId: string | null;
  sessionId: string | null;
  ip: string | null;
  data: Record<string, unknown>;
}

async function appendIn(trx: Kysely<Database>, clock: Clock, event: AuditEvent): Promise<number> {
  const data = event.data ?? {};
  assertNoSecrets(data);
  await trx
    .updateTable('audit_head')
    .set((eb) => ({ seq: eb('seq', '+', 1) }))
    .where('id', '=', 1)
    .execute();
  const head = await trx
    .selectFrom('audit_head')
    .select(['seq', 'hash'])
    .where('id', '=', 1)
    .executeTakeFirstOrThrow();
  const row = {
    seq: head.seq,
    at: clock.now(),
    type: event.type,
    user_id: event.userId ?? null,
    session_id: event.sessionId ?? null,
    ip: event.ip ?? null,
    data: JSON.stringify(data),
    prev_hash: head.hash,
  };
  const hash = rowHash(row);
  await trx
    .insertInto('audit_log')
    .values({ ...row, hash })
    .execute();
  await trx.updateTable('audit_head').set({ hash }).where('id', '=', 1).execute();
  return row.seq;
}

/**
 * Appends one event. Pass a transaction to make the event part of a larger atomic change; otherwise the append
 * runs in its own transaction.
 */
export async function appendAudit(db: Kysely<Database>, clock: Clock, event: AuditEvent): Promise<number> {
  if (db.isTransaction) return appendIn(db, clock, event);
  return db.transaction().execute((trx) => appendIn(trx, clock, event));
}

export type VerifyResult =
  | { ok: true; rows: number }
  | { ok: false; rows: number; brokenAtSeq: number; reason: string };

/** Walks the whole chain in pages and reports the first row where it breaks. */
export async function verifyAuditChain(db: Kysely<Database>, pageSize = 1000): Promise<VerifyResult> {
  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  let rows = 0;
  for (;;) {
    const page = await db
      .selectFrom('audit_log')
      .selectAll()
      .where('seq', '>=', expectedSeq)
      .orderBy('seq')
      .limit(pageSize)
      .execute();
    for (const row of page) {
      if (row.seq !== expectedSeq) {
        return { ok: false, rows, brokenAtSeq: expectedSeq, reason: `row ${expectedSeq} is missing` };
      }
      if (row.prev_hash !== prevHash) {
        return { ok: false, rows, brokenAtSeq: row.seq, reason: 'link to the previous row does not match' };
      }
      if (rowHash(row) !== row.hash) {
        return { ok: false, rows, brokenAtSeq: row.seq, reason: 'row content does not match its hash' };
      }
      prevHash = row.hash;
      expectedSeq += 1;
      rows += 1;
    }
    if (page.length < pageSize) break;
  }
  const head = await db
    .selectFrom('audit_head')
    .select(['seq', 'hash'])
    .where('id', '=', 1)
    .executeTakeFirst();
  if (head === undefined) {
    return { ok: false, rows, brokenAtSeq: expectedSeq, reason: 'the chain head is missing' };
  }
  if (head.seq !== expectedSeq - 1 || head.hash !== prevHash) {
    return {
      ok: false,
      rows,
      brokenAtSeq: Math.min(head.seq, expectedSeq),
      reason: `the chain ends at row ${expectedSeq - 1} but its head records row ${head.seq}`,
    };
  }
  return { ok: true, rows };
}

/** The newest events for one user, newest first (the portal's "recent security events"). */
export async function listAuditForUser(
  db: Kysely<Database>,
  userId: string,
  limit = 50,
): Promise<AuditRecord[]> {
  const rows = await db
    .selectFrom('audit_log')
    .selectAll()
    .where('user_id', '=', userId)
    .orderBy('seq', 'desc')
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    seq: r.seq,
    at: r.at,
    type: r.type,
    userId: r.user_id,
    sessionId: r.session_id,
    ip: r.ip,
    data: JSON.parse(r.data) as Record<string, unknown>,
  }));
}
