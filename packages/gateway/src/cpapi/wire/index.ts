/**
 * @module cpapi/wire
 * The one place where the CPAPI face's wire shapes live: zod schemas (and their types) for every request body,
 * response and WebSocket frame the face speaks, with IBKR's exact field names and JSON types, the snapshot field
 * codes, the client-message grammar and IBKR's order-question ids. Each module cites its sources (./common.ts).
 */
export * from './accounts.js';
export * from './common.js';
export * from './market.js';
export * from './orders.js';
export * from './questions.js';
export * from './session.js';
export * from './ws.js';
