/**
 * @module demo
 * Demo users and accounts under several legal entities, created idempotently. The passwords and TOTP secrets are
 * fixed and public, so the README's walk-through works verbatim; they are for a development instance only, and
 * the server says so when it creates them.
 */

import { appendAudit } from '../audit/index.js';
import type { Config } from '../config/index.js';
import type { Clock, EventBus, SecretBox } from '../core/index.js';
import { changeEntitlements, type EntitlementChange } from '../entitlements/index.js';
import { addTotpFactor, listFactors, totpUri } from '../factors/index.js';
import {
  type AccountRole,
  type AccountType,
  type ClientCategory,
  createAccount,
  createUser,
  findUserByUsername,
  getAccount,
  grantAccountRole,
  type PasswordHasher,
} from '../identity/index.js';
import type { Store } from '../store/index.js';
import { setCash } from '../trading/index.js';

interface DemoAccount {
  id: string;
  title: string;
  entityCode: string;
  type: AccountType;
  baseCurrency: string;
  clientCategory: ClientCategory;
  /** What the account may trade and see, so that trying the demo meets the gate's real answers. */
  entitlements: EntitlementChange;
  cash: Record<string, number>;
}

const US_TRADER: EntitlementChange = {
  optionsLevel: 2,
  grantPermissions: [
    ...(['STK', 'ETF', 'OPT', 'FUT', 'CRYPTO', 'BOND'] as const).map((assetClass) => ({
      assetClass,
      region: 'US' as const,
    })),
    { assetClass: 'FX', region: 'GLOBAL' },
  ],
  acceptDisclosures: ['options_risk', 'futures_risk', 'crypto_risk'],
  subscribe: [
    { bundle: 'US_EQUITY', professional: false },
    { bundle: 'US_OPTIONS', professional: false },
  ],
};

interface DemoUserSpec {
  username: string;
  displayName: string;
  password: string;
  totpSecret: string;
  /** Accounts the user owns. */
  accounts: DemoAccount[];
  /** Roles on other users' accounts (an adviser who looks on). */
  roles?: { accountId: string; role: Exclude<AccountRole, 'owner'> }[];
}

export const DEMO_USERS: readonly DemoUserSpec[] = [
  {
    username: 'alice',
    displayName: 'Alice Anders (US, margin)',
    password: 'alice-demo-password',
    totpSecret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP',
    accounts: [
      {
        id: 'U1000001',
        title: 'Alice – US margin',
        entityCode: 'IBLLC',
        type: 'margin',
        baseCurrency: 'USD',
        clientCategory: 'retail',
        entitlements: US_TRADER,
        cash: { USD: 250_000 },
      },
      {
        id: 'DU1000001',
        title: 'Alice – paper',
        entityCode: 'IBLLC',
        type: 'margin',
        baseCurrency: 'USD',
        clientCategory: 'retail',
        entitlements: US_TRADER,
        cash: { USD: 1_000_000 },
      },
      {
        id: 'U1000009',
        title: 'Alice – frozen',
        entityCode: 'IBLLC',
        type: 'cash',
        baseCurrency: 'USD',
        clientCategory: 'retail',
        entitlements: { frozen: true, grantPermissions: [{ assetClass: 'STK', region: 'US' }] },
        cash: { USD: 10_000 },
      },
    ],
  },
  {
    username: 'bruno',
    displayName: 'Bruno Berger (EU retail)',
    password: 'bruno-demo-password',
    totpSecret: 'KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU',
    accounts: [
      {
        id: 'U2000002',
        title: 'Bruno – EU cash',
        entityCode: 'IBIE',
        type: 'cash',
        baseCurrency: 'EUR',
        clientCategory: 'retail',
        // PRIIPs applies (no KID, no opening buy of US ETFs); no subscriptions: delayed data only.
        entitlements: {
          grantPermissions: [
            { assetClass: 'STK', region: 'EU' },
            { assetClass: 'ETF', region: 'EU' },
            { assetClass: 'STK', region: 'US' },
            { assetClass: 'ETF', region: 'US' },
            { assetClass: 'FX', region: 'GLOBAL' },
          ],
        },
        cash: { EUR: 50_000 },
      },
    ],
  },
  {
    username: 'charlotte',
    displayName: 'Charlotte Clarke (UK retail)',
    password: 'charlotte-demo-password',
    totpSecret: 'MFRGGZDFMZTWQ2LKMFRGGZDFMZTWQ2LK',
    accounts: [
      {
        id: 'U3000003',
        title: 'Charlotte – UK margin',
        entityCode: 'IBUK',
        type: 'margin',
        baseCurrency: 'GBP',
        clientCategory: 'retail',
        // UK retail: crypto derivatives are banned (UK_CRYPTO_DERIV_RETAIL); live London data.
        entitlements: {
          grantPermissions: [
            { assetClass: 'STK', region: 'UK' },
            { assetClass: 'ETF', region: 'UK' },
            { assetClass: 'STK', region: 'US' },
            { assetClass: 'FUT', region: 'US' },
            { assetClass: 'CRYPTO', region: 'US' },
            { assetClass: 'FX', region: 'GLOBAL' },
          ],
          acceptDisclosures: ['futures_risk', 'crypto_risk'],
          subscribe: [{ bundle: 'UK_EQUITY', professional: false }],
        },
        cash: { GBP: 100_000 },
      },
    ],
  },
  {
    username: 'hana',
    displayName: 'Hana Ho (Hong Kong, professional)',
    password: 'hana-demo-password',
    totpSecret: 'NBSWY3DPO5XXE3DENBSWY3DPO5XXE3DE',
    accounts: [
      {
        id: 'U4000004',
        title: 'Hana – HK professional',
        entityCode: 'IBHK',
        type: 'margin',
        baseCurrency: 'HKD',
        clientCategory: 'professional',
        entitlements: {
          optionsLevel: 4,
          grantPermissions: [
            { assetClass: 'STK', region: 'HK' },
            { assetClass: 'STK', region: 'US' },
            { assetClass: 'ETF', region: 'US' },
            { assetClass: 'OPT', region: 'US' },
            { assetClass: 'FX', region: 'GLOBAL' },
          ],
          acceptDisclosures: ['options_risk'],
          subscribe: [
            { bundle: 'HK_EQUITY', professional: true },
            { bundle: 'US_EQUITY', professional: true },
          ],
        },
        cash: { HKD: 2_000_000 },
      },
    ],
  },
  {
    // An adviser who looks on: a viewer on Alice's US account, with no account of his own. He sees its portfolio,
    // orders and events, and every trading path refuses him (`ROLE_NOT_ALLOWED`).
    username: 'viktor',
    displayName: 'Viktor Vogel (adviser, views Alice’s account)',
    password: 'viktor-demo-password',
    totpSecret: 'OZUWW5DPOIWWCZDWNFZWK4RNOZUWW5DP',
    accounts: [],
    roles: [{ accountId: 'U1000001', role: 'viewer' }],
  },
];

export interface DemoCredentials {
  username: string;
  displayName: string;
  password: string;
  totpSecret: string;
  otpauthUri: string;
  accounts: {
    id: string;
    entity: string;
    type: AccountType;
    clientCategory: ClientCategory;
    role: AccountRole;
  }[];
  created: boolean;
}

/** What seeding the demo needs of the gateway. */
export interface DemoDeps {
  store: Pick<Store, 'db'>;
  clock: Clock;
  bus: EventBus;
  hasher: PasswordHasher;
  box: SecretBox;
  config: Pick<Config, 'totp'>;
}

/** Creates whatever demo data is missing; returns the credentials of every demo user. */
export async function seedDemo(ctx: DemoDeps): Promise<DemoCredentials[]> {
  const { db } = ctx.store;
  const out: DemoCredentials[] = [];
  for (const spec of DEMO_USERS) {
    let user = await findUserByUsername(db, spec.username);
    const created = user === undefined;
    if (user === undefined) {
      user = await createUser(db, ctx.clock, {
        username: spec.username,
        displayName: spec.displayName,
        passwordHash: await ctx.hasher.hash(spec.password),
      });
      await appendAudit(db, ctx.clock, { type: 'user.created', userId: user.id, data: { by: 'demo' } });
    }
    const factors = await listFactors(db, user.id);
    if (!factors.some((f) => f.type === 'totp')) {
      await addTotpFactor(db, ctx.clock, ctx.box, {
        userId: user.id,
        label: 'Demo authenticator',
        issuer: ctx.config.totp.issuer,
        accountName: spec.username,
        secret: spec.totpSecret,
      });
      await appendAudit(db, ctx.clock, {
        type: 'factor.added',
        userId: user.id,
        data: { factor: 'totp', by: 'demo' },
      });
    }
    for (const account of spec.accounts) {
      if ((await getAccount(db, account.id)) === undefined) {
        const { entitlements, cash, ...fields } = account;
        await createAccount(db, ctx.clock, { ...fields, paper: account.id.startsWith('DU') });
        await changeEntitlements({ db, clock: ctx.clock, bus: ctx.bus }, account.id, entitlements, {
          userId: null,
          ip: null,
          via: 'demo',
        });
        for (const [currency, balance] of Object.entries(cash))
          await setCash(db, account.id, currency, balance);
      }
      await grantAccountRole(db, user.id, account.id, 'owner');
    }
    out.push({
      username: spec.username,
      displayName: spec.displayName,
      password: spec.password,
      totpSecret: spec.totpSecret,
      otpauthUri: totpUri(spec.totpSecret, ctx.config.totp.issuer, spec.username),
      accounts: spec.accounts.map((a) => ({
        id: a.id,
        entity: a.entityCode,
        type: a.type,
        clientCategory: a.clientCategory,
        role: 'owner' as const,
      })),
      created,
    });
  }
  // Roles on others' accounts, once every account exists.
  for (const spec of DEMO_USERS) {
    const user = await findUserByUsername(db, spec.username);
    const credentials = out.find((c) => c.username === spec.username);
    if (user === undefined || credentials === undefined) continue;
    for (const { accountId, role } of spec.roles ?? []) {
      await grantAccountRole(db, user.id, accountId, role);
      const owner = DEMO_USERS.flatMap((u) => u.accounts).find((a) => a.id === accountId);
      if (owner !== undefined)
        credentials.accounts.push({
          id: accountId,
          entity: owner.entityCode,
          type: owner.type,
          clientCategory: owner.clientCategory,
          role,
        });
    }
  }
  return out;
}

/** A human-readable table of demo credentials. */
export function formatDemoCredentials(users: readonly DemoCredentials[]): string {
  const lines = ['Demo users (development only — these credentials are public):', ''];
  for (const u of users) {
    lines.push(`  ${u.username.padEnd(10)} password: ${u.password.padEnd(24)} TOTP secret: ${u.totpSecret}`);
    lines.push(
      `  ${''.padEnd(10)} accounts: ${u.accounts
        .map((a) => `${a.id} (${a.entity}, ${a.type}${a.role === 'owner' ? '' : `, ${a.role}`})`)
        .join(', ')}`,
    );
    lines.push(`  ${''.padEnd(10)} ${u.otpauthUri}`);
  }
  lines.push('', '  Current TOTP code: npx gatehouse totp <secret>');
  return lines.join('\n');
}
