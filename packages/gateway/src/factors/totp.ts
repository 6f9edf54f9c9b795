/**
 * @module factors/totp
 * Time-based one-time passwords per RFC 6238: SHA-1, 6 digits, 30 s steps, ±`window` steps accepted. A code once
 * accepted cannot be used again (ASVS 2.8.4): each factor remembers its last accepted step, and a code for that
 * step or any earlier one is refused. The check-and-set is one conditional UPDATE, so two nodes racing with the
 * same code cannot both win.
 */
import type { Kysely } from 'kysely';
import { Secret, TOTP } from 'otpauth';
import { type Clock, newId, type SecretBox } from '../core/index.js';
import type { Database } from '../store/index.js';
import { insertFactor } from './registry.js';

export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;

export interface TotpEnrolment {
  factorId: string;
  /** Base32 secret: shown once, to be put in an authenticator app. */
  secret: string;
  /** `otpauth://totp/…` URI (the content of the enrolment QR code). */
  uri: string;
}

function totpFor(secret: string, issuer: string, label: string): TOTP {
  return new TOTP({
    issuer,
    label,
    algorithm: 'SHA1',
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD_SECONDS,
    secret: Secret.fromBase32(secret),
  });
}

/** A new random 160-bit secret (RFC 4226 §4 recommends 160 bits), base32-encoded. */
export function generateTotpSecret(): string {
  return new Secret({ size: 20 }).base32;
}

/** The `otpauth://` URI for a secret. */
export function totpUri(secret: string, issuer: string, accountName: string): string {
  return totpFor(secret, issuer, accountName).toString();
}

/** The current code for a secret (used by the CLI's `totp` helper and by tests). */
export function totpCode(secret: string, at: number): string {
  return totpFor(secret, 'x', 'x').generate({ timestamp: at });
}

/** The 30 s step that `code` belongs to, if it is valid within ±`window` steps of `at`; otherwise null. */
export function matchTotpStep(secret: string, code: string, at: number, window: number): number | null {
  if (!/^\d{6}$/.test(code)) return null;
  const delta = totpFor(secret, 'x', 'x').validate({ token: code, timestamp: at, window });
  if (delta === null) return null;
  return Math.floor(at / 1000 / TOTP_PERIOD_SECONDS) + delta;
}

export interface AddTotpInput {
  userId: string;
  label: string;
  issuer: string;
  accountName: string;
  /** Use this secret instead of a random one (demo data only). */
  secret?: string;
  /** Enrol as pending: the factor counts only once a first code confirms it (`confirmTotpFactor`). */
  pending?: boolean;
}

export async function addTotpFactor(
  db: Kysely<Database>,
  clock: Clock,
  box: SecretBox,
  input: AddTotpInput,
): Promise<TotpEnrolment> {
  const secret = input.secret ?? generateTotpSecret();
  const factorId = newId('fac');
  await insertFactor(db, clock, {
    id: factorId,
    user_id: input.userId,
    type: 'totp',
    label: input.label,
    status: input.pending === true ? 'pending' : 'active',
    secret_sealed: box.seal(secret),
  });
  return { factorId, secret, uri: totpUri(secret, input.issuer, input.accountName) };
}

/** Where an unreadable sealed seed is reported (a warning naming the factor, never the sealed value). */
export type UnreadableLog = { warn(fields: object, message: string): void };

/**
 * A factor's seed, or null when no key of the ring opens it (sealed under a secret the ring no longer holds): the
 * factor then matches no code — a coded wrong-code answer, the user's other factors still checked — and a warning
 * names it.
 */
export function openSeed(
  box: SecretBox,
  sealed: string,
  factorId: string,
  log?: UnreadableLog,
): string | null {
  try {
    return box.open(sealed);
  } catch {
    log?.warn(
      { factorId },
      'a TOTP seed no server secret opens was skipped (sealed under a secret the ring no longer holds)',
    );
    return null;
  }
}

export type TotpCheck =
  | { ok: true; factorId: string }
  | { ok: false; reason: 'no_factor' | 'mismatch' | 'replayed' };

/**
 * Checks a code against each of the user's TOTP factors and consumes its step on success.
 * `replayed` means the code was right but its step (or a later one) was already used.
 */
export async function verifyTotp(
  db: Kysely<Database>,
  clock: Clock,
  box: SecretBox,
  userId: string,
  code: string,
  window: number,
  log?: UnreadableLog,
): Promise<TotpCheck> {
  const factors = await db
    .selectFrom('second_factors')
    .select(['id', 'secret_sealed'])
    .where('user_id', '=', userId)
    .where('type', '=', 'totp')
    .where('status', '=', 'active')
    .execute();
  if (factors.length === 0) return { ok: false, reason: 'no_factor' };
  const now = clock.now();
  let replayed = false;
  for (const factor of factors) {
    if (factor.secret_sealed === null) continue;
    const seed = openSeed(box, factor.secret_sealed, factor.id, log);
    const step = seed === null ? null : matchTotpStep(seed, code, now, window);
    if (step === null) continue;
    const result = await db
      .updateTable('second_factors')
      .set({ last_used_step: step, last_used_at: now })
      .where('id', '=', factor.id)
      .where((eb) => eb.or([eb('last_used_step', 'is', null), eb('last_used_step', '<', step)]))
      .executeTakeFirst();
    if (result.numUpdatedRows > 0n) return { ok: true, factorId: factor.id };
    replayed = true;
  }
  return { ok: false, reason: replayed ? 'replayed' : 'mismatch' };
}
