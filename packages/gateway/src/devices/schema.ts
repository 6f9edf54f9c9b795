/** @module devices/schema — wire shapes of the device routes. */
import { z } from 'zod';

export const deviceIdParamsSchema = z.strictObject({ id: z.string().min(1).max(64) });
export const activateSchema = z.strictObject({
  activationCode: z.string().min(1).max(128),
  publicKey: z.record(z.string(), z.unknown()),
  name: z.string().trim().min(1).max(64),
  platform: z.string().trim().min(1).max(32),
  /** Optional PIN for logging in on the device itself (`channel: "mobile"`): 4–12 digits. */
  pin: z
    .string()
    .regex(/^\d{4,12}$/)
    .optional(),
});
export const updateDeviceSchema = z
  .strictObject({ name: z.string().trim().min(1).max(64).optional(), trusted: z.boolean().optional() })
  .refine((v) => v.name !== undefined || v.trusted !== undefined, 'name or trusted is required');
export const challengeParamsSchema = z.strictObject({ challengeId: z.string().min(1).max(64) });
export const decisionSchema = z.strictObject({
  deviceId: z.string().min(1).max(64),
  decision: z.enum(['approve', 'deny']),
  number: z.string().regex(/^\d{2}$/),
  signature: z.string().min(1).max(200),
});
/** A desktop workstation's device key, registered from a desktop session that logged in with a security key. */
export const registerDesktopSchema = z.strictObject({
  publicKey: z.record(z.string(), z.unknown()),
  name: z.string().trim().min(1).max(64),
  platform: z.string().trim().min(1).max(32),
});
