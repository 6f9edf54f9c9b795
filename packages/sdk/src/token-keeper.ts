/**
 * @module token-keeper
 * A supervisor's tokens: the current set, bound to its DPoP key (`jkt`, kept with the set so a restart with another
 * key is noticed rather than refused by the server); one refresh at a time (single-flight); a lost refresh response
 * retried with the same token and key, backing off; and the proactive refresh, scheduled from the token in hand.
 *
 * The proactive refresh runs at `refreshAt` of the lifetime but always before the last 6 s, where a request would
 * refresh on demand: with 20-second tokens, 80 % ± 5 % is 15–17 s, inside the 5 s margin, so a request at 15.5 s
 * refreshed and the timer set for the old token refreshed again a moment later. Each new set now reschedules the
 * timer, and a timer whose token was already replaced does nothing.
 */
import type { TokenResponse } from '@gatehouse/protocol';
import type { AuthStrategy } from './auth.js';
import type { Scheduler, ServerClock } from './clock.js';
import { GatehouseApiError, NetworkError, OAuthApiError } from './errors.js';
import type { StoredTokens, TokenStore } from './token-store.js';
import type { Transport } from './transport.js';

/** Within this much of expiry a token may die in flight: the next one is fetched first. */
export const EXPIRY_MARGIN_MS = 5_000;

export interface TokenKeeperHooks {
  /** A new set is in hand. */
  refreshed(tokens: StoredTokens): void;
  /**
   * A refresh failed for a reason that passes — the network, or the gateway answering a coded 5xx or 429 (a node
   * restarting, a maintenance window, pacing) — and will be tried again after a pause.
   */
  failing(): void;
  /** The grant or the client is gone (`invalid_grant`, `invalid_client`): no retry brings it back. */
  gone(error: OAuthApiError): Promise<void>;
  /** The supervisor was stopped: network failures are no longer retried. */
  stopped(): boolean;
  /** The wait before the `attempt`-th retry. */
  backoffMs(attempt: number): number;
  /** What is saved beside the tokens (the event position). */
  extra(): Pick<StoredTokens, 'resumeAfter'>;
}

export class TokenKeeper {
  #tokens: StoredTokens | undefined;
  #refreshing: Promise<StoredTokens> | null = null;
  #timer: unknown;
  #failures = 0;
  #jkt = '';
  /** Successful refreshes and failed attempts. */
  readonly stats = { refreshes: 0, refreshFailures: 0 };

  constructor(
    readonly auth: AuthStrategy,
    readonly transport: Transport,
    readonly store: TokenStore,
    readonly clock: ServerClock,
    readonly scheduler: Scheduler,
    readonly timing: { refreshAt: number; refreshJitter: number },
    readonly hooks: TokenKeeperHooks,
  ) {}

  /** The thumbprint of the DPoP key this keeper's tokens are bound to. */
  set jkt(jkt: string) {
    this.#jkt = jkt;
  }

  get current(): StoredTokens | undefined {
    return this.#tokens;
  }

  /** Takes a set read back from a store or handed in, and persists it with this key's thumbprint. */
  async adopt(tokens: StoredTokens): Promise<void> {
    this.#tokens = { ...tokens, jkt: this.#jkt };
    await this.save();
  }

  /** Writes the current set (and the event position) to the store. */
  async save(): Promise<void> {
    if (this.#tokens !== undefined) await this.store.save({ ...this.#tokens, ...this.hooks.extra() });
  }

  fromResponse(response: TokenResponse): StoredTokens {
    return {
      accessToken: response.access_token,
      expiresAt: this.clock.now() + response.expires_in * 1000,
      scope: response.scope,
      jkt: this.#jkt,
      ...(response.refresh_token === undefined ? {} : { refreshToken: response.refresh_token }),
    };
  }

  expiresSoon(tokens: StoredTokens): boolean {
    return tokens.expiresAt - this.clock.now() < EXPIRY_MARGIN_MS;
  }

  /** The current access token, refreshed first when it is about to expire (or when `force`). */
  async token(force = false): Promise<string> {
    const tokens = this.#tokens;
    if (!force && tokens !== undefined && !this.expiresSoon(tokens)) return tokens.accessToken;
    return (
      await this.singleFlight(() =>
        tokens === undefined
          ? this.auth.authenticate(this.transport)
          : this.auth.refresh(this.transport, tokens),
      )
    ).accessToken;
  }

  /** Resolves once no refresh is in flight. */
  async settled(): Promise<void> {
    while (this.#refreshing !== null) await this.#refreshing.catch(() => {});
  }

  /** One refresh at a time: whoever asks while one runs gets its result. */
  singleFlight(run: () => Promise<TokenResponse>): Promise<StoredTokens> {
    if (this.#refreshing !== null) return this.#refreshing;
    const flight = (async () => {
      for (;;) {
        try {
          const tokens = this.fromResponse(await run());
          this.#tokens = tokens;
          await this.save();
          this.#failures = 0;
          this.stats.refreshes += 1;
          this.schedule();
          this.hooks.refreshed(tokens);
          return tokens;
        } catch (error) {
          this.stats.refreshFailures += 1;
          if (!passing(error) || this.hooks.stopped()) {
            if (
              error instanceof OAuthApiError &&
              (error.error === 'invalid_grant' || error.error === 'invalid_client')
            )
              await this.hooks.gone(error);
            throw error;
          }
          // The response may have been lost, or the server is briefly unable: the same refresh again after a
          // bounded, jittered wait, and no sooner than the server's Retry-After.
          this.#failures += 1;
          this.hooks.failing();
          const wait = Math.max(this.hooks.backoffMs(this.#failures), retryAfterMs(error));
          await new Promise<void>((resolve) => this.scheduler.setTimeout(resolve, wait));
        }
      }
    })();
    this.#refreshing = flight.finally(() => {
      this.#refreshing = null;
    });
    return this.#refreshing;
  }

  /** Schedules the proactive refresh of the token in hand. */
  schedule(): void {
    this.cancel();
    const tokens = this.#tokens;
    if (tokens === undefined || this.hooks.stopped()) return;
    const lifetime = Math.max(0, tokens.expiresAt - this.clock.now());
    const { refreshAt, refreshJitter } = this.timing;
    const wanted = lifetime * (refreshAt + (Math.random() * 2 - 1) * refreshJitter);
    // Before the on-demand margin (and a second more), but never sooner than half the lifetime.
    const delay = Math.max(lifetime * 0.5, Math.min(wanted, lifetime - EXPIRY_MARGIN_MS - 1_000));
    this.#timer = this.scheduler.setTimeout(() => {
      // A refresh on demand replaced this token already, and scheduled its own successor.
      if (this.#tokens?.accessToken !== tokens.accessToken) return;
      this.token(true).catch(() => {});
    }, delay);
  }

  cancel(): void {
    this.scheduler.clearTimeout(this.#timer);
  }
}

/**
 * Whether a failed token request may succeed if sent again unchanged: the network failed (the response may be lost),
 * or the gateway itself answered a coded 5xx or 429. An OAuth error such as `invalid_grant` does not pass, nor does
 * a page that is not the gateway's (`UnexpectedResponseError`: a proxy's error page, or a base URL that names
 * another server), which the caller should see at once.
 */
function passing(error: unknown): boolean {
  if (error instanceof NetworkError) return true;
  const status = error instanceof GatehouseApiError || error instanceof OAuthApiError ? error.status : 0;
  return status === 429 || status >= 500;
}

/** The wait a coded 503 or 429 asked for (`details.retryAfterMs`), bounded to a minute; 0 otherwise. */
function retryAfterMs(error: unknown): number {
  const asked = error instanceof GatehouseApiError ? error.details?.retryAfterMs : undefined;
  return typeof asked === 'number' && asked > 0 ? Math.min(asked, 60_000) : 0;
}
