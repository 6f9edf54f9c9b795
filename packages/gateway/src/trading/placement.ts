/**
 * @module trading/placement
 * Where an account is worked, with several nodes (`cluster/`): each account by one node at a time, its owner, whose
 * view of the account (ledger, working orders, what the gate has reserved) is the one the gate judges against and the
 * engine fills from. The trading service asks the placement before anything that reads or changes that view; an
 * account worked elsewhere is served by its owner through `RemoteNode.call` (the same method, run there), and every
 * journal write of an account carries the owner's fencing token (`guard`). One node has no placement: every account
 * is worked here.
 */
import type { JournalGuard } from '../store/index.js';

/** The node that works an account, reached over the node-to-node channel. */
export interface RemoteNode {
  nodeId: string;
  /** Runs a trading method there; its coded error is rethrown here. `ACCOUNT_MOVING` if the node cannot be reached. */
  call(method: string, args: unknown): Promise<unknown>;
}

export interface Placement {
  /**
   * `here` once this node works the account (it took the account's lease if it was free, and rebuilt the account
   * from the database first); otherwise the node that does.
   */
  locate(accountId: string): Promise<'here' | RemoteNode>;
  /**
   * For a call another node forwarded: resolves once this node works the account, taking it if it is free;
   * `ACCOUNT_MOVING` if another node holds it (a call is forwarded once, never on).
   */
  hold(accountId: string): Promise<void>;
  /** The condition each journal write of the account runs under: this node's fencing token still holds. */
  guard(accountId: string): JournalGuard;
  /**
   * A write of the account was not committed — refused by its guard (another node holds it) or failed: this node
   * stops working it, and takes it again (rebuilt from the database) on the next request, if it is still free.
   */
  lost(accountId: string): void;
}

/** What the placement calls on the trading service as accounts come and go. */
export interface PlacementHooks {
  /** Loads the account from the database and works its orders here. */
  adopt(accountId: string): Promise<void>;
  /** Stops working the account here (its orders stay working; the new owner works them). */
  drop(accountId: string): void;
}
