/**
 * @module sessions/policy
 * Channel policies as data. Each channel authenticates, binds and expires differently (ARCHITECTURE.md, Channels);
 * the web channel is the Client Portal: cookie session, 15 min idle, 12 h absolute (ASVS 4.0.3 L2 3.3.2,
 * NIST 800-63B rev. 3 AAL2); the mobile channel is the enrolled device logging in with its key and PIN: bearer
 * token, 30 min idle, 12 h absolute.
 */
import type { Config } from '../config/index.js';

/** Second-factor types (kept here as data; factors/ implements them). */
export type FactorType = 'push' | 'webauthn' | 'totp' | 'sms' | 'recovery_code';

export const CHANNELS = ['web', 'mobile'] as const;
export type Channel = (typeof CHANNELS)[number];

export interface ChannelPolicy {
  channel: Channel;
  /** Inactivity after which the session ends, in ms. */
  idleTimeoutMs: number;
  /** Lifetime from login after which the session ends whatever its activity, in ms. */
  absoluteLifetimeMs: number;
  /** Second factors a login on this channel may use (empty: the channel has its own ceremony). */
  allowedFactors: readonly FactorType[];
  /** Assurance a session on this channel needs to hold the brokerage (trading) capability. */
  aalForTrading: number;
  /** What the session is bound to: the browser's device cookie, or a device key proving every request. */
  deviceBinding: 'device_cookie' | 'device_key';
}

export type ChannelPolicies = Readonly<Record<Channel, ChannelPolicy>>;

export function channelPolicies(config: Config): ChannelPolicies {
  return {
    web: {
      channel: 'web',
      idleTimeoutMs: config.sessions.web.idleTimeoutMs,
      absoluteLifetimeMs: config.sessions.web.absoluteLifetimeMs,
      allowedFactors: config.sessions.web.allowedFactors,
      aalForTrading: config.sessions.web.aalForTrading,
      deviceBinding: 'device_cookie',
    },
    mobile: {
      channel: 'mobile',
      idleTimeoutMs: config.sessions.mobile.idleTimeoutMs,
      absoluteLifetimeMs: config.sessions.mobile.absoluteLifetimeMs,
      allowedFactors: [],
      aalForTrading: config.sessions.mobile.aalForTrading,
      deviceBinding: 'device_key',
    },
  };
}
