/**
 * @module devices/network
 * The network a client address belongs to, for device validation: IPv4 by /24, IPv6 by /48 (a typical site
 * allocation), so an address change inside one home or office network is not a "network change".
 */
import { isIPv4, isIPv6 } from 'node:net';

function expandIPv6(ip: string): number[] | null {
  let address = ip;
  const zone = address.indexOf('%');
  if (zone >= 0) address = address.slice(0, zone);
  // IPv4-mapped / embedded IPv4 tail
  const lastColon = address.lastIndexOf(':');
  const tail = address.slice(lastColon + 1);
  let extra: number[] = [];
  if (isIPv4(tail)) {
    const [a, b, c, d] = tail.split('.').map(Number) as [number, number, number, number];
    extra = [(a << 8) | b, (c << 8) | d];
    address = `${address.slice(0, lastColon + 1)}0:0`;
  }
  const [head, rest] = address.split('::') as [string, string | undefined];
  const left = head === '' ? [] : head.split(':');
  const right = rest === undefined ? [] : rest === '' ? [] : rest.split(':');
  const missing = 8 - left.length - right.length;
  if (rest === undefined && missing !== 0) return null;
  const groups = [...left, ...Array<string>(Math.max(0, missing)).fill('0'), ...right].map((g) =>
    Number.parseInt(g, 16),
  );
  if (groups.length !== 8 || groups.some((g) => Number.isNaN(g) || g < 0 || g > 0xffff)) return null;
  if (extra.length === 2) {
    groups[6] = extra[0] as number;
    groups[7] = extra[1] as number;
  }
  return groups;
}

/** `203.0.113.0/24` for IPv4 (and IPv4-mapped IPv6), `2001:db8:1::/48` for IPv6; null for anything else. */
export function networkOf(ip: string): string | null {
  if (isIPv4(ip)) {
    const [a, b, c] = ip.split('.');
    return `${a}.${b}.${c}.0/24`;
  }
  if (!isIPv6(ip)) return null;
  const groups = expandIPv6(ip);
  if (groups === null) return null;
  const mapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
  if (mapped) {
    const hi = groups[6] as number;
    const lo = groups[7] as number;
    return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.0/24`;
  }
  return `${groups
    .slice(0, 3)
    .map((g) => g.toString(16))
    .join(':')}::/48`;
}
