/** @module login — the login transaction (password, second factor, session) and per-user backoff. */

export { loginRoutes } from './routes.js';
export {
  type ClientInfo,
  completeLoginFactor,
  completeWebauthnLogin,
  findOpenLogin,
  type LoginCompleted,
  type LoginDeps,
  type LoginPoll,
  type LoginStarted,
  type OpenLogin,
  type PushStarted,
  pollLogin,
  sendLoginSms,
  sendStepUpSms,
  startLogin,
  startPushLogin,
  startWebauthnLogin,
  stepUp,
} from './service.js';
export {
  type BackoffPolicy,
  backoffDelayMs,
  clearFailures,
  recordFailure,
  throttleWaitMs,
} from './throttle.js';
