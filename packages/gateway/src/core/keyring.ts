/**
 * @module core/keyring
 * The server secrets a node holds, and the keys each use derives from them (HKDF, core/crypto `deriveKey`).
 *
 * - The **current** secret makes every new value: CSRF tokens, device cookies, DPoP nonces, node-to-node call
 *   signatures, sealed values at rest, JWTs signed with the OAuth signing key.
 * - Each **previous** secret only verifies, until its retire time: a value made before a rotation keeps working for
 *   the grace period (`secrets.rotationGraceMs`), then is refused like any forgery. The retire time is read at each
 *   check against the injected clock, so a node that runs through the end of the grace drops the old keys without a
 *   restart.
 * - **Identifier keys** (the audit-username pseudonym, the throttle-username key) are lookups, not signatures: a
 *   value made under them is compared with one stored earlier, so they must not change when the secret does (the
 *   pseudonyms in the audit log would stop matching, a throttle counter would restart). They derive from the
 *   ring's **identity** secret, which is the first secret the ring ever had and which a rotation keeps.
 */
import { deriveKey, type PurposeKeys, sha256 } from './crypto.js';

export type { PurposeKeys };

/** A key, or the keys of a ring: checks accept either (a lone key is its own ring). */
export type KeySource = Buffer | PurposeKeys;

/** The keys a value is checked against. */
export function verifyingKeys(source: KeySource): readonly Buffer[] {
  return Buffer.isBuffer(source) ? [source] : source.verifying();
}

/** The key new values are made with. */
export function currentKey(source: KeySource): Buffer {
  return Buffer.isBuffer(source) ? source : source.current;
}

export interface RingSecret {
  secret: Buffer;
  /** Epoch ms after which it no longer verifies; null for the current secret. */
  retiresAt: number | null;
}

/** A short public name for a secret (never the secret, nor anything a key could be recovered from). */
export function secretId(secret: Buffer): string {
  return sha256(deriveKey(secret, 'key-id').toString('base64url')).slice(0, 12);
}

export class SecretRing {
  readonly current: Buffer;
  readonly identity: Buffer;
  readonly #previous: readonly RingSecret[];
  readonly #now: () => number;

  constructor(options: {
    current: Buffer;
    previous?: readonly { secret: Buffer; retiresAt: number }[];
    identity?: Buffer;
    now: () => number;
  }) {
    this.current = options.current;
    this.identity = options.identity ?? options.current;
    this.#previous = (options.previous ?? []).filter((p) => !p.secret.equals(options.current));
    this.#now = options.now;
  }

  /** A ring of one secret (no rotation under way). */
  static of(secret: Buffer, now: () => number = Date.now): SecretRing {
    return new SecretRing({ current: secret, now });
  }

  /** The secrets that verify now: the current one first, then the previous ones not yet retired. */
  secrets(): RingSecret[] {
    const now = this.#now();
    return [
      { secret: this.current, retiresAt: null },
      ...this.#previous.filter((p) => p.retiresAt !== null && p.retiresAt > now),
    ];
  }

  /** True while a previous secret still verifies. */
  rotating(): boolean {
    return this.secrets().length > 1;
  }

  /** The keys of one use (a purpose string of core/crypto `deriveKey`). */
  keys(purpose: string): PurposeKeys {
    const current = deriveKey(this.current, purpose);
    const previous = this.#previous.map((p) => ({
      key: deriveKey(p.secret, purpose),
      retiresAt: p.retiresAt ?? 0,
    }));
    const now = this.#now;
    return {
      current,
      verifying: () => {
        const at = now();
        return [current, ...previous.filter((p) => p.retiresAt > at).map((p) => p.key)];
      },
    };
  }

  /** A lookup key (audit pseudonyms, throttle rows): from the identity secret, unchanged by rotations. */
  identifierKey(purpose: string): Buffer {
    return deriveKey(this.identity, purpose);
  }
}
