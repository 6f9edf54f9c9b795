/** @module access — the one account-access policy: who may view, trade or own an account. */
export {
  ACCOUNT_NEEDS,
  type AccountNeed,
  accountAccess,
  accountsFor,
  PROGRAM_NEEDS_SCOPE,
  type PrincipalKind,
  principalKind,
  ROLE_ALLOWS,
} from './policy.js';
