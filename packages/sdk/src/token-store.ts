/**
 * @module token-store
 * Where a client keeps its tokens between runs. Memory by default; `@gatehouse/sdk/node` adds a file store (0600)
 * that also keeps the DPoP key the tokens are bound to.
 */

/** What a token store keeps: the token set, the key it is bound to, and where the event stream was. */
export interface StoredTokens {
  accessToken: string;
  /** When the access token expires, in server time (ms). */
  expiresAt: number;
  refreshToken?: string;
  scope: string;
  /**
   * The RFC 7638 thumbprint of the DPoP key the tokens are bound to. A supervisor started with another key does not
   * use them (the server would refuse every proof): it authenticates again.
   */
  jkt?: string;
  /** The last account event seen, per account: where the next start resumes (`SupervisorOptions.resumeAfter`). */
  resumeAfter?: Record<string, number>;
}

/** Keeps a `StoredTokens` between runs. */
export interface TokenStore {
  /** The saved set, or undefined when there is none. */
  load(): Promise<StoredTokens | undefined>;
  /** Replaces the saved set. */
  save(tokens: StoredTokens): Promise<void>;
  /** Forgets the saved set. */
  clear(): Promise<void>;
}

/** Keeps tokens in this process only (the default): a restart authenticates again and reads the whole history. */
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
  if (v.jkt !== undefined && typeof v.jkt !== 'string') return undefined;
  const resumeAfter = v.resumeAfter;
  if (
    resumeAfter !== undefined &&
    (typeof resumeAfter !== 'object' ||
      resumeAfter === null ||
      Object.values(resumeAfter).some((seq) => !Number.isSafeInteger(seq) || (seq as number) < 0))
  )
    return undefined;
  return {
    accessToken: v.accessToken,
    expiresAt: v.expiresAt,
    scope: v.scope,
    ...(typeof v.refreshToken === 'string' ? { refreshToken: v.refreshToken } : {}),
    ...(typeof v.jkt === 'string' ? { jkt: v.jkt } : {}),
    ...(resumeAfter === undefined ? {} : { resumeAfter: { ...(resumeAfter as Record<string, number>) } }),
  };
}
