/**
 * @module trading/schema
 * The trading routes as the API reference describes them: the protocol's schemas each takes and answers with (the
 * handlers validate with the same ones), and what each does. The catalogue's filter names the instrument
 * catalogue's own asset classes.
 */
import {
  accountParamsSchema,
  availabilityParamsSchema,
  availabilitySchema,
  confirmationAnswerSchema,
  confirmationParamsSchema,
  confirmationRequiredSchema,
  eventPageSchema,
  eventsQuerySchema,
  instrumentListSchema,
  orderChangeSchema,
  orderListQuerySchema,
  orderListSchema,
  orderParamsSchema,
  orderRequestSchema,
  orderViewSchema,
  portfolioViewSchema,
  snapshotQuerySchema,
  snapshotSchema,
  tradingResumedSchema,
  whatIfSchema,
} from '@gatehouse/protocol';
import { z } from 'zod';
import { operation, type ResponseDoc } from '../http/index.js';
import { ASSET_CLASSES } from '../instruments/index.js';

const tag = 'trading';
const TRADING =
  'Needs the trading tier (`POST /v1/session/brokerage`) held now: a competing, reset or stepped-down session is ' +
  'refused with its code, re-checked on every call.';

const placed = {
  201: { description: 'A new order, accepted.', schema: orderViewSchema },
  200: {
    description: 'The order this `clientOrderId` already placed, as it is now.',
    schema: orderViewSchema,
  },
  409: {
    description: 'Questions to answer first (`POST …/orders/confirmations/{confirmationId}` within 60 s).',
    schema: confirmationRequiredSchema,
  },
} satisfies Record<number, ResponseDoc>;

export const tradingOperations = {
  instruments: operation({
    tag,
    summary: 'Search the instrument catalogue',
    description:
      '`symbol`: a symbol prefix. `q`: a symbol prefix, or words all found in the name or the tracked index ' +
      '("S&P 500", "apple"), case-insensitive; the best matches first.',
    query: z.strictObject({
      symbol: z.string().min(1).max(32).optional(),
      q: z
        .string()
        .trim()
        .min(1)
        .max(64)
        .regex(/^[^\p{Cc}]+$/u, 'no control characters')
        .optional(),
      assetClass: z.enum(ASSET_CLASSES).optional(),
    }),
    responses: { 200: instrumentListSchema },
  }),
  availability: operation({
    tag,
    summary: 'Whether an account may trade an instrument, in plain words',
    description:
      'The pre-trade gate’s account, product-rule, permission, options-level, margin and disclosure checks for ' +
      'a one-lot buy (opening) and a sale of a position held (closing), with each refusal’s code and its plain ' +
      'words; the market data the account gets; and, when the instrument cannot be bought, the funds tracking ' +
      'the same index with their own availability. A viewer is told the role does not trade.',
    params: availabilityParamsSchema,
    responses: { 200: availabilitySchema },
  }),
  snapshot: operation({
    tag,
    summary: 'Quotes, as an account is entitled to see them',
    description: 'Each quote carries its entitlement: live, delayed 15 minutes, or none (no prices).',
    query: snapshotQuerySchema,
    responses: { 200: snapshotSchema },
  }),
  place: operation({
    tag,
    summary: 'Place an order',
    description:
      `Through the pre-trade gate: refused with a coded 422 (and the rule’s id), asked to confirm (409), or ` +
      `accepted (201). The same \`clientOrderId\` again answers the order it placed (200). ${TRADING}`,
    params: accountParamsSchema,
    body: orderRequestSchema,
    responses: placed,
  }),
  whatIf: operation({
    tag,
    summary: 'What placing an order would do, placing nothing',
    description:
      'The whole pre-trade gate and the margin arithmetic on the order as `POST …/orders` takes it, answered ' +
      'with what placing it now would answer — accepted, the questions it would ask, or the coded refusal it ' +
      'would give (the same code, rule id and words) — and its effect: commission, buying power, initial margin, ' +
      'net liquidation and position, now and once filled. Nothing is reserved, stored or announced, and ' +
      '`clientOrderId` is not looked up. Refused as placing is when the request itself is wrong: another ' +
      'user’s account, a viewer, a program without the `trade` scope, an unknown instrument, a bad order shape.',
    params: accountParamsSchema,
    body: orderRequestSchema,
    responses: { 200: whatIfSchema },
  }),
  confirm: operation({
    tag,
    summary: 'Answer a confirmation: place the order, or make the change',
    description: `Once, within 60 s, by its owner; through the whole gate again. ${TRADING}`,
    params: confirmationParamsSchema,
    body: confirmationAnswerSchema,
    responses: placed,
  }),
  list: operation({
    tag,
    summary: 'An account’s orders',
    description: '`clientOrderId` finds the order a lost response placed (reconciliation).',
    params: accountParamsSchema,
    query: orderListQuerySchema,
    responses: { 200: orderListSchema },
  }),
  get: operation({
    tag,
    summary: 'One order',
    params: orderParamsSchema,
    responses: { 200: orderViewSchema },
  }),
  cancel: operation({
    tag,
    summary: 'Cancel a working order',
    description: TRADING,
    params: orderParamsSchema,
    responses: { 200: orderViewSchema },
  }),
  modify: operation({
    tag,
    summary: 'Change a working order’s quantity or prices',
    description: `Through the whole gate again. ${TRADING}`,
    params: orderParamsSchema,
    body: orderChangeSchema,
    responses: {
      200: { description: 'The order, changed.', schema: orderViewSchema },
      409: placed[409],
    },
  }),
  portfolio: operation({
    tag,
    summary: 'An account’s cash, positions and valuation',
    params: accountParamsSchema,
    responses: { 200: portfolioViewSchema },
  }),
  events: operation({
    tag,
    summary: 'An account’s event log, after a sequence number',
    description:
      'Numbered without gaps per account; what `/v1/stream` sends live (topic `orders`), read back after a gap.',
    params: accountParamsSchema,
    query: eventsQuerySchema,
    responses: { 200: eventPageSchema },
  }),
  operatorCancel: operation({
    tag: 'admin',
    summary: 'Cancel an order as an operator',
    description: 'No session needed; audited with the operator’s address.',
    servedWhen: '`secrets.adminApiToken` is set',
    params: orderParamsSchema,
    responses: { 200: orderViewSchema },
  }),
  resume: operation({
    tag: 'admin',
    summary: 'Resume trading on this node after it halted',
    description:
      'After `TRADING_HALTED` (the order journal failed: a full disk, a read-only database): once the database ' +
      'takes writes again, rebuilds this node’s view of its accounts from the database, as a restart does, and ' +
      'trades again. `503 STORAGE_UNAVAILABLE` while the database still refuses writes; nothing changes when ' +
      'trading runs. Audited (`trading.resumed`).',
    servedWhen: '`secrets.adminApiToken` is set',
    responses: { 200: tradingResumedSchema },
  }),
};
