/**
 * @module sandbox/recorder-subject
 * Whose activity a drill's recording follows (docs/sandbox.md, "The recording"): one user's use of one API client on
 * one account. Read from the token service's tables (read only): the subject a recording request names, the program
 * sessions of that user's grants of the client, whose an access token is (so a request refused for its token is
 * still the subject's), and whose grant a token request presents a code or refresh token of.
 */
import type { DrillSubject } from '@gatehouse/protocol';
import type { Kysely } from 'kysely';
import { GatehouseError, sha256 } from '../core/index.js';
import { findAccessToken } from '../oauth/index.js';
import type { Database } from '../store/index.js';

/** Whom a recording follows, and whether its client is a user's own (personal) or a shared app. */
export interface ResolvedSubject {
  subject: DrillSubject;
  personal: boolean;
}

/**
 * The subject of a recording of `clientId` on `accountId`: the user whose grant of the client names the account
 * (docs/sandbox.md, "The recording"). Only that user's activity is ever recorded: an app is shared by every user
 * who approved it, so one user's recording must never hold another's requests.
 * - A person (`caller`) records only themselves: their personal client, or an app they granted the account.
 * - An operator (`caller` null) records a personal client's owner, or, for an app, the user named by `userId`
 *   (required: an app has as many subjects as users who approved it).
 * The client's live grant of that user must name the account, and the user must hold a role on it. An unknown
 * client or account, a missing grant or a missing `userId` → `INVALID_REQUEST` naming the field; another user's
 * client or another user named → `FORBIDDEN`.
 */
export async function resolveSubject(
  db: Kysely<Database>,
  request: { clientId: string; accountId: string; userId?: string | undefined },
  caller: string | null,
): Promise<ResolvedSubject> {
  const { clientId, accountId } = request;
  const client = await db
    .selectFrom('oauth_clients')
    .select(['id', 'user_id'])
    .where('id', '=', clientId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  if (client === undefined) throw invalid('clientId', 'no such API client');
  const account = await db.selectFrom('accounts').select('id').where('id', '=', accountId).executeTakeFirst();
  if (account === undefined) throw invalid('accountId', 'no such account');
  if (caller !== null && request.userId !== undefined && request.userId !== caller)
    throw new GatehouseError('FORBIDDEN', 'A recording follows your own activity only.');
  const personal = client.user_id !== null;
  let userId: string;
  if (client.user_id !== null) {
    if (caller !== null && caller !== client.user_id)
      throw new GatehouseError('FORBIDDEN', 'The API client is not yours.');
    if (request.userId !== undefined && request.userId !== client.user_id)
      throw invalid('userId', 'a personal client is recorded for its owner only');
    userId = client.user_id;
  } else if (caller !== null) userId = caller;
  else if (request.userId !== undefined) userId = request.userId;
  else throw invalid('userId', 'required for an app: name the user whose use of the app to record');
  const grants = await db
    .selectFrom('oauth_grants')
    .select('accounts')
    .where('client_id', '=', clientId)
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .execute();
  if (!grants.some((g) => (JSON.parse(g.accounts) as string[]).includes(accountId)))
    throw invalid('accountId', 'no live grant of the client by its user names this account');
  const role = await db
    .selectFrom('account_roles')
    .select('role')
    .where('user_id', '=', userId)
    .where('account_id', '=', accountId)
    .executeTakeFirst();
  if (role === undefined)
    throw new GatehouseError('FORBIDDEN', 'The account is not one the client’s user may use.');
  return { subject: { userId, clientId, accountId }, personal };
}

function invalid(path: string, message: string): GatehouseError {
  return new GatehouseError('INVALID_REQUEST', `${path}: ${message}.`, { issues: [{ path, message }] });
}

/**
 * Every program session the client's grants by `userId` have acted through (its instances', its tokens', an app
 * grant's): another user's grants of a shared app are not the subject's.
 */
export async function clientSessions(
  db: Kysely<Database>,
  clientId: string,
  userId: string,
): Promise<string[]> {
  const fromTokens = await db
    .selectFrom('oauth_tokens')
    .innerJoin('oauth_grants', 'oauth_grants.id', 'oauth_tokens.grant_id')
    .select('oauth_tokens.session_id as id')
    .where('oauth_grants.client_id', '=', clientId)
    .where('oauth_grants.user_id', '=', userId)
    .where('oauth_tokens.session_id', 'is not', null)
    .distinct()
    .execute();
  const fromInstances = await db
    .selectFrom('oauth_instances')
    .innerJoin('oauth_grants', 'oauth_grants.id', 'oauth_instances.grant_id')
    .select('oauth_instances.session_id as id')
    .where('oauth_grants.client_id', '=', clientId)
    .where('oauth_grants.user_id', '=', userId)
    .execute();
  const fromGrants = await db
    .selectFrom('oauth_grants')
    .select('session_id as id')
    .where('client_id', '=', clientId)
    .where('user_id', '=', userId)
    .where('session_id', 'is not', null)
    .execute();
  const ids = new Set<string>();
  for (const row of [...fromTokens, ...fromInstances, ...fromGrants]) if (row.id !== null) ids.add(row.id);
  return [...ids].sort();
}

/** What an access token stands for, by its hash: its client, user, session and expiry; undefined when unknown. */
export interface TokenOwner {
  clientId: string;
  userId: string;
  sessionId: string | null;
  expiresAt: number;
  revoked: boolean;
}

export async function tokenOwner(db: Kysely<Database>, tokenHash: string): Promise<TokenOwner | undefined> {
  const row = await findAccessToken(db, tokenHash);
  if (row === undefined) return undefined;
  return {
    clientId: row.client_id,
    userId: row.user_id,
    sessionId: row.session_id,
    expiresAt: Number(row.expires_at),
    revoked: row.revoked_at !== null || row.grant_revoked_at !== null,
  };
}

/**
 * The user an app's token request is for: the grant of the authorization code or refresh token it presents (of
 * this client); undefined when it presents neither, or one that is unknown. Only the hashes are looked up.
 */
export async function tokenRequestUser(
  db: Kysely<Database>,
  clientId: string,
  form: Record<string, unknown>,
): Promise<string | undefined> {
  if (form.grant_type === 'authorization_code' && typeof form.code === 'string') {
    const row = await db
      .selectFrom('oauth_codes')
      .innerJoin('oauth_grants', 'oauth_grants.id', 'oauth_codes.grant_id')
      .select('oauth_grants.user_id as userId')
      .where('oauth_codes.code_hash', '=', sha256(form.code))
      .where('oauth_grants.client_id', '=', clientId)
      .executeTakeFirst();
    return row?.userId;
  }
  if (form.grant_type === 'refresh_token' && typeof form.refresh_token === 'string') {
    const row = await db
      .selectFrom('oauth_tokens')
      .innerJoin('oauth_grants', 'oauth_grants.id', 'oauth_tokens.grant_id')
      .select('oauth_grants.user_id as userId')
      .where('oauth_tokens.token_hash', '=', sha256(form.refresh_token))
      .where('oauth_tokens.kind', '=', 'refresh')
      .where('oauth_grants.client_id', '=', clientId)
      .executeTakeFirst();
    return row?.userId;
  }
  return undefined;
}
