/**
 * @module oauth/dpop
 * DPoP proofs (RFC 9449): a JWT in the `DPoP` header, signed by the client's key whose public JWK is in the
 * header, over `{htm, htu, iat, jti}` plus `ath` (the access token's SHA-256) at a resource and `nonce` when the
 * server asks for one. A token bound to the key (`cnf.jkt`, its RFC 7638 thumbprint) is useless without it.
 *
 * Checked, each with its own error (all `invalid_dpop_proof` on the wire): `typ` is `dpop+jwt`; the algorithm is
 * one FAPI 2.0 allows (PS256, ES256, EdDSA — never `none`, never HMAC); the JWK is public (no private members) and
 * strong enough (RSA ≥ 2048 bits, EC P-256, Ed25519); the signature; the method and URL (no query or fragment);
 * `iat` at most 60 s old and 10 s ahead (FAPI 2.0's clock allowance); `jti` never seen before within that window;
 * `ath` when a token is presented; the nonce when required.
 *
 * The check costs one signature verification: public keys are imported once per thumbprint and kept.
 */
import { createHmac, createPublicKey, hash, type KeyObject, verify } from 'node:crypto';
import {
  currentKey,
  decodeJsonPart,
  type KeySource,
  LruCache,
  type ReplayGuard,
  sha256,
  verifyingKeys,
} from '../core/index.js';
import { OAuthError } from './errors.js';

export const DPOP_ALGORITHMS = ['PS256', 'ES256', 'EdDSA'] as const;
export const DPOP_MAX_AGE_MS = 60_000;
export const DPOP_FUTURE_MS = 10_000;
const NONCE_PERIOD_MS = 5 * 60_000;

export interface Jwk {
  kty?: unknown;
  crv?: unknown;
  x?: unknown;
  y?: unknown;
  n?: unknown;
  e?: unknown;
  [member: string]: unknown;
}

/** RFC 7638 thumbprint of a public JWK (SHA-256, base64url), from its required members in lexicographic order. */
export function jwkThumbprint(jwk: Jwk): string {
  let canonical: string;
  if (jwk.kty === 'EC') canonical = JSON.stringify({ crv: jwk.crv, kty: 'EC', x: jwk.x, y: jwk.y });
  else if (jwk.kty === 'RSA') canonical = JSON.stringify({ e: jwk.e, kty: 'RSA', n: jwk.n });
  else if (jwk.kty === 'OKP') canonical = JSON.stringify({ crv: jwk.crv, kty: 'OKP', x: jwk.x });
  else throw new OAuthError('invalid_dpop_proof', 'unsupported key type');
  return hash('sha256', canonical, 'base64url');
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/**
 * A public key FAPI 2.0 accepts for `alg`, imported from its JWK: RSA of at least 2048 bits for PS256, P-256 for
 * ES256, Ed25519 for EdDSA; a JWK with private members is refused.
 */
export function importPublicJwk(jwk: Jwk, alg: string): KeyObject {
  if (PRIVATE_MEMBERS.some((m) => m in jwk))
    throw new OAuthError('invalid_dpop_proof', 'the JWK must be public');
  const fits =
    (alg === 'ES256' && jwk.kty === 'EC' && jwk.crv === 'P-256') ||
    (alg === 'PS256' && jwk.kty === 'RSA') ||
    (alg === 'EdDSA' && jwk.kty === 'OKP' && jwk.crv === 'Ed25519');
  if (!fits) throw new OAuthError('invalid_dpop_proof', `the key does not fit ${alg}`);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
  } catch {
    throw new OAuthError('invalid_dpop_proof', 'the JWK is malformed');
  }
  if (alg === 'PS256' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048)
    throw new OAuthError('invalid_dpop_proof', 'RSA keys must have at least 2048 bits');
  return key;
}

/** Verifies a JWS signature (`signingInput` = header.payload) for the FAPI 2.0 algorithms. */
export function verifyJws(alg: string, key: KeyObject, signingInput: string, signature: string): boolean {
  const data = Buffer.from(signingInput);
  const sig = Buffer.from(signature, 'base64url');
  try {
    if (alg === 'ES256') return verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig);
    if (alg === 'PS256') return verify('sha256', data, { key, padding: 6, saltLength: 32 }, sig);
    if (alg === 'EdDSA') return verify(null, data, key, sig);
  } catch {
    return false;
  }
  return false;
}

export interface DpopCheck {
  proof: string | undefined;
  method: string;
  /** The request's absolute URL; its query and fragment are ignored. */
  url: string;
  /** The access token presented with the proof (resource requests), for `ath`. */
  accessToken?: string;
  now: number;
}

export interface DpopVerifierOptions {
  /** Require the server's current nonce in every proof. */
  requireNonce: boolean;
  /**
   * Keys for the nonces (derived from the server secret, so every node issues and accepts the same ones): the
   * current one issues, a previous one's nonces are accepted in its grace.
   */
  nonceKey: KeySource;
  /** Seen `jti`s, on every node (core/replay.ts). */
  replay: ReplayGuard;
}

/** Verifies DPoP proofs and issues nonces. */
export class DpopVerifier {
  readonly #o: DpopVerifierOptions;
  readonly #keys = new LruCache<string, KeyObject>(10_000);

  constructor(options: DpopVerifierOptions) {
    this.#o = options;
  }

  /** The nonce valid now (and for one more period): an HMAC of the current 5-minute period. */
  nonce(now: number): string {
    return this.#nonceFor(currentKey(this.#o.nonceKey), Math.floor(now / NONCE_PERIOD_MS));
  }

  #nonceFor(key: Buffer, period: number): string {
    return createHmac('sha256', key).update(`dpop-nonce:${period}`).digest('base64url').slice(0, 22);
  }

  #nonceValid(nonce: unknown, now: number): boolean {
    if (typeof nonce !== 'string') return false;
    const period = Math.floor(now / NONCE_PERIOD_MS);
    return verifyingKeys(this.#o.nonceKey).some(
      (key) => nonce === this.#nonceFor(key, period) || nonce === this.#nonceFor(key, period - 1),
    );
  }

  /** Checks a proof; resolves to the thumbprint of its key. */
  async verify(check: DpopCheck): Promise<string> {
    const { proof } = check;
    if (proof === undefined || proof.length === 0)
      throw new OAuthError('invalid_dpop_proof', 'a DPoP proof is required');
    if (proof.length > 8192 || proof.includes(','))
      throw new OAuthError('invalid_dpop_proof', 'one proof, please');
    const parts = proof.split('.');
    if (parts.length !== 3) throw new OAuthError('invalid_dpop_proof', 'the proof is not a JWS');
    const [h, p, s] = parts as [string, string, string];
    const header = decodeJsonPart(h);
    const claims = decodeJsonPart(p);
    if (header === null || claims === null)
      throw new OAuthError('invalid_dpop_proof', 'the proof is not a JWS');
    if (header.typ !== 'dpop+jwt') throw new OAuthError('invalid_dpop_proof', 'typ must be dpop+jwt');
    const alg = header.alg;
    if (typeof alg !== 'string' || !(DPOP_ALGORITHMS as readonly string[]).includes(alg))
      throw new OAuthError('invalid_dpop_proof', 'alg must be PS256, ES256 or EdDSA');
    const jwk = header.jwk;
    if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk))
      throw new OAuthError('invalid_dpop_proof', 'the header must carry the public jwk');
    const jkt = jwkThumbprint(jwk as Jwk);
    const cacheKey = `${alg}:${jkt}`;
    let key = this.#keys.get(cacheKey);
    if (key === undefined) {
      key = importPublicJwk(jwk as Jwk, alg);
      this.#keys.set(cacheKey, key);
    }
    if (!verifyJws(alg, key, `${h}.${p}`, s)) throw new OAuthError('invalid_dpop_proof', 'bad signature');

    const htu = check.url.split(/[?#]/)[0];
    if (claims.htm !== check.method)
      throw new OAuthError('invalid_dpop_proof', 'htm does not match the method');
    if (typeof claims.htu !== 'string' || claims.htu.split(/[?#]/)[0] !== htu)
      throw new OAuthError('invalid_dpop_proof', 'htu does not match the URL');
    if (typeof claims.iat !== 'number') throw new OAuthError('invalid_dpop_proof', 'iat is required');
    const iatMs = claims.iat * 1000;
    if (iatMs < check.now - DPOP_MAX_AGE_MS || iatMs > check.now + DPOP_FUTURE_MS)
      throw new OAuthError('invalid_dpop_proof', 'the proof is too old or from the future');
    if (typeof claims.jti !== 'string' || claims.jti.length < 8 || claims.jti.length > 128)
      throw new OAuthError('invalid_dpop_proof', 'jti is required');
    if (check.accessToken !== undefined && claims.ath !== sha256(check.accessToken))
      throw new OAuthError('invalid_dpop_proof', 'ath does not match the access token');
    if (this.#o.requireNonce && !this.#nonceValid(claims.nonce, check.now))
      throw new OAuthError('use_dpop_nonce', 'use the server-provided DPoP nonce');
    // Claimed for as long as the proof could be accepted, on every node: a replay to another node is refused too.
    if (
      !(await this.#o.replay.claim(
        'dpop',
        `${jkt}:${claims.jti}`,
        DPOP_MAX_AGE_MS + DPOP_FUTURE_MS,
        iatMs + 999,
      ))
    )
      throw new OAuthError('invalid_dpop_proof', 'the proof was used before');
    return jkt;
  }
}
