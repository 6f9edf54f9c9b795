/**
 * @module factors/sms
 * SMS one-time codes: 6 digits, valid 5 minutes, 3 attempts, resend at most once per 30 s and 5 times per hour.
 * SMS is a "restricted" authenticator (NIST 800-63B): it may log a user in, but a session whose last second
 * factor was SMS cannot enrol or remove other factors. A code is bound to what it was sent for (`SmsBinding`: a
 * login transaction, a session's step-up, a factor's enrolment) and completes only that (ASVS 5.0 6.6.2): a code
 * texted for one login cannot complete another started meanwhile, by the user or by someone holding the password. Delivery goes through `SmsSender`; the default
 * `OutboxSmsSender` simulator stores messages in the `sms_outbox` table (`gatehouse sms outbox`).
 */
import { randomInt } from 'node:crypto';
import type { Kysely } from 'kysely';
import { type Clock, constantTimeEqual, GatehouseError, newId, sha256 } from '../core/index.js';
import type { Database } from '../store/index.js';

export const SMS_POLICY = {
  ttlMs: 5 * 60_000,
  maxAttempts: 3,
  resendIntervalMs: 30_000,
  maxPerHour: 5,
} as const;

/** An E.164 number, as the protocol's schemas check it. */
export { E164 } from '@gatehouse/protocol';

/** Whom a text is for, as the code's sender knows it: the user, and the session of a step-up. */
export interface SmsRecipient {
  userId: string;
  sessionId?: string | undefined;
  /** The login transaction a login's code is for (its id, never the handle the client holds). */
  loginId?: string | undefined;
}

export interface SmsSender {
  /** Resolves once the carrier accepted the message (not once it reached the phone). */
  send(to: string, body: string, recipient?: SmsRecipient): Promise<void>;
}

/**
 * The simulator: messages are stored, not sent. A login's text keeps the login it is for, so that a demo instance
 * can show it to that login's holder alone (`listSimulatedLoginTexts`).
 */
export class OutboxSmsSender implements SmsSender {
  readonly #db: Kysely<Database>;
  readonly #clock: Clock;

  constructor(db: Kysely<Database>, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  async send(to: string, body: string, recipient?: SmsRecipient): Promise<void> {
    await this.#db
      .insertInto('sms_outbox')
      .values({
        id: newId('sms'),
        to_number: to,
        body,
        created_at: this.#clock.now(),
        login_id: recipient?.loginId ?? null,
      })
      .execute();
  }
}

export async function listSmsOutbox(db: Kysely<Database>, limit = 20) {
  const rows = await db
    .selectFrom('sms_outbox')
    .selectAll()
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    id: r.id,
    to: r.to_number,
    body: r.body,
    createdAt: new Date(r.created_at).toISOString(),
  }));
}

/**
 * The simulator's texts for one login (by the transaction's id), newest first, the number masked. The caller has
 * proved it holds that login (its handle); texts for any other login, of this user or another, are never included.
 */
export async function listSimulatedLoginTexts(db: Kysely<Database>, loginId: string, limit = 5) {
  const rows = await db
    .selectFrom('sms_outbox')
    .select(['id', 'to_number', 'body', 'created_at'])
    .where('login_id', '=', loginId)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    id: r.id,
    to: maskPhone(r.to_number),
    body: r.body,
    createdAt: new Date(r.created_at).toISOString(),
  }));
}

/** Shows only the last two digits of a number. */
export function maskPhone(phone: string): string {
  return `${phone.slice(0, 3)}${'•'.repeat(Math.max(0, phone.length - 5))}${phone.slice(-2)}`;
}

/** The user's first active SMS factor (codes go to its number); `FACTOR_NOT_AVAILABLE` if there is none. */
export async function activeSmsFactorId(db: Kysely<Database>, userId: string): Promise<string> {
  const factor = await db
    .selectFrom('second_factors')
    .select('id')
    .where('user_id', '=', userId)
    .where('type', '=', 'sms')
    .where('status', '=', 'active')
    .orderBy('created_at')
    .executeTakeFirst();
  if (factor === undefined) throw new GatehouseError('FACTOR_NOT_AVAILABLE');
  return factor.id;
}

/** What an SMS code is sent for; it completes that and nothing else. */
export type SmsBinding =
  /** A started login: the transaction's id (never its handle, which only the client holds). */
  | { purpose: 'login'; loginId: string }
  /** A step-up inside a session. */
  | { purpose: 'step_up'; sessionId: string }
  /** The confirmation of an SMS factor being enrolled. */
  | { purpose: 'enrol'; factorId: string };

function boundTo(binding: SmsBinding): string {
  switch (binding.purpose) {
    case 'login':
      return binding.loginId;
    case 'step_up':
      return binding.sessionId;
    case 'enrol':
      return binding.factorId;
  }
}

function codeHash(challengeId: string, code: string): string {
  return sha256(`${challengeId}:${code}`);
}

export interface SmsSent {
  expiresAt: number;
  resendAvailableAt: number;
  remainingThisHour: number;
}

/**
 * Sends a fresh code to one SMS factor for `binding`, within the resend limits. A new code voids the user's previous
 * one, whatever it was for: a user has at most one live code.
 */
export async function sendSmsCode(
  db: Kysely<Database>,
  clock: Clock,
  sender: SmsSender,
  userId: string,
  factorId: string,
  binding: SmsBinding,
): Promise<SmsSent> {
  const now = clock.now();
  const factor = await db
    .selectFrom('second_factors')
    .select(['phone'])
    .where('id', '=', factorId)
    .where('user_id', '=', userId)
    .where('type', '=', 'sms')
    .executeTakeFirst();
  if (factor?.phone == null) throw new GatehouseError('FACTOR_NOT_AVAILABLE');
  const recent = await db
    .selectFrom('sms_challenges')
    .select('created_at')
    .where('user_id', '=', userId)
    .where('created_at', '>', now - 3_600_000)
    .orderBy('created_at', 'desc')
    .execute();
  const last = recent[0]?.created_at;
  if (last !== undefined && now - last < SMS_POLICY.resendIntervalMs) {
    throw new GatehouseError('SMS_RESEND_TOO_SOON', undefined, {
      retryAfterMs: last + SMS_POLICY.resendIntervalMs - now,
    });
  }
  if (recent.length >= SMS_POLICY.maxPerHour) {
    const oldest = recent[recent.length - 1]?.created_at ?? now;
    throw new GatehouseError('SMS_LIMIT_REACHED', undefined, { retryAfterMs: oldest + 3_600_000 - now });
  }
  const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
  const id = newId('smc');
  await db.transaction().execute(async (trx) => {
    await trx
      .updateTable('sms_challenges')
      .set({ consumed_at: now })
      .where('user_id', '=', userId)
      .where('consumed_at', 'is', null)
      .execute();
    await trx
      .insertInto('sms_challenges')
      .values({
        id,
        user_id: userId,
        factor_id: factorId,
        code_hash: codeHash(id, code),
        created_at: now,
        expires_at: now + SMS_POLICY.ttlMs,
        attempts: 0,
        consumed_at: null,
        purpose: binding.purpose,
        bound_to: boundTo(binding),
      })
      .execute();
  });
  await sender.send(
    factor.phone,
    `Gatehouse code: ${code}. It expires in 5 minutes. Never share it with anyone.`,
    {
      userId,
      ...(binding.purpose === 'step_up' ? { sessionId: binding.sessionId } : {}),
      ...(binding.purpose === 'login' ? { loginId: binding.loginId } : {}),
    },
  );
  return {
    expiresAt: now + SMS_POLICY.ttlMs,
    resendAvailableAt: now + SMS_POLICY.resendIntervalMs,
    remainingThisHour: SMS_POLICY.maxPerHour - recent.length - 1,
  };
}

export type SmsCheck =
  | { ok: true; factorId: string }
  | { ok: false; reason: 'no_code' | 'expired' | 'locked' | 'mismatch' };

/**
 * Checks a code against the user's live challenge sent for `binding`; 3 wrong tries void it. A check for anything
 * else (another login, another session's step-up, another enrolment) finds no code and spends none of its tries.
 * Each check first claims one of the challenge's tries (one conditional UPDATE), so checks running side by side
 * cannot try more than 3 codes.
 */
export async function verifySmsCode(
  db: Kysely<Database>,
  clock: Clock,
  userId: string,
  code: string,
  binding: SmsBinding,
): Promise<SmsCheck> {
  const now = clock.now();
  const challenge = await db
    .selectFrom('sms_challenges')
    .selectAll()
    .where('user_id', '=', userId)
    .where('consumed_at', 'is', null)
    .where('purpose', '=', binding.purpose)
    .where('bound_to', '=', boundTo(binding))
    .orderBy('created_at', 'desc')
    .executeTakeFirst();
  if (challenge === undefined) return { ok: false, reason: 'no_code' };
  if (now >= challenge.expires_at) return { ok: false, reason: 'expired' };
  const tried = await db
    .updateTable('sms_challenges')
    .set((eb) => ({ attempts: eb('attempts', '+', 1) }))
    .where('id', '=', challenge.id)
    .where('consumed_at', 'is', null)
    .where('attempts', '<', SMS_POLICY.maxAttempts)
    .executeTakeFirst();
  if (tried.numUpdatedRows === 0n) return { ok: false, reason: 'locked' };
  if (!/^\d{6}$/.test(code) || !constantTimeEqual(codeHash(challenge.id, code), challenge.code_hash)) {
    return { ok: false, reason: 'mismatch' };
  }
  // Single use: of two right checks racing, one consumes the code.
  const consumed = await db
    .updateTable('sms_challenges')
    .set({ consumed_at: now })
    .where('id', '=', challenge.id)
    .where('consumed_at', 'is', null)
    .executeTakeFirst();
  if (consumed.numUpdatedRows === 0n) return { ok: false, reason: 'locked' };
  return { ok: true, factorId: challenge.factor_id };
}
