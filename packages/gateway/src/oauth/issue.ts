/**
 * @module oauth/issue
 * What every grant type ends in: the program session the tokens act through, then the tokens.
 * - Programs are sessions too, on the `api` channel, and take part in the brokerage tier like anyone's:
 *   - one session per instance (DPoP key) of a personal client, recorded in `oauth_instances`: a client-credentials
 *     token under key K acts through K's live session (a bot restarted with its key gets its session, and its
 *     trading, back), or a new one. Copies of a bot with different keys compete for trading like any two sessions;
 *     copies sharing one key share one session, however many of their token requests race (the session is opened
 *     while the grant's row is held, on any node). A grant keeps at most `oauth.maxInstanceSessions` live: a new
 *     key beyond it ends the grant's least recently seen instance session, never another grant's or a person's
 *     (programs' sessions are not counted in the user's cap: sessions/service.ts);
 *   - one session per app grant, created with its first token (its refresh tokens are bound to one key anyway); a
 *     refresh needs that session still live (24 h idle, 7 days absolute).
 *   A disabled user's programs get no tokens; ending a grant ends all its sessions (oauth/revocation.ts), and a token
 *   request that finds its grant or client revoked once its session and token are recorded ends them itself.
 * - Tokens are opaque (only their SHA-256 is stored), bound to the DPoP key that asked for them, and record the
 *   session they act through: access tokens live 15 min; a refresh token lives as long as its grant's session,
 *   checked at use.
 */
import type { Scope, TokenResponse } from '@gatehouse/protocol';
import type { Kysely } from 'kysely';
import { appendAudit } from '../audit/index.js';
import { randomToken, sha256 } from '../core/index.js';
import { getUser } from '../identity/index.js';
import { withinIdle } from '../sessions/index.js';
import type { Database, OAuthGrantsTable, OAuthTokensTable } from '../store/index.js';
import { atomically } from './atomic.js';
import type { OAuthContext } from './context.js';
import { OAuthError } from './errors.js';
import {
  findGrant,
  findInstance,
  findInstanceSessionId,
  findLiveClient,
  holdLiveGrant,
  insertTokens,
  instanceSessions,
  revokeToken,
  setGrantSession,
  setInstance,
} from './store.js';

/** The grant a token stands for; `invalid_grant` when there is none. */
export async function grantOrInvalid(ctx: OAuthContext, id: string): Promise<OAuthGrantsTable> {
  const grant = await findGrant(ctx.db, id);
  if (grant === undefined) throw new OAuthError('invalid_grant', 'unknown grant');
  return grant;
}

/** A disabled user's programs get no tokens (their sessions were ended when the user was disabled). */
async function userActive(ctx: OAuthContext, grant: OAuthGrantsTable): Promise<boolean> {
  return (await getUser(ctx.db, grant.user_id))?.status === 'active';
}

async function activeUserOrInvalid(ctx: OAuthContext, grant: OAuthGrantsTable): Promise<void> {
  if (!(await userActive(ctx, grant))) throw new OAuthError('invalid_grant', 'the user is disabled');
}

/** Whether a session is live now: not ended, within its lifetime and idle timeout (activity not yet written counts). */
async function isLive(ctx: OAuthContext, sessionId: string, db: Kysely<Database> = ctx.db): Promise<boolean> {
  const { clock, sessions } = ctx;
  const session = await sessions.findById(sessionId, db);
  if (session === undefined || session.revokedAt !== null) return false;
  const now = clock.now();
  const seen = Math.max(session.lastSeenAt, sessions.pendingLastSeen(sessionId) ?? 0);
  return now < session.expiresAt && withinIdle(seen, session.idleTimeoutMs, now);
}

/** Whether a token's session still serves it: the session live and its user active (introspection). */
export async function sessionServes(
  ctx: OAuthContext,
  grant: OAuthGrantsTable,
  sessionId: string | null,
): Promise<boolean> {
  return sessionId !== null && (await userActive(ctx, grant)) && (await isLive(ctx, sessionId));
}

/**
 * A new program session for the grant's user; `instance` names the DPoP key of a personal client's instance. Pass a
 * transaction as `db` to open it inside one.
 */
async function newSession(
  ctx: OAuthContext,
  grant: OAuthGrantsTable,
  instance?: string,
  db: Kysely<Database> = ctx.db,
): Promise<string> {
  const { session } = await ctx.sessions.create(
    {
      userId: grant.user_id,
      channel: 'api',
      aal: 2,
      amr: ['pop'],
      ip: '',
      // What the user's session list shows: the client, and for an instance the start of its key's thumbprint.
      userAgent: `oauth:${grant.client_id}${instance === undefined ? '' : ` key ${instance.slice(0, 8)}`}`,
      secondFactorAt: null,
      lastFactor: null,
    },
    db,
  );
  return session.id;
}

/**
 * An app grant's session: its live one, or (`create`) a new one when it has none. A refresh with no live session
 * fails: the grant's session expired (24 h idle, 7 days absolute) or was ended.
 */
export async function grantSession(
  ctx: OAuthContext,
  grant: OAuthGrantsTable,
  create: boolean,
): Promise<string> {
  await activeUserOrInvalid(ctx, grant);
  if (grant.session_id !== null) {
    if (await isLive(ctx, grant.session_id)) return grant.session_id;
    if (!create) throw new OAuthError('invalid_grant', 'the grant’s session ended; authorize again');
  }
  const id = await newSession(ctx, grant);
  await setGrantSession(ctx.db, grant.id, id);
  grant.session_id = id;
  return id;
}

/**
 * A personal client instance's session, the instance being its DPoP key `jkt`: the live session recorded for the key
 * (or, for a key from before `oauth_instances`, the one its newest token acts through), or a new one (a new key, or
 * its session ended). Which it is is decided while the grant's row is held, so concurrent requests for one key, on
 * any node, get one session, and none is opened once the grant's revocation has committed. Opening one beyond
 * `maxInstanceSessions` live names the grant's least recently seen others that never took trading, for `endBeyondCap`
 * to end after the commit (refused with `invalid_request` when every one did). Inside the caller's transaction when
 * `ctx.db` is one.
 */
export async function instanceSession(
  ctx: OAuthContext,
  grant: OAuthGrantsTable,
  jkt: string,
): Promise<InstanceSession> {
  await activeUserOrInvalid(ctx, grant);
  const known = await findInstance(ctx.db, grant.id, jkt);
  if (known !== undefined && (await isLive(ctx, known))) return { sessionId: known, beyondCap: [] };
  const now = ctx.clock.now();
  return atomically(ctx, async (tx) => {
    const trx = tx.db;
    if (!(await holdLiveGrant(trx, grant.id))) throw new OAuthError('invalid_grant', 'the grant was revoked');
    const recorded = await findInstance(trx, grant.id, jkt);
    const current = recorded ?? (await findInstanceSessionId(trx, grant.id, jkt));
    if (current !== undefined && (await isLive(ctx, current, trx))) {
      if (recorded === undefined) await setInstance(trx, grant.id, jkt, current, now);
      return { sessionId: current, beyondCap: [] as string[] };
    }
    const sessionId = await newSession(ctx, grant, jkt, trx);
    await setInstance(trx, grant.id, jkt, sessionId, now);
    return { sessionId, beyondCap: await beyondCap(ctx, trx, grant.id, sessionId, now) };
  });
}

/** An instance's session, and the grant's others it put beyond `maxInstanceSessions`, ended by `endBeyondCap`. */
export interface InstanceSession {
  sessionId: string;
  beyondCap: string[];
}

/** Ends the sessions an instance's new one put beyond the cap; after the commit that opened it. */
export async function endBeyondCap(
  ctx: OAuthContext,
  grant: OAuthGrantsTable,
  chosen: InstanceSession,
): Promise<void> {
  for (const ended of chosen.beyondCap) {
    if (!(await ctx.sessions.revoke(ended, 'instance_limit'))) continue;
    await appendAudit(ctx.db, ctx.clock, {
      type: 'session.revoked',
      userId: grant.user_id,
      sessionId: ended,
      data: { reason: 'instance_limit', by: chosen.sessionId, clientId: grant.client_id },
    });
  }
}

/** The grant's live instance sessions beyond `maxInstanceSessions`, least recently seen first, `opened` kept. */
async function beyondCap(
  ctx: OAuthContext,
  db: Kysely<Database>,
  grantId: string,
  opened: string,
  now: number,
): Promise<string[]> {
  const lastSeen = (s: { id: string; last_seen_at: number }) =>
    Math.max(Number(s.last_seen_at), ctx.sessions.pendingLastSeen(s.id) ?? 0);
  const live = (await instanceSessions(db, grantId, now)).filter(
    (s) => s.id !== opened && withinIdle(lastSeen(s), Number(s.idle_timeout_ms), now),
  );
  const excess = live.length + 1 - ctx.options.maxInstanceSessions;
  if (excess <= 0) return [];
  // An instance that took trading is never the one that goes: a copy restarting with new keys (or anyone holding the
  // client key) must not end the copy that trades — or traded, and may have orders working — and with it, by the
  // session-loss policy, its orders.
  const mayGo = live.filter((s) => s.brokerage_at === null);
  if (mayGo.length < excess)
    throw new OAuthError(
      'invalid_request',
      `this client already has ${live.length} live sessions, one per DPoP key (oauth.maxInstanceSessions is ${ctx.options.maxInstanceSessions}), and those that could end have taken trading; use an instance's key again, or end a session`,
    );
  return mayGo
    .sort((a, b) => lastSeen(a) - lastSeen(b) || a.id.localeCompare(b.id))
    .slice(0, excess)
    .map((s) => s.id);
}

/**
 * A token request's last step, once its session and token are recorded: when the grant or its client was revoked
 * meanwhile (a revocation that read the grant's sessions before this one's was recorded), the session and the token
 * end here, and the request is answered `invalid_grant`.
 */
export async function confirmGrantLive(
  ctx: OAuthContext,
  grant: OAuthGrantsTable,
  sessionId: string,
  issued: TokenResponse,
): Promise<TokenResponse> {
  const current = await findGrant(ctx.db, grant.id);
  if (current?.revoked_at === null && (await findLiveClient(ctx.db, grant.client_id)) !== undefined)
    return issued;
  await revokeToken(ctx.db, sha256(issued.access_token), ctx.clock.now());
  if (issued.refresh_token !== undefined)
    await revokeToken(ctx.db, sha256(issued.refresh_token), ctx.clock.now());
  await ctx.sessions.revoke(sessionId, 'grant_revoked');
  throw new OAuthError('invalid_grant', 'the grant was revoked');
}

/**
 * Issues an access token under the grant, bound to `jkt`, acting through `sessionId`, and with `refresh`: a new
 * refresh token (`true`), none (`false`), or the one given (the successor of a rotated refresh token).
 */
export async function issueTokens(
  ctx: OAuthContext,
  grant: OAuthGrantsTable,
  sessionId: string,
  jkt: string,
  scopes: Scope[],
  refresh: boolean | string,
): Promise<TokenResponse> {
  const now = ctx.clock.now();
  const access = randomToken(32);
  const rows: OAuthTokensTable[] = [
    {
      token_hash: sha256(access),
      kind: 'access',
      grant_id: grant.id,
      jkt,
      scopes: JSON.stringify(scopes),
      created_at: now,
      expires_at: now + ctx.options.accessTokenTtlMs,
      last_used_at: null,
      spent_at: null,
      successor_sealed: null,
      revoked_at: null,
      session_id: sessionId,
    },
  ];
  const refreshToken = refresh === true ? randomToken(32) : refresh === false ? undefined : refresh;
  if (refreshToken !== undefined) {
    rows.push({
      ...(rows[0] as OAuthTokensTable),
      token_hash: sha256(refreshToken),
      kind: 'refresh',
      // A refresh token lives as long as its grant's session may: that is checked at use.
      expires_at: Number.MAX_SAFE_INTEGER,
    });
  }
  await insertTokens(ctx.db, rows);
  return {
    access_token: access,
    token_type: 'DPoP',
    expires_in: Math.floor(ctx.options.accessTokenTtlMs / 1000),
    scope: scopes.join(' '),
    ...(refreshToken === undefined ? {} : { refresh_token: refreshToken }),
  };
}
