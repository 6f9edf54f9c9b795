/**
 * @module transport
 * One HTTP exchange with the gateway: the DPoP proof for it (with the server's nonce once the server asked for one),
 * the JSON answer, or a typed error. It never retries a request by itself, with one exception the standard makes
 * safe: `use_dpop_nonce`, where the server refused the request before looking at it.
 */
import type { ErrorEnvelope, OAuthErrorCode } from '@gatehouse/protocol';
import type { ServerClock } from './clock.js';
import { GatehouseApiError, NetworkError, OAuthApiError, UnexpectedResponseError } from './errors.js';
import { type EcPublicJwk, type Es256Signer, sha256, signJws, webCryptoSigner } from './jose.js';

/** The `fetch` the SDK calls (the global one by default; tests wrap it). */
export type Fetch = (input: string, init: RequestInit) => Promise<Response>;

/** The client's DPoP key: every token it holds is bound to this key. */
export class DpopKey {
  /** The last access token's hash (`ath`): the same token goes with many requests. */
  #ath: { token: string; hash: string } | undefined;

  readonly #sign: Es256Signer;

  /** A WebCrypto private key (browsers, Node), or any ES256 signer (`@gatehouse/sdk/node` has a faster one). */
  constructor(
    privateKey: CryptoKey | Es256Signer,
    readonly publicJwk: EcPublicJwk,
  ) {
    this.#sign = typeof privateKey === 'function' ? privateKey : webCryptoSigner(privateKey);
  }

  async #athOf(token: string): Promise<string> {
    if (this.#ath?.token !== token) this.#ath = { token, hash: await sha256(token) };
    return this.#ath.hash;
  }

  /** A DPoP proof (RFC 9449) for one request: its method and URL, and `ath` when it carries an access token. */
  async proof(
    method: string,
    url: string,
    now: number,
    accessToken?: string,
    nonce?: string,
  ): Promise<string> {
    return signJws(
      this.#sign,
      { typ: 'dpop+jwt', jwk: this.publicJwk },
      {
        htm: method,
        htu: url.split(/[?#]/)[0],
        iat: Math.floor(now / 1000),
        jti: crypto.randomUUID(),
        ...(accessToken === undefined ? {} : { ath: await this.#athOf(accessToken) }),
        ...(nonce === undefined ? {} : { nonce }),
      },
    );
  }
}

/** One request to the gateway, as `Transport.exchange` sends it. */
export interface Exchange {
  method: string;
  path: string;
  /** JSON body, or a form (token endpoint), built per attempt (a client assertion carries the time it was signed). */
  json?: unknown;
  /** A form body (the token endpoint's), built per attempt. */
  form?: () => Promise<Record<string, string>>;
  accessToken?: string;
  /** Abort after this long; the outcome is then unknown (`NetworkError`). */
  timeoutMs?: number;
}

/**
 * Sends one request: the DPoP proof (with the server's nonce once asked for one), the JSON answer or a typed error.
 * Never retries, but for a DPoP nonce or a proof refused for this machine's clock, each once.
 */
export class Transport {
  #nonce: string | undefined;

  constructor(
    readonly baseUrl: string,
    readonly dpop: DpopKey,
    readonly clock: ServerClock,
    readonly fetchImpl: Fetch = (input, init) => fetch(input, init),
  ) {}

  /** Sends the exchange; answers the parsed JSON body (or undefined for 204). */
  async send<T>(exchange: Exchange): Promise<T> {
    return (await this.exchange<T>(exchange)).body;
  }

  /** Sends the exchange; answers the HTTP status with the parsed JSON body. */
  async exchange<T>(exchange: Exchange, retriedForNonce = false): Promise<{ status: number; body: T }> {
    const url = `${this.baseUrl}${exchange.path}`;
    const headers: Record<string, string> = {
      accept: 'application/json',
      dpop: await this.dpop.proof(exchange.method, url, this.clock.now(), exchange.accessToken, this.#nonce),
    };
    if (exchange.accessToken !== undefined) headers.authorization = `DPoP ${exchange.accessToken}`;
    let body: string | undefined;
    if (exchange.form !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(await exchange.form()).toString();
    } else if (exchange.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(exchange.json);
    }
    let response: Response;
    try {
      response = await this.fetchImpl(url, {
        method: exchange.method,
        headers,
        ...(body === undefined ? {} : { body }),
        ...(exchange.timeoutMs === undefined ? {} : { signal: AbortSignal.timeout(exchange.timeoutMs) }),
      });
    } catch (error) {
      throw new NetworkError(`${exchange.method} ${exchange.path}: ${(error as Error).message}`, error);
    }
    const offsetBefore = this.clock.offsetMs;
    this.clock.observe(response.headers.get('date'));
    // This machine's clock was off and the server refused the proof or assertion for its time: sign again, once.
    const skewCorrected = this.clock.offsetMs !== offsetBefore;
    const nonce = response.headers.get('dpop-nonce');
    if (nonce !== null) this.#nonce = nonce;
    if (response.status === 204) return { status: 204, body: undefined as T };
    const contentType = response.headers.get('content-type');
    let parsed: unknown;
    try {
      parsed = contentType?.includes('json') === true ? await response.json() : undefined;
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined || typeof parsed !== 'object' || parsed === null)
      throw new UnexpectedResponseError(response.status, contentType);
    if (response.ok) return { status: response.status, body: parsed as T };
    // Order entry's 409 with questions is an answer to act on, not an error.
    if (response.status === 409 && 'confirmationId' in parsed) return { status: 409, body: parsed as T };
    const envelope = parsed as Partial<ErrorEnvelope> & { error?: unknown; error_description?: string };
    if (typeof envelope.error === 'string') {
      const code = envelope.error as OAuthErrorCode;
      if (code === 'use_dpop_nonce' && !retriedForNonce && nonce !== null)
        return this.exchange(exchange, true);
      if ((code === 'invalid_dpop_proof' || code === 'invalid_client') && skewCorrected && !retriedForNonce)
        return this.exchange(exchange, true);
      throw new OAuthApiError(response.status, code, envelope.error_description ?? code);
    }
    const error = envelope.error as ErrorEnvelope['error'] | undefined;
    if (error === undefined || typeof error.code !== 'string')
      throw new UnexpectedResponseError(response.status, contentType);
    if (error.code === 'USE_DPOP_NONCE' && !retriedForNonce && nonce !== null)
      return this.exchange(exchange, true);
    if (error.code === 'INVALID_DPOP_PROOF' && skewCorrected && !retriedForNonce)
      return this.exchange(exchange, true);
    throw new GatehouseApiError(response.status, error.code, error.message, error.details, error.ruleId);
  }
}
