/**
 * @module cpapi
 * The IBKR Client Portal Web API (CPAPI v1)–compatible face. Its public surface so far: the wire shapes, IBKR's
 * pacing, and the session status in IBKR's words.
 */

export * from './pacing.js';
export * from './status.js';
export * from './wire/index.js';
