/** @module http — request plumbing shared by every capability's routes, and error mapping. */

export {
  type AuthenticateOptions,
  Authenticator,
  type AuthenticatorParts,
  type CallerFaults,
} from './authenticator.js';
export { type ClientAddress, clientAddress } from './client-address.js';
export {
  type ErrorHandlingOptions,
  frameworkErrors,
  installErrorHandling,
  SelfRenderingError,
  toGatehouseError,
} from './errors.js';
export {
  type ApiScope,
  bearerToken,
  clearSessionCookie,
  clientInfo,
  deviceCookieName,
  dpopToken,
  isSecureRequest,
  parseWith,
  principalOf,
  SESSION_COOKIE_PLAIN,
  SESSION_COOKIE_TLS,
  sessionCookieName,
  setDeviceCookie,
  setSessionCookie,
  withRenewedToken,
} from './kit.js';
export {
  type DocumentOptions,
  openApiDocument,
  openApiPath,
  type RegisteredRoute,
  recordRoutes,
  registeredRoutes,
} from './openapi.js';
export { type Operation, type OperationResponse, operation, type ResponseDoc } from './operation.js';
export { quotedName } from './validation.js';
export { refuseNonUpgrades } from './websocket-routes.js';
