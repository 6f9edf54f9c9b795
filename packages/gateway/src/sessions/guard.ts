/**
 * @module sessions/guard
 * Checks for sensitive actions (ASVS 3.7.1; ARCHITECTURE.md "Sensitive actions re-check the authoritative session
 * state"): they read the session row itself, not the cache, so a step-up demanded on another node is honoured.
 */
import type { Kysely } from 'kysely';
import { type Clock, GatehouseError } from '../core/index.js';
import type { Database } from '../store/index.js';
import { awaitingDeviceKey } from './policy.js';
import type { Principal } from './service.js';
import { stepUpDetails } from './step-up-reason.js';
import { findSessionById } from './store.js';

/** Second-factor checks older than this do not authorise factor changes. */
export const RECENT_SECOND_FACTOR_MS = 5 * 60_000;

export interface SensitiveOptions {
  /**
   * Enrolling, confirming or removing factors, and giving a program access (a personal client, an app's consent):
   * also needs a recent check by a factor stronger than SMS.
   */
  factorChange?: boolean;
  /** Changing the password: also needs a recent check by any second factor (SMS too, or SMS users could not). */
  recentSecondFactor?: boolean;
}

export async function requireSensitive(
  db: Kysely<Database>,
  clock: Clock,
  principal: Principal,
  options: SensitiveOptions = {},
): Promise<void> {
  const session = await findSessionById(db, principal.session.id);
  if (session === undefined || session.revokedAt !== null) throw new GatehouseError('SESSION_REVOKED');
  if (session.stepUpRequired)
    throw new GatehouseError('STEP_UP_REQUIRED', undefined, stepUpDetails(session.stepUpReason));
  if (awaitingDeviceKey(session)) throw new GatehouseError('DEVICE_KEY_REQUIRED');
  if (options.factorChange === true || options.recentSecondFactor === true) {
    if (session.secondFactorAt === null || clock.now() - session.secondFactorAt > RECENT_SECOND_FACTOR_MS) {
      throw new GatehouseError('STEP_UP_REQUIRED', undefined, { reason: 'stale_second_factor' });
    }
  }
  if (options.factorChange === true && session.lastFactor === 'sms')
    throw new GatehouseError('FACTOR_TOO_WEAK');
}
