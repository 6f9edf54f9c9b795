/**
 * @module devices/geo
 * The country a client address is in, from the GeoLite2 Country data (MaxMind; CC BY-SA 4.0 under the GeoLite2
 * End User License Agreement) shipped in the `geoip-country` package: an offline database read from disk, never a
 * network lookup. It is loaded once per process, on the first address that needs it (some 10 MB in memory), so a
 * gateway that never sees a public address never loads it. Private, loopback, link-local, shared (CGNAT),
 * documentation and other special addresses have no country, nor has an address the data does not place.
 */
import { createRequire } from 'node:module';
import { BlockList, isIPv4, isIPv6 } from 'node:net';

/** Resolves client addresses to ISO 3166-1 alpha-2 country codes; null when an address has none. */
export interface CountryLookup {
  countryOf(ip: string): string | null;
}

interface GeoipCountry {
  lookup(ip: string): { country?: string } | null;
}

/** Addresses that are in no country: RFC 1918, 6598, 5737, 3927, 4193, 3849, loopback and the like. */
const SPECIAL = (() => {
  const list = new BlockList();
  for (const [address, prefix] of [
    ['0.0.0.0', 8],
    ['10.0.0.0', 8],
    ['100.64.0.0', 10],
    ['127.0.0.0', 8],
    ['169.254.0.0', 16],
    ['172.16.0.0', 12],
    ['192.0.0.0', 24],
    ['192.0.2.0', 24],
    ['192.168.0.0', 16],
    ['198.18.0.0', 15],
    ['198.51.100.0', 24],
    ['203.0.113.0', 24],
    ['224.0.0.0', 3],
  ] as const)
    list.addSubnet(address, prefix, 'ipv4');
  for (const [address, prefix] of [
    ['::', 127],
    ['fc00::', 7],
    ['fe80::', 10],
    ['ff00::', 8],
    ['2001:db8::', 32],
    ['100::', 64],
  ] as const)
    list.addSubnet(address, prefix, 'ipv6');
  return list;
})();

/** An IPv4-mapped IPv6 address as its IPv4 address (`::ffff:81.2.69.160` → `81.2.69.160`). */
function unmapped(ip: string): string {
  const match = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return match?.[1] ?? ip;
}

/** Whether an address can be in a country at all (a valid, public unicast address). */
export function isPublicAddress(ip: string): boolean {
  const address = unmapped(ip);
  if (isIPv4(address)) return !SPECIAL.check(address, 'ipv4');
  if (isIPv6(address)) return !SPECIAL.check(address, 'ipv6');
  return false;
}

let loaded: GeoipCountry | undefined;

/** The package's lookup, loaded at the first call (it reads its data files synchronously as it is required). */
function database(): GeoipCountry {
  if (loaded === undefined) loaded = createRequire(import.meta.url)('geoip-country') as GeoipCountry;
  return loaded;
}

/** The GeoLite2 lookup: the country of a public address, null for anything else. */
export const geoipCountries: CountryLookup = {
  countryOf(ip: string): string | null {
    const address = unmapped(ip);
    if (!isPublicAddress(address)) return null;
    const country = database().lookup(address)?.country;
    return typeof country === 'string' && /^[A-Z]{2}$/.test(country) ? country : null;
  },
};
