/**
 * @module config/listen-address
 * `host:port` settings for extra listeners (`metrics.listen`): a name or IPv4 address, or a bracketed IPv6 one,
 * then a port; `off` for none.
 */

const ADDRESS = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/;

/** The host and port of a `host:port` setting, or null when it is `off`; undefined when it is malformed. */
export function parseListenAddress(value: string): { host: string; port: number } | null | undefined {
  if (value === 'off') return null;
  const match = ADDRESS.exec(value);
  if (match === null) return undefined;
  const port = Number(match[3]);
  if (port > 65_535) return undefined;
  return { host: (match[1] ?? match[2]) as string, port };
}
