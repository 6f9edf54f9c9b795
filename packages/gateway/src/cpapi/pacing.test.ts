/** IBKR's pacing on the CPAPI face: the global and per-endpoint limits, and the penalty box for repeat offenders. */
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../config/index.js';
import { ManualClock } from '../core/index.js';
import { IBKR_PACING, Pacing } from './pacing.js';

function pacing() {
  const clock = new ManualClock(Date.UTC(2026, 5, 15, 14, 0));
  return { clock, pacing: new Pacing(IBKR_PACING, clock) };
}

describe('CPAPI pacing with IBKR’s figures', () => {
  it('allows 10 requests a second from one address, refuses the 11th until the next second', () => {
    const { clock, pacing: p } = pacing();
    for (let i = 0; i < 10; i += 1)
      expect(p.admit('10.0.0.1', '/iserver/accounts')).toEqual({ allowed: true });
    clock.advance(400);
    expect(p.admit('10.0.0.1', '/iserver/accounts')).toEqual({
      allowed: false,
      retryAfterMs: 600,
      rule: 'global',
    });
    // Another address has its own count.
    expect(p.admit('10.0.0.2', '/iserver/accounts')).toEqual({ allowed: true });
    clock.advance(600);
    expect(p.admit('10.0.0.1', '/iserver/accounts')).toEqual({ allowed: true });
  });

  it('holds an endpoint to its own limit: one tickle a second, one live-orders call every 5 s', () => {
    const { clock, pacing: p } = pacing();
    expect(p.admit('a', '/tickle')).toEqual({ allowed: true });
    expect(p.admit('a', '/tickle')).toMatchObject({ allowed: false, rule: '/tickle', retryAfterMs: 1_000 });
    expect(p.admit('a', '/iserver/account/orders')).toEqual({ allowed: true });
    clock.advance(4_999);
    expect(p.admit('a', '/iserver/account/orders')).toMatchObject({ allowed: false, retryAfterMs: 1 });
    clock.advance(1);
    expect(p.admit('a', '/iserver/account/orders')).toEqual({ allowed: true });
    expect(p.admit('a', '/tickle')).toEqual({ allowed: true });
  });

  it('does not count a refused request against the window', () => {
    const { clock, pacing: p } = pacing();
    expect(p.admit('a', '/sso/validate')).toEqual({ allowed: true });
    clock.advance(59_000);
    expect(p.admit('a', '/sso/validate')).toMatchObject({ allowed: false, rule: '/sso/validate' });
    // The global count was not spent by the refusal: ten more requests this second still pass.
    for (let i = 0; i < 10; i += 1) expect(p.admit('a', '/iserver/accounts')).toEqual({ allowed: true });
    clock.advance(1_000);
    expect(p.admit('a', '/sso/validate')).toEqual({ allowed: true });
  });

  it('puts an address that keeps going over in the penalty box for 10 minutes, on every endpoint', () => {
    const { clock, pacing: p } = pacing();
    expect(p.admit('a', '/tickle')).toEqual({ allowed: true });
    expect(p.admit('a', '/tickle')).toMatchObject({ allowed: false, rule: '/tickle' });
    clock.advance(100);
    expect(p.admit('a', '/tickle')).toMatchObject({ allowed: false, rule: '/tickle' });
    clock.advance(100);
    expect(p.admit('a', '/tickle')).toEqual({ allowed: false, retryAfterMs: 600_000, rule: 'penalty_box' });
    clock.advance(300_000);
    expect(p.admit('a', '/iserver/accounts')).toEqual({
      allowed: false,
      retryAfterMs: 300_000,
      rule: 'penalty_box',
    });
    expect(p.admit('b', '/iserver/accounts')).toEqual({ allowed: true });
    clock.advance(299_999);
    expect(p.admit('a', '/tickle')).toMatchObject({ allowed: false, rule: 'penalty_box', retryAfterMs: 1 });
    clock.advance(1);
    expect(p.admit('a', '/tickle')).toEqual({ allowed: true });
  });

  it('forgives refusals spread wider than a minute', () => {
    const { clock, pacing: p } = pacing();
    for (let round = 0; round < 5; round += 1) {
      expect(p.admit('a', '/tickle')).toEqual({ allowed: true });
      expect(p.admit('a', '/tickle')).toMatchObject({ allowed: false, rule: '/tickle' });
      clock.advance(31_000);
    }
  });
});

describe('the pacing configuration', () => {
  it('defaults to IBKR’s figures, the ones this module documents', () => {
    expect(defaultConfig().cpapi.pacingLimits).toEqual(IBKR_PACING);
  });
});
