/**
 * @module sandbox
 * The failure sandbox's wire shapes: the fault catalogue (every kind, its family, whether it is an action that
 * happens once or a condition that holds for a while, and its parameters), a fault's target and schedule, an
 * injected fault as the gateway lists it, and a scenario (a timeline of faults with a seed). The gateway, the
 * `gatehouse sandbox` command, the portal and scenario files share these schemas (`docs/sandbox.md`).
 */
import { z } from 'zod';
import { timestampSchema } from './common.js';

const positiveMs = (max: number) => z.number().int().min(1).max(max);

/**
 * Each fault kind with its parameters. An `action` happens once, when its schedule starts it (an expiry, a
 * revocation, a competing login); a `condition` holds from its start until its duration ends or it is cleared, and
 * acts on each matching request, push, order or stream message while it holds.
 */
export const FAULT_CATALOGUE = {
  // Factors: the push transport, the SMS sender, the WebAuthn ceremony.
  'push.not_delivered': { family: 'factors', mode: 'condition', params: z.strictObject({}) },
  'push.late': {
    family: 'factors',
    mode: 'condition',
    params: z.strictObject({ delayMs: positiveMs(600_000) }),
  },
  'push.auto_denied': { family: 'factors', mode: 'condition', params: z.strictObject({}) },
  'sms.late': {
    family: 'factors',
    mode: 'condition',
    params: z.strictObject({ delayMs: positiveMs(600_000) }),
  },
  'sms.lost': { family: 'factors', mode: 'condition', params: z.strictObject({}) },
  'webauthn.missing': { family: 'factors', mode: 'condition', params: z.strictObject({}) },
  // Sessions: the session store, the token service, the brokerage tier, devices.
  'session.idle_expiry': { family: 'sessions', mode: 'action', params: z.strictObject({}) },
  'session.absolute_expiry': { family: 'sessions', mode: 'action', params: z.strictObject({}) },
  'token.expired_early': { family: 'sessions', mode: 'action', params: z.strictObject({}) },
  'token.revoked': { family: 'sessions', mode: 'action', params: z.strictObject({}) },
  'refresh.refused': {
    family: 'sessions',
    mode: 'condition',
    params: z.strictObject({
      status: z.union([z.literal(500), z.literal(502), z.literal(503)]).default(503),
    }),
  },
  'refresh.timeout': {
    family: 'sessions',
    mode: 'condition',
    params: z.strictObject({ hangMs: positiveMs(120_000).default(30_000) }),
  },
  'refresh.response_lost': { family: 'sessions', mode: 'condition', params: z.strictObject({}) },
  'login.competing': {
    family: 'sessions',
    mode: 'action',
    params: z.strictObject({
      channel: z.enum(['web', 'mobile', 'desktop']).default('mobile'),
      device: z.string().min(1).max(80).default('Sandbox phone'),
    }),
  },
  'network.changed': {
    family: 'sessions',
    mode: 'action',
    params: z.strictObject({ address: z.union([z.ipv4(), z.ipv6()]).default('203.0.113.77') }),
  },
  'device.revoked': {
    family: 'sessions',
    mode: 'action',
    params: z.strictObject({ deviceId: z.string().min(1).max(64).optional() }),
  },
  'reset.daily': { family: 'sessions', mode: 'action', params: z.strictObject({}) },
  maintenance: {
    family: 'sessions',
    mode: 'condition',
    params: z.strictObject({ retryAfterS: z.number().int().min(1).max(3600).default(30) }),
  },
  // Entitlements: what the account may see and do, as the entitlements layer answers it.
  'marketdata.revoked': {
    family: 'entitlements',
    mode: 'condition',
    params: z.strictObject({ bundle: z.string().min(1).max(32) }),
  },
  'permission.removed': {
    family: 'entitlements',
    mode: 'condition',
    params: z.strictObject({
      assetClass: z.string().min(1).max(32),
      region: z.string().min(1).max(8).optional(),
    }),
  },
  'options_level.lowered': {
    family: 'entitlements',
    mode: 'condition',
    params: z.strictObject({ level: z.number().int().min(0).max(4) }),
  },
  'account.closing_only': { family: 'entitlements', mode: 'condition', params: z.strictObject({}) },
  'account.frozen': { family: 'entitlements', mode: 'condition', params: z.strictObject({}) },
  // Transport: the HTTP layer and the stream hub.
  'http.latency': {
    family: 'transport',
    mode: 'condition',
    params: z.strictObject({
      ms: z.number().int().min(0).max(30_000),
      jitterMs: z.number().int().min(0).max(30_000).default(0),
    }),
  },
  'http.error': {
    family: 'transport',
    mode: 'condition',
    params: z.strictObject({
      status: z.union([z.literal(429), z.literal(500), z.literal(502), z.literal(503)]),
      rate: z.number().min(0).max(1).default(1),
    }),
  },
  'http.pacing': {
    family: 'transport',
    mode: 'condition',
    params: z.strictObject({ perSecond: z.number().int().min(1).max(10_000) }),
  },
  'stream.dropped': { family: 'transport', mode: 'action', params: z.strictObject({}) },
  'stream.stalled': { family: 'transport', mode: 'condition', params: z.strictObject({}) },
  'stream.events_withheld': { family: 'transport', mode: 'condition', params: z.strictObject({}) },
  // Orders: confirmations, the HTTP answer of order entry, the paper engine.
  'order.confirmation_expires': { family: 'orders', mode: 'condition', params: z.strictObject({}) },
  'order.response_lost': { family: 'orders', mode: 'condition', params: z.strictObject({}) },
  'order.fill_delayed': {
    family: 'orders',
    mode: 'condition',
    params: z.strictObject({ delayMs: positiveMs(3_600_000) }),
  },
  'order.partial_fill': {
    family: 'orders',
    mode: 'condition',
    params: z.strictObject({ fraction: z.number().gt(0).lt(1).default(0.5) }),
  },
  'order.rejected': {
    family: 'orders',
    mode: 'condition',
    params: z.strictObject({ reason: z.string().min(1).max(120).default('Rejected by the venue (sandbox)') }),
  },
} as const satisfies Record<
  string,
  {
    family: 'factors' | 'sessions' | 'entitlements' | 'transport' | 'orders';
    mode: 'action' | 'condition';
    params: z.ZodType;
  }
>;

export type FaultKind = keyof typeof FAULT_CATALOGUE & string;
export const FAULT_KINDS = Object.keys(FAULT_CATALOGUE) as FaultKind[];
export type FaultFamily = (typeof FAULT_CATALOGUE)[FaultKind]['family'];
export type FaultParams<K extends FaultKind> = z.output<(typeof FAULT_CATALOGUE)[K]['params']>;

/**
 * Faults of these kinds may not overlap on one target: two maintenance windows, or two pacing limits, would make
 * the outcome depend on which is checked first.
 */
export const EXCLUSIVE_FAULT_KINDS: ReadonlySet<FaultKind> = new Set<FaultKind>([
  'maintenance',
  'http.pacing',
  'http.latency',
  'refresh.refused',
  'refresh.timeout',
  'refresh.response_lost',
  'order.partial_fill',
  'order.fill_delayed',
]);

export const faultKindSchema = z.enum(FAULT_KINDS as [FaultKind, ...FaultKind[]]).meta({ id: 'FaultKind' });

export const FAULT_TARGET_TYPES = ['all', 'user', 'session', 'client', 'account', 'instrument'] as const;
/** Whom a fault acts on: everything, or one user, session, API client, account or instrument (by id or symbol). */
export const faultTargetSchema = z
  .strictObject({
    type: z.enum(FAULT_TARGET_TYPES),
    id: z.string().min(1).max(64).optional(),
  })
  .refine((t) => (t.type === 'all') === (t.id === undefined), {
    message: 'a target names an id, except "all"',
    path: ['id'],
  })
  .meta({ id: 'FaultTarget' });
export type FaultTarget = z.infer<typeof faultTargetSchema>;

/**
 * When a fault acts: from `at` (or `afterMs` from now; default now) for `durationMs` (a condition without one holds
 * until cleared), once `afterRequests` matching requests have passed, and then on each match with `probability`
 * drawn from a generator seeded with `seed` (the same seed, the same draws).
 */
const scheduleShape = {
  durationMs: z.number().int().min(1).max(86_400_000).optional(),
  afterRequests: z.number().int().min(0).max(1_000_000).optional(),
  probability: z.number().min(0).max(1).optional(),
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1)
    .optional(),
};

export const faultScheduleSchema = z
  .strictObject({
    at: timestampSchema.optional(),
    afterMs: z.number().int().min(0).max(86_400_000).optional(),
    ...scheduleShape,
  })
  .refine((s) => s.at === undefined || s.afterMs === undefined, { message: 'give at or afterMs, not both' })
  .meta({ id: 'FaultSchedule' });
export type FaultSchedule = z.infer<typeof faultScheduleSchema>;

/** `POST /v1/sandbox/faults`: one fault. `params` are checked against the kind's own schema. */
export const faultRequestSchema = z
  .strictObject({
    kind: faultKindSchema,
    target: faultTargetSchema,
    params: z.record(z.string(), z.unknown()).default({}),
    schedule: faultScheduleSchema.default({}),
    note: z.string().max(200).optional(),
  })
  .meta({ id: 'FaultRequest' });
export type FaultRequest = z.input<typeof faultRequestSchema>;

export const FAULT_STATES = ['scheduled', 'active', 'done', 'cleared'] as const;

/** A fault as the gateway lists it. */
export const faultSchema = z
  .object({
    id: z.string(),
    kind: faultKindSchema,
    family: z.string(),
    mode: z.enum(['action', 'condition']),
    target: faultTargetSchema,
    params: z.record(z.string(), z.unknown()),
    schedule: faultScheduleSchema,
    state: z.enum(FAULT_STATES),
    startsAt: timestampSchema,
    endsAt: timestampSchema.nullable(),
    /** How many times it acted (a push dropped, a request refused, an action done). */
    hits: z.number().int(),
    createdBy: z.string(),
    createdAt: timestampSchema,
    note: z.string().optional(),
  })
  .meta({ id: 'Fault' });
export type Fault = z.infer<typeof faultSchema>;

export const faultListSchema = z.object({ faults: z.array(faultSchema) });
export const faultListQuerySchema = z.strictObject({
  state: z.enum(['active', 'all']).default('all'),
});
/** `DELETE /v1/sandbox/faults[?id=]`: one fault, or every fault the caller may clear. */
export const faultClearQuerySchema = z.strictObject({ id: z.string().min(1).max(64).optional() });
export const faultClearedSchema = z.object({ cleared: z.number().int() });

/** A step of a scenario: a fault, `at` milliseconds after the scenario starts. */
export const scenarioStepSchema = z.strictObject({
  at: z.number().int().min(0).max(86_400_000),
  kind: faultKindSchema,
  /** `$user`, `$client`, `$account`, `$session` name the drill's own user, API client, account and sessions. */
  target: faultTargetSchema,
  params: z.record(z.string(), z.unknown()).default({}),
  schedule: z.strictObject(scheduleShape).default({}),
  note: z.string().max(200).optional(),
});

export const SCENARIO_VERSION = 1;

/** A scenario file (`scenarios/*.json`, its JSON Schema in `docs/sandbox/scenario.schema.json`). */
export const scenarioSchema = z
  .strictObject({
    $schema: z.string().optional(),
    version: z.literal(SCENARIO_VERSION),
    name: z.string().min(1).max(80),
    description: z.string().max(2000),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1),
    /** How long the scenario runs, from its start; the drill then stops the bot and grades. */
    durationMs: z.number().int().min(1000).max(3_600_000),
    steps: z.array(scenarioStepSchema).min(1).max(100),
  })
  .meta({ id: 'Scenario' });
export type Scenario = z.infer<typeof scenarioSchema>;
export type ScenarioStep = z.infer<typeof scenarioStepSchema>;
