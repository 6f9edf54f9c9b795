/** @module http — request plumbing shared by every capability's routes, and error mapping. */
export { installErrorHandling, toGatehouseError } from './errors.js';
export {
  bearerToken,
  checkDeviceProof,
  clearSessionCookie,
  clientInfo,
  deviceCookieName,
  dpopToken,
  forPrograms,
  isSecureRequest,
  parseWith,
  principalOf,
  programPrincipal,
  requireOperator,
  requireSession,
  SESSION_COOKIE_PLAIN,
  SESSION_COOKIE_TLS,
  sessionCookieName,
  setDeviceCookie,
  setSessionCookie,
  verifyRequestProof,
  withRenewedToken,
} from './kit.js';
