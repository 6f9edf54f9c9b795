/**
 * @module identity/password
 * argon2id password hashing with @node-rs/argon2, whose hash and verify run on libuv's thread pool: a login storm
 * costs CPU, never event-loop time. Unknown users are verified against a dummy hash with the same parameters, so
 * "no such user" and "wrong password" take the same time and give the same answer.
 */
import { type Algorithm, hash, verify } from '@node-rs/argon2';
import { randomToken, Semaphore } from '../core/index.js';

export interface PasswordParams {
  /** Memory cost in KiB (default 19456, the OWASP row with t=2, p=1). */
  memoryCostKib: number;
  timeCost: number;
  parallelism: number;
  /** Hashes computed at once; the rest queue (see `password.maxConcurrentHashes`). */
  maxConcurrentHashes: number;
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** True when `password` matches `encoded`; `encoded: null` burns one verification against the dummy hash. */
  verify(encoded: string | null, password: string): Promise<boolean>;
}

/** `Algorithm.Argon2id` (a const enum, which `verbatimModuleSyntax` cannot import). */
const ARGON2ID: Algorithm = 2;

/**
 * NFKC so that the same password typed on different keyboards (composed or decomposed) matches; nothing else — no
 * trimming, truncation or case folding (ASVS 5.0 6.2.8). What a new password must be: `identity/password-policy`.
 */
function normalise(password: string): string {
  return password.normalize('NFKC');
}

export async function createPasswordHasher(params: PasswordParams): Promise<PasswordHasher> {
  const options = {
    algorithm: ARGON2ID,
    memoryCost: params.memoryCostKib,
    timeCost: params.timeCost,
    parallelism: params.parallelism,
  };
  const dummy = await hash(randomToken(24), options);
  // Each hash occupies a libuv thread and a core for ~15 ms. Bounding them keeps a core for the event loop, so a
  // login storm slows logins down rather than every other request; excess logins queue, then get OVERLOADED.
  const slots = new Semaphore(params.maxConcurrentHashes, 64 * params.maxConcurrentHashes);
  return {
    hash: (password) => slots.run(() => hash(normalise(password), options)),
    async verify(encoded, password) {
      const ok = await slots.run(() => verify(encoded ?? dummy, normalise(password)));
      return encoded !== null && ok;
    },
  };
}
