/**
 * @module oauth/clients
 * Clients and what they may be granted.
 * - Personal clients: a user registers a bot's public key(s), choosing accounts and scopes; the grant is made at once
 *   and the user is notified. The bot then authenticates with `private_key_jwt` and client credentials.
 * - Third-party apps: registered by an operator with exact redirect URIs; users grant them through PAR and consent.
 * - The scopes a request may ask of a client, and the accounts a grant may name.
 */
import { type ApiClientView, SCOPES, type Scope, type SessionLossPolicy } from '@gatehouse/protocol';
import type { JWK } from 'jose';
import { accountAccess } from '../access/index.js';
import { appendAudit } from '../audit/index.js';
import { GatehouseError, newId } from '../core/index.js';
import { quotedName } from '../http/index.js';
import type { UserAccount } from '../identity/index.js';
import type { Principal } from '../sessions/index.js';
import type { OAuthClientsTable, OAuthGrantsTable } from '../store/index.js';
import { validateClientKeys } from './client-auth.js';
import type { OAuthContext } from './context.js';
import { OAuthError } from './errors.js';
import {
  insertClient,
  insertGrant,
  json,
  listLiveClients,
  listLiveGrantsOfUser,
  programSessionIds,
} from './store.js';

/** The scopes a request asks for (space-separated), each one the client may be granted; at least one. */
export function parseScopes(value: string | undefined, allowed: readonly string[]): Scope[] {
  const wanted = (value ?? '').split(' ').filter((s) => s.length > 0);
  if (wanted.length === 0) throw new OAuthError('invalid_scope', 'ask for at least one scope');
  for (const scope of wanted) {
    if (!(SCOPES as readonly string[]).includes(scope) || !allowed.includes(scope))
      throw new OAuthError('invalid_scope', `scope ${quotedName(scope)} is not available to this client`);
  }
  return [...new Set(wanted)] as Scope[];
}

/**
 * The accounts a grant may name: each through the account-access policy, with `trade` when the grant carries the
 * `trade` scope (a viewer cannot hand a program more than they may do), `view` otherwise.
 */
export function grantableAccounts(
  principal: Principal,
  ids: readonly string[],
  scopes: readonly Scope[],
): UserAccount[] {
  const need = scopes.includes('trade') ? 'trade' : 'view';
  return [...new Set(ids)].map((id) => accountAccess(principal, id, need));
}

/**
 * A client acting for a user on some accounts with some scopes; its program sessions come with its tokens (one per
 * instance of a personal client, one for an app's grant: oauth/issue.ts).
 */
export function newGrant(
  clientId: string,
  userId: string,
  scopes: readonly Scope[],
  accounts: readonly UserAccount[],
  now: number,
): OAuthGrantsTable {
  return {
    id: newId('grt'),
    client_id: clientId,
    user_id: userId,
    scopes: JSON.stringify(scopes),
    accounts: JSON.stringify(accounts.map((a) => a.id)),
    session_id: null,
    created_at: now,
    revoked_at: null,
    revoke_reason: null,
  };
}

function keysOrInvalid(keys: unknown[]): { keys: JWK[] } {
  try {
    return validateClientKeys(keys);
  } catch (error) {
    throw new GatehouseError('INVALID_REQUEST', (error as Error).message);
  }
}

/**
 * A client as its user sees it, with its live grants and, per grant, the live program sessions (`sessions`, most
 * recently issued for first; none given: none yet).
 */
function presentClient(
  client: OAuthClientsTable,
  grants: OAuthGrantsTable[],
  sessions: ReadonlyMap<string, string[]> = new Map(),
): ApiClientView {
  return {
    clientId: client.id,
    kind: client.kind as ApiClientView['kind'],
    name: client.name,
    scopes: json<string[]>(client.scopes),
    redirectUris: json<string[]>(client.redirect_uris),
    rotateRefreshTokens: client.rotate_refresh_tokens === 1,
    sessionLossPolicy: client.session_loss_policy as SessionLossPolicy,
    createdAt: new Date(Number(client.created_at)).toISOString(),
    grants: grants
      .filter((g) => g.revoked_at === null)
      .map((g) => ({
        grantId: g.id,
        scopes: json<string[]>(g.scopes),
        accounts: json<string[]>(g.accounts),
        sessionId: sessions.get(g.id)?.[0] ?? null,
        sessionIds: sessions.get(g.id) ?? [],
        createdAt: new Date(Number(g.created_at)).toISOString(),
      })),
  };
}

/**
 * A user's personal client for their own bot: its public key(s), the accounts (among the user's, with a trading
 * role for `trade`) and scopes it may use. The grant is made at once; the bot then uses client credentials.
 */
export async function registerPersonalClient(
  ctx: OAuthContext,
  principal: Principal,
  input: {
    name: string;
    keys: unknown[];
    accounts: string[];
    scopes: Scope[];
    sessionLossPolicy: SessionLossPolicy;
  },
): Promise<ApiClientView> {
  if (principal.session.aal < 2) throw new GatehouseError('STEP_UP_REQUIRED', undefined, { reason: 'aal2' });
  const jwks = keysOrInvalid(input.keys);
  const accounts = grantableAccounts(principal, input.accounts, input.scopes);
  const now = ctx.clock.now();
  const client: OAuthClientsTable = {
    id: newId('cli'),
    kind: 'personal',
    user_id: principal.session.userId,
    name: input.name,
    jwks: JSON.stringify(jwks),
    redirect_uris: '[]',
    scopes: JSON.stringify(input.scopes),
    rotate_refresh_tokens: 0,
    session_loss_policy: input.sessionLossPolicy,
    created_at: now,
    revoked_at: null,
  };
  const grant = newGrant(client.id, principal.session.userId, input.scopes, accounts, now);
  await ctx.db.transaction().execute(async (trx) => {
    await insertClient(trx, client);
    await insertGrant(trx, grant);
    await appendAudit(trx, ctx.clock, {
      type: 'oauth.client_registered',
      userId: principal.session.userId,
      sessionId: principal.session.id,
      data: {
        clientId: client.id,
        kind: 'personal',
        scopes: input.scopes,
        accounts: JSON.parse(grant.accounts),
      },
    });
  });
  // Like a factor added: the user hears of it, so a registration they did not make does not go unseen.
  await ctx.notifier.notify(principal.session.userId, 'api_client_registered', {
    clientId: client.id,
    name: client.name,
    scopes: input.scopes,
    accounts: accounts.map((a) => a.id),
  });
  return presentClient(client, [grant]);
}

/** An operator's third-party app: its keys, exact redirect URIs, the scopes it may ask for. */
export async function registerApp(
  ctx: OAuthContext,
  input: {
    name: string;
    keys: unknown[];
    redirectUris: string[];
    scopes: Scope[];
    rotateRefreshTokens: boolean;
    sessionLossPolicy: SessionLossPolicy;
  },
): Promise<ApiClientView> {
  const jwks = keysOrInvalid(input.keys);
  for (const uri of input.redirectUris) {
    const url = new URL(uri);
    if (
      url.hash !== '' ||
      (url.protocol !== 'https:' && url.hostname !== 'localhost' && url.hostname !== '127.0.0.1')
    )
      throw new GatehouseError(
        'INVALID_REQUEST',
        'Redirect URIs must be https (or loopback) without a fragment.',
      );
  }
  const client: OAuthClientsTable = {
    id: newId('cli'),
    kind: 'app',
    user_id: null,
    name: input.name,
    jwks: JSON.stringify(jwks),
    redirect_uris: JSON.stringify(input.redirectUris),
    scopes: JSON.stringify(input.scopes),
    rotate_refresh_tokens: input.rotateRefreshTokens ? 1 : 0,
    session_loss_policy: input.sessionLossPolicy,
    created_at: ctx.clock.now(),
    revoked_at: null,
  };
  await ctx.db.transaction().execute(async (trx) => {
    await insertClient(trx, client);
    await appendAudit(trx, ctx.clock, {
      type: 'oauth.client_registered',
      data: { clientId: client.id, kind: 'app', scopes: input.scopes },
    });
  });
  return presentClient(client, []);
}

/** The user's personal clients and the grants they made to apps, with each grant's live program sessions. */
export async function listForUser(ctx: OAuthContext, userId: string): Promise<ApiClientView[]> {
  const grants = await listLiveGrantsOfUser(ctx.db, userId);
  const clients = await listLiveClients(ctx.db, [...new Set(grants.map((g) => g.client_id))]);
  const live = new Set((await ctx.sessions.listForUser(userId)).map((s) => s.id));
  const sessions = new Map(
    [...(await programSessionIds(ctx.db, grants))].map(([grantId, ids]) => [
      grantId,
      ids.filter((id) => live.has(id)),
    ]),
  );
  return clients.map((c) =>
    presentClient(
      c,
      grants.filter((g) => g.client_id === c.id),
      sessions,
    ),
  );
}
