/**
 * @module sessions
 * Sessions as their user sees them, who-am-I, the trading tier (`brokerage`) and the keep-alive, and the answers
 * of logout, revocation and the password change.
 */
import { z } from 'zod';
import { accountSummarySchema } from './accounts.js';
import { idParamsSchema, timestampSchema } from './common.js';

/** A session as its user sees it (`GET /v1/session`, `GET /v1/sessions`). Nothing secret is included. */
export const sessionViewSchema = z
  .object({
    id: z.string(),
    channel: z
      .string()
      .meta({ description: '`web`, `mobile`, `desktop`, `api` or `cpapi` (the IBKR-compatible face).' }),
    aal: z.number().int().meta({ description: 'Authenticator assurance level (NIST SP 800-63B).' }),
    amr: z.array(z.string()).meta({ description: 'Authentication methods (RFC 8176).' }),
    createdAt: timestampSchema,
    lastSeenAt: timestampSchema,
    idleExpiresAt: timestampSchema,
    expiresAt: timestampSchema,
    ip: z.string(),
    userAgent: z.string(),
    current: z.boolean(),
  })
  .meta({ id: 'SessionView' });
export type SessionView = z.infer<typeof sessionViewSchema>;

export const TIERS = ['read_only', 'brokerage'] as const;
export const tierSchema = z.enum(TIERS).meta({ id: 'Tier' });
export type Tier = z.infer<typeof tierSchema>;

/** `GET /v1/sessions`: each live session with its device, network, tier and whether it is competing. */
export const monitoredSessionSchema = sessionViewSchema
  .extend({
    device: z.object({ id: z.string(), name: z.string() }).nullable(),
    network: z.string().nullable(),
    tier: tierSchema,
    competing: z.boolean(),
  })
  .meta({ id: 'MonitoredSession' });
export type MonitoredSession = z.infer<typeof monitoredSessionSchema>;

/** The user and their accounts, as `GET /v1/session` carries them. */
export const profileViewSchema = z
  .object({
    user: z.object({ id: z.string(), username: z.string(), displayName: z.string() }),
    passwordChangeRequired: z.boolean().meta({
      description:
        'The password was set by an operator (a new user, a reset): an initial secret the user must replace with ' +
        'their own (`POST /v1/password`) before `passwordExpiresAt`, when it stops working.',
    }),
    passwordExpiresAt: timestampSchema
      .nullable()
      .meta({ description: 'When the initial password stops working; null for the user’s own password.' }),
    accounts: z
      .array(
        accountSummarySchema.extend({
          entity: z.object({ code: z.string(), legalName: z.string(), regulator: z.string() }),
        }),
      )
      .meta({
        description:
          'Each with its carrying legal entity, named; the investor-protection details come with the account itself.',
      }),
  })
  .meta({ id: 'ProfileView' });
export type ProfileView = z.infer<typeof profileViewSchema>;

/** `GET /v1/session`. */
export const whoAmISchema = profileViewSchema
  .extend({
    session: sessionViewSchema,
    csrfToken: z.string(),
    sandbox: z
      .literal(true)
      .optional()
      .meta({
        description:
          'Present, and true, only when the gateway runs the failure sandbox (`sandbox.enabled`): logins, sessions ' +
          'and orders may fail on purpose here (docs/sandbox.md). Absent otherwise.',
      }),
  })
  .meta({ id: 'WhoAmI', description: 'The caller, their accounts, their session and its CSRF token.' });
export type WhoAmI = z.infer<typeof whoAmISchema>;

/** `POST /v1/session/tickle`, `POST /v1/session/brokerage`. */
export const sessionStateSchema = z
  .object({
    tier: tierSchema,
    competing: z.boolean().meta({
      description: 'This session held brokerage since the last reset and another session took it over.',
    }),
    stepUpRequired: z.boolean(),
    idleExpiresInMs: z.number().int(),
    expiresInMs: z.number().int(),
    nextResetAt: timestampSchema,
  })
  .meta({ id: 'SessionState' });
export type SessionState = z.infer<typeof sessionStateSchema>;

/** `POST /v1/session/brokerage`: take the trading tier; `compete` takes it over from another session. */
export const brokerageRequestSchema = z.strictObject({ compete: z.boolean() });

/**
 * `POST /v1/session/brokerage/release`: nothing, or — from a page that is closing, whose `navigator.sendBeacon` can
 * set no header — the session's CSRF token in the body (JSON, or `application/x-www-form-urlencoded`).
 */
export const brokerageReleaseSchema = z.strictObject({
  csrfToken: z
    .string()
    .max(200)
    .optional()
    .meta({ description: 'A cookie session’s CSRF token, when the `x-csrf-token` header cannot be sent.' }),
});

/** What a release did: whether this session held trading until now, and its state after. */
export const brokerageReleasedSchema = z
  .object({
    released: z.boolean().meta({ description: 'This session held trading and no longer does.' }),
  })
  .meta({ id: 'BrokerageReleased' });

export const sessionIdParamsSchema = idParamsSchema;

/** The answer of a re-authentication on a device-bound channel: the new token to present from now on. */
export const renewedTokenSchema = z.object({
  token: z.string().optional().meta({ description: 'Mobile and desktop: the session’s new bearer token.' }),
  tokenType: z.literal('Bearer').optional(),
});

export const loggedOutSchema = z.object({ status: z.literal('logged_out') });
export const sessionsListSchema = z.object({ sessions: z.array(monitoredSessionSchema) });
export const othersRevokedSchema = z.object({ status: z.literal('revoked'), count: z.number().int() });
export const sessionRevokedSchema = z.object({ status: z.literal('revoked'), id: z.string() });

/** `POST /v1/password`. Passwords are taken exactly as sent; the policy, not this schema, says what is allowed. */
const password = z.string().min(1).max(4096);
export const changePasswordSchema = z.strictObject({
  currentPassword: password,
  newPassword: password,
  endOtherSessions: z.boolean().default(false).meta({
    description: 'End every other session of the user once the password is changed (ASVS 5.0 7.4.3).',
  }),
});

/** `POST /v1/password`: the password is changed. */
export const passwordChangedSchema = z
  .object({
    status: z.literal('changed'),
    endedSessions: z
      .number()
      .int()
      .meta({ description: 'Other sessions ended because `endOtherSessions` was asked for (0 otherwise).' }),
  })
  .meta({ id: 'PasswordChanged' });
export type PasswordChanged = z.infer<typeof passwordChangedSchema>;

/** `POST /v1/password`'s answer: mobile and desktop also get the session's new token. */
export const passwordChangeAnswerSchema = passwordChangedSchema.extend(renewedTokenSchema.shape);
