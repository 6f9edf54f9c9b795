/**
 * @module store/replay-claims
 * The database's replay guard (core/replay.ts): where several nodes claim single-use keys while Redis cannot be
 * reached. A claim is one statement — insert the key, or take over a row that has expired — and it is the first
 * exactly when that statement wrote a row, so two nodes claiming one key at once get one true between them (the
 * primary key decides). Expired rows are swept at most once a minute, by whichever claim comes along. Nodes that
 * reach Redis ask every second whether any live row is here (`hasLiveClaims`, one indexed read) and, while one is,
 * claim here too (core/replay.ts).
 */
import type { Kysely } from 'kysely';
import type { Clock } from '../core/clock.js';
import { type ReplayFallback, replayKey } from '../core/replay.js';
import type { Database } from './tables.js';

const SWEEP_EVERY_MS = 60_000;

export class DatabaseReplayGuard implements ReplayFallback {
  readonly #db: Kysely<Database>;
  readonly #clock: Clock;
  #sweptAt = 0;

  constructor(db: Kysely<Database>, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  /** Whether some node claimed here lately (cut off from Redis): nodes that reach Redis then claim here too. */
  async hasLiveClaims(): Promise<boolean> {
    const row = await this.#db
      .selectFrom('replay_claims')
      .select('key')
      .where('expires_at', '>', this.#clock.now())
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  async claim(namespace: string, key: string, ttlMs: number): Promise<boolean> {
    const now = this.#clock.now();
    if (now - this.#sweptAt >= SWEEP_EVERY_MS) {
      this.#sweptAt = now;
      await this.#db.deleteFrom('replay_claims').where('expires_at', '<=', now).execute();
    }
    const result = await this.#db
      .insertInto('replay_claims')
      .values({ key: replayKey(namespace, key), expires_at: now + ttlMs })
      .onConflict((oc) =>
        oc
          .column('key')
          .doUpdateSet({ expires_at: now + ttlMs })
          .where('replay_claims.expires_at', '<=', now),
      )
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0n) > 0;
  }
}
