/**
 * @module config/public-url
 * The URL clients reach the gateway at, and the OAuth issuer identifier. Nothing security-relevant is derived from
 * a request's Host header (an attacker chooses it): client-assertion audiences, the `iss` of authorization
 * responses, the URLs DPoP and device proofs are checked against, the mobile activation URI and the stream's own
 * origin all come from here.
 *
 * Outside development `server.publicUrl` is required. Development is a gateway that listens on a loopback
 * interface only and trusts no proxy: every client is on the same machine and reaches it at the address it
 * listens on, so `http://{server.host}:{port}` is right by construction. A gateway on any other interface, or
 * behind a proxy, is reached through a name only the operator knows. There is no "development mode" switch that
 * could be left on in production; a loopback gateway fronted by a proxy it does not trust derives a URL the
 * clients do not use, and so fails closed (assertions and proofs name another URL).
 */
import { isIP } from 'node:net';
import { ConfigError } from '../core/index.js';
import type { Config } from './schema.js';

/** `localhost`, 127.0.0.0/8 and ::1: interfaces no other machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (bare === 'localhost') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  return isIP(bare) === 6 && (bare === '::1' || bare === '0:0:0:0:0:0:0:1');
}

/** Development: the gateway listens on a loopback interface only and believes no proxy's forwarded headers. */
export function isDevelopment(config: Config): boolean {
  return isLoopbackHost(config.server.host) && config.server.trustedProxies.length === 0;
}

const trimSlashes = (url: string) => url.replace(/\/+$/, '');

/**
 * The gateway's public URLs, resolved once at start-up. Held by the context and read on every request that needs
 * them (no per-request string building). Stateful only in development with `server.port: 0`: the port is known
 * once the listener is bound, and `listening` fills it in.
 */
export class PublicUrls {
  #base: string;
  #origin: string;
  #issuer: string;
  readonly #configuredIssuer: string | undefined;
  readonly #derive: ((port: number) => string) | undefined;

  constructor(base: string, issuer: string | undefined, derive?: (port: number) => string) {
    this.#base = trimSlashes(base);
    this.#origin = new URL(this.#base).origin;
    this.#configuredIssuer = issuer === undefined ? undefined : trimSlashes(issuer);
    this.#issuer = this.#configuredIssuer ?? this.#base;
    this.#derive = derive;
  }

  /** Scheme, host and port clients use (`server.publicUrl`), without a trailing slash. */
  get base(): string {
    return this.#base;
  }

  /** `base` as a browser sends it in `Origin` (a default port left out). */
  get origin(): string {
    return this.#origin;
  }

  /** The OAuth issuer identifier: `oauth.issuer`, or `base`. */
  get issuer(): string {
    return this.#issuer;
  }

  /** True when derived from the listener (development) rather than configured. */
  get derived(): boolean {
    return this.#derive !== undefined;
  }

  /** Development: the listener's actual port (`server.port: 0` picks one when it binds). */
  listening(port: number): void {
    if (this.#derive === undefined) return;
    this.#base = this.#derive(port);
    this.#origin = new URL(this.#base).origin;
    this.#issuer = this.#configuredIssuer ?? this.#base;
  }
}

/**
 * The public URLs for `config`: `server.publicUrl` and `oauth.issuer` when set; in development, derived from
 * `server.host` and the port. Outside development without `server.publicUrl`, a `ConfigError` naming it.
 */
export function resolvePublicUrls(config: Config): PublicUrls {
  const { server, oauth } = config;
  if (server.publicUrl !== undefined) return new PublicUrls(server.publicUrl, oauth.issuer);
  if (!isDevelopment(config)) {
    throw new ConfigError(
      'Missing setting server.publicUrl (environment variable GATEHOUSE_SERVER_PUBLIC_URL): the URL clients ' +
        `reach this gateway at, e.g. https://gateway.example. It is required unless the gateway listens on a ` +
        `loopback interface only and trusts no proxy (server.host is ${JSON.stringify(server.host)}` +
        `${server.trustedProxies.length > 0 ? ', server.trustedProxies is set' : ''}).`,
    );
  }
  const scheme = server.tlsCertFile === undefined ? 'http' : 'https';
  const host = isIP(server.host) === 6 ? `[${server.host}]` : server.host;
  const derive = (port: number) => `${scheme}://${host}:${port}`;
  return new PublicUrls(derive(server.port), oauth.issuer, derive);
}
