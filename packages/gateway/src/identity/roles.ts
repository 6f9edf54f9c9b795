/**
 * @module identity/roles
 * Operators give and take roles on accounts: `owner` (trades and changes the account's settings), `trader`
 * (trades), `viewer` (looks on: an adviser, an accountant). What each role allows is the account-access policy's
 * (access/policy.ts); this module only records who holds which. Every change is audited and reaches every node's
 * session cache at once (`user.changed`), so the next request of the user's sessions and programs sees it.
 */
import type { Kysely } from 'kysely';
import { appendAudit } from '../audit/index.js';
import { type Clock, type EventBus, GatehouseError } from '../core/index.js';
import type { Database } from '../store/index.js';
import type { AccountRole } from './accounts.js';
import { normaliseUsername } from './users.js';

export interface RoleChangeDeps {
  db: Kysely<Database>;
  clock: Clock;
  bus: EventBus;
}

export interface RoleChange {
  accountId: string;
  username: string;
  /** The role to give, or null to take the user's role away. */
  role: AccountRole | null;
  /** Who asks: an operator through the CLI or the admin API. */
  via: 'cli' | 'admin_api';
  ip: string | null;
}

export interface RoleChanged {
  accountId: string;
  username: string;
  userId: string;
  role: AccountRole | null;
  previous: AccountRole | null;
}

/**
 * Gives (replacing any earlier role) or takes away a user's role on an account. An account keeps at least one
 * owner: taking the last owner's role, or turning it into another, is refused with `LAST_OWNER`. Unknown users and
 * accounts are refused; taking away a role the user does not hold changes nothing.
 */
export async function changeAccountRole(deps: RoleChangeDeps, change: RoleChange): Promise<RoleChanged> {
  const username = normaliseUsername(change.username);
  const result = await deps.db.transaction().execute(async (trx) => {
    // Taken first, so concurrent changes on one account are serialised (the last-owner rule holds on PostgreSQL).
    const locked = await trx
      .updateTable('accounts')
      .set((eb) => ({ title: eb.ref('title') }))
      .where('id', '=', change.accountId)
      .executeTakeFirst();
    if (locked.numUpdatedRows === 0n) throw new GatehouseError('ACCOUNT_NOT_FOUND');
    const user = await trx
      .selectFrom('users')
      .select('id')
      .where('username', '=', username)
      .executeTakeFirst();
    if (user === undefined) throw new GatehouseError('USER_NOT_FOUND');
    const roles = await trx
      .selectFrom('account_roles')
      .select(['user_id', 'role'])
      .where('account_id', '=', change.accountId)
      .execute();
    const previous = (roles.find((r) => r.user_id === user.id)?.role ?? null) as AccountRole | null;
    if (previous === change.role) return { userId: user.id, previous };
    const otherOwners = roles.filter((r) => r.role === 'owner' && r.user_id !== user.id).length;
    if (previous === 'owner' && otherOwners === 0) throw new GatehouseError('LAST_OWNER');
    if (change.role === null) {
      await trx
        .deleteFrom('account_roles')
        .where('account_id', '=', change.accountId)
        .where('user_id', '=', user.id)
        .execute();
    } else {
      await trx
        .insertInto('account_roles')
        .values({ user_id: user.id, account_id: change.accountId, role: change.role })
        .onConflict((oc) => oc.columns(['user_id', 'account_id']).doUpdateSet({ role: change.role ?? '' }))
        .execute();
    }
    await appendAudit(trx, deps.clock, {
      type: change.role === null ? 'account.role_revoked' : 'account.role_granted',
      userId: user.id,
      ip: change.ip,
      data: { accountId: change.accountId, role: change.role, previous, via: change.via },
    });
    return { userId: user.id, previous };
  });
  if (result.previous !== change.role) await deps.bus.publish('user.changed', { userId: result.userId });
  return {
    accountId: change.accountId,
    username,
    userId: result.userId,
    role: change.role,
    previous: result.previous,
  };
}
