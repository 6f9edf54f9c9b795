/**
 * @module login/step-up
 * Step-up: a second factor verified again inside a session (after a network change, or before a sensitive
 * action), counted towards the same per-user backoff as login failures.
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
import { clearFailures, throttleWaitMs } from './throttle.js';

import {
  type ClientInfo,
  countFactorFailure,
  type LoginDeps,
  tooManyAttempts,
  usableFactors,
} from './transaction.js';

/**
 * Verifies a second factor again inside a session (step-up): clears `stepUpRequired` and refreshes the recent
 * second-factor time. Failures count towards the same per-user backoff as login failures.
 */
export async function stepUp(
  deps: LoginDeps,
  principal: Principal,
  factor: CodeProof,
  client: ClientInfo,
): Promise<void> {
  const { db, clock } = deps;
  const { session, profile } = principal;
  const subject = profile.user.username;
  const waitMs = await throttleWaitMs(db, subject, clock.now());
  if (waitMs > 0) throw tooManyAttempts(waitMs);
  const available = await usableFactors(deps, session.userId, session.channel);
  if (!available.includes(factor.type)) throw new GatehouseError('FACTOR_NOT_AVAILABLE');
  const check = await db.transaction().execute(async (trx) => {
    const result = await verifyCodeFactor(
      trx,
      { clock, box: deps.box, totpWindow: deps.totpWindow },
      session.userId,
      factor,
    );
    if (!result.ok) {
      await countFactorFailure(trx, deps, {
        userId: session.userId,
        channel: session.channel,
        subject,
        factor: factor.type,
        cause: result.reason,
        client,
        sessionId: session.id,
      });
    }
    return result;
  });
  if (!check.ok) throw new GatehouseError('INVALID_CREDENTIALS');
  await deps.sessions.recordSecondFactor(session, factor.type, check.factor.aal);
  await appendAudit(db, clock, {
    type: 'session.step_up',
    userId: session.userId,
    sessionId: session.id,
    ip: client.ip,
    data: { factor: factor.type },
  });
  await clearFailures(db, subject);
}

/** Sends an SMS code for a step-up in an existing session. */
export async function sendStepUpSms(
  deps: LoginDeps,
  principal: Principal,
  client: ClientInfo,
): Promise<SmsSent> {
  const sent = await sendSmsCode(
    deps.db,
    deps.clock,
    deps.sms,
    principal.session.userId,
    await activeSmsFactorId(deps.db, principal.session.userId),
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
