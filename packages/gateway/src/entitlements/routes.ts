/**
 * @module entitlements/routes
 * `GET /v1/accounts/{accountId}`: the holder's view of an account and what it may trade. The operators' admin API
 * for entitlements: `GET` and `PATCH /v1/admin/accounts/{accountId}/entitlements`, authenticated by the bearer token
 * in `secrets.adminApiToken` (off when unset). Every change is audited.
 */
import type { AccountView } from '@gatehouse/protocol';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { accountAccess } from '../access/index.js';
import { type Clock, type EventBus, type FaultProbe, GatehouseError, noFaults } from '../core/index.js';
import { type Authenticator, clientInfo, parseWith, principalOf } from '../http/index.js';
import type { UserAccount } from '../identity/index.js';
import { MARKET_DATA_BUNDLES, type MarketDataBundle } from '../instruments/index.js';
import type { Database } from '../store/index.js';
import { faultLookup, withEntitlementFaults } from './faults.js';
import { appliesTo, inForce, PRODUCT_RULES } from './rules.js';
import { entitlementOperations as ops, presentEntitlements } from './schema.js';
import { type AccountEntitlements, changeEntitlements, DISCLOSURES, loadEntitlements } from './store.js';

/**
 * What the account holder sees of an account: the legal entity with its regulator and investor-protection scheme,
 * the entitlements, the market data per exchange group (live with a subscription, otherwise the group's free view),
 * and the entity's product rules in force, so a person can read why a product is not available.
 */
export function presentAccountView(account: UserAccount, e: AccountEntitlements, now: number): AccountView {
  const { entity } = account;
  return {
    id: account.id,
    title: account.title,
    paper: account.paper,
    type: account.type,
    baseCurrency: account.baseCurrency,
    clientCategory: account.clientCategory,
    role: account.role,
    frozen: e.account.frozen,
    closingOnly: e.account.closingOnly,
    optionsLevel: e.account.optionsLevel,
    entity: {
      code: entity.code,
      legalName: entity.legalName,
      regulator: entity.regulator,
      investorProtection: entity.investorProtection,
      protectionLimit: entity.protectionLimit,
      notes: entity.notes,
    },
    permissions: [...e.permissions].sort().map((key) => {
      const [assetClass = '', region = ''] = key.split(':');
      return { assetClass, region };
    }),
    disclosures: DISCLOSURES.map((d) => ({ disclosure: d, accepted: e.disclosures.has(d) })),
    marketData: Object.entries(MARKET_DATA_BUNDLES).map(([bundle, info]) => {
      const subscription = e.subscriptions.get(bundle as MarketDataBundle);
      return {
        bundle,
        name: info.name,
        access: subscription === undefined ? info.free : 'live',
        professional: subscription?.professional ?? false,
      };
    }),
    rules: PRODUCT_RULES.filter((r) => appliesTo(r, entity.code) && inForce(r, now)).map((r) => ({
      id: r.id,
      description: r.description,
    })),
  };
}

/** What these routes need of the gateway. */
export interface EntitlementRoutesDeps {
  auth: Authenticator;
  bus: EventBus;
  clock: Clock;
  db: Kysely<Database>;
  /** The failure sandbox's probe: the holder's view shows an entitlement fault as the gate meets it. */
  faults?: FaultProbe;
}

export async function entitlementRoutes(app: FastifyInstance, deps: EntitlementRoutesDeps): Promise<void> {
  const faults = deps.faults ?? noFaults;
  app.get(
    '/v1/accounts/:accountId',
    deps.auth.forPrograms('read', { operation: ops.account }),
    async (request) => {
      const { accountId } = parseWith(ops.account.params, request.params);
      const principal = principalOf(request);
      const account = accountAccess(principal, accountId, 'view');
      const stored = await loadEntitlements(deps.db, accountId);
      if (stored === undefined) throw new GatehouseError('ACCOUNT_NOT_FOUND');
      const entitlements = faults.armed
        ? withEntitlementFaults(
            stored,
            {
              accountId,
              userId: principal.session.userId,
              sessionId: principal.session.id,
              clientId: principal.api?.clientId,
            },
            faultLookup(faults, false),
          )
        : stored;
      return presentAccountView(account, entitlements, deps.clock.now());
    },
  );

  const operator = deps.auth.operator;
  if (operator === undefined) return;

  const readRoute = { preHandler: operator, config: { operation: ops.read } };
  app.get('/v1/admin/accounts/:accountId/entitlements', readRoute, async (request) => {
    const { accountId } = parseWith(ops.read.params, request.params);
    const entitlements = await loadEntitlements(deps.db, accountId);
    if (entitlements === undefined) throw new GatehouseError('ACCOUNT_NOT_FOUND');
    return presentEntitlements(entitlements);
  });

  const changeRoute = { preHandler: operator, config: { operation: ops.change } };
  app.patch('/v1/admin/accounts/:accountId/entitlements', changeRoute, async (request) => {
    const { accountId } = parseWith(ops.change.params, request.params);
    const change = parseWith(ops.change.body, request.body);
    const updated = await changeEntitlements(
      { db: deps.db, clock: deps.clock, bus: deps.bus },
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
