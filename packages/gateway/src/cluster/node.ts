/**
 * @module cluster/node
 * This node's part in a cluster (`cluster.redisUrl` set): its account ownership (`cluster/ownership`) and its
 * node-to-node channel (`cluster/internal`), started once the trading service exists and stopped around it:
 * the internal listener closes before trading stops (no forwarded call arrives into a stopping desk), and the
 * leases are given up after (every acknowledged write is in the database before another node takes the account).
 */
import type { Kysely } from 'kysely';
import type { Config } from '../config/index.js';
import { type Clock, deriveKey, type KeySource, MemoryReplayGuard, type SecretRing } from '../core/index.js';
import type { Database } from '../store/index.js';
import type { TradingService } from '../trading/index.js';
import { InternalClient, MAX_SKEW_MS, startInternalListener } from './internal.js';
import { AccountOwnership, type OwnershipLog } from './ownership.js';

export interface ClusterLog extends OwnershipLog {
  error(details: object, message: string): void;
}

export class ClusterNode {
  readonly ownership: AccountOwnership;
  readonly #client: InternalClient;
  readonly #key: KeySource;
  readonly #config: Config['cluster'];
  readonly #clock: Clock;
  readonly #log: ClusterLog;
  readonly #nodeId: string;
  /** The signatures of the calls this node took, while they are fresh: each is taken once. */
  readonly #taken: MemoryReplayGuard;
  #listener: Awaited<ReturnType<typeof startInternalListener>> | null = null;

  constructor(options: {
    config: Config['cluster'];
    db: Kysely<Database>;
    clock: Clock;
    nodeId: string;
    secret: Buffer | SecretRing;
    log: ClusterLog;
  }) {
    this.#config = options.config;
    this.#clock = options.clock;
    this.#log = options.log;
    this.#nodeId = options.nodeId;
    this.#taken = new MemoryReplayGuard(options.clock, 100_000);
    this.#key = Buffer.isBuffer(options.secret)
      ? deriveKey(options.secret, 'cluster-internal')
      : options.secret.keys('cluster-internal');
    this.#client = new InternalClient({
      key: this.#key,
      nodeId: options.nodeId,
      now: () => options.clock.now(),
    });
    this.ownership = new AccountOwnership({
      db: options.db,
      clock: options.clock,
      nodeId: options.nodeId,
      leaseMs: options.config.leaseMs,
      client: this.#client,
      log: options.log,
    });
  }

  /** Opens the internal listener, announces this node and starts taking accounts. */
  async start(trading: TradingService): Promise<void> {
    this.#listener = await startInternalListener({
      host: this.#config.internalHost,
      port: this.#config.internalPort,
      key: this.#key,
      now: () => this.#clock.now(),
      nodeId: this.#nodeId,
      firstSeen: async (signature) => this.#taken.claimNow('internal-call', signature, 2 * MAX_SKEW_MS),
      handle: (method, args) => trading.serve(method, args),
      onError: (error) => this.#log.error({ err: error }, 'a forwarded trading call failed'),
    });
    const host = this.#config.internalHost;
    const internalUrl =
      this.#config.internalUrl?.replace(/\/$/, '') ??
      `http://${host.includes(':') ? `[${host}]` : host}:${this.#listener.port}`;
    await this.ownership.start(
      { adopt: (accountId) => trading.adopt(accountId), drop: (accountId) => trading.drop(accountId) },
      internalUrl,
    );
    this.#log.info({ internalUrl }, 'cluster node listening for other nodes');
  }

  /** Stops taking forwarded calls (first, before trading stops). */
  async closeListener(): Promise<void> {
    await this.#listener?.app.close();
    this.#listener = null;
  }

  /** Gives the leases up (after trading stopped and its journal drained). */
  async stop(): Promise<void> {
    await this.closeListener();
    await this.ownership.stop();
    this.#client.close();
  }
}
