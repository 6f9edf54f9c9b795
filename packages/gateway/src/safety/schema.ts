/**
 * @module safety/schema
 * The safe-fail routes as the API reference describes them: the protocol's schemas each takes and answers with
 * (the handlers validate with the same ones), and what each does.
 */
import {
  accountParamsSchema,
  deadManQuerySchema,
  deadManRequestSchema,
  deadManStateSchema,
  sessionLossPolicyRequestSchema,
  sessionLossPolicySetSchema,
} from '@gatehouse/protocol';
import { operation } from '../http/index.js';

const tag = 'safety';

export const safetyOperations = {
  armDeadMan: operation({
    tag,
    summary: 'Arm, re-arm or disarm the dead-man switch',
    description:
      'Unless re-armed within `timeoutMs`, the switch cancels the open orders of the session (scope `session`) or ' +
      'of the account (scope `account`, a trading role needed), GTC ones too unless `excludeGtc`. `0` disarms.',
    body: deadManRequestSchema,
    responses: { 200: deadManStateSchema },
  }),
  deadMan: operation({
    tag,
    summary: 'The dead-man switch’s state',
    query: deadManQuerySchema,
    responses: { 200: deadManStateSchema },
  }),
  sessionLossPolicy: operation({
    tag,
    summary: 'Set an account’s session-loss policy',
    description:
      'What happens to the open orders of a trading session that is lost (revoked, expired, taken over): nothing, ' +
      'cancel the day orders, or cancel all. The owner only; needs a second factor in the last 5 minutes.',
    params: accountParamsSchema,
    body: sessionLossPolicyRequestSchema,
    responses: { 200: sessionLossPolicySetSchema },
  }),
};
