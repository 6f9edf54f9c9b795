/**
 * @module login/desktop
 * The desktop channel (ARCHITECTURE.md, Channels): a trading workstation. A first login needs the password and a
 * security key (WebAuthn, the only factor the channel allows by default); in that session the client registers a
 * P-256 device key (`POST /v1/devices/desktop`), which binds the session to the key. Later logins from that
 * pre-validated device need the password plus a statement signed by the device key — and the security key as
 * well when `sessions.desktop.validatedDeviceLogin` is `password_and_security_key` — so a workstation is ready
 * before the market opens, while a stolen password alone opens nothing.
 */
import { GatehouseError } from '../core/index.js';
import { backupFactorMissing } from '../factors/index.js';
import type {
  DeviceLogins,
  LoginCompletion,
  LoginLimits,
  LoginTransactions,
  PasswordChecks,
} from './deps.js';
import { issueDeviceSession, type SignedDeviceLogin, verifySignedDeviceLogin } from './device-login.js';
import { successBuckets } from './limits.js';
import { checkPassword, openLoginTransaction, startLogin } from './service.js';
import { clearBuckets } from './throttle.js';
import { type ClientInfo, type LoginCompleted, type LoginStarted, usableFactors } from './transaction.js';

export interface DesktopLoginInput {
  username: string;
  password: string;
  /** The pre-validated device's signed login statement; absent on a workstation without a registered key. */
  device?: SignedDeviceLogin;
}

export async function startDesktopLogin(
  deps: LoginLimits & LoginTransactions & LoginCompletion & PasswordChecks & DeviceLogins,
  input: DesktopLoginInput,
  client: ClientInfo,
): Promise<LoginStarted | LoginCompleted> {
  const credentials = { username: input.username, password: input.password, channel: 'desktop' as const };
  if (input.device === undefined) return startLogin(deps, credentials, client);
  // The device's statement first: one signature check, and a login that fails it learns nothing of the password.
  // A verified statement of the user's own workstation makes it a known device for the brute-force limits.
  const device = await verifySignedDeviceLogin(deps, 'desktop', input.device);
  const { user, attempter } = await checkPassword(deps, credentials, client, {
    id: device.id,
    userId: device.userId,
  });
  if (device.userId !== user.id) throw new GatehouseError('SIGNATURE_INVALID');

  if (deps.policies.desktop.validatedDeviceLogin === 'password_and_security_key') {
    const factors = (await usableFactors(deps, user.id, 'desktop')).filter((t) => t === 'webauthn');
    return openLoginTransaction(
      deps,
      { userId: user.id, channel: 'desktop', factors, deviceId: device.id },
      client,
    );
  }
  const issued = await deps.db.transaction().execute(async (trx) => {
    await clearBuckets(trx, successBuckets(deps.backoff, user.username, attempter));
    return issueDeviceSession(
      trx,
      deps,
      {
        userId: user.id,
        channel: 'desktop',
        deviceId: device.id,
        amr: ['pwd', 'swk'],
        lastFactor: 'device_key',
      },
      client,
    );
  });
  await deps.sessions.announceCountry(issued);
  return { ...issued, backupFactorMissing: await backupFactorMissing(deps.db, user.id) };
}
