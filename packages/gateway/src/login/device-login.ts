/**
 * @module login/device-login
 * Logins signed by a device key (mobile: key + PIN; desktop: password + key). The device signs a fresh statement
 * — its id, the time and a single-use nonce — so a captured login cannot be replayed, and the session it opens is
 * bound to the same key, which then proves every request (`x-device-proof`).
 */
import type { Kysely } from 'kysely';
import { appendAudit } from '../audit/index.js';
import { GatehouseError } from '../core/index.js';
import { loadSigningDevice, markDeviceSeen, verifyDeviceSignature } from '../devices/index.js';
import type { IssuedSession } from '../sessions/index.js';
import type { Database } from '../store/index.js';
import type { DeviceLogins, LoginCompletion, LoginLimits } from './deps.js';
import type { ClientInfo } from './transaction.js';

/** How far the device's login timestamp may be from the server's clock. */
export const DEVICE_LOGIN_SKEW_MS = 60_000;

export type DeviceLoginChannel = 'mobile' | 'desktop';

/** The bytes a device signs to log in on `channel`. */
export function deviceLoginMessage(
  channel: DeviceLoginChannel,
  deviceId: string,
  ts: number,
  nonce: string,
): string {
  return `gatehouse-${channel}-login:${deviceId}:${ts}:${nonce}`;
}

export interface SignedDeviceLogin {
  deviceId: string;
  ts: number;
  nonce: string;
  signature: string;
}

/**
 * Checks a device's signed login statement: an active device of the channel's kind, a timestamp within the skew,
 * a valid signature and an unused nonce. Throws `SIGNATURE_INVALID` or `DEVICE_REVOKED`; returns the device.
 */
export async function verifySignedDeviceLogin(
  deps: Pick<LoginLimits, 'db' | 'clock'> & DeviceLogins,
  channel: DeviceLoginChannel,
  input: SignedDeviceLogin,
) {
  const now = deps.clock.now();
  const device = await loadSigningDevice(deps.db, input.deviceId, [channel]);
  if (
    Math.abs(now - input.ts) > DEVICE_LOGIN_SKEW_MS ||
    !verifyDeviceSignature(
      device.key,
      deviceLoginMessage(channel, input.deviceId, input.ts, input.nonce),
      input.signature,
    )
  ) {
    throw new GatehouseError('SIGNATURE_INVALID');
  }
  // Claimed on every node (core/replay.ts) for as long as the statement's time is within the skew.
  if (
    !(await deps.deviceLoginNonces.claim(
      `${channel}-login`,
      `${input.deviceId}:${input.nonce}`,
      2 * DEVICE_LOGIN_SKEW_MS,
      input.ts,
    ))
  )
    throw new GatehouseError('SIGNATURE_INVALID');
  return device;
}

/**
 * Issues the session of a login completed by a device key inside `trx`: marks the device seen, creates the
 * session bound to it (AAL2: the key's possession plus the PIN or password), audits and counts the login.
 */
export async function issueDeviceSession(
  trx: Kysely<Database>,
  deps: Pick<LoginLimits, 'clock' | 'metrics'> & Pick<LoginCompletion, 'sessions'>,
  input: { userId: string; channel: DeviceLoginChannel; deviceId: string; amr: string[]; lastFactor: string },
  client: ClientInfo,
): Promise<IssuedSession> {
  const now = deps.clock.now();
  await markDeviceSeen(trx, input.deviceId, now);
  const issued = await deps.sessions.create(
    {
      userId: input.userId,
      channel: input.channel,
      aal: 2,
      amr: input.amr,
      ip: client.ip,
      userAgent: client.userAgent,
      secondFactorAt: now,
      lastFactor: input.lastFactor,
      deviceId: input.deviceId,
    },
    trx,
  );
  await appendAudit(trx, deps.clock, {
    type: 'login.succeeded',
    userId: input.userId,
    sessionId: issued.session.id,
    ip: client.ip,
    data: { channel: input.channel, aal: 2, deviceId: input.deviceId },
  });
  deps.metrics.logins.inc({ channel: input.channel, result: 'success' });
  return issued;
}
