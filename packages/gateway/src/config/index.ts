/** @module config — the one validated configuration object. */
export { type ConfigLeaf, configLeaves, defaultConfig, type LoadConfigOptions, loadConfig } from './load.js';
export { type Config, type ConfigInput, configSchema } from './schema.js';
