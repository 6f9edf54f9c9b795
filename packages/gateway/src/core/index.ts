/** @module core — clock, ids, random tokens, the error catalogue and the event bus (in process, or on Redis between nodes). */
export { type Clock, ManualClock, systemClock } from './clock.js';
export {
  constantTimeEqual,
  decodeJsonPart,
  deriveKey,
  hmacSha256,
  randomToken,
  SecretBox,
  sha256,
  sha256Hex,
} from './crypto.js';
export {
  ConfigError,
  ERROR_CATALOGUE,
  type ErrorCode,
  type ErrorDetails,
  type ErrorEnvelope,
  GatehouseError,
  toEnvelope,
} from './errors.js';
export {
  BusCacheGate,
  type BusHandler,
  type BusMessages,
  type BusTopic,
  type EventBus,
  InProcessEventBus,
} from './event-bus.js';
export { type ActiveFault, type FaultKind, type FaultProbe, type FaultSubject, noFaults } from './faults.js';
export { newId, newTimeOrderedId } from './ids.js';
export {
  currentKey,
  type KeySource,
  type PurposeKeys,
  type RingSecret,
  SecretRing,
  secretId,
  verifyingKeys,
} from './keyring.js';
export { LruCache } from './lru.js';
export { type BusLog, type RedisBusStats, RedisEventBus, type RedisEventBusOptions } from './redis-bus.js';
export {
  MemoryReplayGuard,
  RedisReplayGuard,
  type RedisReplayGuardOptions,
  type ReplayFallback,
  type ReplayGuard,
  type ReplayStats,
  replayKey,
} from './replay.js';
export { Semaphore } from './semaphore.js';
