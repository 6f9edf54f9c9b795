/**
 * @module jose
 * The little JOSE the SDK needs, on WebCrypto only (browsers and Node alike): ES256 keys, compact JWS, RFC 7638
 * thumbprints. WebCrypto's ECDSA signatures are already the raw `r || s` form JWS uses.
 */

const encoder = new TextEncoder();

export function base64url(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export const base64urlJson = (value: unknown) => base64url(encoder.encode(JSON.stringify(value)));

export async function sha256(text: string): Promise<string> {
  return base64url(new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(text))));
}

/** A P-256 public key as a JWK (what a DPoP proof's header and a client registration carry). */
export interface EcPublicJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
}

/** A P-256 key pair; the private key is non-extractable unless asked (a file token store needs to keep it). */
export async function generateEs256(extractable = false): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, extractable, ['sign', 'verify']);
}

/** The public JWK of a WebCrypto key (its `kty`, `crv`, `x`, `y` only). */
export async function publicJwk(key: CryptoKey): Promise<EcPublicJwk> {
  const { kty, crv, x, y } = (await crypto.subtle.exportKey('jwk', key)) as EcPublicJwk;
  return { kty, crv, x, y };
}

/** Imports a private P-256 JWK (a client key file) as a non-extractable WebCrypto signing key. */
export async function importPrivateJwk(jwk: JsonWebKey): Promise<CryptoKey> {
  return crypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
}

/** RFC 7638 thumbprint of a P-256 public key. */
export function thumbprint(jwk: EcPublicJwk): Promise<string> {
  return sha256(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }));
}

/** Signs bytes with an ES256 key, answering the raw `r || s` signature. */
export type Es256Signer = (data: Uint8Array) => Promise<Uint8Array> | Uint8Array;

/** A WebCrypto key as a signer. */
export function webCryptoSigner(privateKey: CryptoKey): Es256Signer {
  return async (data) =>
    new Uint8Array(
      await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, data as BufferSource),
    );
}

export async function signJws(
  signer: Es256Signer | CryptoKey,
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
): Promise<string> {
  const sign = typeof signer === 'function' ? signer : webCryptoSigner(signer);
  const input = `${base64urlJson({ alg: 'ES256', ...header })}.${base64urlJson(payload)}`;
  return `${input}.${base64url(await sign(encoder.encode(input)))}`;
}
