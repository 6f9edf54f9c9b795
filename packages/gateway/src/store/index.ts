/** @module store — the Kysely database over SQLite or PostgreSQL, and its migrations. */
export {
  type Dialect,
  isPostgresUrl,
  type OpenDatabaseOptions,
  openDatabase,
  redactUrl,
  type Store,
} from './database.js';
export {
  describeStorageFault,
  STORAGE_RETRY_AFTER_MS,
  type StorageFaultKind,
  StorageHealth,
  storageError,
  storageErrorOf,
  storageFault,
} from './faults.js';
export {
  Journal,
  type JournalEntry,
  type JournalGuard,
  type JournalResult,
  type JournalStats,
  type JournalTx,
} from './journal.js';
export { migrateToLatest } from './migrate.js';
export {
  CLUSTER_NODE_REFUSED,
  lockDatabaseForNode,
  type NodeLock,
  NodeLockRefused,
  SINGLE_AMONG_CLUSTER_REFUSED,
  SINGLE_NODE_REFUSED,
} from './node-lock.js';
export { type PreparedQuery, preparedQuery } from './prepared.js';
export type * from './tables.js';
export { DATABASE_RETRY_AFTER_MS, databaseUnavailable, isDatabaseUnavailable } from './unavailable.js';
