/**
 * @module passwords/schema
 * `POST /v1/password` as the API reference describes it. Passwords are taken exactly as sent — no trimming or case
 * change (ASVS 5.0 6.2.8); what a new one must be is the policy's to say (`identity/password-policy`), so the
 * protocol's schema only bounds the size, far above any `password.maxLength`.
 */
import { changePasswordSchema, passwordChangeAnswerSchema } from '@gatehouse/protocol';
import type { z } from 'zod';
import { operation } from '../http/index.js';

export { changePasswordSchema };
export type ChangePasswordInput = z.infer<typeof changePasswordSchema>;

export const passwordOperations = {
  change: operation({
    tag: 'sessions',
    summary: 'Change my password',
    description:
      'Checks the current password under the login’s brute-force limits and the new one against the policy ' +
      '(`PASSWORD_POLICY`). Re-authenticates, as a step-up does: the session gets a new token (a new cookie on the ' +
      'web; mobile and desktop get it in the body). `endOtherSessions` ends the user’s other sessions. Limited per ' +
      'client address; people only.',
    body: changePasswordSchema,
    responses: { 200: passwordChangeAnswerSchema },
  }),
};
