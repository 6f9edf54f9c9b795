/**
 * @module trading/client-order-ids
 * Which clientOrderIds an account used within the idempotency window (24 h by default), kept on the node that works
 * the account so a new order costs no database read to prove it is new. An account's ids are read once, when the
 * node first sees the account, and then kept up to date by the orders this node accepts; ids older than the window
 * drop out in the order they came in. About 250 bytes per order of the window (two ids, a map entry and a queue
 * pair, from a heap snapshot of the soak): a day at one order a second holds about 21 MB.
 *
 * The database stays the judge: the order's insert is conditional on the unique key `(account_id,
 * client_order_id)`, so a submission this index did not know about (a race, another node, an id older than the
 * window) still ends with one order.
 */
import type { Kysely } from 'kysely';
import { type Database, type PreparedQuery, preparedQuery } from '../store/index.js';

interface AccountIds {
  ids: Map<string, string>;
  /** Arrival order, for expiry: [createdAt, clientOrderId]. */
  queue: [number, string][];
  head: number;
}

export class ClientOrderIds {
  readonly #windowMs: number;
  readonly #load: PreparedQuery<{ client_order_id: string; id: string; created_at: number }>;
  readonly #accounts = new Map<string, AccountIds | Promise<AccountIds>>();

  constructor(db: Kysely<Database>, windowMs: number) {
    this.#windowMs = windowMs;
    this.#load = preparedQuery(db, 2, (db, accountId, since) =>
      db
        .selectFrom('orders')
        .select(['client_order_id', 'id', 'created_at'])
        .where('account_id', '=', accountId)
        .where('created_at', '>', since as unknown as number)
        .orderBy('created_at'),
    );
  }

  /** The id of the account's order with this clientOrderId within the window, if there is one. */
  async find(accountId: string, clientOrderId: string, now: number): Promise<string | undefined> {
    const account = await this.#account(accountId, now);
    this.#expire(account, now);
    return account.ids.get(clientOrderId);
  }

  /** Records an order this node has just committed. */
  add(accountId: string, clientOrderId: string, orderId: string, createdAt: number): void {
    const account = this.#accounts.get(accountId);
    // An account not loaded yet reads this order from the database when it is.
    if (account === undefined || account instanceof Promise) return;
    if (account.ids.has(clientOrderId)) return;
    account.ids.set(clientOrderId, orderId);
    account.queue.push([createdAt, clientOrderId]);
  }

  /** Forgets the account (it moved to another node): read again from the database if it comes back. */
  forget(accountId: string): void {
    this.#accounts.delete(accountId);
  }

  async #account(accountId: string, now: number): Promise<AccountIds> {
    const known = this.#accounts.get(accountId);
    if (known !== undefined) return known;
    const loading = this.#load.all(accountId, now - this.#windowMs).then((rows) => {
      const account: AccountIds = { ids: new Map(), queue: [], head: 0 };
      for (const row of rows) {
        account.ids.set(row.client_order_id, row.id);
        account.queue.push([Number(row.created_at), row.client_order_id]);
      }
      this.#accounts.set(accountId, account);
      return account;
    });
    this.#accounts.set(accountId, loading);
    loading.catch(() => this.#accounts.delete(accountId));
    return loading;
  }

  #expire(account: AccountIds, now: number): void {
    const oldest = now - this.#windowMs;
    const { queue } = account;
    while (account.head < queue.length && (queue[account.head] as [number, string])[0] <= oldest) {
      account.ids.delete((queue[account.head] as [number, string])[1]);
      account.head += 1;
    }
    if (account.head > 1024 && account.head * 2 > queue.length) {
      queue.splice(0, account.head);
      account.head = 0;
    }
  }
}
