/**
 * @module sandbox — the failure sandbox: faults injected on demand where a real broker's failures happen, scenarios
 * (timelines of faults), and drills that grade a bot by what the gateway saw (docs/sandbox.md).
 */
export { type ActionHandler, type ActionHandlers, type ActionKind, actionRunner } from './actions.js';
export { seededRandom } from './random.js';
export { matches } from './schedule.js';
export { Sandbox, type SandboxParts } from './service.js';
export { findBySymbolOrId, targetOwners } from './targets.js';
export type { InjectedFault, SandboxActor, TargetOwners } from './types.js';
