/** @module app — the gateway's context, assembly and lifecycle. */
export type { GatewayContext } from './context.js';
export {
  closeContext,
  createContext,
  createGateway,
  type Gateway,
  type GatewayOptions,
  openStore,
} from './gateway.js';
export { createLogger } from './logger.js';
