/**
 * @module devices/schema
 * The device routes as the API reference describes them: the protocol's schemas each takes and answers with (the
 * handlers validate with the same ones), and what each does.
 */
import {
  activateSchema,
  activationSchema,
  challengeParamsSchema,
  decisionSchema,
  desktopRegisteredSchema,
  deviceActivatedSchema,
  deviceIdParamsSchema,
  deviceListSchema,
  deviceViewSchema,
  pushDecidedSchema,
  registerDesktopSchema,
  testPushSentSchema,
  travelNoticeInputSchema,
  travelNoticeListSchema,
  travelNoticeParamsSchema,
  travelNoticeSchema,
  updateDeviceSchema,
} from '@gatehouse/protocol';
import { operation } from '../http/index.js';

const tag = 'devices';
const SENSITIVE =
  'Needs a second factor in the last 5 minutes, stronger than SMS, and no step-up pending (`STEP_UP_REQUIRED`, ' +
  '`FACTOR_TOO_WEAK`).';

export const deviceOperations = {
  enrolMobile: operation({
    tag,
    summary: 'Start enrolling a phone',
    description:
      'An activation code for the phone: `activationLink` (`https://…/authenticator?activate=…` on the configured ' +
      `public URL, for its QR code) and \`activationUri\` (\`gatehouse://activate\`, for an authenticator app). ${SENSITIVE}`,
    responses: { 200: activationSchema },
  }),
  activateMobile: operation({
    tag,
    summary: 'Activate a phone with its code and public key',
    description:
      'Called by the phone itself: the activation code authenticates it. Its P-256 key then signs its logins, ' +
      'its stream’s upgrade and its push decisions. Limited per client address.',
    body: activateSchema,
    responses: { 200: deviceActivatedSchema },
  }),
  registerDesktop: operation({
    tag,
    summary: 'Register a desktop workstation’s device key',
    description:
      'From a desktop session that logged in with a security key in the last 10 minutes; the request carries a ' +
      'proof signed by the new key (`x-device-proof`), so possession is proven. The session is bound to the key ' +
      'from then on (`DEVICE_REGISTRATION_NOT_ALLOWED` otherwise).',
    body: registerDesktopSchema,
    responses: { 200: desktopRegisteredSchema },
  }),
  list: operation({
    tag,
    summary: 'My devices',
    responses: { 200: deviceListSchema },
  }),
  update: operation({
    tag,
    summary: 'Rename, trust or untrust a device',
    description: SENSITIVE,
    params: deviceIdParamsSchema,
    body: updateDeviceSchema,
    responses: { 200: deviceViewSchema },
  }),
  revoke: operation({
    tag,
    summary: 'Revoke a device',
    description: `Ends the sessions bound to it; a phone that is the last second factor cannot go. ${SENSITIVE}`,
    params: deviceIdParamsSchema,
    responses: { 200: deviceViewSchema },
  }),
  decide: operation({
    tag,
    summary: 'Approve or deny a push (a device without its stream)',
    description:
      'The device’s signature over `{challengeId, decision, number}` is its authentication. A number other than ' +
      'the login screen’s voids the push (`WRONG_NUMBER`). Limited per client address.',
    params: challengeParamsSchema,
    body: decisionSchema,
    responses: { 200: pushDecidedSchema },
  }),
  testPush: operation({
    tag,
    summary: 'Send a test push to one of your phones',
    description:
      'A push that logs nobody in, to check that a newly activated phone receives and answers requests. At most ' +
      'three in ten minutes per user (`PUSH_LIMIT_REACHED`); the device must be an active phone of the user ' +
      '(`DEVICE_NOT_FOUND`).',
    params: deviceIdParamsSchema,
    responses: { 200: testPushSentSchema },
  }),
  pushState: operation({
    tag,
    summary: 'The state of one of your push requests',
    description:
      'A test push’s outcome as the gateway decided it (`PUSH_CHALLENGE_INVALID` for another user’s).',
    params: challengeParamsSchema,
    responses: { 200: pushDecidedSchema },
  }),
};

/** Travel notices (devices/travel-routes.ts). */
export const travelOperations = {
  announce: operation({
    tag,
    summary: 'Announce a trip',
    description:
      'A country and the first and last day (UTC, inclusive) of a trip: a login or session from that country on ' +
      'those days is still notified, but needs no step-up before it trades. From a session with no step-up ' +
      'pending and a second factor in the last 5 minutes (`STEP_UP_REQUIRED`), of a user who may trade on some ' +
      'account (`ROLE_NOT_ALLOWED`); people only. Refused, with nothing stored: an unknown country, a trip already ' +
      'over, a last day before the first or a trip longer than `travel.maxNoticeDays` (`TRAVEL_NOTICE_INVALID`), ' +
      'more than `travel.maxNotices` notices (`TRAVEL_NOTICE_LIMIT`).',
    body: travelNoticeInputSchema,
    responses: { 200: travelNoticeSchema },
  }),
  list: operation({
    tag,
    summary: 'My travel notices',
    description: 'The trips announced that have not ended, soonest first.',
    responses: { 200: travelNoticeListSchema },
  }),
  cancel: operation({
    tag,
    summary: 'Cancel a travel notice',
    description:
      'Answers with the notice cancelled; another user’s answers as an unknown one (`TRAVEL_NOTICE_NOT_FOUND`).',
    params: travelNoticeParamsSchema,
    responses: { 200: travelNoticeSchema },
  }),
};
