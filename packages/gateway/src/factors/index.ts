/** @module factors — second factors: TOTP, SMS, recovery codes (push and security keys join here). */
export { presentFactor, presentSmsSent } from './presenter.js';
export {
  generateRecoveryCodes,
  normaliseRecoveryCode,
  RECOVERY_CODE_COUNT,
  type RecoveryCodeStatus,
  recoveryCodeStatus,
  remainingRecoveryCodes,
  useRecoveryCode,
} from './recovery.js';
export {
  activateFactor,
  availableFactorTypes,
  backupFactorMissing,
  FACTOR_TYPES,
  type FactorSummary,
  type FactorType,
  getFactor,
  listFactors,
  removeFactor,
  renameFactor,
} from './registry.js';
export { resealFactorSecrets } from './reseal.js';
export {
  activeSmsFactorId,
  E164,
  listSimulatedLoginTexts,
  listSmsOutbox,
  maskPhone,
  OutboxSmsSender,
  SMS_POLICY,
  type SmsBinding,
  type SmsCheck,
  type SmsRecipient,
  type SmsSender,
  type SmsSent,
  sendSmsCode,
  verifySmsCode,
} from './sms.js';
export {
  type AddTotpInput,
  addTotpFactor,
  generateTotpSecret,
  matchTotpStep,
  TOTP_DIGITS,
  TOTP_PERIOD_SECONDS,
  type TotpCheck,
  type TotpEnrolment,
  totpCode,
  totpUri,
  type UnreadableLog,
  verifyTotp,
} from './totp.js';
export {
  type CodeFactorType,
  type CodeProof,
  type FactorDeps,
  type FactorFailure,
  type VerifiedFactor,
  verifyCodeFactor,
} from './verify.js';
