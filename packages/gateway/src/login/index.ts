/** @module login — the login transaction (password, second factor, session), step-up and brute-force limits. */

export type {
  CodeFactors,
  DeviceLogins,
  LoginCompletion,
  LoginLimits,
  LoginTransactions,
  PasswordChecks,
  PushLogins,
  WebauthnLogins,
} from './deps.js';
export {
  type Attempter,
  attemptBuckets,
  successBuckets,
  type ThrottlePolicies,
  throttlePolicies,
} from './limits.js';
export { type LoginPoll, type PushStarted, pollLogin, startPushLogin } from './push-login.js';
export { checkSessionPassword, completeLoginFactor, sendLoginSms, startLogin } from './service.js';
export { sendStepUpSms, stepUp } from './step-up.js';
export {
  type AttemptClaim,
  type BackoffPolicy,
  type Bucket,
  backoffDelayMs,
  backoffDelaySql,
  claimAttempt,
  clearBuckets,
  releaseAttempt,
  throttleWaitMs,
} from './throttle.js';
export {
  type ClientInfo,
  findOpenLogin,
  type LoginCompleted,
  type LoginStarted,
  type OpenLogin,
  spendAttemptOnWrongNumber,
} from './transaction.js';
export { completeWebauthnLogin, startWebauthnLogin } from './webauthn-login.js';
