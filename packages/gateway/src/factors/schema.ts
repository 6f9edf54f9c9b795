/**
 * @module factors/schema
 * The factor routes as the API reference describes them: the protocol's schemas each takes and answers with (the
 * handlers validate with the same ones), and what each does. Every change needs a second factor in the last 5
 * minutes, stronger than SMS, and no step-up pending.
 */
import {
  confirmFactorSchema,
  enrolSmsSchema,
  enrolTotpSchema,
  factorActivatedSchema,
  factorIdParamsSchema,
  factorListSchema,
  factorRemovedSchema,
  factorRenamedSchema,
  recoveryCodesSchema,
  registerWebauthnSchema,
  renameFactorSchema,
  smsEnrolmentSchema,
  totpEnrolmentSchema,
  webauthnOptionsSchema,
  webauthnRegisteredSchema,
} from '@gatehouse/protocol';
import { operation } from '../http/index.js';

const tag = 'factors';
const SENSITIVE =
  'Needs a second factor in the last 5 minutes, stronger than SMS, and no step-up pending (`STEP_UP_REQUIRED`, ' +
  '`FACTOR_TOO_WEAK`). Audited and notified.';

export const factorOperations = {
  list: operation({
    tag,
    summary: 'My second factors',
    description: 'With the recovery codes left (and how many are of the earlier, shorter format).',
    responses: { 200: factorListSchema },
  }),
  enrolTotp: operation({
    tag,
    summary: 'Enrol an authenticator app (TOTP)',
    description: `The secret is shown once; confirm the factor with a first code. ${SENSITIVE}`,
    body: enrolTotpSchema,
    responses: { 200: totpEnrolmentSchema },
  }),
  enrolSms: operation({
    tag,
    summary: 'Enrol a phone number (SMS)',
    description: `A code goes to the number; confirm the factor with it. ${SENSITIVE}`,
    body: enrolSmsSchema,
    responses: { 200: smsEnrolmentSchema },
  }),
  confirm: operation({
    tag,
    summary: 'Confirm a pending factor with its first code',
    description: SENSITIVE,
    params: factorIdParamsSchema,
    body: confirmFactorSchema,
    responses: { 200: factorActivatedSchema },
  }),
  recoveryCodes: operation({
    tag,
    summary: 'Generate new recovery codes',
    description: `Shown once; the earlier set stops working. ${SENSITIVE}`,
    responses: { 200: recoveryCodesSchema },
  }),
  webauthnOptions: operation({
    tag,
    summary: 'WebAuthn options to register a security key or passkey',
    description: SENSITIVE,
    responses: { 200: webauthnOptionsSchema },
  }),
  registerWebauthn: operation({
    tag,
    summary: 'Register a security key or passkey',
    description: SENSITIVE,
    body: registerWebauthnSchema,
    responses: { 200: webauthnRegisteredSchema },
  }),
  rename: operation({
    tag,
    summary: 'Rename a factor',
    description: SENSITIVE,
    params: factorIdParamsSchema,
    body: renameFactorSchema,
    responses: { 200: factorRenamedSchema },
  }),
  remove: operation({
    tag,
    summary: 'Remove a factor',
    description: `The last second factor cannot be removed (\`LAST_FACTOR\`). ${SENSITIVE}`,
    params: factorIdParamsSchema,
    responses: { 200: factorRemovedSchema },
  }),
};
