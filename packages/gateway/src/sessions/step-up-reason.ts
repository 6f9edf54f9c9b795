/**
 * @module sessions/step-up-reason
 * Why a session must step up before its next sensitive action, as every refusal reports it
 * (`STEP_UP_REQUIRED`, `details`): the session moved to another network, or it was seen from a country its user
 * was never seen from (travel-aware device validation: devices/countries.ts decides, through its `CountrySignal`).
 */

export type StepUpReason = { reason: 'network_changed' } | { reason: 'new_country'; country: string };

/** A pending step-up's reason from its stored form (null: a row from before reasons were stored — a network change). */
export function parseStepUpReason(stored: string | null): StepUpReason {
  if (stored === null) return { reason: 'network_changed' };
  try {
    const parsed = JSON.parse(stored) as { reason?: unknown; country?: unknown };
    if (parsed.reason === 'new_country' && typeof parsed.country === 'string')
      return { reason: 'new_country', country: parsed.country };
  } catch {
    // An unreadable reason is still a pending step-up.
  }
  return { reason: 'network_changed' };
}

/** The details of a `STEP_UP_REQUIRED` refusal for a pending step-up. */
export function stepUpDetails(reason: StepUpReason | null | undefined): Record<string, unknown> {
  return { ...(reason ?? { reason: 'network_changed' }) };
}

export type { CountryObservation, CountrySeen, CountrySignal } from '../devices/countries.js';
