/**
 * @module readiness/paths
 * The ways back to trading, named: how the session that took trading back logged in (its channel, the factor it
 * verified last), as a stored name (`desktop_key`) and in words. A one-step path needs nothing but the device
 * the user already holds (and its password or PIN): a pre-validated workstation key (login/desktop.ts) or a mobile
 * device key with its PIN (login/mobile.ts). The benchmark (`bench/reauth.ts`) measures the same paths.
 */
import type { ReadinessChannel } from '@gatehouse/protocol';

export const LOGIN_PATHS = {
  desktop_key: { words: 'Desktop: pre-validated workstation key (one step)', oneStep: true },
  mobile_key: { words: 'Mobile: device key and PIN (one step)', oneStep: true },
  desktop_security_key: { words: 'Desktop: password and security key (two steps)', oneStep: false },
  web_totp: { words: 'Web: password and authenticator code (two steps)', oneStep: false },
  web_security_key: { words: 'Web: password and security key (two steps)', oneStep: false },
  web_push: { words: 'Web: password and push approval (two steps)', oneStep: false },
  web_sms: { words: 'Web: password and texted code (two steps)', oneStep: false },
  other: { words: 'Password and a second factor (two steps)', oneStep: false },
} as const satisfies Record<string, { words: string; oneStep: boolean }>;
export type LoginPath = keyof typeof LOGIN_PATHS;

/** The path a session logged in by, from its channel and the factor it verified last. */
export function loginPathOf(session: { channel: string; lastFactor: string | null }): LoginPath {
  const { channel, lastFactor } = session;
  if (channel === 'desktop') return lastFactor === 'device_key' ? 'desktop_key' : 'desktop_security_key';
  if (channel === 'mobile') return lastFactor === 'device_pin' ? 'mobile_key' : 'other';
  switch (lastFactor) {
    case 'totp':
      return 'web_totp';
    case 'webauthn':
      return 'web_security_key';
    case 'push':
      return 'web_push';
    case 'sms':
      return 'web_sms';
    default:
      return 'other';
  }
}

/** A stored name back to a path (`other` for one a later version no longer knows). */
export function parseLoginPath(name: string): LoginPath {
  return Object.hasOwn(LOGIN_PATHS, name) ? (name as LoginPath) : 'other';
}

/** The fastest path a channel offers at all, in words, when the user has not used one yet. */
export const CHANNEL_FASTEST: Record<ReadinessChannel, LoginPath> = {
  web: 'web_totp',
  desktop: 'desktop_key',
  mobile: 'mobile_key',
};
