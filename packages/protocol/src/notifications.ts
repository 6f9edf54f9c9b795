/**
 * @module notifications
 * What a user reads of their own security: their notifications and recent audit events; and, on a development
 * instance, what the SMS simulator "sent".
 */
import { z } from 'zod';
import { factsSchema, timestampSchema } from './common.js';

/**
 * Every audit event type the gateway writes. The gateway's `AuditType` is this list, and the portal words each one
 * for a person (its table is checked against this list), so a new type cannot reach the Security page as a code.
 */
export const AUDIT_EVENT_TYPES = [
  'account.entitlements_changed',
  'account.role_granted',
  'account.role_revoked',
  'order.cancelled_by_operator',
  'order.confirmed_without_market_data',
  'login.password_failed',
  'login.password_ok',
  'login.throttled',
  'login.factor_failed',
  'login.factor_replayed',
  'login.succeeded',
  'factor.used',
  'factor.added',
  'session.logout',
  'session.network_changed',
  'session.step_up',
  'factor.removed',
  'factor.renamed',
  'factor.confirmed',
  'recovery.generated',
  'recovery.used',
  'sms.sent',
  'device.new',
  'session.brokerage_acquired',
  'session.brokerage_released',
  'device.enrolled',
  'device.revoked',
  'push.sent',
  'push.approved',
  'push.denied',
  'push.wrong_number',
  'session.revoked',
  'user.created',
  'password.changed',
  'password.change_failed',
  'password.reset',
  'user.disabled',
  'user.enabled',
  'oauth.client_registered',
  'oauth.client_revoked',
  'oauth.consent_granted',
  'oauth.grant_revoked',
  'oauth.refresh_token_reused',
  'safety.dead_man_armed',
  'safety.dead_man_fired',
  'safety.session_loss',
  'sandbox.fault_injected',
  'sandbox.fault_cleared',
  'readiness.entity_reviewed',
  'device.new_country',
  'travel.announced',
  'travel.cancelled',
  'trading.resumed',
] as const;
/** One of `AUDIT_EVENT_TYPES`. */
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/** How many security events one page holds at most (`limit`), and by default. */
export const SECURITY_EVENTS_MAX_PAGE = 100;
export const SECURITY_EVENTS_DEFAULT_PAGE = 50;

/** `GET /v1/security/events?before=&limit=`: one page, newest first; `before` is the `seq` to page back from. */
export const securityEventsQuerySchema = z.strictObject({
  before: z.coerce
    .number()
    .int()
    .min(1)
    .optional()
    .meta({ description: 'Only events older than this `seq` (the previous page’s `nextBefore`).' }),
  limit: z.coerce.number().int().min(1).max(SECURITY_EVENTS_MAX_PAGE).default(SECURITY_EVENTS_DEFAULT_PAGE),
});

/** `GET /v1/security/events`: the user's recent audit events, newest first. */
export const securityEventSchema = z
  .object({
    seq: z.number().int(),
    at: timestampSchema,
    type: z
      .string()
      .meta({ description: 'One of the audit event types (`push.approved`, `login.succeeded`, …).' }),
    sessionId: z.string().nullable(),
    ip: z.string().nullable(),
    data: factsSchema,
  })
  .meta({ id: 'SecurityEvent' });
export type SecurityEvent = z.infer<typeof securityEventSchema>;
export const securityEventListSchema = z.object({
  events: z.array(securityEventSchema),
  nextBefore: z
    .number()
    .int()
    .nullable()
    .meta({ description: 'Pass as `before` for the next, older page; null when there is none.' }),
});

/** `GET /v1/notifications`: what the user was told (new device, factor added, …), newest first. */
export const notificationListSchema = z.object({
  notifications: z.array(
    z.object({ id: z.string(), kind: z.string(), data: factsSchema, createdAt: timestampSchema }),
  ),
});

/**
 * `GET /v1/auth/login/{loginId}/simulated-texts` (demo instances only): the texts the SMS simulator stored for this
 * login — and no other — newest first, the number masked.
 */
export const simulatedTextsSchema = z.object({
  messages: z.array(
    z.object({ id: z.string(), to: z.string(), body: z.string(), createdAt: timestampSchema }),
  ),
});

/** `GET /v1/dev/sms-outbox` (development only): the texts the SMS simulator stored instead of sending. */
export const smsOutboxSchema = z.object({
  messages: z.array(
    z.object({ id: z.string(), to: z.string(), body: z.string(), createdAt: timestampSchema }),
  ),
});
