/**
 * @module devices/keys
 * Device keys: ECDSA P-256 public keys sent as JWK at enrolment, signatures in the IEEE P1363 (r‖s) form that
 * WebCrypto produces, base64url-encoded. Every parser here treats its input as hostile and returns null or false
 * rather than throwing.
 */
import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import { deviceStreamAuthMessage, pushDecisionMessage } from '@gatehouse/protocol';

export interface P256Jwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
}

const B64URL = /^[A-Za-z0-9_-]+$/;

/** A validated P-256 public key, or null. Private parts (`d`) are refused: the device keeps its key. */
export function parseP256PublicJwk(value: unknown): { jwk: P256Jwk; key: KeyObject } | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const v = value as Record<string, unknown>;
  if (v.kty !== 'EC' || v.crv !== 'P-256' || 'd' in v) return null;
  if (typeof v.x !== 'string' || typeof v.y !== 'string' || !B64URL.test(v.x) || !B64URL.test(v.y))
    return null;
  if (Buffer.from(v.x, 'base64url').length !== 32 || Buffer.from(v.y, 'base64url').length !== 32) return null;
  const jwk: P256Jwk = { kty: 'EC', crv: 'P-256', x: v.x, y: v.y };
  try {
    return { jwk, key: createPublicKey({ key: { ...jwk }, format: 'jwk' }) };
  } catch {
    return null;
  }
}

/** Verifies a base64url P1363 ECDSA-SHA256 signature over `message`; false for anything malformed. */
export function verifyDeviceSignature(key: KeyObject, message: string, signature: unknown): boolean {
  if (typeof signature !== 'string' || !B64URL.test(signature)) return false;
  const bytes = Buffer.from(signature, 'base64url');
  if (bytes.length !== 64) return false;
  try {
    return verify('sha256', Buffer.from(message, 'utf8'), { key, dsaEncoding: 'ieee-p1363' }, bytes);
  } catch {
    return false;
  }
}

/** The exact bytes a device signs to decide a push challenge (fixed key order, no whitespace). */
export const decisionMessage = pushDecisionMessage;

/** The bytes a device signs to open its stream: bound to the device, a time and a single-use nonce. */
export const streamAuthMessage = deviceStreamAuthMessage;
