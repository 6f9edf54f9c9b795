/**
 * @module oauth/signing
 * The authorization server's own signing key, published in its JWKS: an Ed25519 key derived from the server
 * secret, so every node holds the same one without storing it. It signs token introspection responses asked for as
 * JWTs (RFC 9701, `Accept: application/token-introspection+jwt`), which a resource server can then verify offline.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { type JWK, SignJWT } from 'jose';
import { deriveKey, secretId } from '../core/index.js';
import { jwkThumbprint } from './dpop.js';

/** PKCS #8 prefix of an Ed25519 private key (RFC 8410), followed by its 32-byte seed. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export interface SigningKey {
  privateKey: KeyObject;
  publicJwk: JWK & { kid: string };
}

export function signingKeyFromSeed(seed: Buffer): SigningKey {
  if (seed.length !== 32) throw new Error('an Ed25519 seed has 32 bytes');
  const privateKey = createPrivateKey({
    key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]),
    format: 'der',
    type: 'pkcs8',
  });
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' }) as JWK;
  const kid = jwkThumbprint(jwk);
  return { privateKey, publicJwk: { ...jwk, kid, alg: 'EdDSA', use: 'sig' } };
}

/** RFC 9701: the introspection answer as a JWT for the client that asked. */
export function signIntrospection(
  key: SigningKey,
  issuer: string,
  clientId: string,
  introspection: Record<string, unknown>,
  now: number,
): Promise<string> {
  return new SignJWT({ token_introspection: introspection })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'token-introspection+jwt', kid: key.publicJwk.kid })
    .setIssuer(issuer)
    .setAudience(clientId)
    .setIssuedAt(Math.floor(now / 1000))
    .sign(key.privateKey);
}

/**
 * The signing keys of a ring's secrets, the current one first (it signs) and each previous one until it retires
 * (the JWKS lists them, so a JWT signed before a rotation verifies through the grace; `kid` tells them apart).
 * Each is derived once.
 */
export function signingKeys(ring: { secrets(): readonly { secret: Buffer }[] }): () => readonly SigningKey[] {
  const made = new Map<string, SigningKey>();
  return () =>
    ring.secrets().map(({ secret }) => {
      const id = secretId(secret);
      let key = made.get(id);
      if (key === undefined) {
        key = signingKeyFromSeed(deriveKey(secret, 'oauth-signing'));
        made.set(id, key);
      }
      return key;
    });
}
