/**
 * @module cpapi
 * The IBKR Client Portal Web API (CPAPI v1)–compatible face. Its public surface so far: the wire shapes.
 */
export * from './wire/index.js';
