/** @module login/schema — wire shapes of the login routes. */
import { z } from 'zod';

export const webLoginSchema = z.strictObject({
  username: z.string().min(1).max(256),
  password: z.string().min(1).max(1024),
  channel: z.literal('web'),
});

/** A device's signed login statement (see login/device-login). */
const signedDeviceLoginSchema = z.strictObject({
  deviceId: z.string().min(1).max(64),
  ts: z.number().int(),
  nonce: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/),
  signature: z.string().min(1).max(200),
});

/** The enrolled device logging in with its key and PIN. */
export const mobileLoginSchema = signedDeviceLoginSchema.extend({
  channel: z.literal('mobile'),
  pin: z.string().regex(/^\d{4,12}$/),
});

/** The desktop client: password, plus the pre-validated device's signed statement when it has a device key. */
export const desktopLoginSchema = z.strictObject({
  channel: z.literal('desktop'),
  username: z.string().min(1).max(256),
  password: z.string().min(1).max(1024),
  device: signedDeviceLoginSchema.optional(),
});

export const loginRequestSchema = z.discriminatedUnion('channel', [
  webLoginSchema,
  mobileLoginSchema,
  desktopLoginSchema,
]);

export const loginParamsSchema = z.strictObject({
  loginId: z.string().min(1).max(128),
});

/** A code-based second factor: TOTP, an SMS code, or a recovery code. */
export const codeFactorSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('totp'), code: z.string().min(1).max(16) }),
  z.strictObject({ type: z.literal('sms'), code: z.string().min(1).max(16) }),
  z.strictObject({ type: z.literal('recovery_code'), code: z.string().min(1).max(64) }),
]);

/** A WebAuthn assertion as `navigator.credentials.get()` returns it, serialised by @simplewebauthn/browser. */
export const webauthnResponseSchema = z.looseObject({
  id: z.string().min(1).max(1024),
  rawId: z.string().min(1).max(1024),
  type: z.literal('public-key'),
  response: z.looseObject({
    clientDataJSON: z.string().min(1).max(8192),
    authenticatorData: z.string().min(1).max(8192),
    signature: z.string().min(1).max(1024),
  }),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
});

/** The second step of a login: a code, `{type:"push"}` to ask the enrolled devices, or a WebAuthn assertion. */
export const factorRequestSchema = z.union([
  codeFactorSchema,
  z.strictObject({ type: z.literal('push') }),
  z.strictObject({ type: z.literal('webauthn'), response: webauthnResponseSchema }),
]);

export const pollQuerySchema = z.strictObject({
  waitMs: z.coerce.number().int().min(0).max(60_000).optional(),
});

export type LoginRequest = z.infer<typeof loginRequestSchema>;
export type FactorRequest = z.infer<typeof factorRequestSchema>;
