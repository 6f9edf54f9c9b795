/**
 * A program (an OAuth client) for tests: its client key signs `private_key_jwt` assertions, its DPoP key signs
 * proofs; both are made here, in memory. Every claim can be overridden to build the bad inputs the tests need.
 */
import { generateKeyPairSync, type KeyObject, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { sha256 } from '../core/index.js';
import { CLIENT_ASSERTION_TYPE } from '../oauth/index.js';
import type { TestGateway } from './gateway.js';

export interface KeyPair {
  privateKey: KeyObject;
  publicJwk: Record<string, unknown>;
}

export function es256Key(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, publicJwk: publicKey.export({ format: 'jwk' }) as Record<string, unknown> };
}

export const ISSUER = 'http://localhost:80';

export interface ProofOptions {
  htm?: string;
  htu?: string;
  iatMs?: number;
  jti?: string;
  accessToken?: string;
  nonce?: string;
  key?: KeyPair;
  alg?: string;
  typ?: string;
}

export class TestProgram {
  readonly clientKey = es256Key();
  dpopKey = es256Key();
  clientId = '';

  constructor(readonly gw: TestGateway) {}

  async assertion(
    overrides: { aud?: string; iatMs?: number; expMs?: number; jti?: string; iss?: string } = {},
  ) {
    const now = overrides.iatMs ?? this.gw.clock.now();
    return new SignJWT({ jti: overrides.jti ?? randomUUID() })
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer(overrides.iss ?? this.clientId)
      .setSubject(overrides.iss ?? this.clientId)
      .setAudience(overrides.aud ?? ISSUER)
      .setIssuedAt(Math.floor(now / 1000))
      .setExpirationTime(Math.floor((overrides.expMs ?? now + 60_000) / 1000))
      .sign(this.clientKey.privateKey);
  }

  async proof(method: string, path: string, options: ProofOptions = {}) {
    const key = options.key ?? this.dpopKey;
    return new SignJWT({
      htm: options.htm ?? method,
      htu: options.htu ?? `${ISSUER}${path}`,
      jti: options.jti ?? randomUUID(),
      iat: Math.floor((options.iatMs ?? this.gw.clock.now()) / 1000),
      ...(options.accessToken === undefined ? {} : { ath: sha256(options.accessToken) }),
      ...(options.nonce === undefined ? {} : { nonce: options.nonce }),
    })
      .setProtectedHeader({
        alg: options.alg ?? 'ES256',
        typ: options.typ ?? 'dpop+jwt',
        jwk: key.publicJwk as never,
      })
      .sign(key.privateKey);
  }

  /** POSTs a form to an authorization-server endpoint with a fresh assertion (and a DPoP proof unless `dpop: null`). */
  async form(
    path: string,
    params: Record<string, string>,
    options: { dpop?: string | null; assertion?: string; headers?: Record<string, string> } = {},
  ) {
    const body = new URLSearchParams({
      client_assertion_type: CLIENT_ASSERTION_TYPE,
      client_assertion: options.assertion ?? (await this.assertion()),
      ...params,
    });
    const dpop = options.dpop === undefined ? await this.proof('POST', path) : options.dpop;
    return this.gw.app.inject({
      method: 'POST',
      url: path,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        ...(dpop === null ? {} : { dpop }),
        ...options.headers,
      },
      payload: body.toString(),
    });
  }

  /** A resource request with `Authorization: DPoP <token>` and a fresh proof. */
  async call(
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT',
    url: string,
    token: string,
    payload?: unknown,
    proof?: ProofOptions,
  ) {
    const path = url.split('?')[0] as string;
    return this.gw.app.inject({
      method,
      url,
      headers: {
        authorization: `DPoP ${token}`,
        dpop: await this.proof(method, path, { accessToken: token, ...proof }),
      },
      ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
    });
  }
}
