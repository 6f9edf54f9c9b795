/**
 * @module trading
 * Orders and their events, the catalogue, quotes and the portfolio: what order entry takes and answers
 * (`/v1/accounts/{accountId}/orders…`), and what the account's views show.
 */
import { z } from 'zod';
import { accountIdSchema, accountParamsSchema, factsSchema, timestampSchema } from './common.js';
import { errorEnvelopeSchema } from './errors.js';
import { ORDER_TYPES } from './vocabulary.js';

export const orderTypeSchema = z.enum(ORDER_TYPES).meta({ id: 'OrderType' });
export type OrderType = z.infer<typeof orderTypeSchema>;
export const sideSchema = z.enum(['BUY', 'SELL']).meta({ id: 'Side' });
export type Side = z.infer<typeof sideSchema>;
export const timeInForceSchema = z.enum(['DAY', 'GTC', 'IOC']).meta({ id: 'TimeInForce' });
export type TimeInForce = z.infer<typeof timeInForceSchema>;

const price = z.number().positive().finite();

/** `POST /v1/accounts/{accountId}/orders`. `clientOrderId` makes a retry safe: the same id answers the same order. */
export const orderRequestSchema = z
  .strictObject({
    clientOrderId: z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/),
    instrumentId: z.number().int().positive(),
    side: sideSchema,
    type: orderTypeSchema,
    quantity: z.number().finite(),
    limitPrice: price.optional(),
    stopPrice: price.optional(),
    tif: timeInForceSchema,
  })
  .meta({ id: 'OrderRequest' });
export type OrderRequest = z.infer<typeof orderRequestSchema>;

/** `PATCH /v1/accounts/{accountId}/orders/{orderId}`: a working order's new quantity or prices. */
export const orderChangeSchema = z
  .strictObject({
    quantity: z.number().finite().optional(),
    limitPrice: price.optional(),
    stopPrice: price.optional(),
  })
  .refine((v) => Object.keys(v).length > 0, 'quantity, limitPrice or stopPrice is required');

export const orderParamsSchema = accountParamsSchema.extend({ orderId: z.string().min(1).max(64) });
export const confirmationParamsSchema = accountParamsSchema.extend({
  confirmationId: z.string().min(1).max(64),
});

/** `POST …/orders/confirmations/{confirmationId}`: the questions are answered yes. */
export const confirmationAnswerSchema = z.strictObject({ confirmed: z.literal(true) });

export const ORDER_STATUSES = ['working', 'filled', 'cancelled', 'expired'] as const;
export const orderStatusSchema = z.enum(ORDER_STATUSES).meta({ id: 'OrderStatus' });
export type OrderStatus = z.infer<typeof orderStatusSchema>;

export const orderViewSchema = z
  .object({
    id: z.string(),
    accountId: z.string(),
    clientOrderId: z.string(),
    instrumentId: z.number().int(),
    symbol: z
      .string()
      .nullable()
      .meta({ description: 'The instrument’s symbol; null if it left the catalogue.' }),
    side: sideSchema,
    type: orderTypeSchema,
    quantity: z.number(),
    limitPrice: z.number().nullable(),
    stopPrice: z.number().nullable(),
    tif: timeInForceSchema,
    status: orderStatusSchema,
    filledQuantity: z.number(),
    avgFillPrice: z.number().nullable(),
    triggered: z.boolean().meta({ description: 'A stop order whose stop price was reached.' }),
    expiresAt: timestampSchema.nullable(),
    createdAt: timestampSchema,
    updatedAt: timestampSchema,
  })
  .meta({ id: 'OrderView' });
export type OrderView = z.infer<typeof orderViewSchema>;

/** `GET /v1/accounts/{accountId}/orders`. */
export const orderListQuerySchema = z.strictObject({
  status: z.enum(['open', 'filled', 'cancelled', 'expired']).optional(),
  clientOrderId: z
    .string()
    .min(1)
    .max(64)
    .optional()
    .meta({ description: 'Look an order up by the client’s own id (reconciliation after a lost response).' }),
  scope: z.enum(['today', 'all']).optional(),
});
export const orderListSchema = z.object({ orders: z.array(orderViewSchema) });

/** A question the gate asks before an order is placed (no market data, a price far through the market). */
export const questionSchema = z.object({ id: z.string(), message: z.string() }).meta({ id: 'Question' });
export type Question = z.infer<typeof questionSchema>;

/** `409` from order entry: answer with `POST …/orders/confirmations/{confirmationId}` within 60 s. */
export const confirmationRequiredSchema = z
  .object({ confirmationId: z.string(), questions: z.array(questionSchema) })
  .meta({ id: 'ConfirmationRequired' });
export type ConfirmationRequired = z.infer<typeof confirmationRequiredSchema>;

const beforeAfter = z.object({ before: z.number(), after: z.number() });

/**
 * `POST /v1/accounts/{accountId}/orders/what-if`: what placing the order would answer now — accepted, the questions
 * it would ask, or the refusal it would give — and what it would do to the account, placing nothing.
 */
export const whatIfSchema = z
  .object({
    outcome: z.enum(['accepted', 'confirmation_required', 'refused']),
    questions: z
      .array(questionSchema)
      .optional()
      .meta({ description: 'With `confirmation_required`: the questions placing would ask (its 409).' }),
    refusal: errorEnvelopeSchema.shape.error
      .optional()
      .meta({ description: 'With `refused`: the coded error placing would answer (its 422 or 403).' }),
    effect: z
      .object({
        currency: z.string().meta({ description: 'The instrument’s currency: `price` and `commission`.' }),
        baseCurrency: z.string().meta({ description: 'The account’s: every other figure.' }),
        price: z.number().meta({
          description:
            'Where the whole order would fill: at the touch when the current quote fills it (`fillsNow`), else at its limit or stop price once the market reaches it.',
        }),
        fillsNow: z.boolean().meta({
          description:
            'Whether the current quote fills the order; false: it would rest (a limit the market has not reached, a stop not triggered) or, IOC, be cancelled unfilled (the figures then stay as they are).',
        }),
        commission: z.number(),
        buyingPower: beforeAfter.extend({
          required: z.number().meta({ description: 'What the order needs of buying power to be accepted.' }),
        }),
        initialMargin: beforeAfter,
        netLiquidation: beforeAfter,
        position: beforeAfter.meta({ description: 'In the instrument (negative: short).' }),
      })
      .meta({
        description:
          'The account now (after what its working orders reserve) and once the whole order filled at `price` (for an order that would rest, the instrument valued at that price).',
      }),
  })
  .meta({ id: 'WhatIf' });
export type WhatIf = z.infer<typeof whatIfSchema>;

export const EVENT_TYPES = [
  'accepted',
  'confirmed',
  'rejected',
  'modified',
  'cancelled',
  'filled',
  'partially_filled',
  'expired',
] as const;
export const eventTypeSchema = z.enum(EVENT_TYPES).meta({ id: 'EventType' });
export type EventType = z.infer<typeof eventTypeSchema>;

/** One entry of an account's event log, numbered without gaps per account. */
export const accountEventSchema = z
  .object({
    seq: z.number().int(),
    type: eventTypeSchema,
    orderId: z.string().nullable(),
    data: factsSchema,
    at: timestampSchema,
  })
  .meta({ id: 'AccountEvent' });
export type AccountEvent = z.infer<typeof accountEventSchema>;

/** `GET /v1/accounts/{accountId}/events?after=<seq>&limit=`. */
export const eventsQuerySchema = z.strictObject({
  after: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(1_000).default(500),
});
export const eventPageSchema = z.object({ accountId: z.string(), events: z.array(accountEventSchema) });

/** An instrument as `GET /v1/instruments` lists it. */
export const instrumentViewSchema = z
  .object({
    id: z.number().int(),
    symbol: z.string(),
    name: z.string(),
    exchange: z.string(),
    currency: z.string(),
    assetClass: z.string(),
    region: z.string(),
    tickSize: z.number(),
    lotSize: z.number(),
    multiplier: z.number(),
    kid: z.boolean().meta({ description: 'A PRIIPs key information document exists.' }),
    hours: z.object({
      timeZone: z.string(),
      open: z.string().meta({ description: 'Local HH:MM; `open === close` means around the clock.' }),
      close: z.string(),
      weekends: z.boolean(),
    }),
    bundle: z.string(),
    option: z
      .object({
        underlyingId: z.number().int(),
        right: z.enum(['C', 'P']),
        strike: z.number(),
        expiry: z.string(),
      })
      .optional(),
    future: z
      .object({ expiry: z.string(), cryptoUnderlying: z.boolean(), initialMarginRate: z.number() })
      .optional(),
    fx: z.object({ base: z.string() }).optional(),
    tracks: z.string().optional().meta({ description: 'Funds: the index the fund tracks.' }),
  })
  .meta({ id: 'InstrumentView' });
export type InstrumentView = z.infer<typeof instrumentViewSchema>;
export const instrumentListSchema = z.object({ instruments: z.array(instrumentViewSchema) });

/** A market-data quote with the entitlement it was served under (`GET /v1/marketdata/snapshot`). */
export const quoteViewSchema = z
  .object({
    instrumentId: z.number().int(),
    symbol: z.string(),
    bid: z.number().nullable(),
    ask: z.number().nullable(),
    last: z.number().nullable(),
    bidSize: z.number().nullable(),
    askSize: z.number().nullable(),
    at: timestampSchema
      .nullable()
      .meta({ description: 'The instant the prices describe; for a delayed quote, 15 minutes ago.' }),
    entitlement: z.object({
      type: z.enum(['live', 'delayed', 'none']),
      delayMs: z.number().int(),
      bundle: z.string(),
      professional: z.boolean(),
    }),
  })
  .meta({ id: 'QuoteView' });
export type QuoteView = z.infer<typeof quoteViewSchema>;

/** `GET /v1/marketdata/snapshot?instruments=1,2&accountId=`: quotes as the account is entitled to see them. */
export const snapshotQuerySchema = z.strictObject({
  instruments: z
    .string()
    .regex(/^\d+(,\d+){0,99}$/, 'a comma-separated list of up to 100 instrument ids')
    .transform((s) => s.split(',').map(Number)),
  accountId: accountIdSchema.optional(),
});
export const snapshotSchema = z.object({ accountId: z.string(), quotes: z.array(quoteViewSchema) });

/** `GET /v1/accounts/{accountId}/portfolio`: cash per currency, positions and the account's valuation. */
export const portfolioViewSchema = z
  .object({
    accountId: z.string(),
    baseCurrency: z.string(),
    cash: z.record(z.string(), z.number()),
    positions: z.array(
      z.object({
        instrumentId: z.number().int(),
        symbol: z.string().nullable(),
        quantity: z.number(),
        avgCost: z.number(),
        currency: z
          .string()
          .nullable()
          .meta({ description: 'The instrument’s currency: prices and values below.' }),
        lastPrice: z.number().nullable().meta({
          description:
            'The last price as the account is entitled to see it (delayed without a live subscription); null without market data.',
        }),
        marketValue: z.number().nullable().meta({ description: 'quantity × lastPrice × multiplier.' }),
        unrealizedPnl: z
          .number()
          .nullable()
          .meta({ description: '(lastPrice − avgCost) × quantity × multiplier.' }),
      }),
    ),
    netLiquidation: z.number(),
    initialMargin: z.number(),
    buyingPower: z.number(),
  })
  .meta({ id: 'PortfolioView' });
export type PortfolioView = z.infer<typeof portfolioViewSchema>;
