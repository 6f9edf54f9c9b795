/**
 * @module login/mobile
 * The enrolled device logging in on its own behalf (`channel: "mobile"`): a signature by its P-256 key over a
 * fresh, single-use statement (possession) plus its PIN (knowledge, argon2id-hashed) make two factors, so the
 * session is AAL2. Five wrong PINs disable the device's login ability until it is enrolled again: each PIN check
 * first claims one of the five (`claimPinAttempt`), so parallel guesses cannot get more. The session token is
 * returned in the body as a bearer token (apps do not keep cookies).
 */
import { appendAudit } from '../audit/index.js';
import { GatehouseError } from '../core/index.js';
import {
  claimPinAttempt,
  disableDeviceLogin,
  forgivePinFailures,
  MAX_PIN_FAILURES,
} from '../devices/index.js';
import type { SessionRecord } from '../sessions/index.js';
import type { DeviceLogins, LoginCompletion, LoginLimits, PasswordChecks } from './deps.js';
import { deviceLoginMessage, issueDeviceSession, verifySignedDeviceLogin } from './device-login.js';
import type { ClientInfo } from './transaction.js';

/** The bytes the device signs to log in. */
export function mobileLoginMessage(deviceId: string, ts: number, nonce: string): string {
  return deviceLoginMessage('mobile', deviceId, ts, nonce);
}

export interface MobileLoginInput {
  deviceId: string;
  pin: string;
  ts: number;
  nonce: string;
  signature: string;
}

export async function mobileLogin(
  deps: LoginLimits & LoginCompletion & PasswordChecks & DeviceLogins,
  input: MobileLoginInput,
  client: ClientInfo,
): Promise<{ token: string; session: SessionRecord }> {
  const { db, clock } = deps;
  const device = await verifySignedDeviceLogin(deps, 'mobile', input);
  const failures = await claimPinAttempt(db, input.deviceId);
  // The five checks are spent (or being spent): the device is disabled, or is about to be.
  if (failures === undefined) throw new GatehouseError('DEVICE_REVOKED');
  const row = await db
    .selectFrom('devices')
    .innerJoin('users', 'users.id', 'devices.user_id')
    .select(['devices.pin_hash', 'users.status'])
    .where('devices.id', '=', input.deviceId)
    .executeTakeFirstOrThrow();
  const pinOk = await deps.hasher.verify(row.pin_hash, input.pin);
  if (!pinOk || row.status !== 'active') {
    // Only the check that reached the limit disables the device, so the user is told once.
    const disabled = failures >= MAX_PIN_FAILURES;
    await db.transaction().execute(async (trx) => {
      if (disabled) {
        await disableDeviceLogin(trx, input.deviceId);
      }
      await appendAudit(trx, clock, {
        type: 'login.factor_failed',
        userId: device.userId,
        ip: client.ip,
        data: { factor: 'pin', deviceId: input.deviceId, failures, disabled },
      });
    });
    if (disabled) {
      await deps.notifier.notify(device.userId, 'factor_removed', {
        factor: 'push',
        device: device.name,
        reason: 'pin_failures',
      });
      throw new GatehouseError('DEVICE_REVOKED');
    }
    deps.metrics.logins.inc({ channel: 'mobile', result: 'invalid_credentials' });
    throw new GatehouseError('INVALID_CREDENTIALS');
  }
  const issued = await db.transaction().execute(async (trx) => {
    await forgivePinFailures(trx, input.deviceId, failures);
    return issueDeviceSession(
      trx,
      deps,
      {
        userId: device.userId,
        channel: 'mobile',
        deviceId: input.deviceId,
        amr: ['swk', 'pin'],
        lastFactor: 'device_pin',
      },
      client,
    );
  });
  await deps.sessions.announceCountry(issued);
  return issued;
}
