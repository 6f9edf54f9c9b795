/** @module entitlements — what an account may trade and see: permissions, options level, disclosures, data, rules. */

export {
  type FaultableEntitlements,
  type FaultLookup,
  faultLookup,
  revokedBundles,
  withEntitlementFaults,
} from './faults.js';
export {
  appliesTo,
  inForce,
  PRODUCT_RULES,
  type ProductRule,
  type RuleBlock,
  type RuleCode,
  type RuleSubject,
} from './rules.js';
export { entitlementChangeSchema, presentEntitlements } from './schema.js';
export {
  type AccountEntitlements,
  changeEntitlements,
  DISCLOSURES,
  type Disclosure,
  type EntitlementChange,
  EntitlementsCache,
  type EntitlementsReader,
  loadEntitlements,
  permissionKey,
} from './store.js';
