/**
 * @module store/journal
 * Group commit for the write-heavy path (order entry, fills). Each `write` is an entry: a few statements that must
 * commit together. Entries arriving in the same turn of the event loop are committed in one transaction, in the
 * order they were written, so the batch pays one commit instead of one per entry. A caller's promise resolves only
 * once its entry has committed: nothing acknowledged is lost.
 *
 * An entry reports expected outcomes (a duplicate key, a guard that did not match) as its value, having written
 * nothing; an entry that throws fails the batch, which is rolled back and then retried entry by entry, each in its
 * own transaction, so one bad entry fails alone — unless the database could not be reached (`store/unavailable`):
 * then every entry of the batch fails, since a batch whose COMMIT was lost may have committed. Entries are therefore re-runnable: they compute what they write
 * from what they captured, and read anything else (the next sequence number) inside their statements.
 *
 * The batch holds one connection for its whole run (on SQLite, the single connection every other query waits
 * for), and statements are SQL with `?` placeholders run straight on the driver — prepared once on SQLite, `$n`
 * on PostgreSQL — with no query building on the hot path. This is the group commit databases use for their own log
 * (PostgreSQL's `commit_delay`), done one level up because every SQLite commit writes the WAL and every PostgreSQL
 * commit is a round trip.
 */
import { CompiledQuery, type Kysely } from 'kysely';
import type { Store } from './database.js';
import type { Database } from './tables.js';
import { isDatabaseUnavailable } from './unavailable.js';

export interface JournalResult {
  rows: Record<string, unknown>[];
  /** Rows changed by an INSERT, UPDATE or DELETE. */
  changes: number;
}

/** What an entry runs its statements through, inside the batch's transaction. */
export interface JournalTx {
  run(sql: string, params?: readonly unknown[]): Promise<JournalResult>;
}

export type JournalEntry<T> = (tx: JournalTx) => Promise<T>;

/**
 * A condition an entry is written under, checked in the entry's transaction before it runs (a lease's fencing token,
 * `cluster/`): when it does not hold, the entry writes nothing and fails with `refused()`, and the batch goes on. A
 * guard is checked once per transaction for its `key`; its check should lock what it reads (an `UPDATE` of the row),
 * so that what it vouches for cannot change before the commit.
 */
export interface JournalGuard {
  key: string;
  check(tx: JournalTx): Promise<boolean>;
  refused(): Error;
}

interface Pending {
  entry: JournalEntry<unknown>;
  guard: JournalGuard | undefined;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

export interface JournalStats {
  batches: number;
  entries: number;
  largestBatch: number;
}

/** `?` placeholders to PostgreSQL's `$1, $2, …` (our statements carry no literal question marks). */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => {
    n += 1;
    return `$${n}`;
  });
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export class Journal {
  readonly #store: Store;
  readonly #maxBatch: number;
  readonly #pgText = new Map<string, string>();
  #queue: Pending[] = [];
  #scheduled = false;
  #running: Promise<void> | null = null;
  #inBatch = 0;
  readonly stats: JournalStats = { batches: 0, entries: 0, largestBatch: 0 };

  constructor(store: Store, options: { maxBatch?: number } = {}) {
    this.#store = store;
    this.#maxBatch = options.maxBatch ?? 256;
  }

  /**
   * Commits `entry` with the entries around it; resolves with its value once committed. Under a `guard`, the entry
   * runs only if the guard holds in its transaction.
   */
  write<T>(entry: JournalEntry<T>, guard?: JournalGuard): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ entry, guard, resolve: resolve as (value: unknown) => void, reject });
      this.#schedule();
    });
  }

  /** Entries not yet committed: those queued and those of the batch running. */
  get pending(): number {
    return this.#queue.length + this.#inBatch;
  }

  /** Resolves once every entry written before the call has been committed (or has failed). */
  async drain(): Promise<void> {
    while (this.#queue.length > 0 || this.#running !== null || this.#scheduled) {
      if (this.#running !== null) await this.#running;
      else await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  #schedule(): void {
    if (this.#scheduled || this.#running !== null) return;
    this.#scheduled = true;
    // The next turn of the event loop: the writes of every request handled in this one join the batch.
    setImmediate(() => {
      this.#scheduled = false;
      this.#running = this.#runBatches().finally(() => {
        this.#running = null;
        if (this.#queue.length > 0) this.#schedule();
      });
    });
  }

  async #runBatches(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#maxBatch);
      this.#inBatch = batch.length;
      let outcomes: Outcome[];
      try {
        outcomes = await this.#transaction(batch);
      } catch (error) {
        // A batch that lost its database (a restart, a connection ended, no connection in time) is not retried
        // entry by entry: if the connection was lost during COMMIT, the batch may have committed, and running its
        // entries again would write them twice. Every entry fails with the error; what the database holds decides
        // (the trading desk rebuilds its view from it, `trading/desk`).
        if (batch.length === 1 || isDatabaseUnavailable(error))
          outcomes = batch.map(() => ({ ok: false, error }));
        else {
          // Find the entry that failed: each alone, in order.
          outcomes = [];
          for (const pending of batch) {
            try {
              outcomes.push(...(await this.#transaction([pending])));
            } catch (alone) {
              outcomes.push({ ok: false, error: alone });
            }
          }
        }
      }
      this.#inBatch = 0;
      batch.forEach((pending, i) => {
        const outcome = outcomes[i] as Outcome;
        if (outcome.ok) pending.resolve(outcome.value);
        else pending.reject(outcome.error);
      });
    }
  }

  /** The statement runner for a connection held for the batch. */
  #runner(conn: Kysely<Database>): JournalTx['run'] {
    const { sqlite } = this.#store;
    if (sqlite !== undefined) {
      // SQLite is synchronous and the connection is ours for the batch: run on it directly.
      return (sql, params = []) => {
        const statement = sqlite.prepare(sql);
        if (statement.reader)
          return Promise.resolve({ rows: statement.all(params) as Record<string, unknown>[], changes: 0 });
        return Promise.resolve({ rows: [], changes: Number(statement.run(params).changes) });
      };
    }
    return async (sql, params = []) => {
      let text = this.#pgText.get(sql);
      if (text === undefined) {
        text = numbered(sql);
        this.#pgText.set(sql, text);
      }
      const result = await conn.executeQuery(CompiledQuery.raw(text, [...params]));
      return {
        rows: result.rows as Record<string, unknown>[],
        changes: Number(result.numAffectedRows ?? 0n),
      };
    };
  }

  /** Runs the entries in one transaction; throws (rolled back) if any entry or the commit throws. */
  async #transaction(batch: Pending[]): Promise<Outcome[]> {
    const outcomes: Outcome[] = [];
    await this.#store.db.connection().execute(async (conn) => {
      const run = this.#runner(conn);
      const tx: JournalTx = { run };
      await run(this.#store.dialect === 'sqlite' ? 'BEGIN IMMEDIATE' : 'BEGIN');
      try {
        const guards = new Map<string, boolean>();
        for (const pending of batch) {
          const { guard } = pending;
          if (guard !== undefined) {
            let holds = guards.get(guard.key);
            if (holds === undefined) {
              holds = await guard.check(tx);
              guards.set(guard.key, holds);
            }
            if (!holds) {
              outcomes.push({ ok: false, error: guard.refused() });
              continue;
            }
          }
          outcomes.push({ ok: true, value: await pending.entry(tx) });
        }
        await run('COMMIT');
      } catch (error) {
        await run('ROLLBACK').catch(() => {});
        throw error;
      }
    });
    this.stats.batches += 1;
    this.stats.entries += batch.length;
    this.stats.largestBatch = Math.max(this.stats.largestBatch, batch.length);
    return outcomes;
  }
}
