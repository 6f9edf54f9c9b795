/**
 * @module oauth/store
 * The authorization server's rows: clients, grants, pushed requests, codes, tokens, the sessions of personal clients'
 * instances and the client assertions seen.
 * Every query on these tables is here. Secrets are never stored: request URIs, codes and tokens are found by their
 * SHA-256, and a successor refresh token kept for the reuse leeway is sealed. Each function takes the database or a
 * transaction, so a caller can write several rows and an audit entry at once.
 *
 * Longer than most modules: every query on the authorization server's seven tables is kept in this one place, so
 * the rules they share (hashes only, conditional claims, a grant held while its instances' sessions are written) are
 * read together.
 */
import type { Kysely } from 'kysely';
import type {
  Database,
  OAuthClientsTable,
  OAuthCodesTable,
  OAuthGrantsTable,
  OAuthParRequestsTable,
  OAuthTokensTable,
} from '../store/index.js';

type Db = Kysely<Database>;

/** Reads one of the JSON columns (scopes, accounts, keys, redirect URIs, a pushed request's parameters). */
export const json = <T>(text: string): T => JSON.parse(text) as T;

// ---- clients -------------------------------------------------------------------------------------------------

export async function insertClient(db: Db, client: OAuthClientsTable): Promise<void> {
  await db.insertInto('oauth_clients').values(client).execute();
}

/** A client that is not revoked. */
export function findLiveClient(db: Db, id: string): Promise<OAuthClientsTable | undefined> {
  return db
    .selectFrom('oauth_clients')
    .selectAll()
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
}

/** The clients among `ids` that are not revoked. */
export async function listLiveClients(db: Db, ids: readonly string[]): Promise<OAuthClientsTable[]> {
  if (ids.length === 0) return [];
  return db
    .selectFrom('oauth_clients')
    .selectAll()
    .where('id', 'in', ids)
    .where('revoked_at', 'is', null)
    .execute();
}

/** Revokes a user's live personal clients (one, or all); returns the ids revoked. */
export async function revokePersonalClients(
  db: Db,
  userId: string,
  clientId: string | null,
  at: number,
): Promise<string[]> {
  let query = db
    .updateTable('oauth_clients')
    .set({ revoked_at: at })
    .where('kind', '=', 'personal')
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null);
  if (clientId !== null) query = query.where('id', '=', clientId);
  const revoked = await query.returning('id').execute();
  return revoked.map((c) => c.id);
}

/** Records a client assertion's `jti` until `expiresAt`; false when the client used it before. */
export async function recordAssertion(
  db: Db,
  clientId: string,
  jti: string,
  expiresAt: number,
): Promise<boolean> {
  const inserted = await db
    .insertInto('oauth_assertions')
    .values({ client_id: clientId, jti, expires_at: expiresAt })
    .onConflict((oc) => oc.columns(['client_id', 'jti']).doNothing())
    .executeTakeFirst();
  return Number(inserted.numInsertedOrUpdatedRows ?? 0n) !== 0;
}

/** Whether a client assertion's `jti` was spent already (a check that spends nothing; `recordAssertion` spends). */
export async function assertionSpent(db: Db, clientId: string, jti: string): Promise<boolean> {
  const row = await db
    .selectFrom('oauth_assertions')
    .select('jti')
    .where('client_id', '=', clientId)
    .where('jti', '=', jti)
    .executeTakeFirst();
  return row !== undefined;
}

// ---- grants --------------------------------------------------------------------------------------------------

export async function insertGrant(db: Db, grant: OAuthGrantsTable): Promise<void> {
  await db.insertInto('oauth_grants').values(grant).execute();
}

export function findGrant(db: Db, id: string): Promise<OAuthGrantsTable | undefined> {
  return db.selectFrom('oauth_grants').selectAll().where('id', '=', id).executeTakeFirst();
}

/** A client's live grant: a personal client has one. */
export function findLiveGrantOfClient(db: Db, clientId: string): Promise<OAuthGrantsTable | undefined> {
  return db
    .selectFrom('oauth_grants')
    .selectAll()
    .where('client_id', '=', clientId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
}

/** A user's live grants, to every client. */
export function listLiveGrantsOfUser(db: Db, userId: string): Promise<OAuthGrantsTable[]> {
  return db
    .selectFrom('oauth_grants')
    .selectAll()
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .execute();
}

/** Ids of a user's live grants (to one client, or all), oldest first. */
export async function liveGrantIdsOfUser(db: Db, userId: string, clientId: string | null): Promise<string[]> {
  let query = db
    .selectFrom('oauth_grants')
    .select('id')
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null);
  if (clientId !== null) query = query.where('client_id', '=', clientId);
  const rows = await query.orderBy('created_at').orderBy('id').execute();
  return rows.map((g) => g.id);
}

/**
 * Holds a live grant's row until the caller's transaction ends (a write takes its row lock on PostgreSQL; SQLite has
 * one writer at a time): token requests that open an instance's session take it, and so do one at a time per grant,
 * on every node, and never after the grant's revocation committed. False when the grant is revoked.
 */
export async function holdLiveGrant(db: Db, grantId: string): Promise<boolean> {
  const held = await db
    .updateTable('oauth_grants')
    .set((eb) => ({ revoked_at: eb.ref('revoked_at') }))
    .where('id', '=', grantId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return held.numUpdatedRows !== 0n;
}

/** Records an app grant's program session. */
export async function setGrantSession(db: Db, grantId: string, sessionId: string): Promise<void> {
  await db.updateTable('oauth_grants').set({ session_id: sessionId }).where('id', '=', grantId).execute();
}

/** Marks a live grant revoked and revokes its live tokens; false when it was already revoked (nothing changes). */
export async function revokeGrantAndTokens(
  db: Db,
  grantId: string,
  at: number,
  reason: string,
): Promise<boolean> {
  const result = await db
    .updateTable('oauth_grants')
    .set({ revoked_at: at, revoke_reason: reason })
    .where('id', '=', grantId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  if (result.numUpdatedRows === 0n) return false;
  await db
    .updateTable('oauth_tokens')
    .set({ revoked_at: at })
    .where('grant_id', '=', grantId)
    .where('revoked_at', 'is', null)
    .execute();
  return true;
}

// ---- pushed requests and codes -------------------------------------------------------------------------------

export async function insertParRequest(db: Db, row: OAuthParRequestsTable): Promise<void> {
  await db.insertInto('oauth_par_requests').values(row).execute();
}

export function findParRequest(db: Db, requestUriHash: string): Promise<OAuthParRequestsTable | undefined> {
  return db
    .selectFrom('oauth_par_requests')
    .selectAll()
    .where('request_uri_hash', '=', requestUriHash)
    .executeTakeFirst();
}

/** Spends a pushed request; false when it was spent already (by a concurrent answer). */
export async function claimParRequest(db: Db, requestUriHash: string, at: number): Promise<boolean> {
  const claimed = await db
    .updateTable('oauth_par_requests')
    .set({ used_at: at })
    .where('request_uri_hash', '=', requestUriHash)
    .where('used_at', 'is', null)
    .executeTakeFirst();
  return claimed.numUpdatedRows !== 0n;
}

export async function insertCode(db: Db, row: OAuthCodesTable): Promise<void> {
  await db.insertInto('oauth_codes').values(row).execute();
}

export function findCode(db: Db, codeHash: string): Promise<OAuthCodesTable | undefined> {
  return db.selectFrom('oauth_codes').selectAll().where('code_hash', '=', codeHash).executeTakeFirst();
}

/** Spends a code; false when it was spent already (by a concurrent exchange). */
export async function claimCode(db: Db, codeHash: string, at: number): Promise<boolean> {
  const claimed = await db
    .updateTable('oauth_codes')
    .set({ used_at: at })
    .where('code_hash', '=', codeHash)
    .where('used_at', 'is', null)
    .executeTakeFirst();
  return claimed.numUpdatedRows !== 0n;
}

// ---- tokens --------------------------------------------------------------------------------------------------

export async function insertTokens(db: Db, rows: OAuthTokensTable[]): Promise<void> {
  await db.insertInto('oauth_tokens').values(rows).execute();
}

/**
 * The session of one instance of a grant, the tokens under DPoP key `jkt`: the one its newest token acts through
 * (revoked or not: a bot that revoked its token on the way out gets its session back), or its grant's for a token
 * from before migration 0013. Undefined when the key has no token under the grant.
 */
export async function findInstanceSessionId(
  db: Db,
  grantId: string,
  jkt: string,
): Promise<string | undefined> {
  const row = await db
    .selectFrom('oauth_tokens')
    .innerJoin('oauth_grants', 'oauth_grants.id', 'oauth_tokens.grant_id')
    .select(['oauth_tokens.session_id', 'oauth_grants.session_id as grant_session_id'])
    .where('oauth_tokens.grant_id', '=', grantId)
    .where('oauth_tokens.jkt', '=', jkt)
    .orderBy('oauth_tokens.created_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row?.session_id ?? row?.grant_session_id ?? undefined;
}

// ---- instances of personal clients ----------------------------------------------------------------------------

/** The session recorded for an instance of a grant (its DPoP key `jkt`); undefined when none is. */
export async function findInstance(db: Db, grantId: string, jkt: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('oauth_instances')
    .select('session_id')
    .where('grant_id', '=', grantId)
    .where('jkt', '=', jkt)
    .executeTakeFirst();
  return row?.session_id;
}

/** Records (or replaces) the session of an instance; the caller holds the grant (`holdLiveGrant`). */
export async function setInstance(
  db: Db,
  grantId: string,
  jkt: string,
  sessionId: string,
  at: number,
): Promise<void> {
  await db
    .insertInto('oauth_instances')
    .values({ grant_id: grantId, jkt, session_id: sessionId, created_at: at })
    .onConflict((oc) =>
      oc.columns(['grant_id', 'jkt']).doUpdateSet({ session_id: sessionId, created_at: at }),
    )
    .execute();
}

/**
 * The sessions recorded for a grant's instances that are not ended nor past their absolute lifetime at `now`, with
 * what says whether they are idle and since when (the caller adds activity not yet written behind).
 */
export function instanceSessions(db: Db, grantId: string, now: number) {
  return db
    .selectFrom('oauth_instances')
    .innerJoin('sessions', 'sessions.id', 'oauth_instances.session_id')
    .select(['sessions.id', 'sessions.last_seen_at', 'sessions.idle_timeout_ms', 'sessions.brokerage_at'])
    .where('oauth_instances.grant_id', '=', grantId)
    .where('sessions.revoked_at', 'is', null)
    .where('sessions.expires_at', '>', now)
    .execute();
}

/**
 * The program sessions each grant's tokens act through, the most recently issued for first, then those recorded for
 * its instances that no token names yet, then the grant's own (an app's, or one from before migration 0013). Ended
 * sessions are included: the caller asks the session service.
 */
export async function programSessionIds(
  db: Db,
  grants: readonly Pick<OAuthGrantsTable, 'id' | 'session_id'>[],
): Promise<Map<string, string[]>> {
  const out = new Map(grants.map((g) => [g.id, [] as string[]]));
  if (grants.length === 0) return out;
  const rows = await db
    .selectFrom('oauth_tokens')
    .select(['grant_id', 'session_id', (eb) => eb.fn.max('created_at').as('last')])
    .where(
      'grant_id',
      'in',
      grants.map((g) => g.id),
    )
    .where('session_id', 'is not', null)
    .groupBy(['grant_id', 'session_id'])
    .execute();
  rows.sort((a, b) => Number(b.last) - Number(a.last));
  for (const row of rows) out.get(row.grant_id)?.push(row.session_id as string);
  const instances = await db
    .selectFrom('oauth_instances')
    .select(['grant_id', 'session_id'])
    .where(
      'grant_id',
      'in',
      grants.map((g) => g.id),
    )
    .orderBy('created_at', 'desc')
    .orderBy('session_id')
    .execute();
  for (const row of instances) {
    const ids = out.get(row.grant_id) as string[];
    if (!ids.includes(row.session_id)) ids.push(row.session_id);
  }
  for (const grant of grants) {
    const ids = out.get(grant.id) as string[];
    if (grant.session_id !== null && !ids.includes(grant.session_id)) ids.push(grant.session_id);
  }
  return out;
}

/** The live access tokens that act through these sessions: unexpired at `now`, not revoked, their grant live. */
export async function liveAccessTokensOfSessions(db: Db, sessionIds: readonly string[], now: number) {
  if (sessionIds.length === 0) return [];
  return db
    .selectFrom('oauth_tokens')
    .innerJoin('oauth_grants', 'oauth_grants.id', 'oauth_tokens.grant_id')
    .select(['oauth_tokens.token_hash', 'oauth_tokens.grant_id', 'oauth_tokens.jkt'])
    .where('oauth_tokens.kind', '=', 'access')
    .where('oauth_tokens.session_id', 'in', [...sessionIds])
    .where('oauth_tokens.revoked_at', 'is', null)
    .where('oauth_tokens.expires_at', '>', now)
    .where('oauth_grants.revoked_at', 'is', null)
    .execute();
}

/** Access tokens end their lifetime at `at` (no later than it: an earlier expiry stays). */
export async function expireAccessTokens(db: Db, tokenHashes: readonly string[], at: number): Promise<void> {
  if (tokenHashes.length === 0) return;
  await db
    .updateTable('oauth_tokens')
    .set({ expires_at: at })
    .where('token_hash', 'in', [...tokenHashes])
    .where('kind', '=', 'access')
    .where('expires_at', '>', at)
    .execute();
}

/** The live grants of a client (an app's, one per user; a personal client's, one). */
export function liveGrantsOfClient(db: Db, clientId: string): Promise<OAuthGrantsTable[]> {
  return db
    .selectFrom('oauth_grants')
    .selectAll()
    .where('client_id', '=', clientId)
    .where('revoked_at', 'is', null)
    .execute();
}

/** A refresh token by its hash, whoever holds it (the successor of a spent one). */
export function findRefreshTokenRow(db: Db, tokenHash: string): Promise<OAuthTokensTable | undefined> {
  return db
    .selectFrom('oauth_tokens')
    .selectAll()
    .where('token_hash', '=', tokenHash)
    .where('kind', '=', 'refresh')
    .executeTakeFirst();
}

/** A refresh token with its grant's client and revocation. */
export function findRefreshToken(db: Db, tokenHash: string) {
  return db
    .selectFrom('oauth_tokens')
    .innerJoin('oauth_grants', 'oauth_grants.id', 'oauth_tokens.grant_id')
    .selectAll('oauth_tokens')
    .select(['oauth_grants.client_id', 'oauth_grants.revoked_at as grant_revoked_at'])
    .where('oauth_tokens.token_hash', '=', tokenHash)
    .where('oauth_tokens.kind', '=', 'refresh')
    .executeTakeFirst();
}

/**
 * A token of one client's grants (another client's is as unknown as a made-up one), with its grant's user, and the
 * program session it acts through (`session_id`, its grant's for a row from before migration 0013).
 */
export async function findTokenOfClient(db: Db, tokenHash: string, clientId: string) {
  const row = await db
    .selectFrom('oauth_tokens')
    .innerJoin('oauth_grants', 'oauth_grants.id', 'oauth_tokens.grant_id')
    .selectAll('oauth_tokens')
    .select([
      'oauth_grants.user_id',
      'oauth_grants.revoked_at as grant_revoked_at',
      'oauth_grants.session_id as grant_session_id',
    ])
    .where('oauth_tokens.token_hash', '=', tokenHash)
    .where('oauth_grants.client_id', '=', clientId)
    .executeTakeFirst();
  return row === undefined ? undefined : { ...row, session_id: row.session_id ?? row.grant_session_id };
}

/**
 * An access token with what its grant allows and the program session it acts through (its grant's for a row from
 * before migration 0013).
 */
export async function findAccessToken(db: Db, tokenHash: string) {
  const row = await db
    .selectFrom('oauth_tokens')
    .innerJoin('oauth_grants', 'oauth_grants.id', 'oauth_tokens.grant_id')
    .select([
      'oauth_tokens.grant_id',
      'oauth_tokens.jkt',
      'oauth_tokens.scopes',
      'oauth_tokens.expires_at',
      'oauth_tokens.revoked_at',
      'oauth_grants.client_id',
      'oauth_grants.user_id',
      'oauth_grants.accounts',
      'oauth_grants.revoked_at as grant_revoked_at',
      'oauth_tokens.session_id',
      'oauth_grants.session_id as grant_session_id',
    ])
    .where('oauth_tokens.token_hash', '=', tokenHash)
    .where('oauth_tokens.kind', '=', 'access')
    .executeTakeFirst();
  return row === undefined ? undefined : { ...row, session_id: row.session_id ?? row.grant_session_id };
}

export async function touchToken(db: Db, tokenHash: string, at: number): Promise<void> {
  await db
    .updateTable('oauth_tokens')
    .set({ last_used_at: at })
    .where('token_hash', '=', tokenHash)
    .execute();
}

/**
 * Spends a refresh token under rotation, keeping its successor sealed for the reuse leeway; false when a concurrent
 * refresh spent it first.
 */
export async function spendRefreshToken(
  db: Db,
  tokenHash: string,
  at: number,
  successorSealed: string,
): Promise<boolean> {
  const spent = await db
    .updateTable('oauth_tokens')
    .set({ spent_at: at, last_used_at: at, successor_sealed: successorSealed })
    .where('token_hash', '=', tokenHash)
    .where('spent_at', 'is', null)
    .executeTakeFirst();
  return spent.numUpdatedRows !== 0n;
}

export async function revokeToken(db: Db, tokenHash: string, at: number): Promise<void> {
  await db.updateTable('oauth_tokens').set({ revoked_at: at }).where('token_hash', '=', tokenHash).execute();
}

// ---- housekeeping --------------------------------------------------------------------------------------------

/**
 * How long past its expiry a spent id (a client assertion's `jti`, a pushed request) is kept: a wall clock stepped
 * back (an NTP step, a VM resumed) makes an expired assertion look valid again, so its id must still be spent then.
 * An hour covers any step within reason (docs/reliability.md, "The clock jumps").
 */
const SPENT_KEPT_MS = 3_600_000;

/**
 * Deletes what can no longer be used at `now`: assertion ids, pushed requests and codes an hour past their expiry,
 * access tokens `keepAccessMs` past theirs (at least a day, for introspection's `active: false` and audits; and as
 * long as a program session may live, so a live session's tokens are all there: they say which instance it serves
 * and what revoking its grant must end), and instances' rows whose session has ended (a key that comes back gets a
 * new session either way).
 */
export async function deleteExpired(db: Db, now: number, keepAccessMs: number): Promise<void> {
  await db
    .deleteFrom('oauth_assertions')
    .where('expires_at', '<', now - SPENT_KEPT_MS)
    .execute();
  await db
    .deleteFrom('oauth_par_requests')
    .where('expires_at', '<', now - SPENT_KEPT_MS)
    .execute();
  await db
    .deleteFrom('oauth_codes')
    .where('expires_at', '<', now - SPENT_KEPT_MS)
    .execute();
  await db
    .deleteFrom('oauth_tokens')
    .where('kind', '=', 'access')
    .where('expires_at', '<', now - keepAccessMs)
    .execute();
  await db
    .deleteFrom('oauth_instances')
    .where(({ exists, selectFrom }) =>
      exists(
        selectFrom('sessions')
          .select('sessions.id')
          .whereRef('sessions.id', '=', 'oauth_instances.session_id')
          .where((w) =>
            w.or([w('sessions.revoked_at', 'is not', null), w('sessions.expires_at', '<=', now)]),
          ),
      ),
    )
    .execute();
}
