/**
 * @module oauth/refresh-record
 * What the access-readiness checklist (readiness/) knows of each API client's refresh path, per user: when a refresh
 * last issued tokens — for a personal client, a client-credentials request, its way of refreshing (RFC 6749
 * §4.4.3) — and when the failure sandbox last struck that path: `token.expired_early` expiring the client's access
 * tokens, `refresh.response_lost` cutting a refresh's answer after it committed. A refresh recorded after both is a
 * drill passed: the client came back from an expired token and from a lost refresh response. Drill reports
 * (`gatehouse drill`) are files on the operator's side and not kept per client in the store, so these records are
 * the evidence the gateway has. One upsert per refresh; the sandbox's writes happen only while it is on.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../store/index.js';

type Db = Kysely<Database>;
type Column = 'last_refresh_at' | 'tokens_expired_at' | 'response_lost_at';

async function note(db: Db, clientId: string, userId: string, column: Column, at: number): Promise<void> {
  await db
    .insertInto('api_client_refreshes')
    .values({
      client_id: clientId,
      user_id: userId,
      last_refresh_at: null,
      tokens_expired_at: null,
      response_lost_at: null,
      [column]: at,
    })
    .onConflict((oc) => oc.columns(['client_id', 'user_id']).doUpdateSet({ [column]: at }))
    .execute();
}

/** A refresh (or a personal client's client-credentials request) issued tokens for the user at `at`. */
export function noteRefresh(db: Db, clientId: string, userId: string, at: number): Promise<void> {
  return note(db, clientId, userId, 'last_refresh_at', at);
}

/** The sandbox cut the answer of a refresh that committed at `at`. */
export function noteResponseLost(db: Db, clientId: string, userId: string, at: number): Promise<void> {
  return note(db, clientId, userId, 'response_lost_at', at);
}

/** The sandbox expired the access tokens of these grants at `at`. */
export async function noteTokensExpired(db: Db, grantIds: readonly string[], at: number): Promise<void> {
  if (grantIds.length === 0) return;
  const grants = await db
    .selectFrom('oauth_grants')
    .select(['client_id', 'user_id'])
    .where('id', 'in', grantIds)
    .execute();
  for (const g of grants) await note(db, g.client_id, g.user_id, 'tokens_expired_at', at);
}

/** An API client of the user's, with its refresh path's record. */
export interface ClientRefreshRecord {
  clientId: string;
  name: string;
  lastRefreshAt: number | null;
  tokensExpiredAt: number | null;
  responseLostAt: number | null;
}

/** The user's API clients — those with a live grant of theirs to a live client — with their records, by name. */
export async function clientRefreshesOfUser(db: Db, userId: string): Promise<ClientRefreshRecord[]> {
  const rows = await db
    .selectFrom('oauth_grants')
    .innerJoin('oauth_clients', 'oauth_clients.id', 'oauth_grants.client_id')
    .leftJoin('api_client_refreshes', (join) =>
      join
        .onRef('api_client_refreshes.client_id', '=', 'oauth_grants.client_id')
        .onRef('api_client_refreshes.user_id', '=', 'oauth_grants.user_id'),
    )
    .select([
      'oauth_clients.id as clientId',
      'oauth_clients.name as name',
      'api_client_refreshes.last_refresh_at as lastRefreshAt',
      'api_client_refreshes.tokens_expired_at as tokensExpiredAt',
      'api_client_refreshes.response_lost_at as responseLostAt',
    ])
    .where('oauth_grants.user_id', '=', userId)
    .where('oauth_grants.revoked_at', 'is', null)
    .where('oauth_clients.revoked_at', 'is', null)
    .orderBy('oauth_clients.name')
    .orderBy('oauth_clients.id')
    .execute();
  const seen = new Set<string>();
  const out: ClientRefreshRecord[] = [];
  for (const r of rows) {
    if (seen.has(r.clientId)) continue;
    seen.add(r.clientId);
    const n = (v: number | string | null) => (v === null ? null : Number(v));
    out.push({
      clientId: r.clientId,
      name: r.name,
      lastRefreshAt: n(r.lastRefreshAt),
      tokensExpiredAt: n(r.tokensExpiredAt),
      responseLostAt: n(r.responseLostAt),
    });
  }
  return out;
}
