/** @module sessions — channel policies, the session store and cache, validation, listing and revocation. */
export {
  type BrokeragePolicy,
  BrokerageTier,
  type BrokerageTierOptions,
  type LossReason,
  type SessionState,
  standingRefusal,
  type Tier,
  type TradingRefusal,
  type TradingState,
  tradingRefusal,
  userResetSchedules,
} from './brokerage.js';
export { countLiveSessions, type LiveSessionCount } from './counts.js';
export { CSRF_HEADER, csrfTokenFor, isValidCsrfToken } from './csrf.js';
export { DEVICE_PROOF_HEADER, PROOF_MAX_AGE_MS, type ProofCheck, verifyDeviceProof } from './device-proof.js';
export { RECENT_SECOND_FACTOR_MS, requireSensitive, type SensitiveOptions } from './guard.js';
export { type MonitoredSession, monitorSessions } from './monitor.js';
export { type OperatorDeps, revokeLiveSessions, setUserEnabled } from './operator.js';
export {
  awaitingDeviceKey,
  CHANNELS,
  type Channel,
  type ChannelPolicies,
  type ChannelPolicy,
  channelPolicies,
  usesDeviceKey,
} from './policy.js';
export {
  asciiJson,
  memoized,
  type ProfileView,
  presentProfile,
  presentSession,
  type SessionView,
  whoamiBody,
} from './presenter.js';
export { lastResetAt, nextResetAt, type ResetSchedule, zonedTimeToUtc } from './reset.js';
export {
  type ApiGrant,
  type IssuedSession,
  type NewSession,
  type Principal,
  type RevokeReason,
  type SessionProfile,
  SessionService,
  type SessionServiceOptions,
} from './service.js';
export {
  type CountryObservation,
  type CountrySeen,
  type CountrySignal,
  parseStepUpReason,
  type StepUpReason,
  stepUpDetails,
} from './step-up-reason.js';
export { type SessionRecord, withinIdle } from './store.js';
