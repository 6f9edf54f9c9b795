/**
 * @module core/crypto
 * Random tokens, hashing and constant-time comparison. Tokens are opaque base64url strings from the CSPRNG;
 * the server keeps only their SHA-256, so a copy of the database cannot be replayed as credentials.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  hash,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';

/** A random token of `bytes` bytes (default 32 = 256 bits), base64url-encoded. */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** SHA-256 of a UTF-8 string, base64url-encoded. Used as the stored form of every bearer secret. */
export function sha256(value: string): string {
  // One-shot hashing (Node ≥ 20.12) avoids a Hash object per call: this runs on every authenticated request.
  return hash('sha256', value, 'base64url');
}

/** SHA-256 of a UTF-8 string as lowercase hex (used by the audit chain). */
export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/** HMAC-SHA256 of `value` under `key`, base64url-encoded. */
export function hmacSha256(key: Buffer, value: string): string {
  return createHmac('sha256', key).update(value, 'utf8').digest('base64url');
}

/**
 * Compares two strings in time independent of where they differ. Inputs of different length return false
 * after a comparison of equal cost, so the length of a secret is not revealed by timing either.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = createHash('sha256').update(a, 'utf8').digest();
  const right = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(left, right) && a.length === b.length;
}

/** Derives a purpose-specific 32-byte key from the server secret (HKDF-SHA256), so one secret serves many uses. */
export function deriveKey(secret: Buffer, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), `gatehouse:${purpose}`, 32));
}

/** The keys of one use: the one new values are made with, and every one a presented value may verify under now. */
export interface PurposeKeys {
  readonly current: Buffer;
  /** The current key first, then each previous secret's key before its retire time (core/keyring). */
  verifying(): readonly Buffer[];
}

/**
 * Authenticated encryption (AES-256-GCM) for secrets that must be recoverable, such as TOTP seeds
 * (ASVS 2.8: "seeds protected at rest"). Format: `v1.<iv>.<tag>.<ciphertext>`, each part base64url.
 * Given a secret ring (core/keyring.ts), it seals under the current secret's key and opens a value sealed under
 * any secret the ring still holds (GCM's tag tells which: a wrong key fails authentication); `app/reseal.ts` moves
 * every stored value to the current key, so a retired secret is never needed again.
 */
export class SecretBox {
  readonly #keys: PurposeKeys;

  constructor(serverSecret: Buffer | { keys(purpose: string): PurposeKeys }) {
    this.#keys = Buffer.isBuffer(serverSecret)
      ? ((key) => ({ current: key, verifying: () => [key] }))(deriveKey(serverSecret, 'secret-box'))
      : serverSecret.keys('secret-box');
  }

  seal(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#keys.current, iv);
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [
      'v1',
      iv.toString('base64url'),
      cipher.getAuthTag().toString('base64url'),
      body.toString('base64url'),
    ].join('.');
  }

  open(sealed: string): string {
    return this.#open(sealed, this.#keys.verifying());
  }

  /**
   * The value sealed under the current key; null when it already is. Throws when no key opens it. Used to move
   * stored values off a rotated-out secret (app/reseal.ts).
   */
  reseal(sealed: string): string | null {
    return this.sealedUnderCurrent(sealed) ? null : this.seal(this.open(sealed));
  }

  /**
   * Re-seals each row's value that opens but is not sealed under the current key, writing it with `write` (which
   * answers how many rows it changed: a row changed meanwhile is left to its writer). Counts what it moved and what
   * no key opens.
   */
  async resealEach<R>(
    rows: readonly R[],
    sealedOf: (row: R) => string,
    write: (row: R, next: string, sealed: string) => Promise<number>,
  ): Promise<{ resealed: number; unreadable: number }> {
    const count = { resealed: 0, unreadable: 0 };
    for (const row of rows) {
      const sealed = sealedOf(row);
      let next: string | null;
      try {
        next = this.reseal(sealed);
      } catch {
        count.unreadable += 1;
        continue;
      }
      if (next !== null) count.resealed += await write(row, next, sealed);
    }
    return count;
  }

  /** True when the value opens under the current key (it needs no re-sealing). */
  sealedUnderCurrent(sealed: string): boolean {
    try {
      this.#open(sealed, [this.#keys.current]);
      return true;
    } catch {
      return false;
    }
  }

  #open(sealed: string, keys: readonly Buffer[]): string {
    const [version, iv, tag, body] = sealed.split('.');
    if (version !== 'v1' || iv === undefined || tag === undefined || body === undefined) {
      throw new Error('sealed value has an unknown format');
    }
    let failure: unknown = new Error('no key opens the sealed value');
    for (const key of keys) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
        decipher.setAuthTag(Buffer.from(tag, 'base64url'));
        return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString(
          'utf8',
        );
      } catch (error) {
        failure = error;
      }
    }
    throw failure;
  }
}

/** One dot-separated part of a compact JWS, decoded as a JSON object; null when it is not one. */
export function decodeJsonPart(part: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}
