/** @module login/schema — wire shapes of the login routes. */
import { z } from 'zod';

export const loginRequestSchema = z.strictObject({
  username: z.string().min(1).max(256),
  password: z.string().min(1).max(1024),
  channel: z.literal('web'),
});

export const loginParamsSchema = z.strictObject({
  loginId: z.string().min(1).max(128),
});

/** A code-based second factor: TOTP, an SMS code, or a recovery code. */
export const factorRequestSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('totp'), code: z.string().min(1).max(16) }),
  z.strictObject({ type: z.literal('sms'), code: z.string().min(1).max(16) }),
  z.strictObject({ type: z.literal('recovery_code'), code: z.string().min(1).max(64) }),
]);

export type LoginRequest = z.infer<typeof loginRequestSchema>;
export type FactorRequest = z.infer<typeof factorRequestSchema>;
