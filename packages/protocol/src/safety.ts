/**
 * @module safety
 * The dead-man switch (`/v1/safety/dead-man`) and an account's session-loss policy.
 */
import { z } from 'zod';
import { accountIdSchema, timestampSchema } from './common.js';
import { DEAD_MAN_MAX_MS, DEAD_MAN_MIN_MS } from './vocabulary.js';

const deadManScope = z.enum(['session', 'account']);

/** `PUT /v1/safety/dead-man`: arm (or re-arm) for `timeoutMs`, or disarm with `0`. */
export const deadManRequestSchema = z
  .strictObject({
    timeoutMs: z
      .number()
      .int()
      .refine((n) => n === 0 || (n >= DEAD_MAN_MIN_MS && n <= DEAD_MAN_MAX_MS), {
        message: `0 (disarm) or ${DEAD_MAN_MIN_MS}–${DEAD_MAN_MAX_MS} ms`,
      })
      .meta({ description: `0 (disarm) or ${DEAD_MAN_MIN_MS}–${DEAD_MAN_MAX_MS} ms.` }),
    scope: deadManScope,
    accountId: accountIdSchema.optional(),
    excludeGtc: z.boolean().optional(),
  })
  .refine((b) => b.scope !== 'account' || b.accountId !== undefined, {
    message: 'scope "account" needs accountId',
    path: ['accountId'],
  });

/** `GET /v1/safety/dead-man?scope=&accountId=`. */
export const deadManQuerySchema = z.strictObject({
  scope: deadManScope.default('session'),
  accountId: accountIdSchema.optional(),
});

/** `PUT` / `GET /v1/safety/dead-man`. */
export const deadManStateSchema = z
  .object({
    armed: z.boolean(),
    scope: deadManScope.optional(),
    accountId: z.string().nullable().optional(),
    timeoutMs: z.number().int().optional(),
    excludeGtc: z.boolean().optional(),
    deadline: timestampSchema.optional(),
  })
  .meta({ id: 'DeadManState' });
export type DeadManState = z.infer<typeof deadManStateSchema>;

/** What happens to a lost session's open orders (per API client and per account; the stricter applies). */
export const SESSION_LOSS_POLICIES = ['none', 'cancel_day', 'cancel_all'] as const;
export const sessionLossPolicySchema = z.enum(SESSION_LOSS_POLICIES).meta({ id: 'SessionLossPolicy' });
export type SessionLossPolicy = z.infer<typeof sessionLossPolicySchema>;

/** `PUT /v1/accounts/{accountId}/session-loss-policy`. */
export const sessionLossPolicyRequestSchema = z.strictObject({ policy: sessionLossPolicySchema });
export const sessionLossPolicySetSchema = z.object({
  accountId: z.string(),
  policy: sessionLossPolicySchema,
});
