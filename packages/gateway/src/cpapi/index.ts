/**
 * @module cpapi
 * The IBKR Client Portal Web API (CPAPI v1)–compatible face: listeners that each hold one user's session and speak
 * IBKR's wire format to a bot (`docs/ibkr-compat.md`), with IBKR's pacing and session status.
 */

export {
  API_PREFIX,
  buildCpapiListener,
  type CpapiListener,
  type FaceDeps,
  type FaceOptions,
} from './face.js';
export { type HeadlessCredentials, HeldLogin } from './holder.js';
export { LOGIN_SUCCESS_TEXT } from './login-page.js';
export * from './pacing.js';
export * from './status.js';
export * from './wire/index.js';
