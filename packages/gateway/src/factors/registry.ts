/**
 * @module factors/registry
 * The second factors a user has enrolled, as the login flow and the API list them. Secrets never leave this module.
 * Recovery codes are listed as one entry with the number still unused.
 */
import type { Kysely } from 'kysely';
import { type Clock, GatehouseError } from '../core/index.js';
import { lockUser } from '../identity/index.js';
import type { Database, SecondFactorsTable } from '../store/index.js';
import { remainingRecoveryCodes } from './recovery.js';
import { maskPhone } from './sms.js';

export const FACTOR_TYPES = ['push', 'webauthn', 'totp', 'sms', 'recovery_code'] as const;
export type FactorType = (typeof FACTOR_TYPES)[number];

export interface FactorSummary {
  id: string;
  type: FactorType;
  label: string;
  status: 'active' | 'pending';
  createdAt: number;
  lastUsedAt: number | null;
  /** SMS: the number, masked. */
  phone?: string;
  /** Security keys: bound to hardware (AAL3) or a synced passkey (AAL2). */
  hardwareBound?: boolean;
}

/**
 * Every second factor of a user: rows of `second_factors`, and each active enrolled mobile device as a `push`
 * factor (its id is the device id; it is managed under /v1/devices).
 */
export async function listFactors(db: Kysely<Database>, userId: string): Promise<FactorSummary[]> {
  const devices = await db
    .selectFrom('devices')
    .select(['id', 'name', 'created_at', 'last_seen_at'])
    .where('user_id', '=', userId)
    .where('kind', '=', 'mobile')
    .where('status', '=', 'active')
    .where('login_disabled', '=', 0)
    .orderBy('created_at')
    .execute();
  const pushFactors: FactorSummary[] = devices.map((d) => ({
    id: d.id,
    type: 'push',
    label: d.name,
    status: 'active',
    createdAt: d.created_at,
    lastUsedAt: d.last_seen_at,
  }));
  const rows = await db
    .selectFrom('second_factors')
    .select(['id', 'type', 'label', 'status', 'created_at', 'last_used_at', 'phone', 'hardware_bound'])
    .where('user_id', '=', userId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  const stored = rows.map((r) => ({
    id: r.id,
    type: r.type as FactorType,
    label: r.label,
    status: r.status as 'active' | 'pending',
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
    ...(r.phone === null ? {} : { phone: maskPhone(r.phone) }),
    ...(r.type === 'webauthn' ? { hardwareBound: r.hardware_bound === 1 } : {}),
  }));
  return [...pushFactors, ...stored];
}

/** The factor types a user may choose at login, strongest first. */
export async function availableFactorTypes(db: Kysely<Database>, userId: string): Promise<FactorType[]> {
  const factors = await listFactors(db, userId);
  const types = new Set<FactorType>(factors.filter((f) => f.status === 'active').map((f) => f.type));
  if ((await remainingRecoveryCodes(db, userId)) > 0) types.add('recovery_code');
  return FACTOR_TYPES.filter((t) => types.has(t));
}

/**
 * True while the user has fewer than two independent ways to pass the second step (a set of unused recovery
 * codes counts as one): a lost phone must not lock them out during a market move.
 */
export async function backupFactorMissing(db: Kysely<Database>, userId: string): Promise<boolean> {
  const active = (await listFactors(db, userId)).filter((f) => f.status === 'active').length;
  const recovery = (await remainingRecoveryCodes(db, userId)) > 0 ? 1 : 0;
  return active + recovery < 2;
}

async function ownFactor(db: Kysely<Database>, userId: string, factorId: string) {
  const row = await db
    .selectFrom('second_factors')
    .select(['id', 'type', 'status', 'label'])
    .where('id', '=', factorId)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  if (row === undefined) throw new GatehouseError('FACTOR_NOT_FOUND');
  return row;
}

export async function renameFactor(
  db: Kysely<Database>,
  userId: string,
  factorId: string,
  label: string,
): Promise<void> {
  await ownFactor(db, userId, factorId);
  await db.updateTable('second_factors').set({ label }).where('id', '=', factorId).execute();
}

/**
 * The last-factor rule, one check for stored factors and mobile devices: throws `LAST_FACTOR` unless the user keeps
 * another usable second factor once `removing` is gone — an active stored factor, or an active mobile device whose
 * PIN lock has not disabled it (a disabled device can approve nothing). Recovery codes do not count: they are a
 * way back in, not a factor to keep using.
 *
 * Call it inside the transaction that removes, before removing. It first locks the user's row (a no-op UPDATE,
 * which takes a row lock on PostgreSQL and the write lock on SQLite), so removals for one user run one after
 * the other: without it, two concurrent removals of a user's last two factors each count the other's factor and
 * both succeed (write skew under PostgreSQL's read committed).
 */
export async function requireAnotherFactor(
  trx: Kysely<Database>,
  userId: string,
  removing: { factorId?: string; deviceId?: string },
): Promise<void> {
  await lockUser(trx, userId);
  let stored = trx
    .selectFrom('second_factors')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('user_id', '=', userId)
    .where('status', '=', 'active');
  if (removing.factorId !== undefined) stored = stored.where('id', '!=', removing.factorId);
  let devices = trx
    .selectFrom('devices')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('user_id', '=', userId)
    .where('kind', '=', 'mobile')
    .where('status', '=', 'active')
    .where('login_disabled', '=', 0);
  if (removing.deviceId !== undefined) devices = devices.where('id', '!=', removing.deviceId);
  const [others, phones] = [await stored.executeTakeFirstOrThrow(), await devices.executeTakeFirstOrThrow()];
  if (Number(others.n) + Number(phones.n) === 0) throw new GatehouseError('LAST_FACTOR');
}

/** Removes a factor; refuses to remove the last active one (the user would be locked out of every channel). */
export async function removeFactor(
  db: Kysely<Database>,
  userId: string,
  factorId: string,
): Promise<{ type: FactorType; label: string }> {
  return db.transaction().execute(async (trx) => {
    const factor = await ownFactor(trx, userId, factorId);
    if (factor.status === 'active') await requireAnotherFactor(trx, userId, { factorId });
    await trx.deleteFrom('second_factors').where('id', '=', factorId).execute();
    return { type: factor.type as FactorType, label: factor.label };
  });
}

/** Turns a pending enrolment active (after its first code was verified). */
export async function activateFactor(db: Kysely<Database>, clock: Clock, factorId: string): Promise<void> {
  await db
    .updateTable('second_factors')
    .set({ status: 'active', last_used_at: clock.now() })
    .where('id', '=', factorId)
    .where('status', '=', 'pending')
    .execute();
}

/** The columns every factor has; the type-specific ones default to empty. */
export type NewFactorRow = Pick<SecondFactorsTable, 'id' | 'user_id' | 'type' | 'label' | 'status'> &
  Partial<Omit<SecondFactorsTable, 'id' | 'user_id' | 'type' | 'label' | 'status' | 'created_at'>>;

/** Inserts a factor row, filling the columns other factor types use with their empty values. */
export async function insertFactor(db: Kysely<Database>, clock: Clock, row: NewFactorRow): Promise<void> {
  await db
    .insertInto('second_factors')
    .values({
      secret_sealed: null,
      last_used_step: null,
      last_used_at: null,
      phone: null,
      credential_id: null,
      public_key: null,
      sign_count: null,
      transports: null,
      hardware_bound: 0,
      ...row,
      created_at: clock.now(),
    })
    .execute();
}

export async function getFactor(db: Kysely<Database>, userId: string, factorId: string) {
  return ownFactor(db, userId, factorId);
}
