/**
 * @module sandbox/rules
 * What a fault request must be, beyond its schema: parameters that name something that exists, a schedule that
 * means something for its kind, and what a person (rather than an operator) may ask for.
 *
 * - An action happens once, when it starts: a request count, a probability or a duration would be ignored, so they
 *   are refused rather than silently dropped.
 * - A fault starts within a day: one far in the future would keep every node's fault hooks armed for nothing.
 * - A person's fault on an account acts on the account (its entitlements, its orders), never on the sessions,
 *   devices or tokens of the account's other users; those kinds target the person's own user, session or client.
 * - A person's fault on the HTTP layer (maintenance, latency, errors, pacing) ends by itself within an hour, so no
 *   one can lock themselves out of the page that would clear it.
 */
import { FAULT_CATALOGUE, type FaultKind, type FaultSchedule, type FaultTarget } from '@gatehouse/protocol';
import { GatehouseError } from '../core/index.js';
import { ASSET_CLASSES, MARKET_DATA_BUNDLES, MARKET_REGIONS } from '../instruments/index.js';
import type { SandboxActor } from './types.js';

/** How far ahead a fault may start. */
export const MAX_START_AHEAD_MS = 86_400_000;
/** How long a person's fault on the HTTP layer may hold. */
export const PERSON_HTTP_FAULT_MAX_MS = 3_600_000;
/** Scheduled and active faults a person may have at once, and everyone together. */
export const PERSON_LIVE_FAULTS = 100;
export const ALL_LIVE_FAULTS = 2_000;

const HTTP_KINDS: ReadonlySet<FaultKind> = new Set([
  'maintenance',
  'http.latency',
  'http.error',
  'http.pacing',
]);

const KNOWN: Record<string, readonly string[]> = {
  bundle: Object.keys(MARKET_DATA_BUNDLES),
  assetClass: ASSET_CLASSES,
  region: MARKET_REGIONS,
};

function refuse(path: string, message: string, code: 'INVALID_REQUEST' | 'FORBIDDEN' = 'INVALID_REQUEST') {
  return new GatehouseError(code, `${path}: ${message}.`, { issues: [{ path, message }] });
}

/** Refuses a parameter naming a bundle, asset class or region the catalogue does not have (it would act on nothing). */
export function checkParams(params: Record<string, unknown>): void {
  for (const [name, known] of Object.entries(KNOWN)) {
    const value = params[name];
    if (typeof value === 'string' && !known.includes(value))
      throw refuse(`params.${name}`, `not one of ${known.join(', ')}`);
  }
}

/** Refuses a schedule that means nothing for its kind, or starts more than a day ahead. */
export function checkSchedule(kind: FaultKind, schedule: FaultSchedule, startsAt: number, now: number): void {
  if (FAULT_CATALOGUE[kind].mode === 'action')
    for (const field of ['afterRequests', 'probability', 'durationMs'] as const)
      if (schedule[field] !== undefined)
        throw refuse(
          `schedule.${field}`,
          'an action happens once, when it starts; this applies to conditions only',
        );
  if (startsAt - now > MAX_START_AHEAD_MS) throw refuse('schedule', 'a fault starts within a day');
}

/** What a person may not ask for, whoever owns the target (checked after ownership). */
export function checkPerson(
  kind: FaultKind,
  target: FaultTarget,
  schedule: FaultSchedule,
  actor: SandboxActor,
): void {
  if (actor.type !== 'user') return;
  const { family } = FAULT_CATALOGUE[kind];
  if (target.type === 'account' && family !== 'entitlements' && family !== 'orders')
    throw refuse(
      'target.type',
      'a fault on an account acts on its entitlements or orders; target your own user, session or client',
      'FORBIDDEN',
    );
  if (
    HTTP_KINDS.has(kind) &&
    (schedule.durationMs === undefined || schedule.durationMs > PERSON_HTTP_FAULT_MAX_MS)
  )
    throw refuse(
      'schedule.durationMs',
      `a fault on the HTTP layer ends within ${PERSON_HTTP_FAULT_MAX_MS / 60_000} minutes`,
    );
}
