/**
 * @module identity/users
 * Users and their password credentials. Usernames are compared in a normalised form (NFKC, lower case), so
 * `Alice` and `alice` are one account and homoglyph tricks with compatibility characters do not create twins.
 */
import type { Kysely } from 'kysely';
import { type Clock, GatehouseError, newId } from '../core/index.js';
import type { Database, UsersTable } from '../store/index.js';

export type UserStatus = 'active' | 'disabled';

export interface User {
  id: string;
  username: string;
  displayName: string;
  status: UserStatus;
  createdAt: number;
}

const USERNAME = /^[a-z0-9][a-z0-9._-]{1,63}$/;

export function normaliseUsername(username: string): string {
  return username.normalize('NFKC').trim().toLowerCase();
}

export function isValidUsername(username: string): boolean {
  return USERNAME.test(normaliseUsername(username));
}

function toUser(r: UsersTable): User {
  return {
    id: r.id,
    username: r.username,
    displayName: r.display_name,
    status: r.status as UserStatus,
    createdAt: r.created_at,
  };
}

export interface NewUser {
  username: string;
  displayName: string;
  passwordHash: string;
  /**
   * When the password is an initial secret set by an operator, the time (epoch ms) it stops working unless the user
   * changes it (ASVS 6.4.1); null or absent for a password the user chose.
   */
  initialPasswordExpiresAt?: number | null;
}

/** Creates a user with a password; `USER_EXISTS` if the normalised username is taken. */
export async function createUser(db: Kysely<Database>, clock: Clock, input: NewUser): Promise<User> {
  const username = normaliseUsername(input.username);
  if (!USERNAME.test(username)) {
    throw new GatehouseError(
      'INVALID_REQUEST',
      'Usernames are 2–64 characters: letters, digits, ".", "_" or "-".',
    );
  }
  const now = clock.now();
  const row: UsersTable = {
    id: newId('usr'),
    username,
    display_name: input.displayName,
    status: 'active',
    created_at: now,
    updated_at: now,
    brokerage_policy: 'exclusive',
  };
  return db.transaction().execute(async (trx) => {
    const existing = await trx
      .selectFrom('users')
      .select('id')
      .where('username', '=', username)
      .executeTakeFirst();
    if (existing !== undefined) throw new GatehouseError('USER_EXISTS');
    await trx.insertInto('users').values(row).execute();
    await trx
      .insertInto('password_credentials')
      .values({
        user_id: row.id,
        hash: input.passwordHash,
        updated_at: now,
        initial_expires_at: input.initialPasswordExpiresAt ?? null,
      })
      .execute();
    return toUser(row);
  });
}

export async function getUser(db: Kysely<Database>, userId: string): Promise<User | undefined> {
  const row = await db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirst();
  return row === undefined ? undefined : toUser(row);
}

export async function findUserByUsername(db: Kysely<Database>, username: string): Promise<User | undefined> {
  const row = await db
    .selectFrom('users')
    .selectAll()
    .where('username', '=', normaliseUsername(username))
    .executeTakeFirst();
  return row === undefined ? undefined : toUser(row);
}

/** A user and their password credential, for checking a password. */
export interface LoginCandidate {
  user: User;
  passwordHash: string;
  /** An operator's initial password stops working then (epoch ms); null for the user's own password. */
  initialPasswordExpiresAt: number | null;
}

/** The user and the stored password hash, for the first factor. */
export async function findLoginCandidate(
  db: Kysely<Database>,
  username: string,
): Promise<LoginCandidate | undefined> {
  const row = await db
    .selectFrom('users')
    .innerJoin('password_credentials', 'password_credentials.user_id', 'users.id')
    .selectAll('users')
    .select([
      'password_credentials.hash as password_hash',
      'password_credentials.initial_expires_at as initial_expires_at',
    ])
    .where('users.username', '=', normaliseUsername(username))
    .executeTakeFirst();
  if (row === undefined) return undefined;
  const { password_hash, initial_expires_at, ...user } = row;
  return {
    user: toUser(user),
    passwordHash: password_hash,
    initialPasswordExpiresAt: initial_expires_at,
  };
}

/** When the user's password, an operator's initial secret, stops working (epoch ms); null for their own password. */
export async function initialPasswordExpiry(db: Kysely<Database>, userId: string): Promise<number | null> {
  const row = await db
    .selectFrom('password_credentials')
    .select('initial_expires_at')
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return row?.initial_expires_at ?? null;
}

/**
 * Replaces a user's password hash: the user's own (`initialPasswordExpiresAt: null`) or an operator's initial one.
 * With `replacing`, only if the stored hash is still that one (a concurrent change won otherwise): returns false
 * then, and when the user has no password credential.
 */
export async function setPasswordHash(
  db: Kysely<Database>,
  clock: Clock,
  userId: string,
  input: { hash: string; initialPasswordExpiresAt: number | null; replacing?: string },
): Promise<boolean> {
  let query = db
    .updateTable('password_credentials')
    .set({ hash: input.hash, updated_at: clock.now(), initial_expires_at: input.initialPasswordExpiresAt })
    .where('user_id', '=', userId);
  if (input.replacing !== undefined) query = query.where('hash', '=', input.replacing);
  const result = await query.executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function setUserStatus(
  db: Kysely<Database>,
  clock: Clock,
  userId: string,
  status: UserStatus,
): Promise<void> {
  const result = await db
    .updateTable('users')
    .set({ status, updated_at: clock.now() })
    .where('id', '=', userId)
    .executeTakeFirst();
  if (result.numUpdatedRows === 0n) throw new GatehouseError('USER_NOT_FOUND');
}

/**
 * Serialises changes to one user's security settings (factors, devices): a no-op write on the user's row, held
 * until the transaction ends.
 */
export async function lockUser(trx: Kysely<Database>, userId: string): Promise<void> {
  await trx
    .updateTable('users')
    .set((eb) => ({ updated_at: eb.ref('updated_at') }))
    .where('id', '=', userId)
    .execute();
}
