/** @module factors — second factors: TOTP now; push, SMS, WebAuthn and recovery codes join here. */
export { availableFactorTypes, type FactorSummary, type FactorType, listFactors } from './registry.js';
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
  verifyTotp,
} from './totp.js';
