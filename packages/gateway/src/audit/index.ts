/** @module audit — the hash-chained, append-only security and trading log. */
export { assertNoSecrets, GENESIS_HASH, rowHash } from './chain.js';
export {
  type AuditEvent,
  type AuditRecord,
  type AuditType,
  appendAudit,
  listAuditForUser,
  type VerifyResult,
  verifyAuditChain,
} from './log.js';
