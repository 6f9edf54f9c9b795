/**
 * @module cpapi/holder
 * The one login a CPAPI listener holds, as IBKR's local gateway holds its user's: the bot never sees a credential,
 * the listener presents the Gatehouse session's token on its behalf, and the token never leaves this process. The
 * session is an ordinary Gatehouse session on the `cpapi` channel (6 min idle, 24 h at most, the daily reset), so
 * the portal, the session monitor, takeovers and the session-loss policy see it like any other.
 *
 * A login comes from the listener's `/sso/Login` page (any code factor or push), or headlessly from credentials the
 * operator gave the listener (`user`, a password file and a TOTP secret file, both 0600), as IBeam-style automation
 * does (research/ibkr-cpapi.md §8, §9 row 1). After a login the listener asks for the brokerage tier without
 * competing, as IBKR's gateway initialises the brokerage session by itself after a browser login (campus
 * "Understanding Brokerage Sessions"); when another session holds it, this one stays read-only and says `competing`.
 */
import { randomBytes } from 'node:crypto';
import { constantTimeEqual, GatehouseError } from '../core/index.js';
import { totpCode } from '../factors/index.js';
import { normaliseUsername } from '../identity/index.js';
import type {
  CodeFactors,
  LoginCompleted,
  LoginCompletion,
  LoginLimits,
  LoginTransactions,
  PasswordChecks,
} from '../login/index.js';
import { completeLoginFactor, startLogin } from '../login/index.js';
import type { BrokerageTier, Principal, SessionService } from '../sessions/index.js';
import type { HeldSession } from './status.js';

/** Credentials for unattended logins: read once from 0600 files by whoever builds the listener. */
export interface HeadlessCredentials {
  username: string;
  password: string;
  /** The user's TOTP secret (base32), as an authenticator app holds it. */
  totpSecret: string;
}

/** What the holder needs to log in and to present its session. */
export interface HolderDeps {
  sessions: SessionService;
  brokerage: Pick<BrokerageTier, 'acquire' | 'sessionState'>;
  login: LoginLimits & LoginTransactions & LoginCompletion & PasswordChecks & CodeFactors;
}

/** The address the listener itself logs in from when no person is at its login page. */
const OWN_ADDRESS = '127.0.0.1';
const HEADLESS_AGENT = 'Gatehouse CPAPI listener (headless login)';

export class HeldLogin {
  readonly #deps: HolderDeps;
  readonly #credentials: HeadlessCredentials | undefined;
  #token: string | null = null;
  /** The id IBKR calls `session` (32 hex digits, as IBKR's): the WebSocket cookie's value; random per login, never the token. */
  #wsSession: string | null = null;
  #sessionId: string | null = null;
  #userId: string | null = null;
  /** A held login ended by itself (idle, 24 h, revoked elsewhere): `connected` stays true until a login or logout. */
  #lapsed = false;
  /** One login at a time: a second caller waits for the first. */
  #relogin: Promise<void> | null = null;

  constructor(deps: HolderDeps, credentials?: HeadlessCredentials) {
    this.#deps = deps;
    this.#credentials = credentials;
  }

  /** The user a listener with headless credentials is for: its login page logs no one else in. */
  get pinnedUsername(): string | undefined {
    return this.#credentials?.username;
  }

  /** Whether the listener can log in by itself (headless credentials were given). */
  get headless(): boolean {
    return this.#credentials !== undefined;
  }

  /** The WebSocket session id of the current login, or null. */
  get wsSession(): string | null {
    return this.#wsSession;
  }

  /** Whether `value` is the current login's WebSocket session id (constant time). */
  isWsSession(value: string): boolean {
    return this.#wsSession !== null && constantTimeEqual(value, this.#wsSession);
  }

  /**
   * The held session's principal, or what stands instead: nothing held, or a login that ended by itself.
   * Authenticating counts as activity, as any request to IBKR's gateway does. The caller's address is not compared
   * with the session's network: the token never leaves this process, so whichever local address a bot calls from
   * (127.0.0.1, ::1, another 127.x), the session is used from here, and a change of network means nothing.
   */
  async current(): Promise<{ held: HeldSession; principal: Principal | null }> {
    const token = this.#token;
    if (token === null) return { held: { kind: this.#lapsed ? 'expired' : 'none' }, principal: null };
    try {
      const principal =
        this.#deps.sessions.authenticateCached(token) ?? (await this.#deps.sessions.authenticate(token));
      const state = await this.#deps.brokerage.sessionState(principal);
      return { held: { kind: 'live', state }, principal };
    } catch (error) {
      if (!(error instanceof GatehouseError) || error.status !== 401) throw error;
      if (this.#token === token) this.#forget(true);
      return { held: { kind: 'expired' }, principal: null };
    }
  }

  /** The held principal, or a coded error a route answers 401 with. */
  async principal(): Promise<Principal> {
    const { principal } = await this.current();
    if (principal === null) throw new GatehouseError('SESSION_EXPIRED');
    return principal;
  }

  /**
   * Adopts a completed login (from the login page): the session it issued becomes the held one, a session held
   * before ends, and the brokerage tier is asked for without competing.
   */
  async adopt(done: LoginCompleted): Promise<void> {
    const principal = await this.#deps.sessions.authenticate(done.token);
    const pinned = this.#credentials?.username;
    if (pinned !== undefined && principal.profile.user.username !== normaliseUsername(pinned)) {
      // The page refuses another user's password at a pinned listener; a login started at another listener (the
      // login cookie is the host's, whatever the port) and finished here ends here, issuing nothing.
      await this.#deps.sessions.revoke(done.session.id, 'logout');
      throw new GatehouseError('LOGIN_INVALID');
    }
    const previous = this.#token === null ? null : this.#sessionId;
    this.#token = done.token;
    this.#sessionId = done.session.id;
    this.#wsSession = randomBytes(16).toString('hex');
    this.#userId = done.session.userId;
    this.#lapsed = false;
    if (previous !== null && previous !== done.session.id)
      await this.#deps.sessions.revoke(previous, 'logout');
    await this.#acquire(principal, false);
  }

  /** The user whose session is (or was last) held. */
  get userId(): string | null {
    return this.#userId;
  }

  /**
   * Logs in with the headless credentials, when there are any and nothing live is held (`ssodh/init`,
   * `reauthenticate`, start-up). Resolves once a session is held; a refused login throws its coded error.
   */
  async loginHeadless(): Promise<void> {
    const credentials = this.#credentials;
    if (credentials === undefined) return;
    this.#relogin ??= this.#headless(credentials).finally(() => {
      this.#relogin = null;
    });
    return this.#relogin;
  }

  async #headless(credentials: HeadlessCredentials): Promise<void> {
    const { login } = this.#deps;
    const client = { ip: OWN_ADDRESS, userAgent: HEADLESS_AGENT };
    const started = await startLogin(
      login,
      { username: credentials.username, password: credentials.password, channel: 'cpapi' },
      client,
    );
    // A TOTP step is spent once: a second login within the same 30 s step presents the next step's code, which the
    // verification window (`totp.window`) accepts.
    let done: LoginCompleted | undefined;
    for (const ahead of [0, 30_000]) {
      const code = totpCode(credentials.totpSecret, login.clock.now() + ahead);
      try {
        done = await completeLoginFactor(login, started.loginId, { type: 'totp', code }, client);
        break;
      } catch (error) {
        if (!(error instanceof GatehouseError) || error.code !== 'INVALID_CREDENTIALS' || ahead > 0)
          throw error;
      }
    }
    if (done === undefined) throw new GatehouseError('INVALID_CREDENTIALS');
    await this.adopt(done);
  }

  /**
   * `ssodh/init`: the brokerage tier for the held session (competing when `compete`); a headless listener logs in
   * first when its login lapsed. Answers the tier's state as the session sees it afterwards.
   */
  async initBrokerage(compete: boolean): Promise<{ held: HeldSession; principal: Principal | null }> {
    let now = await this.current();
    if (now.principal === null && this.headless) {
      await this.loginHeadless();
      now = await this.current();
    }
    if (now.principal === null) return now;
    await this.#acquire(now.principal, compete);
    return this.current();
  }

  /** `logout`: ends the held session (a no-op when none is held). */
  async logout(): Promise<void> {
    const sessionId = this.#token === null ? null : this.#sessionId;
    this.#forget(false);
    if (sessionId !== null) await this.#deps.sessions.revoke(sessionId, 'logout');
  }

  /** Ends the held session when the listener closes: a listener that stops holds nothing. */
  async close(): Promise<void> {
    await this.logout();
  }

  /** Takes the tier; refusals (held elsewhere, step-up) leave the session read-only, as its status then says. */
  async #acquire(principal: Principal, compete: boolean): Promise<void> {
    try {
      await this.#deps.brokerage.acquire(principal, compete);
    } catch (error) {
      if (!(error instanceof GatehouseError) || error.status >= 500) throw error;
    }
  }

  #forget(lapsed: boolean): void {
    this.#token = null;
    this.#sessionId = null;
    this.#wsSession = null;
    this.#lapsed = lapsed;
  }
}
