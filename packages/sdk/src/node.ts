/**
 * @module node
 * Node-only parts of the SDK (`@gatehouse/sdk/node`): a token store in a file readable by its owner alone, and a
 * DPoP key signing with Node's synchronous crypto (about a third of WebCrypto's cost per proof).
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { chmod, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { TokenStoreError } from './errors.js';
import type { EcPublicJwk } from './jose.js';
import { parseStoredTokens, type StoredTokens, type TokenStore } from './token-store.js';
import { DpopKey } from './transport.js';

/**
 * Keeps tokens in a JSON file created with mode 0600. Refuses to read a file others may read or write (its tokens
 * may have leaked) and a file whose content is not a token set (`TokenStoreError`), rather than guessing.
 */
export class FileTokenStore implements TokenStore {
  constructor(readonly path: string) {}

  async load(): Promise<StoredTokens | undefined> {
    let mode: number;
    try {
      mode = (await stat(this.path)).mode;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new TokenStoreError(`cannot read ${this.path}: ${(error as Error).message}`);
    }
    if ((mode & 0o077) !== 0)
      throw new TokenStoreError(
        `${this.path} is accessible to others (mode ${(mode & 0o777).toString(8)}); expected 600`,
      );
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(this.path, 'utf8'));
    } catch {
      throw new TokenStoreError(`${this.path} is not a token file (not JSON)`);
    }
    const tokens = parseStoredTokens(parsed);
    if (tokens === undefined)
      throw new TokenStoreError(`${this.path} is not a token file (unexpected content)`);
    return tokens;
  }

  async save(tokens: StoredTokens): Promise<void> {
    await writeFile(this.path, JSON.stringify(tokens), { mode: 0o600 });
    await chmod(this.path, 0o600);
  }

  async clear(): Promise<void> {
    await rm(this.path, { force: true });
  }
}

/** A new DPoP key held by Node's crypto (the private key never leaves this process). */
export function newNodeDpopKey(): DpopKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { kty, crv, x, y } = publicKey.export({ format: 'jwk' }) as EcPublicJwk;
  return new DpopKey((data) => sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' }), {
    kty,
    crv,
    x,
    y,
  });
}
