/** @module identity — users, password credentials, legal entities, brokerage accounts and account roles. */
export {
  ACCOUNT_ID,
  ACCOUNT_ROLES,
  ACCOUNT_TYPES,
  type Account,
  type AccountRole,
  type AccountSettings,
  type AccountType,
  CLIENT_CATEGORIES,
  type ClientCategory,
  createAccount,
  getAccount,
  grantAccountRole,
  isPaperAccountId,
  listUserAccounts,
  type NewAccount,
  type UserAccount,
  updateAccountSettings,
} from './accounts.js';
export {
  entityFromRow,
  LEGAL_ENTITIES,
  type LegalEntity,
  listLegalEntities,
  type Region,
  seedLegalEntities,
} from './entities.js';
export { createPasswordHasher, type PasswordHasher, type PasswordParams } from './password.js';
export {
  assertPasswordAllowed,
  CONTEXT_WORDS,
  loadPasswordPolicy,
  type PasswordOwner,
  type PasswordPolicy,
  type PasswordPolicyOptions,
  type PasswordRule,
  passwordPolicyError,
} from './password-policy.js';
export { changeAccountRole, type RoleChange, type RoleChangeDeps, type RoleChanged } from './roles.js';
export {
  createUser,
  findLoginCandidate,
  findUserByUsername,
  getUser,
  initialPasswordExpiry,
  isValidUsername,
  type LoginCandidate,
  lockUser,
  type NewUser,
  normaliseUsername,
  setPasswordHash,
  setUserStatus,
  type User,
  type UserStatus,
} from './users.js';
