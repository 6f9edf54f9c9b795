/** @module passwords — the password lifecycle: a user's change, an operator's reset, initial passwords. */
export { type ChangePasswordInput, changePasswordSchema } from './schema.js';
export {
  changePassword,
  generateInitialPassword,
  type PasswordDeps,
  type PasswordReset,
  resetPassword,
} from './service.js';
