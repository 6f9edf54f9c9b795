/**
 * @module oauth/faults
 * What the failure sandbox (`sandbox/`) does through the token service, on the token service's own records:
 * - a target's access tokens expire now (`token.expired_early`): their rows end their lifetime, so the next
 *   resource request is `INVALID_TOKEN` as at a real expiry, and a refresh (or a new client-credentials request)
 *   works;
 * - a target's access tokens are revoked (`token.revoked`) as the revocation endpoint revokes one access token
 *   (RFC 7009): only those tokens end, the grant lives, and a new token request works;
 * - the token endpoint's faults (`refresh.refused`, `refresh.timeout`, `refresh.response_lost`) match a request by
 *   its client and user (`tokenFaultSubject`). A personal client has no refresh token (RFC 6749 §4.4.3): its
 *   "refresh" is a new client-credentials request, so those faults act on that grant as on the refresh grant.
 *
 * A fault on a client acts only on requests that prove to be the client's (`authenticatedClientId`: its assertion
 * verifies): a stranger naming a `client_id` neither spends a fault's `afterRequests` count or hits, nor learns from
 * a different answer that a fault is there.
 */
import type { JWK } from 'jose';
import type { Kysely } from 'kysely';
import { type Clock, type FaultSubject, sha256 } from '../core/index.js';
import type { Database } from '../store/index.js';
import { verifyClientAssertion } from './client-auth.js';
import type { OAuthContext } from './context.js';
import { noteResponseLost, noteTokensExpired } from './refresh-record.js';
import {
  expireAccessTokens,
  findGrant,
  findLiveClient,
  findRefreshToken,
  json,
  liveAccessTokensOfSessions,
  liveGrantsOfClient,
  programSessionIds,
  revokeToken,
} from './store.js';

/** The program sessions of a client's live grants: one per instance (DPoP key) of a personal client, an app's per grant. */
export async function clientSessionIds(ctx: OAuthContext, clientId: string): Promise<string[]> {
  const grants = await liveGrantsOfClient(ctx.db, clientId);
  const byGrant = await programSessionIds(ctx.db, grants);
  return [...new Set([...byGrant.values()].flat())];
}

/**
 * The live access tokens acting through these sessions expire now: their rows say so, this node forgets what it
 * cached of them and every other node too (`oauth.tokens_expired`). Streams stay open, as at a real expiry.
 * Resolves to how many expired.
 */
export async function expireSessionTokens(ctx: OAuthContext, sessionIds: readonly string[]): Promise<number> {
  const now = ctx.clock.now();
  const rows = await liveAccessTokensOfSessions(ctx.db, sessionIds, now);
  await expireAccessTokens(
    ctx.db,
    rows.map((r) => r.token_hash),
    now,
  );
  for (const row of rows) ctx.tokens.delete(row.token_hash);
  const grantIds = [...new Set(rows.map((r) => r.grant_id))];
  for (const grantId of grantIds) await ctx.bus.publish('oauth.tokens_expired', { grantId });
  // Half of a refresh drill: a refresh recorded after this shows the client came back (oauth/refresh-record.ts).
  await noteTokensExpired(ctx.db, grantIds, now);
  return rows.length;
}

/**
 * The live access tokens acting through these sessions are revoked, each as the revocation endpoint revokes an
 * access token: its row, this node's cache, every node's (`oauth.revoked` with its key: that instance's streams
 * close). The grant and its refresh tokens live on. Resolves to how many were revoked.
 */
export async function revokeSessionTokens(ctx: OAuthContext, sessionIds: readonly string[]): Promise<number> {
  const now = ctx.clock.now();
  const rows = await liveAccessTokensOfSessions(ctx.db, sessionIds, now);
  for (const row of rows) {
    await revokeToken(ctx.db, row.token_hash, now);
    ctx.tokens.delete(row.token_hash);
    await ctx.bus.publish('oauth.revoked', { grantId: row.grant_id, jkt: row.jkt });
  }
  return rows.length;
}

/** What `authenticatedClientId` reads: the token service's tables, the gateway clock, the issuer identifier. */
export interface ClientCheckDeps {
  db: Kysely<Database>;
  clock: Clock;
  urls: { readonly issuer: string };
}

/**
 * The live client a form request (`/oauth2/*`) authenticates as, or undefined: the endpoints' own check of its
 * `private_key_jwt` assertion (`verifyClientAssertion`), with its `jti` checked unspent rather than spent — the
 * endpoint spends it when it handles the request. Called only while a fault is armed.
 */
export async function authenticatedClientId(
  deps: ClientCheckDeps,
  form: Record<string, unknown>,
): Promise<string | undefined> {
  const fields: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(form)) if (typeof value === 'string') fields[name] = value;
  try {
    return await verifyClientAssertion(
      { db: deps.db, issuer: deps.urls.issuer, now: deps.clock.now() },
      fields,
      async (clientId) => {
        const client = await findLiveClient(deps.db, clientId);
        return client === undefined ? undefined : json<{ keys: JWK[] }>(client.jwks);
      },
      { spend: false },
    );
  } catch {
    // Not the client's request: the endpoint answers it as it would without a fault.
    return undefined;
  }
}

/**
 * Whom a token request renewing access is for — a refresh, or a personal client's client-credentials request (its
 * way of refreshing) — as the sandbox's token-endpoint faults match it: the client it authenticates as (its
 * assertion verified, `authenticatedClientId`) and that client's (or the refresh token's grant's) user. Undefined
 * for any other request, and for one that does not authenticate. Reads only; called only while a fault is armed.
 */
export async function tokenFaultSubject(
  ctx: OAuthContext,
  form: Record<string, string | undefined>,
): Promise<FaultSubject | undefined> {
  if (form.grant_type !== 'refresh_token' && form.grant_type !== 'client_credentials') return undefined;
  const clientId = await authenticatedClientId(ctx, form);
  if (clientId === undefined) return undefined;
  const client = await findLiveClient(ctx.db, clientId);
  if (client === undefined) return undefined;
  let userId = client.user_id ?? undefined;
  if (form.grant_type === 'refresh_token' && form.refresh_token !== undefined) {
    const row = await findRefreshToken(ctx.db, sha256(form.refresh_token));
    if (row !== undefined && row.client_id === client.id)
      userId = (await findGrant(ctx.db, row.grant_id))?.user_id ?? userId;
  }
  return { clientId: client.id, userId };
}

/**
 * The sandbox's `refresh.response_lost` cut the answer of a token request of `subject` that committed: the other half
 * of a refresh drill (oauth/refresh-record.ts).
 */
export async function responseLost(ctx: OAuthContext, subject: FaultSubject): Promise<void> {
  if (subject.clientId === undefined || subject.userId === undefined) return;
  await noteResponseLost(ctx.db, subject.clientId, subject.userId, ctx.clock.now());
}
