/**
 * @module sessions/schema
 * The session routes as the API reference describes them: the protocol's schemas each takes and answers with (the
 * handlers validate with the same ones), and what each does.
 */
import {
  brokerageReleasedSchema,
  brokerageReleaseSchema,
  brokerageRequestSchema,
  loggedOutSchema,
  othersRevokedSchema,
  sessionIdParamsSchema,
  sessionRevokedSchema,
  sessionStateSchema,
  sessionsListSchema,
  whoAmISchema,
} from '@gatehouse/protocol';
import { operation } from '../http/index.js';

const tag = 'sessions';

export const sessionOperations = {
  whoAmI: operation({
    tag,
    summary: 'Who am I',
    description: 'The user, their accounts with each one’s legal entity, this session and its CSRF token.',
    responses: { 200: whoAmISchema },
  }),
  tickle: operation({
    tag,
    summary: 'Keep the session alive and read its state',
    description:
      'Refreshes the idle timer and reports the tier, competing state, expiries and the next reset.',
    responses: { 200: sessionStateSchema },
  }),
  brokerage: operation({
    tag,
    summary: 'Take the trading tier (brokerage)',
    description:
      'One session of a user trades at a time. Held by another live session: `409 BROKERAGE_HELD_ELSEWHERE`, unless ' +
      '`compete` takes it over (the other session turns competing). Needs the channel’s assurance level ' +
      '(`STEP_UP_REQUIRED`) and, on desktop, the device key (`DEVICE_KEY_REQUIRED`).',
    body: brokerageRequestSchema,
    responses: { 200: sessionStateSchema },
  }),
  release: operation({
    tag,
    summary: 'Give the trading tier up',
    description:
      'This session stops holding trading, so another session of the user takes it at once (without `compete`). ' +
      'Only ever the caller’s own hold: when another session holds trading it stays untouched; asking again ' +
      'answers `released: false`. A page that is closing may send it with `navigator.sendBeacon`, which sets no ' +
      'header: a cookie session then puts its CSRF token in the body (`csrfToken`, JSON or ' +
      '`application/x-www-form-urlencoded`).',
    body: brokerageReleaseSchema,
    responses: { 200: brokerageReleasedSchema },
  }),
  logout: operation({
    tag,
    summary: 'Log out',
    description: 'Ends this session, gives its trading tier up and clears its cookie.',
    responses: { 200: loggedOutSchema },
  }),
  list: operation({
    tag,
    summary: 'My live sessions',
    description: 'Each with its channel, device, network, tier and whether it is competing.',
    responses: { 200: sessionsListSchema },
  }),
  revokeOthers: operation({
    tag,
    summary: 'End every other session of mine',
    description:
      'Needs a second factor in the last 5 minutes, stronger than SMS, and no step-up pending ' +
      '(`STEP_UP_REQUIRED`, `FACTOR_TOO_WEAK`).',
    responses: { 200: othersRevokedSchema },
  }),
  revoke: operation({
    tag,
    summary: 'End one of my sessions',
    description:
      'Ending the current session needs nothing; another one needs what `revoke-others` needs. Another user’s ' +
      'session answers `SESSION_NOT_FOUND`, as an unknown one does.',
    params: sessionIdParamsSchema,
    responses: { 200: sessionRevokedSchema },
  }),
};
