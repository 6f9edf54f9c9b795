/**
 * @module streams
 * The WebSocket channels: `/v1/stream` (a session's live channel), `/v1/auth/login/{loginId}/stream` (the login
 * screen's view of a pending push) and `/v1/devices/stream` (an enrolled device's push channel) — what the upgrade
 * takes, and the messages each way.
 */
import { z } from 'zod';
import { accountIdSchema, factsSchema, timestampSchema } from './common.js';
import { PUSH_DECISIONS, PUSH_STATUSES, pushRequestMessageSchema } from './devices.js';
import { errorEnvelopeSchema } from './errors.js';
import { factorTypeSchema } from './factors.js';

/** A message on `/v1/stream` (every one has its topic, type, per-connection sequence and time). */
export const streamMessageSchema = z
  .looseObject({
    topic: z.enum(['session', 'orders', 'marketdata', 'control']),
    type: z.string(),
    seq: z.number().int(),
    at: timestampSchema,
    accountId: z.string().optional().meta({ description: 'Topic `orders`: the account of the event.' }),
    eventSeq: z
      .number()
      .int()
      .optional()
      .meta({ description: 'Topic `orders`: the event’s sequence number in its account, without gaps.' }),
    orderId: z.string().nullable().optional(),
    data: factsSchema.optional(),
    replayed: z.boolean().optional(),
  })
  .meta({ id: 'StreamMessage' });
export type StreamMessage = z.infer<typeof streamMessageSchema>;

/** What a client sends on `/v1/stream`: quotes to watch, or the event sequence to resume an account after. */
export const streamRequestSchema = z
  .union([
    z.strictObject({
      op: z.literal('subscribe'),
      topic: z.literal('marketdata'),
      instruments: z.array(z.number().int().positive()).min(1).max(100),
      accountId: accountIdSchema.optional(),
    }),
    z.strictObject({ op: z.literal('unsubscribe'), topic: z.literal('marketdata') }),
    z.strictObject({
      op: z.literal('resume'),
      accountId: accountIdSchema,
      after: z.number().int().min(0),
    }),
  ])
  .meta({ id: 'StreamRequest' });

/** `?resumeAfter=DU1000001:42,U1000001:7` at the upgrade: the last event sequence the client holds, per account. */
export const streamUpgradeQuerySchema = z.looseObject({
  resumeAfter: z
    .string()
    .max(2000)
    .regex(/^[A-Z0-9]{1,16}:\d{1,15}(,[A-Z0-9]{1,16}:\d{1,15}){0,49}$/, 'ACCOUNT:SEQ[,ACCOUNT:SEQ]')
    .transform((s) =>
      s
        .split(',')
        .map((pair) => pair.split(':') as [string, string])
        .map(([a, q]) => ({ accountId: a, after: Number(q) })),
    )
    .optional(),
});

/** What the login screen receives on `/v1/auth/login/{loginId}/stream`. */
export const loginStreamMessageSchema = z
  .discriminatedUnion('type', [
    z.object({ type: z.literal('ready') }),
    z.object({
      type: z.literal('login_state'),
      challengeId: z.string(),
      status: z.enum(PUSH_STATUSES),
      delivered: z.boolean(),
    }),
    z.object({
      type: z.literal('fallback'),
      challengeId: z.string(),
      factors: z.array(z.object({ type: factorTypeSchema })),
    }),
  ])
  .meta({ id: 'LoginStreamMessage' });

/** The upgrade of `/v1/devices/stream`: the device's signature over `deviceStreamAuthMessage(deviceId, ts, nonce)`. */
export const deviceStreamQuerySchema = z.strictObject({
  deviceId: z.string().min(1).max(64),
  ts: z.coerce.number().int().meta({ description: 'The device’s time, ms since the epoch.' }),
  nonce: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/),
  sig: z.string().min(1).max(200),
});

/** What a device sends on its stream: a delivery receipt, or a signed decision (`pushDecisionMessage`). */
export const deviceStreamRequestSchema = z
  .discriminatedUnion('type', [
    z.strictObject({ type: z.literal('receipt'), challengeId: z.string().min(1).max(64) }),
    z.strictObject({
      type: z.literal('decision'),
      challengeId: z.string().min(1).max(64),
      decision: z.enum(PUSH_DECISIONS),
      number: z.string().regex(/^\d{2}$/),
      signature: z.string().min(1).max(200),
    }),
  ])
  .meta({ id: 'DeviceStreamRequest' });

/** What a device receives on its stream. */
export const deviceStreamMessageSchema = z
  .union([
    z.object({ type: z.literal('ready'), deviceId: z.string() }),
    pushRequestMessageSchema,
    z.object({ type: z.literal('ack'), for: z.enum(['receipt', 'decision']), challengeId: z.string() }),
    z.object({ type: z.literal('push_state'), challengeId: z.string(), status: z.enum(PUSH_STATUSES) }).meta({
      description: 'A push reached its final state (the same the login screen is told): drop its prompt.',
    }),
    z
      .object({ type: z.literal('revoked') })
      .meta({ description: 'The device was revoked; the gateway closes the stream (code 4001) after this.' }),
    errorEnvelopeSchema.extend({ type: z.literal('error'), challengeId: z.string().optional() }),
  ])
  .meta({ id: 'DeviceStreamMessage' });
