/**
 * @module devices/country-codes
 * The country codes travel notices may name, and countries' names in English ("First login from Germany").
 */
import { COUNTRY_CODES } from '@gatehouse/protocol';

/** The codes a travel notice may name: those the GeoLite2 data names (the `countries-list` table `geoip-country` answers from). */
const KNOWN = new Set<string>(COUNTRY_CODES);

export function isCountryCode(code: string): boolean {
  return KNOWN.has(code);
}

const NAMES = new Intl.DisplayNames(['en'], { type: 'region', fallback: 'code' });

/** A country's English name (`DE` → `Germany`); the code itself when it has none. */
export function countryName(code: string): string {
  try {
    return NAMES.of(code) ?? code;
  } catch {
    return code;
  }
}
