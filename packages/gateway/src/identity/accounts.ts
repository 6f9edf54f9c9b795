/**
 * @module identity/accounts
 * Brokerage accounts and who may use them. Account ids follow the IBKR convention: `U` + 7 digits for live
 * accounts, `DU` + 7 digits for paper accounts, so tools written against a real broker recognise them.
 */
import { randomInt } from 'node:crypto';
import type { Kysely } from 'kysely';
import { type Clock, GatehouseError } from '../core/index.js';
import type { AccountsTable, Database } from '../store/index.js';
import { entityFromRow, type LegalEntity } from './entities.js';

export type AccountType = 'cash' | 'margin' | 'portfolio_margin';
export type ClientCategory = 'retail' | 'professional';
export type AccountRole = 'owner' | 'trader' | 'viewer';

export const ACCOUNT_TYPES = ['cash', 'margin', 'portfolio_margin'] as const;
export const CLIENT_CATEGORIES = ['retail', 'professional'] as const;
export const ACCOUNT_ROLES = ['owner', 'trader', 'viewer'] as const;

export interface Account {
  id: string;
  title: string;
  paper: boolean;
  type: AccountType;
  baseCurrency: string;
  clientCategory: ClientCategory;
  frozen: boolean;
  closingOnly: boolean;
  entityCode: string;
  /** Options level, 0 (none) to 4 (uncovered), the normalised scale of research/broker-sessions.md §1.2. */
  optionsLevel: number;
}

/** An account as one user sees it: with their role and the legal entity that carries it. */
export interface UserAccount extends Account {
  role: AccountRole;
  entity: LegalEntity;
}

export const ACCOUNT_ID = /^(U|DU)\d{7}$/;

export function isPaperAccountId(id: string): boolean {
  return id.startsWith('DU');
}

function newAccountId(paper: boolean): string {
  return `${paper ? 'DU' : 'U'}${randomInt(1_000_000, 10_000_000)}`;
}

function toAccount(r: AccountsTable): Account {
  return {
    id: r.id,
    title: r.title,
    paper: r.paper === 1,
    type: r.type as AccountType,
    baseCurrency: r.base_currency,
    clientCategory: r.client_category as ClientCategory,
    frozen: r.frozen === 1,
    closingOnly: r.closing_only === 1,
    entityCode: r.entity_code,
    optionsLevel: r.options_level,
  };
}

export interface NewAccount {
  /** Explicit id (must match `U#######` or `DU#######`); generated when absent. */
  id?: string;
  title: string;
  paper: boolean;
  type: AccountType;
  baseCurrency: string;
  clientCategory: ClientCategory;
  entityCode: string;
  frozen?: boolean;
  closingOnly?: boolean;
  optionsLevel?: number;
}

export async function createAccount(db: Kysely<Database>, clock: Clock, input: NewAccount): Promise<Account> {
  if (input.id !== undefined && (!ACCOUNT_ID.test(input.id) || isPaperAccountId(input.id) !== input.paper)) {
    throw new GatehouseError(
      'INVALID_REQUEST',
      'Account ids are U + 7 digits (live) or DU + 7 digits (paper).',
    );
  }
  const entity = await db
    .selectFrom('legal_entities')
    .select('code')
    .where('code', '=', input.entityCode)
    .executeTakeFirst();
  if (entity === undefined)
    throw new GatehouseError('INVALID_REQUEST', `Unknown legal entity ${input.entityCode}.`);
  for (let attempt = 0; attempt < 5; attempt += 1) {
    const row: AccountsTable = {
      id: input.id ?? newAccountId(input.paper),
      entity_code: input.entityCode,
      type: input.type,
      base_currency: input.baseCurrency,
      client_category: input.clientCategory,
      frozen: input.frozen === true ? 1 : 0,
      closing_only: input.closingOnly === true ? 1 : 0,
      paper: input.paper ? 1 : 0,
      title: input.title,
      created_at: clock.now(),
      options_level: input.optionsLevel ?? 0,
      session_loss_policy: 'none',
    };
    const inserted = await db
      .insertInto('accounts')
      .values(row)
      .onConflict((oc) => oc.column('id').doNothing())
      .executeTakeFirst();
    if ((inserted.numInsertedOrUpdatedRows ?? 0n) > 0n) return toAccount(row);
    if (input.id !== undefined)
      throw new GatehouseError('INVALID_REQUEST', `Account ${input.id} already exists.`);
  }
  throw new Error('could not allocate a free account id');
}

export async function getAccount(db: Kysely<Database>, accountId: string): Promise<Account | undefined> {
  const row = await db.selectFrom('accounts').selectAll().where('id', '=', accountId).executeTakeFirst();
  return row === undefined ? undefined : toAccount(row);
}

/** Gives a user a role on an account (replacing any earlier role). */
export async function grantAccountRole(
  db: Kysely<Database>,
  userId: string,
  accountId: string,
  role: AccountRole,
): Promise<void> {
  await db
    .insertInto('account_roles')
    .values({ user_id: userId, account_id: accountId, role })
    .onConflict((oc) => oc.columns(['user_id', 'account_id']).doUpdateSet({ role }))
    .execute();
}

/** Every account the user holds a role on, with its legal entity, ordered by id. */
export async function listUserAccounts(db: Kysely<Database>, userId: string): Promise<UserAccount[]> {
  const rows = await db
    .selectFrom('account_roles')
    .innerJoin('accounts', 'accounts.id', 'account_roles.account_id')
    .innerJoin('legal_entities', 'legal_entities.code', 'accounts.entity_code')
    .selectAll('accounts')
    .selectAll('legal_entities')
    .select('account_roles.role')
    .where('account_roles.user_id', '=', userId)
    .orderBy('accounts.id')
    .execute();
  return rows.map((r) => ({
    ...toAccount(r),
    role: r.role as AccountRole,
    entity: entityFromRow(r),
  }));
}

/** An account's fields that entitlements and the session-loss policy change (the rest are set at opening). */
export type AccountSettings = Partial<
  Pick<
    AccountsTable,
    'frozen' | 'closing_only' | 'options_level' | 'type' | 'client_category' | 'session_loss_policy'
  >
>;

/** Changes an account's settings; false when there is no such account. */
export async function updateAccountSettings(
  db: Kysely<Database>,
  accountId: string,
  settings: AccountSettings,
): Promise<boolean> {
  if (Object.keys(settings).length === 0) return (await getAccount(db, accountId)) !== undefined;
  const result = await db
    .updateTable('accounts')
    .set(settings)
    .where('id', '=', accountId)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}
