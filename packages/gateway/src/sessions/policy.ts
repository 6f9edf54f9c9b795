/**
 * @module sessions/policy
 * Channel policies as data. Each channel authenticates, binds and expires differently (ARCHITECTURE.md, Channels):
 * - web, the Client Portal: cookie session, 15 min idle, 12 h absolute (ASVS 4.0.3 L2 3.3.2, NIST 800-63B rev. 3
 *   AAL2), bound to the browser's device cookie;
 * - mobile, the enrolled device logging in with its key and PIN: bearer token bound to the device key, 30 min idle,
 *   12 h absolute;
 * - desktop, the trading workstation: password plus a security key, or, from a device validated that way, password
 *   plus the device key's proof; bearer token bound to the device key, 15 min idle, 12 h absolute;
 * - api, a program acting under an OAuth grant: no login of its own — its session is created with the grant's first
 *   access token and lives as long as the grant's refresh token may (24 h idle, 7 days absolute); every request
 *   carries a DPoP proof of the key its tokens are bound to;
 * - cpapi, the IBKR Client Portal–compatible face: a person logs in at the face's own login page with password and
 *   second factor, and the face holds the session for the bot beside it, as IBKR's local gateway does; 6 min idle
 *   and 24 h absolute, IBKR's own figures (research/ibkr-cpapi.md §0.3). Its token never leaves the face: no
 *   route of the gateway's own API accepts it.
 */
import type { Config } from '../config/index.js';

/** Second-factor types (kept here as data; factors/ implements them). */
export type FactorType = 'push' | 'webauthn' | 'totp' | 'sms' | 'recovery_code';

export const CHANNELS = ['web', 'mobile', 'desktop', 'api', 'cpapi'] as const;
export type Channel = (typeof CHANNELS)[number];

export interface ChannelPolicy {
  channel: Channel;
  /** Inactivity after which the session ends, in ms. */
  idleTimeoutMs: number;
  /** Lifetime from login after which the session ends whatever its activity, in ms. */
  absoluteLifetimeMs: number;
  /** Second factors a password login on this channel may use (empty: the channel has its own ceremony). */
  allowedFactors: readonly FactorType[];
  /** Assurance a session on this channel needs to hold the brokerage (trading) capability. */
  aalForTrading: number;
  /**
   * What the session is bound to: the browser's device cookie, or a device key proving every request (the session
   * token then travels as a bearer token, never in a cookie).
   */
  deviceBinding: 'device_cookie' | 'device_key' | 'dpop_key' | 'held_by_face';
  /**
   * How a device this channel already validated logs in: not at all (`none`), with its key and PIN (mobile), or
   * with the password and its key's proof, plus the security key when `password_and_security_key` (desktop).
   */
  validatedDeviceLogin: 'none' | 'pin' | 'password' | 'password_and_security_key';
  /** Order types a session on this channel may send (the phone app keeps to the simple ones). */
  orderTypes: readonly ('MKT' | 'LMT' | 'STP' | 'STP_LMT')[];
}

const ALL_ORDER_TYPES = ['MKT', 'LMT', 'STP', 'STP_LMT'] as const;

/** What each channel's sessions are bound to; fixed by how the channel authenticates, so not configurable. */
const DEVICE_BINDING: Readonly<Record<Channel, ChannelPolicy['deviceBinding']>> = {
  web: 'device_cookie',
  mobile: 'device_key',
  desktop: 'device_key',
  api: 'dpop_key',
  cpapi: 'held_by_face',
};

export type ChannelPolicies = Readonly<Record<Channel, ChannelPolicy>>;

export function channelPolicies(config: Config): ChannelPolicies {
  const { web, mobile, desktop, api, cpapi } = config.sessions;
  return {
    web: {
      channel: 'web',
      idleTimeoutMs: web.idleTimeoutMs,
      absoluteLifetimeMs: web.absoluteLifetimeMs,
      allowedFactors: web.allowedFactors,
      aalForTrading: web.aalForTrading,
      deviceBinding: DEVICE_BINDING.web,
      validatedDeviceLogin: 'none',
      orderTypes: ALL_ORDER_TYPES,
    },
    mobile: {
      channel: 'mobile',
      idleTimeoutMs: mobile.idleTimeoutMs,
      absoluteLifetimeMs: mobile.absoluteLifetimeMs,
      allowedFactors: [],
      aalForTrading: mobile.aalForTrading,
      deviceBinding: DEVICE_BINDING.mobile,
      validatedDeviceLogin: 'pin',
      orderTypes: ['MKT', 'LMT', 'STP'],
    },
    desktop: {
      channel: 'desktop',
      idleTimeoutMs: desktop.idleTimeoutMs,
      absoluteLifetimeMs: desktop.absoluteLifetimeMs,
      allowedFactors: desktop.allowedFactors,
      aalForTrading: desktop.aalForTrading,
      deviceBinding: DEVICE_BINDING.desktop,
      validatedDeviceLogin: desktop.validatedDeviceLogin,
      orderTypes: ALL_ORDER_TYPES,
    },
    api: {
      channel: 'api',
      idleTimeoutMs: api.idleTimeoutMs,
      absoluteLifetimeMs: api.absoluteLifetimeMs,
      allowedFactors: [],
      // A grant is made from an AAL2 session (the consent, or the personal client's registration).
      aalForTrading: 2,
      deviceBinding: DEVICE_BINDING.api,
      validatedDeviceLogin: 'none',
      orderTypes: ALL_ORDER_TYPES,
    },
    cpapi: {
      channel: 'cpapi',
      idleTimeoutMs: cpapi.idleTimeoutMs,
      absoluteLifetimeMs: cpapi.absoluteLifetimeMs,
      allowedFactors: cpapi.allowedFactors,
      aalForTrading: cpapi.aalForTrading,
      deviceBinding: DEVICE_BINDING.cpapi,
      validatedDeviceLogin: 'none',
      orderTypes: ALL_ORDER_TYPES,
    },
  };
}

/** True when sessions of this channel carry a bearer token bound to a device key. */
export function usesDeviceKey(channel: string): boolean {
  return DEVICE_BINDING[channel as Channel] === 'device_key';
}

/**
 * A desktop session that has not registered its workstation key yet: its bearer token alone is accepted, and it
 * may read, but neither trade nor make sensitive changes (`DEVICE_KEY_REQUIRED`).
 */
export function awaitingDeviceKey(session: { channel: string; deviceId: string | null }): boolean {
  return session.channel === 'desktop' && session.deviceId === null;
}
