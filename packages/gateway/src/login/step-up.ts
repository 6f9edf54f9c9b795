/**
 * @module login/step-up
 * Step-up: a second factor verified again inside a session (after a network change, or before a sensitive
 * action), under the same brute-force limits as a login. The attempt is claimed in the bucket of the device the
 * session is bound to (a browser, a phone, a workstation), so a stranger's failures elsewhere never block the
 * owner's step-up; a session without a device draws on its network's and the account's buckets.
 */

import { appendAudit } from '../audit/index.js';
import { GatehouseError } from '../core/index.js';
import {
  activeSmsFactorId,
  type CodeProof,
  type SmsSent,
  sendSmsCode,
  verifyCodeFactor,
} from '../factors/index.js';
import type { Principal } from '../sessions/index.js';
import type { CodeFactors, LoginCompletion, LoginLimits, LoginTransactions } from './deps.js';
import { type Attempter, attemptBuckets, networkAttempter, successBuckets } from './limits.js';
import { claimAttempt, clearBuckets } from './throttle.js';

import {
  auditFactorFailure,
  type ClientInfo,
  ownFailures,
  refuseThrottled,
  usableFactors,
} from './transaction.js';

/**
 * Verifies a second factor again inside a session (step-up): clears `stepUpRequired`, refreshes the recent
 * second-factor time and gives the session a new token, which it returns (the old one ends: ASVS 5.0 7.2.4). The
 * attempt is claimed before the code is checked; a right code forgets the session device's (or network's)
 * failures and the account's.
 */
export async function stepUp(
  deps: LoginLimits & LoginTransactions & LoginCompletion & CodeFactors,
  principal: Principal,
  factor: CodeProof,
  client: ClientInfo,
): Promise<string> {
  const { db, clock } = deps;
  const { session, profile } = principal;
  const username = profile.user.username;
  const attempter: Attempter =
    session.deviceId === null ? networkAttempter(client.ip) : { kind: 'device', deviceId: session.deviceId };
  const available = await usableFactors(deps, session.userId, session.channel);
  if (!available.includes(factor.type)) throw new GatehouseError('FACTOR_NOT_AVAILABLE');
  const claim = await claimAttempt(db, attemptBuckets(deps.backoff, username, attempter), clock.now());
  if (!claim.ok) {
    throw await refuseThrottled(deps, {
      userId: session.userId,
      channel: session.channel,
      client,
      waitMs: claim.waitMs,
    });
  }
  const check = await db.transaction().execute(async (trx) => {
    const result = await verifyCodeFactor(
      trx,
      { clock, box: deps.box, totpWindow: deps.totpWindow, ...(deps.log ? { log: deps.log } : {}) },
      session.userId,
      factor,
      { purpose: 'step_up', sessionId: session.id },
    );
    if (!result.ok) {
      await auditFactorFailure(trx, deps, {
        userId: session.userId,
        channel: session.channel,
        factor: factor.type,
        cause: result.reason,
        client,
        failures: ownFailures(claim.claims),
        sessionId: session.id,
      });
    }
    return result;
  });
  if (!check.ok) throw new GatehouseError('INVALID_CREDENTIALS');
  const token = await deps.sessions.recordSecondFactor(session, factor.type, check.factor.aal);
  await appendAudit(db, clock, {
    type: 'session.step_up',
    userId: session.userId,
    sessionId: session.id,
    ip: client.ip,
    data: { factor: factor.type, tokenReplaced: true },
  });
  await clearBuckets(db, successBuckets(deps.backoff, username, attempter));
  return token;
}

/** Sends an SMS code for a step-up in an existing session. */
export async function sendStepUpSms(
  deps: Pick<LoginLimits, 'db' | 'clock'> & Pick<CodeFactors, 'sms'>,
  principal: Principal,
  client: ClientInfo,
): Promise<SmsSent> {
  const sent = await sendSmsCode(
    deps.db,
    deps.clock,
    deps.sms,
    principal.session.userId,
    await activeSmsFactorId(deps.db, principal.session.userId),
    { purpose: 'step_up', sessionId: principal.session.id },
  );
  await appendAudit(deps.db, deps.clock, {
    type: 'sms.sent',
    userId: principal.session.userId,
    sessionId: principal.session.id,
    ip: client.ip,
    data: { purpose: 'step_up' },
  });
  return sent;
}
