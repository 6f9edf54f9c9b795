/**
 * @module login/webauthn-login
 * The second step by security key or passkey (WebAuthn).
 */

import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import { GatehouseError } from '../core/index.js';
import { backupFactorMissing } from '../factors/index.js';
import { authenticationOptions, verifyAssertion } from '../factors/webauthn.js';

import type { LoginCompletion, LoginLimits, LoginTransactions, WebauthnLogins } from './deps.js';
import {
  afterLoginIssued,
  auditFactorFailure,
  type ClientInfo,
  cancelPushesOfEndedLogin,
  claimFactorAttempt,
  findOpenLogin,
  issueLoginSession,
  type LoginCompleted,
  usableFactors,
} from './transaction.js';

/** WebAuthn options for a started login: the challenge and the user's credentials. */
export async function startWebauthnLogin(
  deps: LoginLimits & LoginTransactions & WebauthnLogins,
  loginId: string,
  client: ClientInfo,
) {
  const tx = await findOpenLogin(deps, loginId, client);
  if (!(await usableFactors(deps, tx.user_id, tx.channel)).includes('webauthn'))
    throw new GatehouseError('FACTOR_NOT_AVAILABLE');
  return authenticationOptions(deps.db, deps.clock, deps.webauthn, tx.user_id, 'login', tx.id, deps.faults);
}

/** Second step by security key or passkey. */
export async function completeWebauthnLogin(
  deps: LoginLimits & LoginTransactions & LoginCompletion & WebauthnLogins,
  loginId: string,
  response: AuthenticationResponseJSON,
  client: ClientInfo,
): Promise<LoginCompleted> {
  const { db, clock } = deps;
  const tx = await findOpenLogin(deps, loginId, client);
  const { failures } = await claimFactorAttempt(deps, tx, client);
  let check: Awaited<ReturnType<typeof verifyAssertion>>;
  try {
    check = await verifyAssertion(db, clock, deps.webauthn, tx.user_id, 'login', response);
  } catch (error) {
    await db.transaction().execute((trx) =>
      auditFactorFailure(trx, deps, {
        userId: tx.user_id,
        channel: tx.channel,
        factor: 'webauthn',
        cause: 'mismatch',
        client,
        failures,
      }),
    );
    await cancelPushesOfEndedLogin(deps, tx.id);
    throw error;
  }
  const issued = await db
    .transaction()
    .execute((trx) => issueLoginSession(trx, deps, tx, { type: 'webauthn', ...check }, client));
  await afterLoginIssued(deps, tx.user_id, issued, client);
  return { ...issued, backupFactorMissing: await backupFactorMissing(db, tx.user_id) };
}
