/**
 * @module node
 * Node-only parts of the SDK (`@gatehouse/sdk/node`): a token store in a file readable by its owner alone, which
 * also keeps the DPoP key its tokens are bound to, and a DPoP key signing with Node's synchronous crypto (about a
 * third of WebCrypto's cost per proof).
 */
import {
  createECDH,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
} from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { TokenStoreError } from './errors.js';
import type { EcPublicJwk } from './jose.js';
import { parseStoredTokens, type StoredTokens, type TokenStore } from './token-store.js';
import { DpopKey } from './transport.js';

/** A private P-256 key as a JWK (what the file keeps beside the tokens). */
type PrivateJwk = EcPublicJwk & { d: string };

const isPrivateJwk = (v: unknown): v is PrivateJwk => {
  const k = v as Partial<PrivateJwk> | null;
  return (
    typeof k === 'object' &&
    k !== null &&
    k.kty === 'EC' &&
    k.crv === 'P-256' &&
    [k.x, k.y, k.d].every((part) => typeof part === 'string')
  );
};

/**
 * Keeps tokens in a JSON file created with mode 0600, and (with `dpopKey()`) the DPoP key they are bound to, so a
 * restarted program presents the same key and its tokens — and its session — still work. Refuses to read a file
 * others may read or write (its tokens may have leaked) and a file whose content is not a token set
 * (`TokenStoreError`), rather than guessing. Writes go to a temporary file first, then replace the old one, so a
 * crash mid-write leaves the previous content.
 */
export class FileTokenStore implements TokenStore {
  #key: PrivateJwk | undefined;
  #writing: Promise<void> = Promise.resolve();

  constructor(readonly path: string) {}

  /** The file's whole content: undefined when there is no file. */
  async #read(): Promise<Record<string, unknown> | undefined> {
    // Opened without following a link, then checked and read through the same handle: what is checked is what is
    // read, even if the path is swapped in between.
    let file: FileHandle;
    try {
      file = await open(this.path, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return undefined;
      if (code === 'ELOOP') throw new TokenStoreError(`${this.path} is not a regular file (a link)`);
      throw new TokenStoreError(`cannot read ${this.path}: ${(error as Error).message}`);
    }
    let text: string;
    try {
      const info = await file.stat();
      // A link or another user's file could hand this program someone else's key: only its own regular file.
      if (!info.isFile()) throw new TokenStoreError(`${this.path} is not a regular file`);
      const uid = process.getuid?.();
      if (uid !== undefined && info.uid !== uid)
        throw new TokenStoreError(`${this.path} belongs to another user (uid ${info.uid})`);
      if ((info.mode & 0o077) !== 0)
        throw new TokenStoreError(
          `${this.path} is accessible to others (mode ${(info.mode & 0o777).toString(8)}); expected 600`,
        );
      text = await file.readFile('utf8');
    } finally {
      await file.close();
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new TokenStoreError(`${this.path} is not a token file (not JSON)`);
    }
    if (typeof parsed !== 'object' || parsed === null)
      throw new TokenStoreError(`${this.path} is not a token file (unexpected content)`);
    const content = parsed as Record<string, unknown>;
    if (content.dpopKey !== undefined && !isPrivateJwk(content.dpopKey))
      throw new TokenStoreError(`${this.path} is not a token file (unexpected key)`);
    return content;
  }

  /** Writes one after another (a refresh and the event position may save at once), each in full or not at all. */
  #write(content: Record<string, unknown>): Promise<void> {
    const write = this.#writing.then(async () => {
      // A new name each time, created exclusively (never an existing file or a symlink planted in a shared folder),
      // owner-only from the start, then renamed over the old file.
      const temporary = `${this.path}.${randomBytes(6).toString('hex')}.tmp`;
      const file = await open(temporary, 'wx', 0o600);
      try {
        await file.writeFile(JSON.stringify(content));
        await file.sync();
      } finally {
        await file.close();
      }
      try {
        await rename(temporary, this.path);
      } catch (error) {
        await rm(temporary, { force: true });
        throw error;
      }
    });
    this.#writing = write.catch(() => {});
    return write;
  }

  async load(): Promise<StoredTokens | undefined> {
    const content = await this.#read();
    if (content === undefined) return undefined;
    const { dpopKey: _key, ...rest } = content;
    if (Object.keys(rest).length === 0) return undefined; // a key kept, no tokens yet
    const tokens = parseStoredTokens(rest);
    if (tokens === undefined)
      throw new TokenStoreError(`${this.path} is not a token file (unexpected content)`);
    return tokens;
  }

  async save(tokens: StoredTokens): Promise<void> {
    this.#key ??= (await this.#read())?.dpopKey as PrivateJwk | undefined;
    await this.#write({ ...tokens, ...(this.#key === undefined ? {} : { dpopKey: this.#key }) });
  }

  /** Forgets the tokens; the key stays (a new grant is bound to it again). */
  async clear(): Promise<void> {
    const key = this.#key ?? ((await this.#read())?.dpopKey as PrivateJwk | undefined);
    if (key === undefined) await rm(this.path, { force: true });
    else await this.#write({ dpopKey: key });
  }

  /**
   * The DPoP key kept in this file, made (and saved, 0600) the first time. Use it instead of a new key per run:
   * tokens are bound to the key that asked for them, and a personal client's session is the key's too.
   */
  async dpopKey(): Promise<DpopKey> {
    const content = await this.#read();
    let key = content?.dpopKey as PrivateJwk | undefined;
    if (key === undefined) {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const { kty, crv, x, y, d } = privateKey.export({ format: 'jwk' }) as PrivateJwk;
      key = { kty, crv, x, y, d };
      await this.#write({ ...(content ?? {}), dpopKey: key });
    }
    let privateKey: KeyObject;
    let matches: boolean;
    try {
      privateKey = createPrivateKey({ key: { ...key }, format: 'jwk' });
      // The public point computed from `d` (Node takes x and y from the JWK as given): a file whose x, y do not
      // match it would sign proofs no server accepts.
      const ecdh = createECDH('prime256v1');
      ecdh.setPrivateKey(Buffer.from(key.d, 'base64url'));
      const point = ecdh.getPublicKey(); // 0x04 || x || y
      matches =
        point.subarray(1, 33).toString('base64url') === key.x &&
        point.subarray(33).toString('base64url') === key.y;
    } catch {
      throw new TokenStoreError(`${this.path} is not a token file (its key is not a P-256 private key)`);
    }
    if (!matches)
      throw new TokenStoreError(`${this.path} is not a token file (its key's halves do not match)`);
    this.#key = key;
    return nodeDpopKey(privateKey);
  }
}

function nodeDpopKey(privateKey: KeyObject): DpopKey {
  const { kty, crv, x, y } = createPublicKey(privateKey).export({ format: 'jwk' }) as EcPublicJwk;
  return new DpopKey((data) => sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' }), {
    kty,
    crv,
    x,
    y,
  });
}

/**
 * A new DPoP key held by Node's crypto (the private key never leaves this process). Tokens bound to it die with the
 * process: a program that restarts should use `FileTokenStore.dpopKey()` instead.
 */
export function newNodeDpopKey(): DpopKey {
  return nodeDpopKey(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
}
