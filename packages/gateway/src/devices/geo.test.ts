/**
 * The country of a client address from the GeoLite2 data shipped with `geoip-country` (no network lookups), and
 * the country codes and names travel notices use.
 */
import { describe, expect, it } from 'vitest';
import { countryName, isCountryCode } from './country-codes.js';
import { geoipCountries, isPublicAddress } from './geo.js';

describe('geoipCountries', () => {
  it('places public IPv4, IPv6 and IPv4-mapped addresses in their countries', () => {
    expect(geoipCountries.countryOf('81.2.69.160')).toBe('GB');
    expect(geoipCountries.countryOf('2a00:1450:4001::1')).toBe('DE');
    expect(geoipCountries.countryOf('8.8.8.8')).toBe('US');
    expect(geoipCountries.countryOf('::ffff:81.2.69.160')).toBe('GB');
  });

  it('gives no country for private, loopback, link-local, documentation and malformed addresses', () => {
    for (const ip of [
      '10.0.0.1',
      '172.16.5.4',
      '192.168.1.1',
      '127.0.0.1',
      '169.254.1.1',
      '100.64.0.1',
      '203.0.113.5',
      '198.51.100.7',
      '192.0.2.1',
      '::1',
      'fe80::1',
      'fd00::1',
      '2001:db8::1',
      '::ffff:10.0.0.1',
      'not an address',
      '',
    ]) {
      expect(geoipCountries.countryOf(ip), ip).toBeNull();
      expect(isPublicAddress(ip), ip).toBe(false);
    }
  });
});

describe('country codes', () => {
  it('knows the codes of countries and territories, not regions or unassigned codes', () => {
    for (const code of ['DE', 'GB', 'US', 'XK', 'HK']) expect(isCountryCode(code), code).toBe(true);
    for (const code of ['XX', 'EU', 'UN', 'ZZ', 'UK', 'de', 'DEU', ''])
      expect(isCountryCode(code), code).toBe(false);
  });

  it('names a country in English', () => {
    expect(countryName('DE')).toBe('Germany');
    expect(countryName('US')).toBe('United States');
  });
});
