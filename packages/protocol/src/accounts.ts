/**
 * @module accounts
 * Accounts as their holders see them (`GET /v1/session`, `GET /v1/accounts/{accountId}`), and the operators'
 * views of an account's entitlements and roles (the admin API).
 */
import { z } from 'zod';

/** An account as its user's session lists it. */
export const accountSummarySchema = z
  .object({
    id: z.string(),
    title: z.string(),
    paper: z.boolean(),
    type: z.string().meta({ description: '`cash`, `margin` or `portfolio_margin`.' }),
    baseCurrency: z.string(),
    clientCategory: z.string().meta({ description: '`retail` or `professional`.' }),
    frozen: z.boolean(),
    closingOnly: z.boolean(),
    role: z.string().meta({ description: 'The user’s role on the account: `owner`, `trader` or `viewer`.' }),
  })
  .meta({ id: 'AccountSummary' });
export type AccountSummary = z.infer<typeof accountSummarySchema>;

const marketDataAccess = z.enum(['live', 'delayed', 'none']);

/** `GET /v1/accounts/{accountId}`: the account, its legal entity, entitlements, market data and product rules. */
export const accountViewSchema = accountSummarySchema
  .extend({
    optionsLevel: z.number().int(),
    entity: z.object({
      code: z.string(),
      legalName: z.string(),
      regulator: z.string(),
      investorProtection: z.string(),
      protectionLimit: z.string(),
      notes: z.string(),
    }),
    permissions: z.array(z.object({ assetClass: z.string(), region: z.string() })),
    disclosures: z.array(z.object({ disclosure: z.string(), accepted: z.boolean() })),
    marketData: z.array(
      z.object({ bundle: z.string(), name: z.string(), access: marketDataAccess, professional: z.boolean() }),
    ),
    rules: z.array(z.object({ id: z.string(), description: z.string() })),
  })
  .meta({ id: 'AccountView' });
export type AccountView = z.infer<typeof accountViewSchema>;

/** `GET` / `PATCH /v1/admin/accounts/{accountId}/entitlements`: what an operator sees of an account. */
export const accountEntitlementsSchema = z
  .object({
    account: z.object({
      id: z.string(),
      title: z.string(),
      paper: z.boolean(),
      type: z.string(),
      baseCurrency: z.string(),
      clientCategory: z.string(),
      frozen: z.boolean(),
      closingOnly: z.boolean(),
      entityCode: z.string(),
      optionsLevel: z.number().int(),
    }),
    permissions: z.array(z.string()).meta({ description: '`ASSET_CLASS:REGION` pairs (`STK:US`).' }),
    disclosures: z.array(z.string()),
    subscriptions: z.array(z.object({ bundle: z.string(), professional: z.boolean() })),
  })
  .meta({ id: 'AccountEntitlements' });

/** `PUT` / `DELETE /v1/admin/accounts/{accountId}/roles/{username}`: the role given or taken, and the one before. */
export const roleChangedSchema = z.object({
  accountId: z.string(),
  username: z.string(),
  userId: z.string(),
  role: z.string().nullable(),
  previous: z.string().nullable(),
});
