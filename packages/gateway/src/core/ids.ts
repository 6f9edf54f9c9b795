/**
 * @module core/ids
 * Public identifiers: a short type prefix and 128 random bits, e.g. `ses_3KX…`. They name things and are safe to
 * show; they are never credentials (those come from `randomToken` and are stored hashed).
 */
import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford base32, lower case

function base32(bytes: Buffer): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

// Random bytes are drawn 4 KiB at a time (one system call per 256 ids): ids are public, so a pool is safe.
let pool = Buffer.alloc(0);
let offset = 0;

function random16(): Buffer {
  if (offset + 16 > pool.length) {
    pool = randomBytes(4096);
    offset = 0;
  }
  offset += 16;
  return pool.subarray(offset - 16, offset);
}

/** A new identifier `<prefix>_<26 base32 chars>`. */
export function newId(prefix: string): string {
  return `${prefix}_${base32(random16())}`;
}

/**
 * A new identifier that sorts by creation time: `<prefix>_` then 48 bits of milliseconds and 80 random bits, in
 * the same 26 base32 characters (the ULID layout). Rows written in time order then land at the end of their
 * primary-key index instead of all over it, so a commit writes a few index pages rather than one per row — what
 * keeps order entry's journal cheap — and ids list in the order orders arrived.
 */
export function newTimeOrderedId(prefix: string, now: number): string {
  const bytes = Buffer.from(random16());
  bytes.writeUIntBE(Math.max(0, Math.min(now, 2 ** 48 - 1)), 0, 6);
  return `${prefix}_${base32(bytes)}`;
}
