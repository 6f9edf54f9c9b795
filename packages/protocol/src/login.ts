/**
 * @module login
 * The login routes' wire shapes: the first step per channel (web and desktop: password; mobile: the enrolled
 * device's signed statement and PIN), the second step (a code, a push, a WebAuthn assertion), the long-poll, and
 * the step-up of a signed-in session.
 */
import { z } from 'zod';
import { timestampSchema } from './common.js';
import { factorTypeSchema } from './factors.js';
import { sessionViewSchema } from './sessions.js';

export const webLoginSchema = z.strictObject({
  username: z.string().min(1).max(256),
  password: z.string().min(1).max(1024),
  channel: z.literal('web'),
});

/** A device's signed login statement: its id, a time and a single-use nonce, signed with its key. */
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

/** `POST /v1/auth/login`. */
export const loginRequestSchema = z
  .discriminatedUnion('channel', [webLoginSchema, mobileLoginSchema, desktopLoginSchema])
  .meta({ id: 'LoginRequest' });
export type LoginRequest = z.infer<typeof loginRequestSchema>;

/** `{loginId}` in a path. */
export const loginParamsSchema = z.strictObject({ loginId: z.string().min(1).max(128) });

/** A code-based second factor: TOTP, an SMS code, or a recovery code. */
export const codeFactorSchema = z
  .discriminatedUnion('type', [
    z.strictObject({ type: z.literal('totp'), code: z.string().min(1).max(16) }),
    z.strictObject({ type: z.literal('sms'), code: z.string().min(1).max(16) }),
    z.strictObject({ type: z.literal('recovery_code'), code: z.string().min(1).max(64) }),
  ])
  .meta({ id: 'CodeFactor' });

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
export const factorRequestSchema = z
  .union([
    codeFactorSchema,
    z.strictObject({ type: z.literal('push') }),
    z.strictObject({ type: z.literal('webauthn'), response: webauthnResponseSchema }),
  ])
  .meta({ id: 'FactorRequest' });
export type FactorRequest = z.infer<typeof factorRequestSchema>;

/** `GET /v1/auth/login/{loginId}?waitMs=`: how long to wait for a pending push to change. */
export const pollQuerySchema = z.strictObject({
  waitMs: z.coerce.number().int().min(0).max(60_000).optional(),
});

const factorList = z.array(z.object({ type: factorTypeSchema }));

/** The answers of the login routes (`POST /v1/auth/login`, `…/factor`, `GET /v1/auth/login/{loginId}`). */
export const loginStepSchema = z
  .discriminatedUnion('status', [
    z.object({
      status: z.literal('second_factor_required'),
      loginId: z.string().optional().meta({ description: 'Present on the first step; the poll omits it.' }),
      factors: factorList,
    }),
    z.object({
      status: z.literal('push_pending'),
      challengeId: z.string(),
      number: z
        .string()
        .meta({ description: 'Show this; the phone shows the same number and the user matches them.' }),
      expiresAt: timestampSchema.optional(),
      fallbackAfterMs: z.number().int().optional(),
      delivered: z.boolean().optional(),
      fallbackFactors: factorList.optional().meta({
        description: 'Once the push was not delivered in time: the other factors the user may use now.',
      }),
    }),
    z.object({
      status: z.literal('authenticated'),
      session: sessionViewSchema,
      csrfToken: z
        .string()
        .optional()
        .meta({ description: 'Web: echo it in `x-csrf-token` on unsafe methods.' }),
      token: z
        .string()
        .optional()
        .meta({ description: 'Mobile and desktop: the bearer token (never a cookie).' }),
      tokenType: z.literal('Bearer').optional(),
      deviceKeyRegistration: z
        .literal('available')
        .optional()
        .meta({ description: 'A desktop session without a device key may register one now.' }),
      backupFactorMissing: z.boolean().optional(),
      notice: z.literal('recovery_code_used').optional(),
      remainingRecoveryCodes: z.number().int().optional(),
      suggestion: z.string().optional(),
    }),
  ])
  .meta({ id: 'LoginStep' });
export type LoginStep = z.infer<typeof loginStepSchema>;

/** `POST /v1/session/step-up`: the session is stepped up and has a new token (a new cookie on the web). */
export const steppedUpSchema = z.object({
  status: z.literal('stepped_up'),
  session: sessionViewSchema,
  token: z.string().optional().meta({ description: 'Mobile and desktop: the session’s new bearer token.' }),
  tokenType: z.literal('Bearer').optional(),
});
