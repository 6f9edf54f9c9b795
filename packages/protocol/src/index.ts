/**
 * @module @gatehouse/protocol
 * What the gateway and its clients agree on, written once as zod schemas: the error codes and envelope, the
 * request and response bodies of every route, the stream messages. Types are inferred from the schemas
 * (`z.infer`); the gateway validates requests with the same schemas and builds its OpenAPI document
 * (`GET /openapi.json`) from them; `@gatehouse/sdk` exposes the types to programs. Its one dependency, zod, runs in
 * browsers too, and each module can be left out of a bundle that does not use it (`"sideEffects": false`).
 */
export * from './accounts.js';
export * from './availability.js';
export * from './common.js';
export * from './devices.js';
export * from './drill.js';
export * from './errors.js';
export * from './factors.js';
export * from './health.js';
export * from './login.js';
export * from './notifications.js';
export * from './oauth.js';
export * from './readiness.js';
export * from './safety.js';
export * from './sandbox.js';
export * from './sessions.js';
export * from './signing.js';
export * from './streams.js';
export * from './trading.js';
export * from './vocabulary.js';
