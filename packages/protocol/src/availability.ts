/**
 * @module availability
 * `GET /v1/accounts/{accountId}/instruments/{instrumentId}/availability`: whether an account may open or close a
 * position in an instrument, decided by the pre-trade gate's own checks and said in plain words before any order,
 * with the market data the account gets, and the funds tracking the same index with their own availability.
 */
import { z } from 'zod';
import { accountParamsSchema } from './common.js';
import { instrumentViewSchema } from './trading.js';

export const availabilityParamsSchema = accountParamsSchema.extend({
  instrumentId: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER),
});

/** Why an order would be refused: the code (and rule) a refusal would carry, and the same in plain words. */
export const restrictionSchema = z
  .object({
    code: z.string().meta({ description: 'The error code an order would be refused with.' }),
    ruleId: z.string().optional(),
    details: z.record(z.string(), z.unknown()).optional(),
    summary: z
      .string()
      .meta({ description: 'A short plain label, e.g. "ETF · UK not permitted on this account".' }),
    message: z.string().meta({ description: 'The refusal’s message, in plain words.' }),
  })
  .meta({ id: 'Restriction' });
export type Restriction = z.infer<typeof restrictionSchema>;

const sideSchema = z.object({
  allowed: z.boolean(),
  restriction: restrictionSchema.optional(),
});

export const AVAILABILITY_STATUSES = ['available', 'closing_only', 'not_available', 'view_only'] as const;

/** One instrument's availability for one account. */
export const availabilityCoreSchema = z.object({
  instrumentId: z.number().int(),
  status: z.enum(AVAILABILITY_STATUSES).meta({
    description:
      '`available`: may open and close; `closing_only`: may reduce a position only; `not_available`: neither; ' +
      '`view_only`: the user’s role on the account does not trade.',
  }),
  summary: z.string().meta({ description: 'One line in plain words, for a badge.' }),
  open: sideSchema.meta({ description: 'Buying one lot (opening, or adding to a long position).' }),
  close: sideSchema.meta({ description: 'Selling a position held (never blocked by product rules).' }),
});

export const availabilitySchema = availabilityCoreSchema
  .extend({
    accountId: z.string(),
    canTrade: z.boolean().meta({ description: 'The user’s role on the account trades (owner, trader).' }),
    marketData: z.object({
      type: z.enum(['live', 'delayed', 'none']),
      bundle: z.string(),
      name: z.string(),
    }),
    optionsLevel: z.number().int(),
    equivalents: z
      .array(availabilityCoreSchema.extend({ instrument: instrumentViewSchema }))
      .meta({ description: 'Funds tracking the same index, each with its availability for this account.' }),
  })
  .meta({ id: 'Availability' });
export type Availability = z.infer<typeof availabilitySchema>;
