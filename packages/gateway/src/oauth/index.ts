/** @module oauth — the authorization server (FAPI 2.0 style) and DPoP-bound access for programs. */
export { CLIENT_ASSERTION_TYPE, SIGNING_ALGORITHMS, validateClientKeys } from './client-auth.js';
export {
  DPOP_ALGORITHMS,
  DpopVerifier,
  importPublicJwk,
  type Jwk,
  jwkThumbprint,
  verifyJws,
} from './dpop.js';
export { OAuthError, type OAuthErrorCode } from './errors.js';
export { type ClientRefreshRecord, clientRefreshesOfUser } from './refresh-record.js';
export { resealRefreshSuccessors } from './reseal.js';
export {
  grantProfile,
  OAuthService,
  SCOPES,
  type Scope,
  type SessionLossPolicy,
  type TokenResponse,
} from './service.js';
export { findAccessToken } from './store.js';
