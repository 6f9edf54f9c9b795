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

export const factorRequestSchema = z.strictObject({
  type: z.literal('totp'),
  code: z.string().min(1).max(16),
});

export type LoginRequest = z.infer<typeof loginRequestSchema>;
export type FactorRequest = z.infer<typeof factorRequestSchema>;
