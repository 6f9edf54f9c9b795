/** Security events in words: every type the gateway writes has its sentence, naming the device it was on. */
import { AUDIT_EVENT_TYPES, type SecurityEvent } from '@gatehouse/protocol';
import { describe, expect, it } from 'vitest';
import { describeEvent, EVENT_WORDS } from './security-events.js';

const event = (type: string, data: Record<string, unknown> = {}): SecurityEvent => ({
  seq: 1,
  at: '2026-12-01T12:00:00.000Z',
  type,
  sessionId: null,
  ip: null,
  data,
});
const names = { deviceName: (id: string) => (id === 'dev_1' ? 'Pixel' : undefined) };

describe('security event words', () => {
  it('words every audit event type the gateway writes, and no other', () => {
    expect(Object.keys(EVENT_WORDS).sort()).toEqual([...AUDIT_EVENT_TYPES].sort());
    for (const type of AUDIT_EVENT_TYPES) {
      const text = describeEvent(event(type), names);
      expect(text, type).not.toContain('.');
      expect(text, type).not.toBe('Security event');
    }
  });

  it('names the country of a first login from it and of a trip', () => {
    expect(describeEvent(event('device.new_country', { country: 'DE' }), names)).toBe(
      'First login from Germany',
    );
    expect(describeEvent(event('travel.announced', { country: 'FR' }), names)).toBe('Trip announced: France');
    expect(describeEvent(event('travel.cancelled', {}), names)).toBe('Trip cancelled: a new country');
  });

  it('names the device and the factor an event was about', () => {
    expect(describeEvent(event('push.approved', { deviceId: 'dev_1' }), names)).toBe(
      'Push approved on Pixel',
    );
    expect(describeEvent(event('push.denied', { deviceId: 'dev_gone' }), names)).toBe('Push denied');
    expect(describeEvent(event('factor.used', { factor: 'totp' }), names)).toBe(
      'Second factor verified with an authenticator app',
    );
    expect(describeEvent(event('device.new', { name: 'Chrome on Linux' }), names)).toBe(
      'Logged in from a new device (Chrome on Linux)',
    );
  });

  it('never shows a raw code, even for a type it does not know', () => {
    expect(describeEvent(event('future.thing'), names)).toBe('Security event');
  });
});
