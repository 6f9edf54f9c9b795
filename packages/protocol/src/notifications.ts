/**
 * @module notifications
 * What a user reads of their own security: their notifications and recent audit events; and, on a development
 * instance, what the SMS simulator "sent".
 */
import { z } from 'zod';
import { factsSchema, timestampSchema } from './common.js';

/** `GET /v1/security/events`: the user's recent audit events, newest first. */
export const securityEventSchema = z
  .object({
    seq: z.number().int(),
    at: timestampSchema,
    type: z.string(),
    sessionId: z.string().nullable(),
    ip: z.string().nullable(),
    data: factsSchema,
  })
  .meta({ id: 'SecurityEvent' });
export type SecurityEvent = z.infer<typeof securityEventSchema>;
export const securityEventListSchema = z.object({ events: z.array(securityEventSchema) });

/** `GET /v1/notifications`: what the user was told (new device, factor added, …), newest first. */
export const notificationListSchema = z.object({
  notifications: z.array(
    z.object({ id: z.string(), kind: z.string(), data: factsSchema, createdAt: timestampSchema }),
  ),
});

/** `GET /v1/dev/sms-outbox` (development only): the texts the SMS simulator stored instead of sending. */
export const smsOutboxSchema = z.object({
  messages: z.array(
    z.object({ id: z.string(), to: z.string(), body: z.string(), createdAt: timestampSchema }),
  ),
});
