/**
 * @module cpapi/status
 * The face's session status in IBKR's words, from the state of the Gatehouse session it holds: the answers of
 * `iserver/auth/status` and `tickle`. IBKR distinguishes being connected to its backend (the gateway holds a
 * login) from being authenticated for brokerage (`/iserver` works): a session that lost brokerage — never asked
 * for (`ssodh/init`), taken over, ended by the daily reset, or timed out while the gateway stays up — answers
 * `connected: true, authenticated: false`, and clients reconnect on that (research/ibkr-cpapi.md §0, §2; campus
 * FAQ "the brokerage session has timed out but … still connected"). Logged out, both are false.
 */
import type { SessionState } from '@gatehouse/protocol';
import type { AuthStatus, ServerInfo, TickleResponse } from './wire/index.js';

/** What the face holds: no login (never, or logged out), a login that expired, or a live session's state. */
export type HeldSession = { kind: 'none' } | { kind: 'expired' } | { kind: 'live'; state: SessionState };

/** What a face says about itself in every status answer. */
export interface FaceIdentity {
  /** A MAC address as IBKR shows its gateway's (`MAC`). */
  mac: string;
  serverInfo: ServerInfo;
}

/** `iserver/auth/status` (and the `authStatus` inside `tickle`). */
export function authStatus(held: HeldSession, face: FaceIdentity): AuthStatus {
  const base = { MAC: face.mac, serverInfo: face.serverInfo, fail: '' };
  if (held.kind === 'none')
    return { ...base, authenticated: false, competing: false, connected: false, message: '' };
  if (held.kind === 'expired')
    return { ...base, authenticated: false, competing: false, connected: true, message: 'session expired' };
  const { state } = held;
  const authenticated = state.tier === 'brokerage' && !state.stepUpRequired;
  const message = state.competing
    ? 'competing session'
    : state.stepUpRequired
      ? 'step-up required'
      : authenticated
        ? ''
        : 'brokerage session not initialized';
  return { ...base, authenticated, competing: state.competing, connected: true, message };
}

/**
 * `tickle`: the WebSocket session id (`session`, also the `api` cookie's), milliseconds until the held login ends
 * (`ssoExpires`: the nearer of its idle and absolute ends), IBKR's internal `collission` (true while competing),
 * the user's numeric id, and the brokerage status.
 */
export function tickleBody(
  held: Extract<HeldSession, { kind: 'live' }>,
  face: FaceIdentity,
  ids: { session: string; userId: number },
): TickleResponse {
  const { state } = held;
  return {
    session: ids.session,
    ssoExpires: Math.max(0, Math.min(state.idleExpiresInMs, state.expiresInMs)),
    collission: state.competing,
    userId: ids.userId,
    hmds: { error: 'no bridge' },
    iserver: { authStatus: authStatus(held, face) },
  };
}
