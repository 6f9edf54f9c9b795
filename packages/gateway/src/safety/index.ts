/** @module safety — the dead-man switch and the session-loss policy: making a lost session safe. */
export {
  DEAD_MAN_MAX_MS,
  DEAD_MAN_MIN_MS,
  DEAD_MAN_RECHECK_MS,
  type DeadManState,
  SafetyService,
  type SessionLossPolicy,
} from './service.js';
