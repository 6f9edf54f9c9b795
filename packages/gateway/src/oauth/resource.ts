/**
 * @module oauth/resource
 * The resource side: a program's request with `Authorization: DPoP <token>` and its proof becomes the grant's
 * principal — the program session the token acts through (its instance's, for a personal client), the user's
 * accounts narrowed to the grant's, the grant's scopes. A token seen
 * before is answered from the node's memory (one signature check, for the proof); revocation reaches every node's
 * cache through the bus. Failures answer with the gateway's own codes and a DPoP challenge: `INVALID_TOKEN`,
 * `INVALID_DPOP_PROOF`, `USE_DPOP_NONCE`.
 */
import type { Scope } from '@gatehouse/protocol';
import { GatehouseError, sha256 } from '../core/index.js';
import type { Principal, SessionProfile } from '../sessions/index.js';
import type { CachedToken, OAuthContext } from './context.js';
import { OAuthError } from './errors.js';
import { findAccessToken, json } from './store.js';

/**
 * A program's view of its user's profile: the user's accounts (with today's roles) that its grant names, none else.
 * The user losing a role loses it for the program too; the user gaining one gives the program nothing.
 */
export function grantProfile(profile: SessionProfile, accounts: readonly string[]): SessionProfile {
  return { ...profile, accounts: profile.accounts.filter((a) => accounts.includes(a.id)) };
}

/**
 * Resolves `Authorization: DPoP <token>` with its proof to the grant's principal: the program's session, its
 * accounts narrowed to the grant's, its scopes. A token seen before is answered from memory.
 */
export async function authenticate(
  ctx: OAuthContext,
  token: string,
  proof: string | undefined,
  method: string,
  url: string,
): Promise<Principal> {
  const now = ctx.clock.now();
  const tokenHash = sha256(token);
  let cached = ctx.tokens.get(tokenHash);
  if (cached === undefined) {
    const epoch = ctx.tokensGate.epoch();
    cached = await loadToken(ctx, tokenHash);
    if (cached !== undefined && now < cached.expiresAt && ctx.tokensGate.mayKeep(epoch)) {
      // Access tokens all live `accessTokenTtlMs` and are cached about when first used, so the oldest entries expire
      // first: two expired ones dropped per token cached hold the cache to the live tokens on every node, the ones
      // that answer no token requests (and so never purge) included.
      ctx.tokens.dropOldestWhile((token) => now >= token.expiresAt, 2);
      ctx.tokens.set(tokenHash, cached);
    }
  }
  if (cached === undefined || now >= cached.expiresAt) throw new GatehouseError('INVALID_TOKEN');
  let jkt: string;
  try {
    jkt = await ctx.dpop.verify({ proof, method, url, accessToken: token, now });
  } catch (error) {
    if (error instanceof OAuthError && error.error === 'use_dpop_nonce')
      throw new GatehouseError('USE_DPOP_NONCE', undefined, { dpopNonce: ctx.dpop.nonce(now) });
    throw new GatehouseError('INVALID_DPOP_PROOF', (error as Error).message);
  }
  if (jkt !== cached.jkt)
    throw new GatehouseError('INVALID_DPOP_PROOF', 'The proof is signed by another key.');
  const principal =
    ctx.sessions.authenticateCachedHash(cached.sessionTokenHash) ??
    (await ctx.sessions.authenticateHash(cached.sessionTokenHash));
  return {
    session: principal.session,
    profile: grantProfile(principal.profile, cached.accounts),
    memo: principal.memo,
    api: {
      clientId: cached.clientId,
      grantId: cached.grantId,
      scopes: cached.scopes,
      accounts: cached.accounts,
      jkt,
    },
  };
}

/**
 * What an access token stands for, from the database: undefined when it is unknown, revoked, its grant revoked, or
 * it has no program session (its own, or its grant's for a token from before migration 0013). Expiry is checked by
 * the caller, which caches only a live token.
 */
async function loadToken(ctx: OAuthContext, tokenHash: string): Promise<CachedToken | undefined> {
  const row = await findAccessToken(ctx.db, tokenHash);
  if (
    row === undefined ||
    row.revoked_at !== null ||
    row.grant_revoked_at !== null ||
    row.session_id === null
  )
    return undefined;
  // The program session's current token hash, which the session cache and `authenticateHash` are keyed by.
  const session = await ctx.sessions.findById(row.session_id);
  if (session === undefined) return undefined;
  return {
    grantId: row.grant_id,
    clientId: row.client_id,
    userId: row.user_id,
    sessionId: session.id,
    sessionTokenHash: session.tokenHash,
    jkt: row.jkt,
    scopes: json<Scope[]>(row.scopes),
    accounts: json<string[]>(row.accounts),
    expiresAt: Number(row.expires_at),
  };
}
