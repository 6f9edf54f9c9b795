/**
 * @module factors/verify
 * One entry point for checking a second factor, whatever its type: login, step-up and enrolment confirmation all
 * go through it, so each factor's rules (single use, attempts, expiry) hold everywhere alike.
 */
import type { Kysely } from 'kysely';
import type { Clock, SecretBox } from '../core/index.js';
import type { Database } from '../store/index.js';
import { useRecoveryCode } from './recovery.js';
import { type SmsBinding, verifySmsCode } from './sms.js';
import { type UnreadableLog, verifyTotp } from './totp.js';

export type CodeFactorType = 'totp' | 'sms' | 'recovery_code';

export interface CodeProof {
  type: CodeFactorType;
  code: string;
}

export interface VerifiedFactor {
  type: CodeFactorType;
  factorId: string | null;
  /** Assurance this factor gives with a password: 2 for OTPs and recovery codes. */
  aal: number;
  /** RFC 8176 method name (`otp`, `sms`; recovery codes use `rcode`). */
  amr: string;
}

export type FactorFailure = 'mismatch' | 'replayed' | 'expired' | 'locked' | 'no_code' | 'no_factor';

export interface FactorDeps {
  clock: Clock;
  box: SecretBox;
  totpWindow: number;
  /** Where a TOTP seed no key opens is reported. */
  log?: UnreadableLog;
}

/**
 * Checks a code factor of `userId` for `binding`: the login or the session's step-up the check is for. An SMS code
 * passes only if it was sent for exactly that (ASVS 5.0 6.6.2); TOTP and recovery codes are not sent, so nothing
 * binds them beyond the user.
 */
export async function verifyCodeFactor(
  db: Kysely<Database>,
  deps: FactorDeps,
  userId: string,
  proof: CodeProof,
  binding: SmsBinding,
): Promise<{ ok: true; factor: VerifiedFactor } | { ok: false; reason: FactorFailure }> {
  switch (proof.type) {
    case 'totp': {
      const check = await verifyTotp(db, deps.clock, deps.box, userId, proof.code, deps.totpWindow, deps.log);
      return check.ok
        ? { ok: true, factor: { type: 'totp', factorId: check.factorId, aal: 2, amr: 'otp' } }
        : { ok: false, reason: check.reason };
    }
    case 'sms': {
      const check = await verifySmsCode(db, deps.clock, userId, proof.code, binding);
      if (!check.ok) return { ok: false, reason: check.reason };
      await db
        .updateTable('second_factors')
        .set({ last_used_at: deps.clock.now() })
        .where('id', '=', check.factorId)
        .execute();
      return { ok: true, factor: { type: 'sms', factorId: check.factorId, aal: 2, amr: 'sms' } };
    }
    case 'recovery_code': {
      const ok = await useRecoveryCode(db, deps.clock, userId, proof.code);
      return ok
        ? { ok: true, factor: { type: 'recovery_code', factorId: null, aal: 2, amr: 'rcode' } }
        : { ok: false, reason: 'mismatch' };
    }
  }
}
