/**
 * Security events in words: one sentence per audit event type the gateway writes (`push.approved` → "Push
 * approved on Pixel"), naming the device, factor or channel when the event's record says which. The table is typed
 * by the protocol's list of event types, and its unit test fails when the gateway gains a type it lacks.
 */
import type { AuditEventType, SecurityEvent } from '@gatehouse/protocol';
import { countryWords } from './format.js';

const FACTORS: Record<string, string> = {
  push: 'a phone',
  webauthn: 'a security key',
  totp: 'an authenticator app',
  sms: 'a text message',
  recovery_code: 'a recovery code',
};

/** What an event's record may name, resolved by the page: device ids to the names the user gave them. */
export interface EventContext {
  deviceName(deviceId: string): string | undefined;
}

type Words = string | ((e: SecurityEvent, on: string, by: string) => string);

/** Every event type, worded. `on` is " on <device>" when the event names a device; `by`, " with <factor>". */
export const EVENT_WORDS: Record<AuditEventType, Words> = {
  'account.entitlements_changed': 'Account permissions changed',
  'account.role_granted': 'Access to an account granted',
  'account.role_revoked': 'Access to an account removed',
  'order.cancelled_by_operator': 'Order cancelled by the broker’s support',
  'order.confirmed_without_market_data': 'Order confirmed without market data',
  'login.password_failed': 'Wrong password entered',
  'login.password_ok': 'Password accepted',
  'login.throttled': 'Login attempts slowed down after failures',
  'login.factor_failed': (_e, _on, by) => `Wrong second factor${by}`,
  'login.factor_replayed': (_e, _on, by) => `A used code was entered again${by}`,
  'login.succeeded': (e) => `Logged in${typeof e.data.channel === 'string' ? ` (${e.data.channel})` : ''}`,
  'factor.used': (_e, _on, by) => `Second factor verified${by}`,
  'factor.added': (_e, _on, by) => `Second factor added${by}`,
  'session.logout': 'Signed out',
  'session.network_changed': 'Session moved to another network',
  'session.step_up': 'Identity confirmed again',
  'factor.removed': (_e, _on, by) => `Second factor removed${by}`,
  'factor.renamed': 'Second factor renamed',
  'factor.confirmed': (_e, _on, by) => `Second factor confirmed${by}`,
  'recovery.generated': 'New recovery codes generated',
  'recovery.used': 'Recovery code used',
  'sms.sent': 'Code sent by text message',
  'device.new': (e, on) =>
    `Logged in from a new device${on || (typeof e.data.name === 'string' ? ` (${e.data.name})` : '')}`,
  'session.brokerage_acquired': 'Trading taken over by a session',
  'session.brokerage_released': 'Trading given up by a session',
  'device.enrolled': (_e, on) => `Phone enrolled${on}`,
  'device.revoked': (_e, on) => `Device revoked${on}`,
  'push.sent': 'Login request sent to your phone',
  'push.approved': (_e, on) => `Push approved${on}`,
  'push.denied': (_e, on) => `Push denied${on}`,
  'push.wrong_number': (_e, on) => `Push refused: the wrong number was picked${on}`,
  'session.revoked': 'Session signed out',
  'user.created': 'Account created',
  'password.changed': 'Password changed',
  'password.change_failed': 'Wrong current password at a password change',
  'password.reset': 'Password reset by the broker’s support',
  'user.disabled': 'Login disabled by the broker’s support',
  'user.enabled': 'Login enabled by the broker’s support',
  'oauth.client_registered': 'API client registered',
  'oauth.client_revoked': 'API client revoked',
  'oauth.consent_granted': 'App authorized',
  'oauth.grant_revoked': 'API access revoked',
  'oauth.refresh_token_reused': 'API access revoked: a refresh token was used twice',
  'safety.dead_man_armed': 'Dead-man switch armed',
  'safety.dead_man_fired': 'Dead-man switch fired',
  'safety.session_loss': 'Orders handled after a lost session',
  'sandbox.fault_injected': 'Sandbox failure injected',
  'sandbox.fault_cleared': 'Sandbox failure cleared',
  'readiness.entity_reviewed': 'Account’s legal entity reviewed',
  'device.new_country': (e) => `First login from ${countryWords(e.data.country)}`,
  'travel.announced': (e) => `Trip announced: ${countryWords(e.data.country)}`,
  'travel.cancelled': (e) => `Trip cancelled: ${countryWords(e.data.country)}`,
  'trading.resumed': 'Trading resumed by the broker’s support',
};

function isEventType(type: string): type is AuditEventType {
  return Object.hasOwn(EVENT_WORDS, type);
}

/** One event as a sentence; a type this portal does not know is shown as "Security event". */
export function describeEvent(event: SecurityEvent, context: EventContext): string {
  if (!isEventType(event.type)) return 'Security event';
  const words = EVENT_WORDS[event.type];
  if (typeof words === 'string') return words;
  const deviceId = event.data.deviceId;
  const device = typeof deviceId === 'string' ? context.deviceName(deviceId) : undefined;
  const factor = typeof event.data.factor === 'string' ? FACTORS[event.data.factor] : undefined;
  return words(
    event,
    device === undefined ? '' : ` on ${device}`,
    factor === undefined ? '' : ` with ${factor}`,
  );
}
