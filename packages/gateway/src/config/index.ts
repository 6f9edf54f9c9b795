/** @module config — the one validated configuration object. */
export { parseListenAddress } from './listen-address.js';
export { type ConfigLeaf, configLeaves, defaultConfig, type LoadConfigOptions, loadConfig } from './load.js';
export {
  isDevelopment,
  isLoopbackHost,
  PublicUrls,
  resolvePublicUrls,
} from './public-url.js';
export { type Config, type ConfigInput, configSchema } from './schema.js';
