/**
 * @module entitlements/schema
 * The wire shapes of entitlements shared by the admin API and the command line: a change as an operator writes it,
 * and an account's entitlements as they are shown; and the entitlement routes as the API reference describes them.
 */
import { accountEntitlementsSchema, accountParamsSchema, accountViewSchema } from '@gatehouse/protocol';
import { z } from 'zod';
import { operation } from '../http/index.js';
import { ACCOUNT_TYPES, CLIENT_CATEGORIES } from '../identity/index.js';
import { ASSET_CLASSES, MARKET_DATA_BUNDLES, MARKET_REGIONS } from '../instruments/index.js';
import { DISCLOSURES, type loadEntitlements } from './store.js';

const permission = z.strictObject({ assetClass: z.enum(ASSET_CLASSES), region: z.enum(MARKET_REGIONS) });
const bundle = z.enum(Object.keys(MARKET_DATA_BUNDLES) as [keyof typeof MARKET_DATA_BUNDLES]);

export const entitlementChangeSchema = z.strictObject({
  frozen: z.boolean().optional(),
  closingOnly: z.boolean().optional(),
  optionsLevel: z.number().int().min(0).max(4).optional(),
  type: z.enum(ACCOUNT_TYPES).optional(),
  clientCategory: z.enum(CLIENT_CATEGORIES).optional(),
  grantPermissions: z.array(permission).max(100).optional(),
  revokePermissions: z.array(permission).max(100).optional(),
  acceptDisclosures: z.array(z.enum(DISCLOSURES)).optional(),
  subscribe: z.array(z.strictObject({ bundle, professional: z.boolean() })).optional(),
  unsubscribe: z.array(bundle).optional(),
});

export function presentEntitlements(e: NonNullable<Awaited<ReturnType<typeof loadEntitlements>>>) {
  return {
    account: e.account,
    permissions: [...e.permissions].sort(),
    disclosures: [...e.disclosures].sort(),
    subscriptions: [...e.subscriptions].map(([b, s]) => ({ bundle: b, professional: s.professional })),
  };
}

const servedWhen = '`secrets.adminApiToken` is set';

export const entitlementOperations = {
  account: operation({
    tag: 'accounts',
    summary: 'An account and what it may trade',
    description:
      'The legal entity with its regulator and investor protection, permissions, options level, disclosures, ' +
      'market data per exchange group, and the entity’s product rules in force — why a product is not available.',
    params: accountParamsSchema,
    responses: { 200: accountViewSchema },
  }),
  read: operation({
    tag: 'admin',
    summary: 'An account’s entitlements',
    servedWhen,
    params: accountParamsSchema,
    responses: { 200: accountEntitlementsSchema },
  }),
  change: operation({
    tag: 'admin',
    summary: 'Change an account’s entitlements',
    description: 'Absent fields stay as they are. Audited; open streams follow at once.',
    servedWhen,
    params: accountParamsSchema,
    body: entitlementChangeSchema,
    responses: { 200: accountEntitlementsSchema },
  }),
};
