/**
 * @module readiness/schema
 * The readiness routes as the API reference describes them: the protocol's schemas each takes and answers with (the
 * handlers validate with the same ones), and what each does.
 */
import {
  accessReadinessSchema,
  accountParamsSchema,
  entityReviewRequestSchema,
  entityReviewSchema,
  watchlistRequestSchema,
  watchlistSchema,
} from '@gatehouse/protocol';
import { operation } from '../http/index.js';

const tag = 'readiness';

export const readinessOperations = {
  readiness: operation({
    tag,
    summary: 'The access-readiness checklist',
    description:
      'Seven items, always in this order — push authentication, a backup way in, a pre-validated device per ' +
      'channel, market data for the watchlist, API clients’ token refresh, the accounts’ legal entity reviewed, ' +
      'the user’s re-authentication times — each `ok`, `warn` or `missing`, with why it matters, what was found ' +
      'and the portal path that fixes it. `state` is the worst item’s. For people’s sessions only.',
    responses: { 200: accessReadinessSchema },
  }),
  watchlist: operation({
    tag,
    summary: 'The user’s watchlist',
    responses: { 200: watchlistSchema },
  }),
  setWatchlist: operation({
    tag,
    summary: 'Replace the user’s watchlist',
    description:
      'The whole list, in order, at most 50 instruments. An unknown instrument is `INSTRUMENT_NOT_FOUND`, a ' +
      'duplicate `INVALID_REQUEST`; either way nothing is stored. Kept per user, not per session.',
    body: watchlistRequestSchema,
    responses: { 200: watchlistSchema },
  }),
  entityReview: operation({
    tag,
    summary: 'Acknowledge the account’s legal entity as reviewed',
    description:
      'The user states they reviewed the entity that holds the account, its regulator and its investor ' +
      'protection (`GET /v1/accounts/{accountId}` shows them). Audited (`readiness.entity_reviewed`); it stands ' +
      'a year, and only for that entity. Anyone who may view the account may review it for themselves.',
    params: accountParamsSchema,
    body: entityReviewRequestSchema,
    responses: { 200: entityReviewSchema },
  }),
};
