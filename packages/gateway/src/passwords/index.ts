/** @module passwords — the password lifecycle: a user's change, an operator's reset, initial passwords. */
export { type ChangePasswordInput, changePasswordSchema } from './schema.js';
export {
  changePassword,
  generateInitialPassword,
  type PasswordChangeDeps,
  type PasswordDeps,
  type PasswordReset,
  type PasswordResetDeps,
  resetPassword,
} from './service.js';
