/** @module entitlements — what an account may trade and see: permissions, options level, disclosures, data, rules. */

export { entitlementChangeSchema, entitlementRoutes, presentEntitlements } from './routes.js';
export {
  appliesTo,
  inForce,
  PRODUCT_RULES,
  type ProductRule,
  type RuleCode,
  type RuleSubject,
} from './rules.js';
export {
  type AccountEntitlements,
  changeEntitlements,
  DISCLOSURES,
  type Disclosure,
  type EntitlementChange,
  EntitlementsCache,
  loadEntitlements,
  permissionKey,
} from './store.js';
