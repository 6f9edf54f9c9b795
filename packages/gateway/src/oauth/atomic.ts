/**
 * @module oauth/atomic
 * A token request's writes as one transaction: the code or refresh token it spends, the session it opens, the tokens
 * it issues and the refresh record commit together or not at all, so a request refused by a storage fault
 * (`STORAGE_UNAVAILABLE`, "nothing was changed") has spent nothing and its retry succeeds (docs/reliability.md).
 * What other nodes or this node's caches are told happens after the commit, outside `work`.
 */
import type { OAuthContext } from './context.js';

/**
 * Runs `work` with a context whose `db` is one transaction (the caller's, when it already is one). Every store call
 * inside must use the given context's `db`: on SQLite a query on the outer handle would wait for the transaction.
 */
export function atomically<T>(ctx: OAuthContext, work: (ctx: OAuthContext) => Promise<T>): Promise<T> {
  if (ctx.db.isTransaction) return work(ctx);
  return ctx.db.transaction().execute((trx) => work({ ...ctx, db: trx }));
}
