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

/** A WebAuthn attestation as `navigator.credentials.create()` returns it, serialised by @simplewebauthn/browser. */
export const registerWebauthnSchema = z.strictObject({
  label: label.optional(),
  response: z.looseObject({
    id: z.string().min(1).max(1024),
    rawId: z.string().min(1).max(1024),
    type: z.literal('public-key'),
    response: z.looseObject({
      clientDataJSON: z.string().min(1).max(8192),
      attestationObject: z.string().min(1).max(32_768),
    }),
    clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
  }),
});
