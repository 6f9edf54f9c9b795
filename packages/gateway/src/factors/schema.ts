/** @module factors/schema — wire shapes of the factor routes. */
import { z } from 'zod';
import { E164 } from './sms.js';

const label = z.string().trim().min(1).max(64);

export const factorIdParamsSchema = z.strictObject({ id: z.string().min(1).max(64) });
export const enrolTotpSchema = z.strictObject({ label: label.optional() });
export const enrolSmsSchema = z.strictObject({
  phone: z.string().regex(E164, 'an E.164 number such as +14155550100'),
  label: label.optional(),
});
export const confirmFactorSchema = z.strictObject({ code: z.string().min(1).max(16) });
export const renameFactorSchema = z.strictObject({ label });
