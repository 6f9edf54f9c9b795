/**
 * @module drill
 * What a drill records and how it is graded (docs/sandbox.md, "Report card"). A recording is what the gateway saw
 * of one bot — its user, its API client, the account it trades — from the gateway clock: every HTTP request of the
 * client's sessions, its token requests, order placements and cancels (and whether a cancel took effect), changes
 * of its sessions' trading tier, its streams (and where each resumed from), its dead-man switch, the account's
 * event log and the sandbox faults that acted on it. No cooperation from the bot is needed.
 *
 * A report is the grades of one recording: per fault (time to recover, orders refused while the session was not
 * ready, the request rate after the failure) and overall (orphaned orders, missed cancels, duplicate orders,
 * expired-token failures, a dead-man switch armed, streams resumed without a gap), each `pass`, `fail` or `n/a` with
 * the figure measured and the threshold it was held to. Its JSON Schema is `docs/sandbox/report.schema.json`.
 */
import { z } from 'zod';
import { timestampSchema } from './common.js';
import { faultKindSchema, faultTargetSchema } from './sandbox.js';

const id = z.string().min(1).max(64);
const nullableCode = z.string().max(64).nullable();

/**
 * `POST /v1/sandbox/recordings`: start recording what the gateway sees of an API client on an account. `userId`
 * names whose use of a shared app an operator records (required then); a person records only themselves.
 */
export const recordingRequestSchema = z
  .strictObject({ clientId: id, accountId: id, userId: id.optional() })
  .meta({ id: 'RecordingRequest' });
export type RecordingRequest = z.infer<typeof recordingRequestSchema>;

/** Whom a recording follows: the drill's user, its API client and the account it trades. */
export const drillSubjectSchema = z
  .object({ userId: z.string(), clientId: z.string(), accountId: z.string() })
  .meta({ id: 'DrillSubject' });
export type DrillSubject = z.infer<typeof drillSubjectSchema>;

export const recordingStartedSchema = z
  .object({ id: z.string(), subject: drillSubjectSchema, startedAt: timestampSchema })
  .meta({ id: 'RecordingStarted' });
export type RecordingStarted = z.infer<typeof recordingStartedSchema>;

export const recordingParamsSchema = z.strictObject({ id });

/** One HTTP request of the client's sessions (the upgrade of a stream included), as it was answered. */
export const recordedRequestSchema = z.object({
  at: timestampSchema,
  method: z.string(),
  /** The route's pattern (`/v1/accounts/:accountId/orders`), never the raw URL. */
  route: z.string(),
  status: z.number().int(),
  /** The error envelope's code (`INVALID_TOKEN`, `SESSION_COMPETING`), or the OAuth error; null on success. */
  code: nullableCode,
  sessionId: z.string().nullable(),
  /** Refused because its access token had expired (`INVALID_TOKEN` for a token past its `expires_at`). */
  tokenExpired: z.boolean(),
});
export type RecordedRequest = z.infer<typeof recordedRequestSchema>;

/** A request to the token endpoint by the client. */
export const recordedTokenRequestSchema = z.object({
  at: timestampSchema,
  grantType: z.string().max(64),
  outcome: z.enum(['issued', 'refused', 'no_response']),
  status: z.number().int(),
  error: nullableCode,
  /**
   * The refresh token presented, as the first 16 hex digits of its SHA-256 (never the token): the same reference
   * twice is a retry of one refresh.
   */
  refreshRef: z.string().nullable(),
  /** A refresh presenting a refresh token already presented before (after a lost or refused answer). */
  retry: z.boolean(),
});
export type RecordedTokenRequest = z.infer<typeof recordedTokenRequestSchema>;

/** An order placement: what was asked and what the gateway answered. */
export const recordedPlacementSchema = z.object({
  at: timestampSchema,
  clientOrderId: z.string(),
  /** The order the gateway holds under this `clientOrderId` (filled in from the orders at the end). */
  orderId: z.string().nullable(),
  outcome: z.enum(['accepted', 'existing', 'confirmation_required', 'refused', 'no_response']),
  status: z.number().int(),
  code: nullableCode,
  sessionId: z.string().nullable(),
});
export type RecordedPlacement = z.infer<typeof recordedPlacementSchema>;

/** A cancel the bot asked for, and whether the order was cancelled at or after it. */
export const recordedCancelSchema = z.object({
  at: timestampSchema,
  orderId: z.string(),
  status: z.number().int(),
  code: nullableCode,
  tookEffect: z.boolean(),
  effectAt: timestampSchema.nullable(),
});
export type RecordedCancel = z.infer<typeof recordedCancelSchema>;

export const SESSION_CHANGES = [
  'brokerage_acquired',
  'competing',
  'step_up_required',
  'step_up_satisfied',
  'token_replaced',
  'expired',
  'revoked',
  'reset',
] as const;
export type SessionChange = (typeof SESSION_CHANGES)[number];

/**
 * A change of a session's trading tier or life, from the event bus. `own` is false for another session of the same
 * user (the competing login that took trading).
 */
export const recordedSessionChangeSchema = z.object({
  at: timestampSchema,
  sessionId: z.string(),
  change: z.enum(SESSION_CHANGES),
  own: z.boolean(),
  reason: z.string().nullable(),
});
export type RecordedSessionChange = z.infer<typeof recordedSessionChangeSchema>;

/**
 * The bot's view of the account's events: a stream opened (with `after`, the sequence it resumed from, or null for
 * live only), closed, or a read of `GET …/events?after=`.
 */
export const recordedStreamSchema = z.object({
  at: timestampSchema,
  event: z.enum(['open', 'close', 'read']),
  sessionId: z.string().nullable(),
  /** Which stream (the order its upgrade was seen in), so an open and its close pair up. */
  stream: z.number().int().nullable(),
  after: z.number().int().nullable(),
});
export type RecordedStream = z.infer<typeof recordedStreamSchema>;

/** The dead-man switch, as the bot armed, re-armed or disarmed it, and as it fired. */
export const recordedDeadManSchema = z.object({
  at: timestampSchema,
  action: z.enum(['armed', 'disarmed', 'fired', 'refused']),
  scope: z.enum(['session', 'account']),
  sessionId: z.string().nullable(),
  timeoutMs: z.number().int().nullable(),
});
export type RecordedDeadMan = z.infer<typeof recordedDeadManSchema>;

/** A sandbox fault whose target covered the subject while the recording ran. */
export const recordedFaultSchema = z.object({
  id: z.string(),
  kind: faultKindSchema,
  mode: z.enum(['action', 'condition']),
  target: faultTargetSchema,
  params: z.record(z.string(), z.unknown()),
  startsAt: timestampSchema,
  /** A condition's end; null for an action (it happens at `startsAt`) or a condition still holding at the end. */
  endsAt: timestampSchema.nullable(),
  state: z.string(),
  hits: z.number().int(),
  note: z.string().nullable(),
});
export type RecordedFault = z.infer<typeof recordedFaultSchema>;

/** An entry of the account's event log during the recording. */
export const recordedAccountEventSchema = z.object({
  seq: z.number().int(),
  at: timestampSchema,
  type: z.string(),
  orderId: z.string().nullable(),
  clientOrderId: z.string().nullable(),
  /** Who ended an order (`user`, `dead_man`, `session_loss`, `engine`, …), when the event says. */
  by: z.string().nullable(),
});
export type RecordedAccountEvent = z.infer<typeof recordedAccountEventSchema>;

/** An order the client's sessions placed on the account during the recording, as it stood at the end. */
export const recordedOrderSchema = z.object({
  orderId: z.string(),
  clientOrderId: z.string(),
  sessionId: z.string(),
  instrumentId: z.number().int(),
  side: z.string(),
  type: z.string(),
  quantity: z.number(),
  limitPrice: z.number().nullable(),
  tif: z.string(),
  status: z.string(),
  createdAt: timestampSchema,
  updatedAt: timestampSchema,
});
export type RecordedOrder = z.infer<typeof recordedOrderSchema>;

/** Everything the gateway saw of one bot (`GET /v1/sandbox/recordings/{id}`). */
export const recordingSchema = z
  .object({
    id: z.string(),
    subject: drillSubjectSchema,
    state: z.enum(['recording', 'stopped']),
    startedAt: timestampSchema,
    /** The end of what was recorded: when it stopped, or when this copy was read. */
    endedAt: timestampSchema,
    /** The client's program sessions seen, in the order first seen. */
    sessions: z.array(z.string()),
    requests: z.array(recordedRequestSchema),
    /** Entries beyond the recording's bounds, counted only (a retry storm can send millions of requests). */
    dropped: z.number().int(),
    tokenRequests: z.array(recordedTokenRequestSchema),
    placements: z.array(recordedPlacementSchema),
    cancels: z.array(recordedCancelSchema),
    sessionChanges: z.array(recordedSessionChangeSchema),
    streams: z.array(recordedStreamSchema),
    deadMan: z.array(recordedDeadManSchema),
    faults: z.array(recordedFaultSchema),
    events: z.array(recordedAccountEventSchema),
    orders: z.array(recordedOrderSchema),
  })
  .meta({ id: 'Recording' });
export type Recording = z.infer<typeof recordingSchema>;

export const recordingStoppedSchema = z.object({ id: z.string(), state: z.literal('stopped') });

export const GRADE_VERDICTS = ['pass', 'fail', 'n/a'] as const;
export type GradeVerdict = (typeof GRADE_VERDICTS)[number];

export const GRADE_CHECKS = [
  'traded',
  'recovery',
  'order_recovery',
  'not_ready_orders',
  'request_rate',
  'orphaned_orders',
  'missed_cancels',
  'duplicate_orders',
  'expired_token_failures',
  'dead_man_armed',
  'stream_gaps',
] as const;
export type GradeCheck = (typeof GRADE_CHECKS)[number];

/** One graded item: what was measured, the threshold it is held to, and the verdict. */
export const gradedItemSchema = z.object({
  /** Stable within a report: `<check>` overall, `<check>@<faultId>` per fault. */
  id: z.string(),
  check: z.enum(GRADE_CHECKS),
  /** The fault this item is about; null for the overall items. */
  faultId: z.string().nullable(),
  faultKind: faultKindSchema.nullable(),
  title: z.string(),
  verdict: z.enum(GRADE_VERDICTS),
  /** The figure measured (null when there was nothing to measure, or it never happened). */
  figure: z.number().nullable(),
  unit: z.enum(['ms', 'count', 'req/s', 'yes/no']),
  /** Passing needs `figure <= threshold` (`at most`) or `figure >= threshold` (`at least`). */
  threshold: z.number(),
  comparison: z.enum(['at most', 'at least']),
  /** One line a bot author can act on: what happened, which orders, which requests. */
  detail: z.string(),
});
export type GradedItem = z.infer<typeof gradedItemSchema>;

/** The thresholds of the card (docs/sandbox.md lists each with its default and meaning). */
export const gradeThresholdsSchema = z
  .object({
    /** After a fault ends (an action: after it happens), the first successful authenticated call, at most (ms). */
    recoveryMs: z.number().int().min(0),
    /** After a fault ends, the first order accepted once the bot places again, at most (ms). */
    orderRecoveryMs: z.number().int().min(0),
    /** Orders refused because the session was not ready (competing, step-up, expired, reset), at most, per fault. */
    notReadyOrders: z.number().int().min(0),
    /** The window before a fault and after its first failure in which request rates are compared (ms). */
    rateWindowMs: z.number().int().min(1000),
    /** A retry storm: the rate after a failure above this many times the rate before … */
    rateFactor: z.number().min(1),
    /** … and above this floor (requests/s), so a quiet bot's few quick calls are no storm. */
    rateFloorPerSecond: z.number().min(0),
    /** How long after a session is lost its working orders may stay unwatched before they are orphans (ms). */
    orphanGraceMs: z.number().int().min(0),
    /** How far apart two same-shaped orders count as one intent placed twice (ms). */
    duplicateWindowMs: z.number().int().min(0),
  })
  .meta({ id: 'GradeThresholds' });
export type GradeThresholds = z.infer<typeof gradeThresholdsSchema>;

export const DEFAULT_GRADE_THRESHOLDS: GradeThresholds = {
  recoveryMs: 30_000,
  orderRecoveryMs: 60_000,
  notReadyOrders: 1,
  rateWindowMs: 10_000,
  rateFactor: 3,
  rateFloorPerSecond: 2,
  orphanGraceMs: 60_000,
  duplicateWindowMs: 60_000,
};

export const DRILL_REPORT_VERSION = 1;

/** The report card of one drill: the JSON document `gatehouse drill` writes (`docs/sandbox/report.schema.json`). */
export const drillReportSchema = z
  .object({
    $schema: z.string().optional(),
    version: z.literal(DRILL_REPORT_VERSION),
    /** The drill's name (the scenario's, or given). */
    name: z.string(),
    scenario: z.object({ name: z.string(), seed: z.number().int() }).nullable(),
    subject: drillSubjectSchema,
    startedAt: timestampSchema,
    endedAt: timestampSchema,
    thresholds: gradeThresholdsSchema,
    summary: z.object({
      pass: z.number().int(),
      fail: z.number().int(),
      na: z.number().int(),
      /** True when no item failed: the drill's exit status is 0. */
      ok: z.boolean(),
    }),
    items: z.array(gradedItemSchema),
    recording: recordingSchema,
  })
  .meta({ id: 'DrillReport' });
export type DrillReport = z.infer<typeof drillReportSchema>;
