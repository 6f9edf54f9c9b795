/** @module @gatehouse/gateway — the public surface for embedding the gateway and for tests. */
export * from './app/index.js';
export * from './config/index.js';
export * from './core/index.js';
