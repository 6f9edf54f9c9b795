/**
 * @module access/policy
 * Who may do what on an account, decided in one place (ASVS 5.0 8.1.1, 8.2.1, 8.2.2). Every route and service that
 * touches an account asks `accountAccess(principal, accountId, need)` before it reads or changes anything; nothing
 * else looks a principal's accounts up to decide access.
 *
 * Three needs, as data:
 * - `view`: read the account (portfolio, orders, events, entitlements, market-data subscriptions);
 * - `trade`: place, modify, confirm and cancel orders, arm an account's dead-man switch, grant a program `trade`;
 * - `own`: change the account's own settings (its session-loss policy).
 *
 * A person's session has what the user's role on the account allows (`ROLE_ALLOWS`). A program acts under an
 * OAuth grant: only on the grant's accounts (the principal's accounts are already narrowed to them), never more
 * than the user's role allows today, `trade` only with a token carrying the `trade` scope, and never `own` —
 * account settings are for people. Whether the session may trade *now* (brokerage tier, step-up, assurance) is the
 * session's question, answered by `BrokerageTier.requireTrading` (sessions/brokerage.ts) on every trading path.
 */
import { SCOPES, type Scope } from '@gatehouse/protocol';
import { GatehouseError } from '../core/index.js';
import type { AccountRole, UserAccount } from '../identity/index.js';
import type { Principal } from '../sessions/index.js';

export const ACCOUNT_NEEDS = ['view', 'trade', 'own'] as const;
export type AccountNeed = (typeof ACCOUNT_NEEDS)[number];

/** What each role on an account allows. */
export const ROLE_ALLOWS = {
  owner: ['view', 'trade', 'own'],
  trader: ['view', 'trade'],
  viewer: ['view'],
} as const satisfies Record<AccountRole, readonly AccountNeed[]>;

/**
 * The scope a program's token must carry for each need (any scope serves `view`: each read route names the scope
 * it needs itself); null: programs may not, whatever their scopes.
 */
export const PROGRAM_NEEDS_SCOPE = {
  view: SCOPES,
  trade: ['trade'],
  own: null,
} as const satisfies Record<AccountNeed, readonly Scope[] | null>;

/** The kinds of principal the policy distinguishes: a person's session on a channel, or a program. */
export type PrincipalKind = 'web' | 'mobile' | 'desktop' | 'program';

export function principalKind(principal: Principal): PrincipalKind {
  if (principal.api !== undefined) return 'program';
  const channel = principal.session.channel;
  return channel === 'mobile' || channel === 'desktop' ? channel : 'web';
}

/**
 * The account as the principal may use it for `need`, with the user's role; throws otherwise:
 * `ACCOUNT_NOT_FOUND` for an account that is not theirs (or not in the program's grant — another user's account
 * answers exactly as an unknown one does), `API_NOT_ALLOWED` for a program asking for `own`, `SCOPE_REQUIRED` for a
 * program whose token lacks the scope, `ROLE_NOT_ALLOWED` when the user's role does not allow it.
 */
export function accountAccess(principal: Principal, accountId: string, need: AccountNeed): UserAccount {
  const account = principal.profile.accounts.find((a) => a.id === accountId);
  if (account === undefined) throw new GatehouseError('ACCOUNT_NOT_FOUND');
  if (principal.api !== undefined) {
    const scopes: readonly Scope[] | null = PROGRAM_NEEDS_SCOPE[need];
    if (scopes === null) throw new GatehouseError('API_NOT_ALLOWED');
    if (!principal.api.scopes.some((s) => scopes.includes(s as Scope)))
      throw new GatehouseError('SCOPE_REQUIRED', undefined, { scope: scopes.join(' | ') });
  }
  if (!(ROLE_ALLOWS[account.role] as readonly AccountNeed[]).includes(need))
    throw new GatehouseError('ROLE_NOT_ALLOWED', undefined, { role: account.role, need });
  return account;
}

/** The principal's accounts it may use for `need` (a list, for choosing; refusals are not errors here). */
export function accountsFor(principal: Principal, need: AccountNeed): UserAccount[] {
  return principal.profile.accounts.filter((a) => {
    try {
      accountAccess(principal, a.id, need);
      return true;
    } catch {
      return false;
    }
  });
}
