/**
 * @module @gatehouse/sdk
 * A Gatehouse client for programs that trade: DPoP-bound tokens kept fresh by a single-flight refresh, a session
 * supervisor with explicit states and safe-fail hooks, and order placement that never duplicates an order.
 * Runs on Node 20 and in browsers (fetch and WebCrypto only); the file token store is in `@gatehouse/sdk/node`.
 */
export type * from '@gatehouse/protocol';
// Named again so the reference shows them as types of their own (a field typed `ErrorCode`, not its whole union).
export type {
  ErrorCode,
  ErrorDetails,
  EventType,
  OAuthErrorCode,
  OrderView,
  QuoteView,
} from '@gatehouse/protocol';
export { ERROR_CODES } from '@gatehouse/protocol';
export { AppAuth, type AuthStrategy, type ClientCredentials, PersonalClientAuth } from './auth.js';
export { realScheduler, type Scheduler, ServerClock } from './clock.js';
export {
  AuthorizationResponseError,
  GatehouseApiError,
  GatehouseSdkError,
  NetworkError,
  NotReadyError,
  OAuthApiError,
  TokenStoreError,
  UnexpectedResponseError,
} from './errors.js';
export {
  type EcPublicJwk,
  type Es256Signer,
  generateEs256,
  importPrivateJwk,
  publicJwk,
  thumbprint,
  webCryptoSigner,
} from './jose.js';
export { SessionSupervisor } from './supervisor.js';
export type {
  AnswerPolicy,
  CancelAllResult,
  DegradedReason,
  KnownOrder,
  Listener,
  PlaceOrderResult,
  SessionLossAction,
  StreamFactory,
  StreamSocket,
  SupervisorEvents,
  SupervisorOptions,
  SupervisorState,
} from './supervisor-types.js';
export { type SteppableClock, SteppedScheduler } from './testing.js';
export { MemoryTokenStore, type StoredTokens, type TokenStore } from './token-store.js';
export { DpopKey, type Exchange, type Fetch, Transport } from './transport.js';

import { generateEs256, publicJwk } from './jose.js';
import { DpopKey } from './transport.js';

/** A new DPoP key (non-extractable private key: it cannot leave this process or browser). */
export async function newDpopKey(): Promise<DpopKey> {
  const pair = await generateEs256(false);
  return new DpopKey(pair.privateKey, await publicJwk(pair.publicKey));
}
