/**
 * @module readiness
 * The access-readiness checklist (`GET /v1/readiness`): the broker's own advice — push authentication, a backup
 * way in, a pre-validated device per channel, market data for the watchlist, API clients' refresh drills, the
 * account's legal entity reviewed, the user's own re-authentication times — checked against what the gateway
 * knows. Also the per-user watchlist (`GET`/`PUT /v1/watchlist`) and the legal-entity review
 * (`POST /v1/accounts/{accountId}/entity-review`).
 */
import { z } from 'zod';
import { timestampSchema } from './common.js';

export const READINESS_STATES = ['ok', 'warn', 'missing'] as const;
export const readinessStateSchema = z.enum(READINESS_STATES).meta({ id: 'ReadinessState' });
export type ReadinessState = z.infer<typeof readinessStateSchema>;

/** The checklist's items, always answered all seven in this order. */
export const READINESS_ITEM_IDS = [
  'push',
  'backup',
  'devices',
  'market_data',
  'api_clients',
  'legal_entity',
  'reauthentication',
] as const;
export const readinessItemIdSchema = z.enum(READINESS_ITEM_IDS).meta({ id: 'ReadinessItemId' });
export type ReadinessItemId = z.infer<typeof readinessItemIdSchema>;

export const READINESS_CHANNELS = ['web', 'desktop', 'mobile'] as const;
export const readinessChannelSchema = z.enum(READINESS_CHANNELS);
export type ReadinessChannel = z.infer<typeof readinessChannelSchema>;

/** The one action that fixes an item: a portal path (`/security#push`, `/trade#watchlist`). */
export const readinessActionSchema = z.object({ label: z.string(), href: z.string() }).nullable();
export type ReadinessAction = z.infer<typeof readinessActionSchema>;

export const pushDetailsSchema = z.object({
  devices: z.array(z.object({ id: z.string(), name: z.string(), lastSeenAt: timestampSchema.nullable() })),
});
export const backupDetailsSchema = z.object({
  ways: z.array(z.string()).meta({
    description:
      'The ways to complete a login besides the first (`totp`, `webauthn:YubiKey`, `push:Pixel 8`).',
  }),
  recoveryCodesLeft: z.number().int(),
});
export const devicesDetailsSchema = z.object({
  channels: z.array(
    z.object({
      channel: readinessChannelSchema,
      used: z.boolean().meta({ description: 'A session of this channel held trading in the last 90 days.' }),
      device: z.object({ id: z.string(), name: z.string() }).nullable(),
    }),
  ),
});
export const WHAT_IF_OUTCOMES = ['accepted', 'confirmation_required', 'refused'] as const;
export const marketDataDetailsSchema = z.object({
  instruments: z.array(
    z.object({
      instrumentId: z.number().int(),
      symbol: z.string(),
      data: z.enum(['live', 'delayed', 'none']),
      bundle: z
        .string()
        .nullable()
        .meta({ description: 'The bundle to subscribe to for live data; null if live.' }),
      whatIf: z.object({
        outcome: z.enum(WHAT_IF_OUTCOMES),
        reason: z
          .string()
          .nullable()
          .meta({ description: 'The refusing rule’s code, or the first question.' }),
      }),
    }),
  ),
});
export const apiClientsDetailsSchema = z.object({
  clients: z.array(
    z.object({
      clientId: z.string(),
      name: z.string(),
      lastRefreshAt: timestampSchema.nullable(),
      lastDrillAt: timestampSchema.nullable(),
      drillPassed: z.boolean().nullable(),
    }),
  ),
});
export const legalEntityDetailsSchema = z.object({
  accounts: z.array(
    z.object({
      accountId: z.string(),
      entity: z.string(),
      entityName: z.string(),
      regulator: z.string(),
      protection: z.string(),
      reviewedAt: timestampSchema.nullable(),
      reviewExpiresAt: timestampSchema.nullable(),
    }),
  ),
});
export const reauthenticationDetailsSchema = z.object({
  channels: z.array(
    z.object({
      channel: readinessChannelSchema,
      samples: z.number().int(),
      lastMs: z.number().nullable(),
      p50Ms: z.number().nullable(),
      fastestPath: z.string(),
    }),
  ),
});

const item = <const I extends ReadinessItemId, D extends z.ZodType>(id: I, details: D) =>
  z.object({
    id: z.literal(id),
    state: readinessStateSchema,
    title: z.string(),
    why: z.string().meta({ description: 'One sentence: why the item matters.' }),
    finding: z.string().meta({ description: 'What was found, in words.' }),
    action: readinessActionSchema,
    details,
  });

export const readinessItemSchema = z
  .discriminatedUnion('id', [
    item('push', pushDetailsSchema),
    item('backup', backupDetailsSchema),
    item('devices', devicesDetailsSchema),
    item('market_data', marketDataDetailsSchema),
    item('api_clients', apiClientsDetailsSchema),
    item('legal_entity', legalEntityDetailsSchema),
    item('reauthentication', reauthenticationDetailsSchema),
  ])
  .meta({ id: 'ReadinessItem' });
export type ReadinessItem = z.infer<typeof readinessItemSchema>;

/** `GET /v1/readiness`: every item, and the worst item’s state. (`readinessSchema` is `GET /readyz`’s.) */
export const accessReadinessSchema = z
  .object({
    checkedAt: timestampSchema,
    state: readinessStateSchema,
    items: z.array(readinessItemSchema),
  })
  .meta({ id: 'AccessReadiness' });
export type AccessReadiness = z.infer<typeof accessReadinessSchema>;

/** Most instruments a watchlist holds. */
export const WATCHLIST_MAX = 50;

/** `PUT /v1/watchlist`: the whole list, in order; unknown ids and duplicates are refused and nothing is stored. */
export const watchlistRequestSchema = z
  .strictObject({
    instrumentIds: z
      .array(z.number().int().positive())
      .max(WATCHLIST_MAX)
      .refine((ids) => new Set(ids).size === ids.length, 'an instrument appears twice'),
  })
  .meta({ id: 'WatchlistRequest' });
export type WatchlistRequest = z.infer<typeof watchlistRequestSchema>;

/** `GET` / `PUT /v1/watchlist`. */
export const watchlistSchema = z
  .object({
    instruments: z.array(z.object({ instrumentId: z.number().int(), symbol: z.string(), name: z.string() })),
  })
  .meta({ id: 'Watchlist' });
export type Watchlist = z.infer<typeof watchlistSchema>;

/** `POST /v1/accounts/{accountId}/entity-review` (body `{}`): the legal entity acknowledged as reviewed. */
export const entityReviewRequestSchema = z.strictObject({});
export const entityReviewSchema = z
  .object({ accountId: z.string(), reviewedAt: timestampSchema, reviewExpiresAt: timestampSchema })
  .meta({ id: 'EntityReview' });
export type EntityReview = z.infer<typeof entityReviewSchema>;
