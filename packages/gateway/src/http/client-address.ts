/**
 * @module http/client-address
 * The client address a request's network signal is taken from. Behind trusted proxies the client is the address
 * they forward; a request that reaches the gateway from a trusted proxy's own address with nothing forwarded (a
 * proxy's health check, a WebSocket upgrade a browser sent without the headers a test gave its page) says nothing
 * about where the client is, so it is no network at all rather than "the client moved to the proxy's network" —
 * which would ask a session for a step-up it does not need, and take it back and forth between two networks.
 */
import { BlockList, isIPv6 } from 'node:net';
import type { FastifyRequest } from 'fastify';

/** A request's client address for the network check: null when it is a trusted proxy's own, with nothing forwarded. */
export type ClientAddress = (request: FastifyRequest) => string | null;

/** The client address rule for these trusted proxies (addresses or CIDR ranges, as `server.trustedProxies`). */
export function clientAddress(trustedProxies: readonly string[]): ClientAddress {
  if (trustedProxies.length === 0) return (request) => request.ip;
  const proxies = new BlockList();
  for (const entry of trustedProxies) {
    const [address = '', prefix] = entry.split('/');
    const family = isIPv6(address) ? 'ipv6' : 'ipv4';
    if (prefix === undefined) proxies.addAddress(address, family);
    else proxies.addSubnet(address, Number(prefix), family);
  }
  return (request) => {
    if (request.headers['x-forwarded-for'] !== undefined) return request.ip;
    const peer = (request.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    return proxies.check(peer, isIPv6(peer) ? 'ipv6' : 'ipv4') ? null : request.ip;
  };
}
