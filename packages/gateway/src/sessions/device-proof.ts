/**
 * @module sessions/device-proof
 * Mobile bearer tokens are bound to the device key (ARCHITECTURE.md, Channels): every request carries a short proof
 * in `x-device-proof`, a compact JWS (ES256, `typ: "device-proof+jwt"`) signed by the enrolled device key over
 * `{htm, htu, iat, jti, ath}` — method, URL (no query), issue time, a unique id and the SHA-256 of the token, as in
 * DPoP (RFC 9449). A stolen token alone is useless; a replayed proof is refused (`PROOF_REPLAYED`). The check is one
 * P-256 signature verification (~0.1 ms) and a claim of its `jti` in the replay guard, which every node shares
 * (core/replay.ts).
 */
import type { KeyObject } from 'node:crypto';
import { decodeJsonPart, GatehouseError, type ReplayGuard, sha256 } from '../core/index.js';
import { verifyDeviceSignature } from '../devices/index.js';

export const DEVICE_PROOF_HEADER = 'x-device-proof';
/** Proofs older than this are refused; up to 10 s in the future is tolerated (FAPI 2.0's clock allowance). */
export const PROOF_MAX_AGE_MS = 60_000;
const PROOF_FUTURE_MS = 10_000;

interface ProofClaims {
  htm: string;
  htu: string;
  iat: number;
  jti: string;
  ath: string;
}

export interface ProofCheck {
  proof: string | undefined;
  method: string;
  /** Absolute URL of the request without its query. */
  url: string;
  token: string;
  key: KeyObject;
  deviceId: string;
  now: number;
  replay: ReplayGuard;
}

export async function verifyDeviceProof(check: ProofCheck): Promise<void> {
  if (check.proof === undefined || check.proof.length === 0) throw new GatehouseError('PROOF_REQUIRED');
  if (check.proof.length > 2048) throw new GatehouseError('PROOF_INVALID');
  const parts = check.proof.split('.');
  if (parts.length !== 3) throw new GatehouseError('PROOF_INVALID');
  const [h, p, s] = parts as [string, string, string];
  const header = decodeJsonPart(h);
  const claims = decodeJsonPart(p) as Partial<ProofClaims> | null;
  if (header === null || claims === null || header.alg !== 'ES256' || header.typ !== 'device-proof+jwt') {
    throw new GatehouseError('PROOF_INVALID');
  }
  if (!verifyDeviceSignature(check.key, `${h}.${p}`, s)) throw new GatehouseError('PROOF_INVALID');
  if (
    claims.htm !== check.method ||
    claims.htu !== check.url ||
    claims.ath !== sha256(check.token) ||
    typeof claims.iat !== 'number' ||
    typeof claims.jti !== 'string' ||
    claims.jti.length < 16 ||
    claims.jti.length > 128
  ) {
    throw new GatehouseError('PROOF_INVALID');
  }
  const iatMs = claims.iat * 1000;
  if (iatMs < check.now - PROOF_MAX_AGE_MS || iatMs > check.now + PROOF_FUTURE_MS)
    throw new GatehouseError('PROOF_INVALID');
  if (
    !(await check.replay.claim(
      'proof',
      `${check.deviceId}:${claims.jti}`,
      PROOF_MAX_AGE_MS + PROOF_FUTURE_MS,
      // The latest it could have been made: `iat` is in whole seconds.
      iatMs + 999,
    ))
  )
    throw new GatehouseError('PROOF_REPLAYED');
}
