/** Networks for device validation: IPv4 /24, IPv6 /48, and nothing for garbage. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { networkOf } from './network.js';

describe('networkOf', () => {
  it.each([
    ['203.0.113.45', '203.0.113.0/24'],
    ['203.0.113.200', '203.0.113.0/24'],
    ['198.51.100.7', '198.51.100.0/24'],
    ['::ffff:203.0.113.9', '203.0.113.0/24'],
    ['2001:db8:1:2::5', '2001:db8:1::/48'],
    ['2001:db8:1:ffff:1:2:3:4', '2001:db8:1::/48'],
    ['::1', '0:0:0::/48'],
    ['fe80::1%eth0', 'fe80:0:0::/48'],
  ])('%s is on %s', (ip, network) => {
    expect(networkOf(ip)).toBe(network);
  });

  it('returns null for anything that is not an address', () => {
    for (const value of ['', 'localhost', '1.2.3', '300.1.1.1', '2001:db8::1::2', 'x'.repeat(100)]) {
      expect(networkOf(value)).toBeNull();
    }
  });

  it('never throws on random input, and agrees within a /24', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const n = networkOf(s);
        expect(n === null || typeof n === 'string').toBe(true);
      }),
    );
    fc.assert(
      fc.property(fc.ipV4(), fc.integer({ min: 0, max: 255 }), (ip, last) => {
        const other = `${ip.split('.').slice(0, 3).join('.')}.${last}`;
        expect(networkOf(ip)).toBe(networkOf(other));
      }),
    );
    fc.assert(
      fc.property(fc.ipV6(), (ip) => {
        expect(networkOf(ip)).toMatch(/\/(48|24)$/);
      }),
    );
  });
});
