/**
 * @module cluster/ownership
 * Which node works each account (the trading service's `Placement` with several nodes). An account is worked by
 * the node holding its lease (`cluster/leases`); the holder renews all its leases every third of `cluster.leaseMs`
 * in one statement, and a node that stops renewing (killed, paused, cut off) loses them when they expire.
 *
 * - A request for an account whose lease is free or expired takes it on the node it reached: the account is rebuilt
 *   there from the database (ledger, working orders) before the request goes on.
 * - A request for an account held by another node goes to that node (`RemoteNode.call` over `cluster/internal`),
 *   which runs it as if it had arrived there. If that node cannot be reached, the request fails with
 *   `ACCOUNT_MOVING` and the time until its lease expires; after that, the next request takes the account.
 * - Every node looks every half lease for accounts with working orders and no live lease (their node died) and
 *   takes them, so their orders are worked — filled, expired, cancelled by a dead-man switch — without waiting
 *   for a request.
 * - Each journal write of an account first checks, in its transaction, that the lease still carries this node's
 *   fencing token (`guard`). A node that was paused past its lease and resumes writes nothing: its write is
 *   refused, it drops the account, and the caller hears `ACCOUNT_MOVING`.
 * - Stopping (a drain) stops taking leases and gives the held ones up at once, so other nodes take the accounts on
 *   their next request instead of waiting out the lease.
 *
 * Lease times are the nodes' clocks (kept within a fraction of the lease by NTP); a clock off by more costs
 * liveness (an account idle longer, or taken early), never safety: the fencing token alone decides who may write.
 */
import type { Kysely } from 'kysely';
import { type Clock, GatehouseError } from '../core/index.js';
import type { Database, JournalGuard } from '../store/index.js';
import type { Placement, PlacementHooks, RemoteNode } from '../trading/index.js';
import { type InternalClient, NodeUnreachable } from './internal.js';
import {
  announceNode,
  fenceCheck,
  nodeSeen,
  nodeUrl,
  orphanedAccounts,
  readLease,
  releaseLeases,
  renewLeases,
  takeLease,
} from './leases.js';

/** A journal write refused because this node's lease on the account is gone. */
export class LeaseLost extends Error {
  constructor(readonly accountId: string) {
    super(`the lease on account ${accountId} moved to another node`);
    this.name = 'LeaseLost';
  }
}

export interface OwnershipLog {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

export interface OwnershipOptions {
  db: Kysely<Database>;
  clock: Clock;
  nodeId: string;
  leaseMs: number;
  client: InternalClient;
  log: OwnershipLog;
  /** Renewal and the orphan sweep run on timers; false: only when `tick` is called (tests). */
  timers?: boolean;
}

interface Held {
  fence: number;
  expiresAt: number;
}

export class AccountOwnership implements Placement {
  readonly #o: OwnershipOptions;
  readonly #held = new Map<string, Held>();
  readonly #taking = new Map<string, Promise<boolean>>();
  /** Accounts seen held elsewhere, until their lease's expiry then. */
  readonly #elsewhere = new Map<string, { nodeId: string; expiresAt: number }>();
  readonly #urls = new Map<string, string>();
  #hooks: PlacementHooks | null = null;
  #draining = false;
  #renewer: NodeJS.Timeout | undefined;
  #sweeper: NodeJS.Timeout | undefined;
  #ticking: Promise<void> = Promise.resolve();

  constructor(options: OwnershipOptions) {
    this.#o = options;
  }

  /**
   * Announces this node (other nodes reach it at `internalUrl`) and starts renewing and sweeping; `hooks` rebuild
   * and drop accounts.
   */
  async start(hooks: PlacementHooks, internalUrl: string): Promise<void> {
    this.#hooks = hooks;
    const { db, nodeId, clock } = this.#o;
    await announceNode(db, { nodeId, internalUrl, now: clock.now(), draining: false });
    if (this.#o.timers === false) return;
    this.#renewer = setInterval(() => void this.renew(), Math.max(100, Math.floor(this.#o.leaseMs / 3)));
    this.#sweeper = setInterval(() => void this.sweep(), Math.max(100, Math.floor(this.#o.leaseMs / 2)));
    this.#renewer.unref();
    this.#sweeper.unref();
  }

  /** Stops taking accounts (a drain): `/readyz` says so, and requests for free accounts are refused. */
  get draining(): boolean {
    return this.#draining;
  }

  /**
   * Starts a drain: takes no account from now on (`/readyz` says 503, so the load balancer sends nothing new); the
   * accounts held are still worked until `stop` gives them up.
   */
  drain(): void {
    this.#draining = true;
  }

  /** Gives every lease up and stops; the caller has drained the journal first. */
  async stop(): Promise<void> {
    this.#draining = true;
    if (this.#renewer !== undefined) clearInterval(this.#renewer);
    if (this.#sweeper !== undefined) clearInterval(this.#sweeper);
    await this.#ticking.catch(() => {});
    const accounts = [...this.#held.keys()];
    this.#held.clear();
    for (const accountId of accounts) this.#hooks?.drop(accountId);
    const { db, nodeId, clock } = this.#o;
    await releaseLeases(db, nodeId, accounts).catch((error: unknown) =>
      this.#o.log.warn({ err: error }, 'could not give the account leases up; they expire on their own'),
    );
    await nodeSeen(db, nodeId, clock.now(), true).catch(() => {});
  }

  /** The accounts this node works now. */
  get accounts(): string[] {
    return [...this.#held.keys()];
  }

  async locate(accountId: string): Promise<'here' | RemoteNode> {
    // Being taken here: wait until it is rebuilt.
    const taking = this.#taking.get(accountId);
    if (taking !== undefined && (await taking)) return 'here';
    const now = this.#o.clock.now();
    const held = this.#held.get(accountId);
    if (held !== undefined && now < held.expiresAt) return 'here';
    const seen = this.#elsewhere.get(accountId);
    if (seen !== undefined && now < seen.expiresAt)
      return this.#remote(accountId, seen.nodeId, seen.expiresAt);
    if (await this.#take(accountId)) return 'here';
    const lease = await readLease(this.#o.db, accountId);
    if (lease === undefined || lease.nodeId === this.#o.nodeId || lease.expiresAt <= now)
      // Free, but this node is draining (or lost a race to a node that has already let it go): retry shortly.
      throw new GatehouseError('ACCOUNT_MOVING', undefined, { retryAfterMs: 100 });
    this.#elsewhere.set(accountId, { nodeId: lease.nodeId, expiresAt: lease.expiresAt });
    return this.#remote(accountId, lease.nodeId, lease.expiresAt);
  }

  async hold(accountId: string): Promise<void> {
    const taking = this.#taking.get(accountId);
    if (taking !== undefined && (await taking)) return;
    const held = this.#held.get(accountId);
    if (held !== undefined && this.#o.clock.now() < held.expiresAt) return;
    if (!(await this.#take(accountId)))
      throw new GatehouseError('ACCOUNT_MOVING', undefined, { retryAfterMs: 100 });
  }

  guard(accountId: string): JournalGuard {
    const { nodeId } = this.#o;
    // The token now: a write queued before a loss and a re-take carries the old one, and is refused.
    const fence = this.#held.get(accountId)?.fence ?? -1;
    return {
      key: `lease:${accountId}:${fence}`,
      check: (tx) => fenceCheck(tx, accountId, nodeId, fence),
      refused: () => new LeaseLost(accountId),
    };
  }

  lost(accountId: string): void {
    if (!this.#held.delete(accountId)) return;
    this.#elsewhere.delete(accountId);
    this.#hooks?.drop(accountId);
    this.#o.log.warn({ accountId, node: this.#o.nodeId }, 'account moved to another node');
  }

  /** Renews every lease held (the timer calls it every third of a lease). */
  renew(): Promise<void> {
    const run = async () => {
      const { db, clock, nodeId, leaseMs } = this.#o;
      const now = clock.now();
      const accounts = [...this.#held.keys()];
      try {
        const still =
          accounts.length === 0 ? new Map() : await renewLeases(db, nodeId, accounts, now + leaseMs);
        for (const accountId of accounts) {
          const held = this.#held.get(accountId);
          if (held === undefined) continue;
          if (still.get(accountId) === held.fence) held.expiresAt = now + leaseMs;
          else this.lost(accountId);
        }
        await nodeSeen(db, nodeId, now, this.#draining);
      } catch (error) {
        // The database cannot be reached: leases run out; past its expiry an account is no longer worked here.
        this.#o.log.warn({ err: error }, 'could not renew the account leases');
        for (const [accountId, held] of this.#held) if (held.expiresAt <= clock.now()) this.lost(accountId);
      }
    };
    this.#ticking = this.#ticking.then(run, run);
    return this.#ticking;
  }

  /** Takes accounts with working orders whose node died (the timer calls it every half lease). */
  sweep(): Promise<void> {
    const run = async () => {
      if (this.#draining) return;
      try {
        const orphans = await orphanedAccounts(this.#o.db, this.#o.clock.now(), 100);
        for (const accountId of orphans) await this.#take(accountId);
      } catch (error) {
        this.#o.log.warn({ err: error }, 'could not look for accounts without a node');
      }
    };
    this.#ticking = this.#ticking.then(run, run);
    return this.#ticking;
  }

  /** Takes the lease if it is free, expired or this node's, and rebuilds the account here; one attempt at a time. */
  #take(accountId: string): Promise<boolean> {
    if (this.#draining) return Promise.resolve(false);
    let taking = this.#taking.get(accountId);
    if (taking === undefined) {
      taking = this.#takeNow(accountId).finally(() => this.#taking.delete(accountId));
      this.#taking.set(accountId, taking);
    }
    return taking;
  }

  async #takeNow(accountId: string): Promise<boolean> {
    const { db, clock, nodeId, leaseMs } = this.#o;
    const now = clock.now();
    const fence = await takeLease(db, accountId, nodeId, now, leaseMs);
    if (fence === null) return false;
    // Whatever this node held of the account before is stale (another node may have worked it meanwhile).
    if (this.#held.delete(accountId)) this.#hooks?.drop(accountId);
    this.#elsewhere.delete(accountId);
    // Held from now, so what the rebuild writes (a working market order filled at once) carries the new token;
    // requests wait for the rebuild (`#taking`).
    this.#held.set(accountId, { fence, expiresAt: now + leaseMs });
    try {
      await this.#hooks?.adopt(accountId);
    } catch (error) {
      this.#held.delete(accountId);
      this.#hooks?.drop(accountId);
      throw error;
    }
    this.#o.log.info({ accountId, node: nodeId, fence }, 'account taken');
    return true;
  }

  #remote(accountId: string, owner: string, expiresAt: number): RemoteNode {
    return {
      nodeId: owner,
      call: async (method, args) => {
        const url = this.#urls.get(owner) ?? (await nodeUrl(this.#o.db, owner));
        const retryAfterMs = Math.max(100, expiresAt - this.#o.clock.now());
        if (url === undefined) throw new GatehouseError('ACCOUNT_MOVING', undefined, { retryAfterMs });
        this.#urls.set(owner, url);
        try {
          return await this.#o.client.call(url, owner, method, args);
        } catch (error) {
          if (error instanceof NodeUnreachable) {
            this.#urls.delete(owner);
            throw new GatehouseError('ACCOUNT_MOVING', undefined, { retryAfterMs });
          }
          // The owner gave the account up meanwhile: ask again next time.
          if (error instanceof GatehouseError && error.code === 'ACCOUNT_MOVING')
            this.#elsewhere.delete(accountId);
          throw error;
        }
      },
    };
  }
}
