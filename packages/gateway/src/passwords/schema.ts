/**
 * @module passwords/schema
 * `POST /v1/password`. Passwords are taken exactly as sent — no trimming or case change (ASVS 5.0 6.2.8); what a
 * new one must be is the policy's to say (`identity/password-policy`), so the schema only bounds the size.
 */
import { z } from 'zod';

/** Far above any `password.maxLength` (at most 1,024 characters): the policy gives the precise refusal. */
const password = z.string().min(1).max(4096);

export const changePasswordSchema = z.strictObject({
  currentPassword: password,
  newPassword: password,
  /** End every other session of the user once the password is changed (ASVS 5.0 7.4.3). */
  endOtherSessions: z.boolean().default(false),
});

export type ChangePasswordInput = z.infer<typeof changePasswordSchema>;
