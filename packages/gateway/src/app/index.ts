/** @module app — the gateway's context, assembly and lifecycle. */
export type { GatewayContext } from './context.js';
export {
  Drain,
  type DrainCut,
  type DrainStage,
  type InFlightRequest,
  requestDeadlineMs,
  type StopOutcome,
  stopWithin,
} from './drain.js';
export {
  closeContext,
  createContext,
  createGateway,
  type Gateway,
  type GatewayOptions,
  openStore,
} from './gateway.js';
export { createLogger } from './logger.js';
