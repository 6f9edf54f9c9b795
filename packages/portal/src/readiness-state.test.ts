/** The Readiness page's words and the landing after a login (issue 22: Readiness first while anything is missing). */
import type { AccessReadiness, ReadinessState } from '@gatehouse/protocol';
import { describe, expect, it } from 'vitest';
import { landingAfterLogin, missingCount, STATE_TEXT, wayName } from './readiness-state.js';

/** An answer whose items are in the given states (their details do not matter here). */
function answer(states: ReadinessState[]): AccessReadiness {
  const order: ReadinessState[] = ['ok', 'warn', 'missing'];
  const worst = states.reduce<ReadinessState>((w, s) => (order.indexOf(s) > order.indexOf(w) ? s : w), 'ok');
  return {
    checkedAt: '2026-12-01T18:00:00.000Z',
    state: worst,
    items: states.map((state) => ({
      id: 'push',
      state,
      title: 'Push authentication',
      why: 'A phone that approves a login is the fastest second factor.',
      finding: '',
      action: null,
      details: { devices: [] },
    })),
  };
}

describe('landingAfterLogin', () => {
  it('lands on Readiness while an item is missing, else on Trade', () => {
    expect(landingAfterLogin(null, answer(['ok', 'missing', 'warn']))).toBe('/readiness');
    expect(landingAfterLogin(null, answer(['ok', 'warn']))).toBe('/trade');
    expect(landingAfterLogin(null, answer(['ok']))).toBe('/trade');
  });

  it('waits for the check, and lands on Trade when it could not be made', () => {
    expect(landingAfterLogin(null, undefined)).toBeUndefined();
    expect(landingAfterLogin(null, null)).toBe('/trade');
  });

  it('goes to the page the login was asked for, but never to another origin', () => {
    expect(landingAfterLogin('/account', answer(['missing']))).toBe('/account');
    expect(landingAfterLogin('/account', undefined)).toBe('/account');
    expect(landingAfterLogin('//evil.example/x', answer(['missing']))).toBe('/readiness');
    expect(landingAfterLogin('https://evil.example/', answer(['ok']))).toBe('/trade');
  });
});

describe('the words', () => {
  it('counts the missing items', () => {
    expect(missingCount(answer(['missing', 'warn', 'missing', 'ok']))).toBe(2);
    expect(missingCount(undefined)).toBe(0);
    expect(missingCount(null)).toBe(0);
  });

  it('gives every state a mark and a word, so none rests on colour alone', () => {
    const shown = Object.values(STATE_TEXT);
    expect(shown.map((s) => s.text)).toEqual(['OK', 'Check', 'Missing']);
    expect(new Set(shown.map((s) => s.mark)).size).toBe(3);
  });

  it('names the ways to log in as a person reads them', () => {
    expect(wayName('totp')).toBe('Authenticator app');
    expect(wayName('webauthn:YubiKey 5')).toBe('Security key: YubiKey 5');
    expect(wayName('push:Pixel 8')).toBe('Mobile device: Pixel 8');
    expect(wayName('recovery_code')).toBe('Recovery codes');
    expect(wayName('carrier_pigeon')).toBe('carrier_pigeon');
  });
});
