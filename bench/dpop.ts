/**
 * DPoP plumbing the benches share: an ES256 signer (proofs and client assertions), form posts to the token
 * endpoint, and a bot — a personal client registered from a web session, holding a DPoP-bound access token from
 * the client-credentials grant — whose reads carry a fresh proof each, signed ahead into a pool so the load
 * generator's signing does not share a round's CPU with the server under test.
 */
import { createHash, generateKeyPairSync, type KeyObject, randomUUID, sign } from 'node:crypto';

export const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
export const sha256 = (value: string) => createHash('sha256').update(value).digest('base64url');

/** An ES256 key and compact JWS signing with it (synchronous: the load generator signs a proof per request). */
export class Signer {
  readonly privateKey: KeyObject;
  readonly jwk: Record<string, unknown>;
  constructor() {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.privateKey = privateKey;
    this.jwk = publicKey.export({ format: 'jwk' }) as Record<string, unknown>;
  }
  jws(header: Record<string, unknown>, payload: Record<string, unknown>): string {
    const input = `${b64({ alg: 'ES256', ...header })}.${b64(payload)}`;
    const signature = sign('sha256', Buffer.from(input), { key: this.privateKey, dsaEncoding: 'ieee-p1363' });
    return `${input}.${signature.toString('base64url')}`;
  }
  proof(method: string, url: string, token?: string): string {
    return this.jws(
      { typ: 'dpop+jwt', jwk: this.jwk },
      {
        htm: method,
        htu: url,
        iat: Math.floor(Date.now() / 1000),
        jti: randomUUID(),
        ...(token === undefined ? {} : { ath: sha256(token) }),
      },
    );
  }
  assertion(clientId: string, issuer: string): string {
    const now = Math.floor(Date.now() / 1000);
    return this.jws(
      {},
      { iss: clientId, sub: clientId, aud: issuer, iat: now, exp: now + 60, jti: randomUUID() },
    );
  }
}

export async function form(url: string, params: Record<string, string>, dpop?: string) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(dpop === undefined ? {} : { dpop }) },
    body: new URLSearchParams(params).toString(),
  });
  return { status: response.status, body: (await response.json()) as Record<string, string> };
}

export interface DpopBot {
  key: Signer;
  clientId: string;
  token: string;
  /** `GET /v1/session` of the gateway. */
  url: string;
  /** Signs `count` proofs for `GET url` ahead of a round. */
  fill(count: number): void;
  /** The next request's headers: the token and a proof from the pool (signed on the fly if it ran dry). */
  headers(): Record<string, string>;
  /** Whether the pool ran dry since the last `fill`. */
  ranDry(): boolean;
}

/**
 * Registers a personal client for `DU1000001` (read, trade) from a web session (`asUser`: cookie, CSRF, JSON
 * content type) and takes a DPoP-bound token with the client-credentials grant; the gateway at `base` is its issuer.
 */
export async function dpopBot(base: string, asUser: Record<string, string>): Promise<DpopBot> {
  const key = new Signer();
  const registered = await fetch(`${base}/v1/oauth/clients`, {
    method: 'POST',
    headers: asUser,
    body: JSON.stringify({
      name: 'bench bot',
      keys: [key.jwk],
      accounts: ['DU1000001'],
      scopes: ['read', 'trade'],
    }),
  });
  if (registered.status !== 201) throw new Error(`client: ${registered.status} ${await registered.text()}`);
  const clientId = ((await registered.json()) as { clientId: string }).clientId;
  const tokenUrl = `${base}/oauth2/token`;
  const issued = await form(
    tokenUrl,
    {
      grant_type: 'client_credentials',
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: key.assertion(clientId, base),
    },
    key.proof('POST', tokenUrl),
  );
  if (issued.status !== 200) throw new Error(`token: ${JSON.stringify(issued.body)}`);
  const token = issued.body.access_token as string;
  const url = `${base}/v1/session`;
  let pool: string[] = [];
  let next = 0;
  return {
    key,
    clientId,
    token,
    url,
    fill(count) {
      pool = Array.from({ length: count }, () => key.proof('GET', url, token));
      next = 0;
    },
    headers: () => ({
      authorization: `DPoP ${token}`,
      dpop: next < pool.length ? (pool[next++] as string) : key.proof('GET', url, token),
    }),
    ranDry: () => next >= pool.length,
  };
}
