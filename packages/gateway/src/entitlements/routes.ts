/**
 * @module entitlements/routes
 * The operators' admin API for entitlements: `GET` and `PATCH /v1/admin/accounts/{accountId}/entitlements`,
 * authenticated by the bearer token in `secrets.adminApiToken` (off when unset). Every change is audited.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { GatewayContext } from '../app/context.js';
import { GatehouseError } from '../core/index.js';
import { clientInfo, parseWith, requireOperator } from '../http/index.js';
import { ACCOUNT_TYPES, CLIENT_CATEGORIES } from '../identity/index.js';
import { ASSET_CLASSES, MARKET_DATA_BUNDLES, MARKET_REGIONS } from '../trading/instruments.js';
import { changeEntitlements, DISCLOSURES, loadEntitlements } from './store.js';

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

const params = z.strictObject({ accountId: z.string().min(1).max(16) });

export async function entitlementRoutes(app: FastifyInstance, ctx: GatewayContext): Promise<void> {
  const operator = requireOperator(ctx);
  if (operator === undefined) return;

  app.get('/v1/admin/accounts/:accountId/entitlements', { preHandler: operator }, async (request) => {
    const { accountId } = parseWith(params, request.params);
    const entitlements = await loadEntitlements(ctx.store.db, accountId);
    if (entitlements === undefined) throw new GatehouseError('ACCOUNT_NOT_FOUND');
    return presentEntitlements(entitlements);
  });

  app.patch('/v1/admin/accounts/:accountId/entitlements', { preHandler: operator }, async (request) => {
    const { accountId } = parseWith(params, request.params);
    const change = parseWith(entitlementChangeSchema, request.body);
    const updated = await changeEntitlements(
      { db: ctx.store.db, clock: ctx.clock, bus: ctx.bus },
      accountId,
      change,
      {
        userId: null,
        ip: clientInfo(request).ip,
        via: 'admin_api',
      },
    );
    return presentEntitlements(updated);
  });
}
