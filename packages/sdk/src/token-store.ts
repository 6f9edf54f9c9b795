/**
 * @module token-store
 * Where a client keeps its tokens between runs. Memory by default; `@gatehouse/sdk/node` adds a file store (0600).
 */
export interface StoredTokens {
  accessToken: string;
  /** When the access token expires, in server time (ms). */
  expiresAt: number;
  refreshToken?: string;
  scope: string;
}

export interface TokenStore {
  load(): Promise<StoredTokens | undefined>;
  save(tokens: StoredTokens): Promise<void>;
  clear(): Promise<void>;
}

export class MemoryTokenStore implements TokenStore {
  #tokens: StoredTokens | undefined;
  async load() {
    return this.#tokens;
  }
  async save(tokens: StoredTokens) {
    this.#tokens = { ...tokens };
  }
  async clear() {
    this.#tokens = undefined;
  }
}

/** Checks what a store read back: an object with the fields this SDK writes, or undefined. */
export function parseStoredTokens(value: unknown): StoredTokens | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.accessToken !== 'string' || typeof v.expiresAt !== 'number' || typeof v.scope !== 'string')
    return undefined;
  if (v.refreshToken !== undefined && typeof v.refreshToken !== 'string') return undefined;
  return {
    accessToken: v.accessToken,
    expiresAt: v.expiresAt,
    scope: v.scope,
    ...(typeof v.refreshToken === 'string' ? { refreshToken: v.refreshToken } : {}),
  };
}
