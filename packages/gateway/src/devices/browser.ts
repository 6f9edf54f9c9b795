/**
 * @module devices/browser
 * Browser devices for the web channel. Each browser gets a signed, long-lived device cookie naming its device
 * record; a login from a browser without a valid cookie (a new browser, or cleared cookies) is an unknown device:
 * the user is notified ("new device") and the browser is recorded. Each record keeps first/last seen, the networks
 * it was seen on (IPv4 /24, IPv6 /48) and a trusted flag the user controls.
 *
 * Risk policy (ARCHITECTURE.md, Device validation), as data: on the web channel a second factor is always
 * required; an unknown device additionally triggers a notification; a device the user revoked is denied; a network
 * change in the middle of a session requires a step-up before the next sensitive action (see sessions/service).
 */
import type { Kysely } from 'kysely';
import {
  type Clock,
  constantTimeEqual,
  currentKey,
  GatehouseError,
  hmacSha256,
  type KeySource,
  verifyingKeys,
} from '../core/index.js';
import type { Database } from '../store/index.js';
import { networkOf } from './network.js';
import { insertDevice } from './registry.js';

/** What the web channel does with each device signal. */
export const WEB_RISK_POLICY = {
  knownDevice: 'second_factor',
  unknownDevice: 'second_factor_and_notify',
  revokedDevice: 'deny',
  networkChangeInSession: 'step_up',
} as const;

/** Browsers keep cookies at most 400 days; the cookie is re-issued at every login, so an active browser keeps it. */
export const DEVICE_COOKIE_MAX_AGE_MS = 400 * 24 * 3_600_000;

export function deviceCookieValue(key: KeySource, deviceId: string): string {
  return `${deviceId}.${hmacSha256(currentKey(key), `device:${deviceId}`)}`;
}

/** The device id a cookie names, if its signature is valid; null for anything else. */
export function parseDeviceCookie(key: KeySource, value: string | undefined): string | null {
  if (value === undefined || value.length > 200) return null;
  const dot = value.lastIndexOf('.');
  if (dot <= 0) return null;
  const deviceId = value.slice(0, dot);
  let valid = false;
  // A cookie set before a rotation verifies under the previous secret until its retire time.
  for (const k of verifyingKeys(key))
    valid = constantTimeEqual(value.slice(dot + 1), hmacSha256(k, `device:${deviceId}`)) || valid;
  return valid ? deviceId : null;
}

export type DeviceAssessment = { kind: 'known'; deviceId: string } | { kind: 'unknown' };

/** Classifies the browser at login; throws `DEVICE_REVOKED` for a device the user revoked. */
export async function assessBrowser(
  db: Kysely<Database>,
  key: KeySource,
  userId: string,
  cookie: string | undefined,
): Promise<DeviceAssessment> {
  const deviceId = parseDeviceCookie(key, cookie);
  if (deviceId === null) return { kind: 'unknown' };
  const row = await db
    .selectFrom('devices')
    .select(['id', 'status'])
    .where('id', '=', deviceId)
    .where('user_id', '=', userId)
    .where('kind', '=', 'browser')
    .executeTakeFirst();
  // A cookie for another user's browser (shared computer) is simply not this user's device.
  if (row === undefined) return { kind: 'unknown' };
  if (row.status !== 'active') throw new GatehouseError('DEVICE_REVOKED');
  return { kind: 'known', deviceId };
}

/** The networks a device record keeps: the first it was seen on (its "first seen" place) and the 19 latest. */
export function keptNetworks(networks: readonly string[]): string[] {
  const first = networks[0];
  if (networks.length <= 20 || first === undefined) return [...networks];
  return [first, ...networks.slice(-19)];
}

/** Records the browser at a successful login: creates it if unknown, else updates last seen and networks. */
export async function recordBrowserLogin(
  db: Kysely<Database>,
  clock: Clock,
  input: { userId: string; assessment: DeviceAssessment; ip: string; userAgent: string },
): Promise<{ deviceId: string; isNew: boolean }> {
  const now = clock.now();
  const network = networkOf(input.ip);
  if (input.assessment.kind === 'known') {
    const { deviceId } = input.assessment;
    const row = await db
      .selectFrom('devices')
      .select('networks')
      .where('id', '=', deviceId)
      .executeTakeFirstOrThrow();
    const networks = JSON.parse(row.networks) as string[];
    if (network !== null && !networks.includes(network)) networks.push(network);
    await db
      .updateTable('devices')
      .set({ last_seen_at: now, networks: JSON.stringify(keptNetworks(networks)) })
      .where('id', '=', deviceId)
      .execute();
    return { deviceId, isNew: false };
  }
  const deviceId = await insertDevice(db, now, {
    userId: input.userId,
    kind: 'browser',
    name: describeUserAgent(input.userAgent),
    platform: 'web',
    publicKey: null,
    pinHash: null,
    trusted: false,
    ip: input.ip,
  });
  return { deviceId, isNew: true };
}

/** A short, human name for a browser from its user agent ("Firefox on Linux"). */
export function describeUserAgent(userAgent: string): string {
  const browser = /Edg\//.test(userAgent)
    ? 'Edge'
    : /Chrome\//.test(userAgent)
      ? 'Chrome'
      : /Firefox\//.test(userAgent)
        ? 'Firefox'
        : /Safari\//.test(userAgent)
          ? 'Safari'
          : /curl\//.test(userAgent)
            ? 'curl'
            : 'Browser';
  const os = /Windows/.test(userAgent)
    ? 'Windows'
    : /Mac OS X/.test(userAgent)
      ? 'macOS'
      : /Android/.test(userAgent)
        ? 'Android'
        : /iPhone|iPad/.test(userAgent)
          ? 'iOS'
          : /Linux/.test(userAgent)
            ? 'Linux'
            : '';
  return os === '' ? browser : `${browser} on ${os}`;
}
