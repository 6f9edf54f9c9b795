/**
 * @module devices/registry
 * Devices a user has: mobile authenticators enrolled with a one-time activation code (10 minutes, single use, only
 * its hash stored), desktop workstations registered after a security-key login, and browsers. Mobile and desktop
 * devices keep a P-256 public key. A device can be listed, renamed, trusted and revoked.
 */

import type { DeviceKind, DeviceView } from '@gatehouse/protocol';
import { type Kysely, sql } from 'kysely';
import { type Clock, GatehouseError, newId, randomToken, sha256 } from '../core/index.js';
import type { Database, DevicesTable } from '../store/index.js';
import { deviceCountries } from './countries.js';
import { type P256Jwk, parseP256PublicJwk } from './keys.js';
import { networkOf } from './network.js';

export type { DeviceKind, DeviceView };
/** Devices that hold a key of their own and sign with it. */
export type KeyedDeviceKind = Exclude<DeviceKind, 'browser'>;

const iso = (ms: number) => new Date(ms).toISOString();

/** A device as its owner sees it; `countries`: where it was seen from, first seen first (devices/countries.ts). */
export function presentDevice(r: DevicesTable, countries: readonly string[] = []): DeviceView {
  const networks = JSON.parse(r.networks) as string[];
  return {
    id: r.id,
    kind: r.kind as DeviceKind,
    name: r.name,
    platform: r.platform,
    trusted: r.trusted === 1,
    status: r.status as 'active' | 'revoked',
    loginDisabled: r.login_disabled === 1,
    networks,
    firstSeenAt: iso(r.first_seen_at),
    firstSeenNetwork: networks[0] ?? null,
    lastSeenAt: iso(r.last_seen_at),
    countries: [...countries],
  };
}

/** Inserts a new active device, first seen now on the network of `ip`; returns its id. */
export async function insertDevice(
  db: Kysely<Database>,
  now: number,
  input: {
    userId: string;
    kind: DeviceKind;
    name: string;
    platform: string;
    publicKey: P256Jwk | null;
    pinHash: string | null;
    trusted: boolean;
    ip: string;
  },
): Promise<string> {
  const deviceId = newId('dev');
  const network = networkOf(input.ip);
  await db
    .insertInto('devices')
    .values({
      id: deviceId,
      user_id: input.userId,
      kind: input.kind,
      name: input.name,
      platform: input.platform,
      public_key: input.publicKey === null ? null : JSON.stringify(input.publicKey),
      pin_hash: input.pinHash,
      pin_failures: 0,
      login_disabled: 0,
      trusted: input.trusted ? 1 : 0,
      status: 'active',
      networks: JSON.stringify(network === null ? [] : [network]),
      first_seen_at: now,
      last_seen_at: now,
      created_at: now,
    })
    .execute();
  return deviceId;
}

/** Starts a mobile enrolment: a single-use activation code (128 bits), of which only the hash is stored. */
export async function createActivation(
  db: Kysely<Database>,
  clock: Clock,
  userId: string,
  ttlMs: number,
): Promise<{ code: string; expiresAt: number }> {
  const code = randomToken(16);
  const now = clock.now();
  await db
    .insertInto('device_activations')
    .values({
      id: newId('act'),
      user_id: userId,
      code_hash: sha256(code),
      created_at: now,
      expires_at: now + ttlMs,
      used_at: null,
    })
    .execute();
  return { code, expiresAt: now + ttlMs };
}

export interface ActivateInput {
  activationCode: string;
  publicKey: unknown;
  name: string;
  platform: string;
  pinHash: string | null;
  ip: string;
}

/** Completes an enrolment: consumes the code and stores the device with its public key. */
export async function activateMobileDevice(
  db: Kysely<Database>,
  clock: Clock,
  input: ActivateInput,
): Promise<{ deviceId: string; userId: string; jwk: P256Jwk }> {
  const parsed = parseP256PublicJwk(input.publicKey);
  if (parsed === null) {
    throw new GatehouseError(
      'INVALID_REQUEST',
      'publicKey must be a P-256 public JWK {kty:"EC",crv:"P-256",x,y}.',
    );
  }
  const now = clock.now();
  return db.transaction().execute(async (trx) => {
    const activation = await trx
      .selectFrom('device_activations')
      .selectAll()
      .where('code_hash', '=', sha256(input.activationCode))
      .executeTakeFirst();
    if (activation === undefined || activation.used_at !== null || now >= activation.expires_at) {
      throw new GatehouseError('ACTIVATION_INVALID');
    }
    const claimed = await trx
      .updateTable('device_activations')
      .set({ used_at: now })
      .where('id', '=', activation.id)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    if (claimed.numUpdatedRows === 0n) throw new GatehouseError('ACTIVATION_INVALID');
    const deviceId = await insertDevice(trx, now, {
      userId: activation.user_id,
      kind: 'mobile',
      name: input.name,
      platform: input.platform,
      publicKey: parsed.jwk,
      pinHash: input.pinHash,
      trusted: true,
      ip: input.ip,
    });
    return { deviceId, userId: activation.user_id, jwk: parsed.jwk };
  });
}

export async function listDevices(db: Kysely<Database>, userId: string): Promise<DeviceView[]> {
  const rows = await db
    .selectFrom('devices')
    .selectAll()
    .where('user_id', '=', userId)
    .where('status', '=', 'active')
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  const countries = await deviceCountries(db, userId);
  return rows.map((row) => presentDevice(row, countries.get(row.id)));
}

async function ownDevice(db: Kysely<Database>, userId: string, deviceId: string): Promise<DevicesTable> {
  const row = await db
    .selectFrom('devices')
    .selectAll()
    .where('id', '=', deviceId)
    .where('user_id', '=', userId)
    .where('status', '=', 'active')
    .executeTakeFirst();
  if (row === undefined) throw new GatehouseError('DEVICE_NOT_FOUND');
  return row;
}

export async function updateDevice(
  db: Kysely<Database>,
  userId: string,
  deviceId: string,
  change: { name?: string; trusted?: boolean },
): Promise<DeviceView> {
  await ownDevice(db, userId, deviceId);
  await db
    .updateTable('devices')
    .set({
      ...(change.name === undefined ? {} : { name: change.name }),
      ...(change.trusted === undefined ? {} : { trusted: change.trusted ? 1 : 0 }),
    })
    .where('id', '=', deviceId)
    .execute();
  const countries = await deviceCountries(db, userId, deviceId);
  return presentDevice(await ownDevice(db, userId, deviceId), countries.get(deviceId));
}

/** Refuses (`LAST_FACTOR`) to take away the user's last second factor; runs inside the revocation's transaction. */
export type LastFactorCheck = (trx: Kysely<Database>, userId: string, deviceId: string) => Promise<void>;

/**
 * Revokes one of the user's devices. A mobile device is a second factor: the last-factor rule applies to it as to
 * stored factors (`LAST_FACTOR`, the factors' rule: `lastFactorCheck`), checked in the same transaction as the
 * revocation and serialised per user.
 */
export async function revokeDevice(
  db: Kysely<Database>,
  userId: string,
  deviceId: string,
  lastFactorCheck: LastFactorCheck,
): Promise<DeviceView> {
  return db.transaction().execute(async (trx) => {
    const device = await ownDevice(trx, userId, deviceId);
    if (device.kind === 'mobile' && device.login_disabled === 0) await lastFactorCheck(trx, userId, deviceId);
    const revoked = await trx
      .updateTable('devices')
      .set({ status: 'revoked' })
      .where('id', '=', deviceId)
      .where('status', '=', 'active')
      .executeTakeFirst();
    if (revoked.numUpdatedRows === 0n) throw new GatehouseError('DEVICE_NOT_FOUND');
    const countries = await deviceCountries(trx, userId, deviceId);
    return presentDevice({ ...device, status: 'revoked' }, countries.get(deviceId));
  });
}

/**
 * An active device of one of `kinds` with its key, for verifying what it signs; throws the precise reason
 * otherwise.
 */
export async function loadSigningDevice(
  db: Kysely<Database>,
  deviceId: string,
  kinds: readonly KeyedDeviceKind[] = ['mobile'],
) {
  const row = await db
    .selectFrom('devices')
    .selectAll()
    .where('id', '=', deviceId)
    .where('kind', 'in', kinds)
    .executeTakeFirst();
  if (row === undefined || row.public_key === null) throw new GatehouseError('SIGNATURE_INVALID');
  if (row.status !== 'active' || row.login_disabled === 1) throw new GatehouseError('DEVICE_REVOKED');
  const parsed = parseP256PublicJwk(JSON.parse(row.public_key));
  if (parsed === null) throw new GatehouseError('SIGNATURE_INVALID');
  return { id: row.id, userId: row.user_id, name: row.name, kind: row.kind, key: parsed.key };
}

/**
 * Registers a desktop workstation's P-256 key for a user (the caller has checked the security-key login and the
 * key's proof of possession). The device is trusted: it was validated with a phishing-resistant factor.
 */
export async function registerDesktopDevice(
  db: Kysely<Database>,
  clock: Clock,
  input: { userId: string; jwk: P256Jwk; name: string; platform: string; ip: string },
): Promise<string> {
  return insertDevice(db, clock.now(), {
    userId: input.userId,
    kind: 'desktop',
    name: input.name,
    platform: input.platform,
    publicKey: input.jwk,
    pinHash: null,
    trusted: true,
    ip: input.ip,
  });
}

/** Active mobile devices that can receive push requests for a user. */
export async function pushDeviceIds(db: Kysely<Database>, userId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('devices')
    .select('id')
    .where('user_id', '=', userId)
    .where('kind', '=', 'mobile')
    .where('status', '=', 'active')
    .where('login_disabled', '=', 0)
    .execute();
  return rows.map((r) => r.id);
}

/** Wrong PINs a mobile device may take before its login is disabled until it is enrolled again. */
export const MAX_PIN_FAILURES = 5;

/**
 * Claims one PIN check before the PIN is verified: one conditional UPDATE that counts it as a failure while fewer
 * than `MAX_PIN_FAILURES` are counted and the device may log in. Returns the count including this check, or
 * undefined when none is left.
 */
export async function claimPinAttempt(db: Kysely<Database>, deviceId: string): Promise<number | undefined> {
  const row = await db
    .updateTable('devices')
    .set({ pin_failures: sql<number>`pin_failures + 1` })
    .where('id', '=', deviceId)
    .where('status', '=', 'active')
    .where('login_disabled', '=', 0)
    .where('pin_failures', '<', MAX_PIN_FAILURES)
    .returning('pin_failures')
    .executeTakeFirst();
  return row?.pin_failures;
}

/**
 * A right PIN forgives the failures counted up to its own claim (`claimed`, its own included); checks claimed after
 * it keep theirs.
 */
export async function forgivePinFailures(
  db: Kysely<Database>,
  deviceId: string,
  claimed: number,
): Promise<void> {
  await db
    .updateTable('devices')
    .set({
      pin_failures: sql<number>`case when pin_failures > ${claimed} then pin_failures - ${claimed} else 0 end`,
    })
    .where('id', '=', deviceId)
    .execute();
}

/** The device may no longer log in (its PIN checks are spent) until it is enrolled again. */
export async function disableDeviceLogin(db: Kysely<Database>, deviceId: string): Promise<void> {
  await db.updateTable('devices').set({ login_disabled: 1 }).where('id', '=', deviceId).execute();
}

/** The device was just used (a login, a push answered). */
export async function markDeviceSeen(db: Kysely<Database>, deviceId: string, now: number): Promise<void> {
  await db.updateTable('devices').set({ last_seen_at: now }).where('id', '=', deviceId).execute();
}

/**
 * The user's active device of `kind` named `name`, registered (first seen now, on the network of `ip`) if they have
 * none: the device a scripted login of the failure sandbox comes from. It holds no key, and a phone of the sandbox
 * cannot log in nor answer a push (login disabled), so it never stands in for a real factor. Resolves to its id and
 * whether it is new.
 */
export async function sandboxDevice(
  db: Kysely<Database>,
  now: number,
  input: { userId: string; kind: DeviceKind; name: string; ip: string },
): Promise<{ deviceId: string; isNew: boolean }> {
  const known = await db
    .selectFrom('devices')
    .select('id')
    .where('user_id', '=', input.userId)
    .where('kind', '=', input.kind)
    .where('name', '=', input.name)
    .where('status', '=', 'active')
    .executeTakeFirst();
  if (known !== undefined) return { deviceId: known.id, isNew: false };
  const deviceId = await insertDevice(db, now, {
    ...input,
    platform: 'Gatehouse sandbox',
    publicKey: null,
    pinHash: null,
    trusted: false,
  });
  if (input.kind === 'mobile') await disableDeviceLogin(db, deviceId);
  return { deviceId, isNew: true };
}
