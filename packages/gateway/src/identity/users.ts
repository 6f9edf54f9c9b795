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
      .values({ user_id: row.id, hash: input.passwordHash, updated_at: now })
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

/** The user and the stored password hash, for the first factor. */
export async function findLoginCandidate(
  db: Kysely<Database>,
  username: string,
): Promise<{ user: User; passwordHash: string } | undefined> {
  const row = await db
    .selectFrom('users')
    .innerJoin('password_credentials', 'password_credentials.user_id', 'users.id')
    .selectAll('users')
    .select('password_credentials.hash as password_hash')
    .where('users.username', '=', normaliseUsername(username))
    .executeTakeFirst();
  if (row === undefined) return undefined;
  const { password_hash, ...user } = row;
  return { user: toUser(user), passwordHash: password_hash };
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
