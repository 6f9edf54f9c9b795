/**
 * @module factors
 * Second factors as their user sees and changes them (`/v1/factors`), and the SMS answer every sending route gives.
 */
import { z } from 'zod';
import { idParamsSchema, timestampSchema } from './common.js';

export const FACTOR_TYPES = ['push', 'webauthn', 'totp', 'sms', 'recovery_code'] as const;
export const factorTypeSchema = z.enum(FACTOR_TYPES).meta({ id: 'FactorType' });
export type FactorType = z.infer<typeof factorTypeSchema>;

/** A factor as `GET /v1/factors` lists it. */
export const factorViewSchema = z
  .object({
    id: z.string(),
    type: factorTypeSchema,
    label: z.string(),
    status: z.string(),
    createdAt: timestampSchema,
    lastUsedAt: timestampSchema.nullable(),
    phone: z
      .string()
      .optional()
      .meta({ description: 'SMS: the number, all but its last two digits masked.' }),
    hardwareBound: z.boolean().optional(),
  })
  .meta({ id: 'FactorView' });
export type FactorView = z.infer<typeof factorViewSchema>;

/** An SMS code was sent (login, step-up, enrolment), with the resend limits. */
export const smsSentSchema = z
  .object({
    status: z.literal('sms_sent'),
    expiresAt: timestampSchema,
    resendAvailableAt: timestampSchema,
    remainingThisHour: z.number().int(),
    simulatedTexts: z
      .boolean()
      .optional()
      .meta({
        description:
          'A login’s text on a demo instance (`development.exposeOutboxes`): the SMS simulator stored it instead of ' +
          'sending it, and `GET /v1/auth/login/{loginId}/simulated-texts` shows it to this login’s holder.',
      }),
  })
  .meta({ id: 'SmsSentView' });
export type SmsSentView = z.infer<typeof smsSentSchema>;

/** `GET /v1/factors`. */
export const factorListSchema = z.object({
  factors: z.array(factorViewSchema),
  recoveryCodes: z.object({ remaining: z.number().int(), outdated: z.number().int() }).meta({
    description: '`outdated`: unused codes of an earlier, shorter format, which a new set should replace.',
  }),
  backupFactorMissing: z.boolean(),
});

/** A phone number in E.164 form (`+14155550100`). */
export const E164 = /^\+[1-9]\d{6,14}$/;

const label = z.string().trim().min(1).max(64);

export const factorIdParamsSchema = idParamsSchema;

/** `POST /v1/factors/totp`. */
export const enrolTotpSchema = z.strictObject({ label: label.optional() });
export const totpEnrolmentSchema = z.object({
  factorId: z.string(),
  status: z.literal('pending'),
  secret: z.string().meta({ description: 'Base32; shown once.' }),
  uri: z.string().meta({ description: 'An `otpauth://` URI for a QR code.' }),
});

/** `POST /v1/factors/sms`: a code goes to the number; `…/{id}/confirm` with it activates the factor. */
export const enrolSmsSchema = z.strictObject({
  phone: z.string().regex(E164, 'an E.164 number such as +14155550100'),
  label: label.optional(),
});
export const smsEnrolmentSchema = smsSentSchema.extend({
  factorId: z.string(),
  status: z.literal('pending'),
});

/** `POST /v1/factors/{id}/confirm`. */
export const confirmFactorSchema = z.strictObject({ code: z.string().min(1).max(16) });
export const factorActivatedSchema = z.object({
  factorId: z.string(),
  status: z.literal('active'),
  backupFactorMissing: z.boolean(),
});

/** `PATCH /v1/factors/{id}`. */
export const renameFactorSchema = z.strictObject({ label });
export const factorRenamedSchema = z.object({ factorId: z.string(), label: z.string() });

/** `DELETE /v1/factors/{id}`. */
export const factorRemovedSchema = z.object({
  factorId: z.string(),
  status: z.literal('removed'),
  backupFactorMissing: z.boolean(),
});

/** `POST /v1/factors/recovery-codes`: a new set, shown once; the earlier set stops working. */
export const recoveryCodesSchema = z.object({ codes: z.array(z.string()), notice: z.string() });

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
export const webauthnRegisteredSchema = factorActivatedSchema.extend({ hardwareBound: z.boolean() });

/**
 * WebAuthn options for `navigator.credentials.create()` or `.get()` (`PublicKeyCredentialCreationOptionsJSON` /
 * `PublicKeyCredentialRequestOptionsJSON`, as @simplewebauthn/browser takes them).
 */
export const webauthnOptionsSchema = z.looseObject({ challenge: z.string() }).meta({
  id: 'WebAuthnOptions',
  description: 'Options for @simplewebauthn/browser (WebAuthn Level 3 JSON).',
});
