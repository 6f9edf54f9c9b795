/**
 * @module login/schema
 * The login routes as the API reference describes them: the protocol's schemas each takes and answers with (the
 * handlers validate with the same ones), and what each does.
 */
import {
  codeFactorSchema,
  factorRequestSchema,
  loginParamsSchema,
  loginRequestSchema,
  loginStepSchema,
  pollQuerySchema,
  simulatedTextsSchema,
  smsSentSchema,
  steppedUpSchema,
  webauthnOptionsSchema,
} from '@gatehouse/protocol';
import { operation } from '../http/index.js';

const tag = 'login';

export const loginOperations = {
  start: operation({
    tag,
    summary: 'Start a login',
    description:
      'Web and desktop: username and password; the answer names the second factors this login may use. Mobile: ' +
      'the enrolled device’s signed statement and its PIN, answered with the session and its bearer token. Wrong ' +
      'password, unknown and disabled user all answer `401 INVALID_CREDENTIALS` after the same work. Limited per ' +
      'client address.',
    body: loginRequestSchema,
    responses: { 200: loginStepSchema },
  }),
  factor: operation({
    tag,
    summary: 'Pass the second step of a login',
    description:
      'A TOTP, SMS or recovery code, a WebAuthn assertion, or `{"type":"push"}` to ask the enrolled devices (then ' +
      'follow the push with `GET /v1/auth/login/{loginId}` or its stream). Authenticated: the web gets the session ' +
      'cookie and a CSRF token; mobile and desktop the bearer token in the body.',
    params: loginParamsSchema,
    body: factorRequestSchema,
    responses: { 200: loginStepSchema },
  }),
  abandon: operation({
    tag,
    summary: 'Give a started login up',
    description:
      'Ends the login ("Start again", or its page closed: the portal sends it with `navigator.sendBeacon`), so it ' +
      'can no longer complete, and cancels its pending push on the phone at once. The same answer whether the ' +
      'login was open, ended or unknown.',
    params: loginParamsSchema,
    responses: { 204: { description: 'The login is over.' } },
  }),
  poll: operation({
    tag,
    summary: 'Wait for a started login (long poll)',
    description:
      'Answers when the pending push changes, or after `waitMs`: still pending (with the fallback factors once ' +
      'the push was not delivered in time), back to the second step, or authenticated (sets the cookie).',
    params: loginParamsSchema,
    query: pollQuerySchema,
    responses: { 200: loginStepSchema },
  }),
  webauthnOptions: operation({
    tag,
    summary: 'WebAuthn options for a started login',
    params: loginParamsSchema,
    responses: { 200: webauthnOptionsSchema },
  }),
  sms: operation({
    tag,
    summary: 'Text a code for a started login',
    description: 'At most one text every 30 s and 5 an hour (`SMS_RESEND_TOO_SOON`, `SMS_LIMIT_REACHED`).',
    params: loginParamsSchema,
    responses: { 200: smsSentSchema },
  }),
  simulatedTexts: operation({
    tag,
    summary: 'The simulated texts of a started login (demo)',
    description:
      'What the SMS simulator stored instead of sending, for this login only: the login id is the proof, as for ' +
      'its other steps, and texts of any other login are never shown. A demo instance’s aid to read the code.',
    servedWhen: '`development.exposeOutboxes` is on (as under `gatehouse serve --demo`)',
    params: loginParamsSchema,
    responses: { 200: simulatedTextsSchema },
  }),
  stepUp: operation({
    tag,
    summary: 'Step the session up with a second factor',
    description:
      'Re-authenticates: the session gets a new token and the one this request carried ends (a new cookie on the ' +
      'web; mobile and desktop get the token in the body and prove requests with it from now on).',
    body: codeFactorSchema,
    responses: { 200: steppedUpSchema },
  }),
  stepUpSms: operation({
    tag,
    summary: 'Text a code for a step-up',
    responses: { 200: smsSentSchema },
  }),
};
