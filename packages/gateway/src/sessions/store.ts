/**
 * @module sessions/store
 * Session rows. The token itself is never stored: rows are found by the SHA-256 of the token.
 */
import type { Kysely } from 'kysely';
import type { Database, SessionsTable } from '../store/index.js';
import type { Channel } from './policy.js';
import { parseStepUpReason, type StepUpReason } from './step-up-reason.js';

export interface SessionRecord {
  id: string;
  tokenHash: string;
  userId: string;
  channel: Channel;
  /** Authenticator assurance level: 1 password only, 2 with a second factor, 3 phishing-resistant hardware. */
  aal: number;
  /** Authentication methods used (RFC 8176): e.g. ["pwd","otp"]. */
  amr: string[];
  createdAt: number;
  lastSeenAt: number;
  idleTimeoutMs: number;
  expiresAt: number;
  /** When a second factor was last verified in this session (for step-up and "recent AAL2" checks). */
  secondFactorAt: number | null;
  ip: string;
  userAgent: string;
  revokedAt: number | null;
  revokeReason: string | null;
  /** A sensitive action must first verify a second factor again (network changed, or a policy asks for it). */
  stepUpRequired: boolean;
  /** Why, while one is pending (null or absent when none is; absent with one pending: a network change). */
  stepUpReason?: StepUpReason | null;
  /** The country (ISO 3166-1 alpha-2) the session was last seen from; null or absent when none is known. */
  country?: string | null;
  deviceId: string | null;
  /** Network (IPv4 /24 or IPv6 /48) the session was last seen on. */
  network: string | null;
  /** The second factor type verified most recently. */
  lastFactor: string | null;
  /** When this session last acquired the brokerage capability (null: never). */
  brokerageAt: number | null;
  /**
   * The daily reset recorded as having ended that acquisition (null or absent: none recorded). A recorded reset
   * stays an end when the wall clock is stepped back before it (sessions/brokerage `tierAt`).
   */
  brokerageResetAt?: number | null;
}

/**
 * Whether a session last seen at `lastSeenAt` is within its idle timeout at `now`. A timeout of 0 is an end that was
 * recorded (`markExpired`): it holds whatever the clock says, even a clock stepped back before the last activity.
 */
export function withinIdle(lastSeenAt: number, idleTimeoutMs: number, now: number): boolean {
  return idleTimeoutMs > 0 && now < lastSeenAt + idleTimeoutMs;
}

export function sessionFromRow(r: SessionsTable): SessionRecord {
  return {
    id: r.id,
    tokenHash: r.token_hash,
    userId: r.user_id,
    channel: r.channel as Channel,
    aal: r.aal,
    amr: JSON.parse(r.amr) as string[],
    createdAt: r.created_at,
    lastSeenAt: r.last_seen_at,
    idleTimeoutMs: r.idle_timeout_ms,
    expiresAt: r.expires_at,
    secondFactorAt: r.second_factor_at,
    ip: r.ip,
    userAgent: r.user_agent,
    revokedAt: r.revoked_at,
    revokeReason: r.revoke_reason,
    stepUpRequired: r.step_up_required === 1,
    stepUpReason: r.step_up_required === 1 ? parseStepUpReason(r.step_up_reason) : null,
    country: r.country,
    deviceId: r.device_id,
    network: r.network,
    lastFactor: r.last_factor,
    brokerageAt: r.brokerage_at,
    brokerageResetAt: r.brokerage_reset_at === null ? null : Number(r.brokerage_reset_at),
  };
}

export async function insertSession(db: Kysely<Database>, s: SessionRecord): Promise<void> {
  await db
    .insertInto('sessions')
    .values({
      id: s.id,
      token_hash: s.tokenHash,
      user_id: s.userId,
      channel: s.channel,
      aal: s.aal,
      amr: JSON.stringify(s.amr),
      created_at: s.createdAt,
      last_seen_at: s.lastSeenAt,
      idle_timeout_ms: s.idleTimeoutMs,
      expires_at: s.expiresAt,
      second_factor_at: s.secondFactorAt,
      ip: s.ip,
      user_agent: s.userAgent,
      revoked_at: s.revokedAt,
      revoke_reason: s.revokeReason,
      step_up_required: s.stepUpRequired ? 1 : 0,
      step_up_reason: s.stepUpRequired && s.stepUpReason != null ? JSON.stringify(s.stepUpReason) : null,
      country: s.country ?? null,
      device_id: s.deviceId,
      network: s.network,
      last_factor: s.lastFactor,
      brokerage_at: s.brokerageAt,
      brokerage_reset_at: null,
    })
    .execute();
}

export async function findSessionByTokenHash(
  db: Kysely<Database>,
  tokenHash: string,
): Promise<SessionRecord | undefined> {
  const row = await db
    .selectFrom('sessions')
    .selectAll()
    .where('token_hash', '=', tokenHash)
    .executeTakeFirst();
  return row === undefined ? undefined : sessionFromRow(row);
}

export async function findSessionById(db: Kysely<Database>, id: string): Promise<SessionRecord | undefined> {
  const row = await db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst();
  return row === undefined ? undefined : sessionFromRow(row);
}

/** Sessions by id, in one query; an id with no session has none in the answer. */
export async function findSessionsByIds(
  db: Kysely<Database>,
  ids: readonly string[],
): Promise<SessionRecord[]> {
  if (ids.length === 0) return [];
  const rows = await db.selectFrom('sessions').selectAll().where('id', 'in', ids).execute();
  return rows.map(sessionFromRow);
}

/** Live (not revoked, not past their absolute expiry) sessions of a user, newest first. */
export async function listLiveSessions(
  db: Kysely<Database>,
  userId: string,
  now: number,
): Promise<SessionRecord[]> {
  const rows = await db
    .selectFrom('sessions')
    .selectAll()
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .orderBy('created_at', 'desc')
    .execute();
  return rows.map(sessionFromRow);
}

/** Marks a session revoked; returns false if it was already revoked (the first reason wins). */
export async function markRevoked(
  db: Kysely<Database>,
  id: string,
  at: number,
  reason: string,
): Promise<boolean> {
  const result = await db
    .updateTable('sessions')
    .set({ revoked_at: at, revoke_reason: reason })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Writes last-seen times in one transaction; never moves a time backwards (another node may be ahead). */
export async function writeLastSeen(
  db: Kysely<Database>,
  entries: ReadonlyMap<string, number>,
): Promise<void> {
  if (entries.size === 0) return;
  await db.transaction().execute(async (trx) => {
    for (const [id, at] of entries) {
      await trx
        .updateTable('sessions')
        .set({ last_seen_at: at })
        .where('id', '=', id)
        .where('last_seen_at', '<', at)
        .execute();
    }
  });
}

/**
 * Records a fresh second-factor verification and the session's new token in one conditional UPDATE: clears any
 * pending step-up and replaces the token hash, provided the session is live and still has the token `from`. False
 * when it no longer does (ended, or its token replaced by a concurrent step-up): nothing was changed.
 */
export async function markSecondFactor(
  db: Kysely<Database>,
  id: string,
  change: { at: number; factor: string; aal: number; tokenHash: { from: string; to: string } },
): Promise<boolean> {
  const result = await db
    .updateTable('sessions')
    .set({
      second_factor_at: change.at,
      last_factor: change.factor,
      step_up_required: 0,
      step_up_reason: null,
      aal: change.aal,
      token_hash: change.tokenHash.to,
    })
    .where('id', '=', id)
    .where('token_hash', '=', change.tokenHash.from)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Gives a live session a new token hash, if it still has `from` (a concurrent renewal did not replace it). */
export async function replaceTokenHash(
  db: Kysely<Database>,
  id: string,
  tokenHash: { from: string; to: string },
): Promise<boolean> {
  const result = await db
    .updateTable('sessions')
    .set({ token_hash: tokenHash.to })
    .where('id', '=', id)
    .where('token_hash', '=', tokenHash.from)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Binds a session that has no device yet to the device whose key proves its requests from now on. */
export async function markDevice(db: Kysely<Database>, id: string, deviceId: string): Promise<boolean> {
  const result = await db
    .updateTable('sessions')
    .set({ device_id: deviceId })
    .where('id', '=', id)
    .where('device_id', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Ids of the live (not revoked) sessions bound to a device. */
export async function sessionIdsForDevice(db: Kysely<Database>, deviceId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('sessions')
    .select('id')
    .where('device_id', '=', deviceId)
    .where('revoked_at', 'is', null)
    .execute();
  return rows.map((r) => r.id);
}

/** Requires a step-up before the next sensitive action, for `reason`, and records the session's new network. */
export async function markStepUpRequired(
  db: Kysely<Database>,
  id: string,
  network: string | null,
  reason: StepUpReason = { reason: 'network_changed' },
): Promise<void> {
  await db
    .updateTable('sessions')
    .set({ step_up_required: 1, step_up_reason: JSON.stringify(reason), network })
    .where('id', '=', id)
    .execute();
}

/** Records the country a session was last seen from. */
export async function markCountry(db: Kysely<Database>, id: string, country: string): Promise<void> {
  await db.updateTable('sessions').set({ country }).where('id', '=', id).execute();
}

/**
 * Makes a live session expire at `at`, as time would: past its absolute lifetime (`absolute`), or idle from `at` on
 * (`idle`: an idle timeout of 0, so no activity seen before — another node's, written behind later — revives it).
 * Either way the idle timeout becomes 0: an end that was recorded stays an end when the wall clock is later stepped
 * back before `at` (an absolute expiry then reads as idle, never as live). False when it had already ended.
 */
export async function markExpired(
  db: Kysely<Database>,
  id: string,
  at: number,
  kind: 'idle' | 'absolute',
): Promise<boolean> {
  const result = await db
    .updateTable('sessions')
    .set(kind === 'absolute' ? { expires_at: at, idle_timeout_ms: 0 } : { idle_timeout_ms: 0 })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', at)
    .where('idle_timeout_ms', '>', 0)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}
