/**
 * @module cpapi/order-numbers
 * IBKR names an order by a number (`order_id`, sent as a string in acknowledgements and as a number in live
 * orders; campus "Place Order", "Live Orders"); Gatehouse by a string id. Each order the face shows gets the next
 * number once, from 1 000 000 001 up (ten digits as IBKR's, and within a 32-bit integer for clients that parse it
 * so), stored in `cpapi_order_numbers` so a number stays the order's across restarts and nodes. Two writers giving a
 * number at once cannot both take it, nor give one order two: the insert is conditional on the number (primary
 * key) and on the order (unique), and the loser reads what won. Both directions are cached per listener (an
 * order's number never changes).
 */
import type { Kysely } from 'kysely';
import { LruCache } from '../core/index.js';
import type { Database, Journal } from '../store/index.js';

const FIRST_NUMBER = 1_000_000_001;

const GIVE_NUMBER =
  'INSERT INTO cpapi_order_numbers (number, order_id, account_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING';

export class OrderNumbers {
  readonly #db: Kysely<Database>;
  readonly #journal: Journal;
  readonly #byOrder = new LruCache<string, number>(50_000);
  readonly #byNumber = new LruCache<number, { orderId: string; accountId: string }>(50_000);
  #next: number | undefined;
  #issued = 0;
  #reading: Promise<void> | undefined;

  /** `journal`: the store's group-commit writer, so a number's insert shares a batch with order entry's commits. */
  constructor(db: Kysely<Database>, journal: Journal) {
    this.#db = db;
    this.#journal = journal;
  }

  /**
   * The order's number, given now if it has none yet. The next free number is kept in memory (read once from the
   * table), so giving one is usually a single insert, committed in the journal's next batch; an insert that takes nothing (the number or the order is
   * taken: another listener or node) reads what the order has, or the table's highest number, and tries again.
   */
  async numberOf(orderId: string, accountId: string): Promise<number> {
    const cached = this.#byOrder.get(orderId);
    if (cached !== undefined) return cached;
    for (let attempt = 0; attempt < 20; attempt += 1) {
      const number = await this.#take();
      const { changes } = await this.#journal.write((tx) =>
        tx.run(GIVE_NUMBER, [number, orderId, accountId]),
      );
      if (changes === 1) return this.#remember(number, orderId, accountId);
      const existing = await this.#db
        .selectFrom('cpapi_order_numbers')
        .select('number')
        .where('order_id', '=', orderId)
        .executeTakeFirst();
      if (existing !== undefined) return this.#remember(existing.number, orderId, accountId);
      this.#next = undefined;
    }
    throw new Error('cpapi: could not give an order a number');
  }

  /**
   * The next number to try: above the table's highest (read once, by one caller at a time) and above every number
   * this instance has handed out, committed or not, so its own inserts in flight never meet each other.
   */
  async #take(): Promise<number> {
    while (this.#next === undefined) {
      this.#reading ??= this.#highest()
        .then((highest) => {
          this.#next = Math.max(highest, this.#issued) + 1;
        })
        .finally(() => {
          this.#reading = undefined;
        });
      await this.#reading;
    }
    const number = this.#next;
    this.#next = number + 1;
    this.#issued = Math.max(this.#issued, number);
    return number;
  }

  async #highest(): Promise<number> {
    const last = await this.#db
      .selectFrom('cpapi_order_numbers')
      .select((eb) => eb.fn.max('number').as('last'))
      .executeTakeFirst();
    return Math.max(FIRST_NUMBER - 1, Number(last?.last ?? 0));
  }

  /** The order a number names, or undefined for a number never given. */
  async orderOf(number: number): Promise<{ orderId: string; accountId: string } | undefined> {
    const cached = this.#byNumber.get(number);
    if (cached !== undefined) return cached;
    if (!Number.isSafeInteger(number)) return undefined;
    const row = await this.#db
      .selectFrom('cpapi_order_numbers')
      .select(['order_id', 'account_id'])
      .where('number', '=', number)
      .executeTakeFirst();
    if (row === undefined) return undefined;
    this.#remember(number, row.order_id, row.account_id);
    return { orderId: row.order_id, accountId: row.account_id };
  }

  #remember(number: number, orderId: string, accountId: string): number {
    this.#byOrder.set(orderId, number);
    this.#byNumber.set(number, { orderId, accountId });
    return number;
  }
}
