/**
 * @module entitlements/store
 * What an account may trade and see: its flags and type (from identity), options level, trading permissions
 * (asset class × region), accepted disclosures and market-data subscriptions. Operators change them through
 * `changeEntitlements` (CLI `gatehouse account …` and the admin API); every change is audited and announced on the
 * bus, so every node's cache drops the account at once.
 */
import type { Kysely } from 'kysely';
import { appendAudit } from '../audit/index.js';
import {
  BusCacheGate,
  type Clock,
  type EventBus,
  type FaultProbe,
  type FaultSubject,
  GatehouseError,
  LruCache,
  noFaults,
} from '../core/index.js';
import { type Account, getAccount, updateAccountSettings } from '../identity/index.js';
import {
  ASSET_CLASSES,
  type AssetClass,
  MARKET_DATA_BUNDLES,
  MARKET_REGIONS,
  type MarketDataBundle,
  type MarketRegion,
} from '../instruments/index.js';
import type { Database } from '../store/index.js';
import { faultLookup, withEntitlementFaults } from './faults.js';

/** Disclosures an account may have to accept before trading a product. */
export const DISCLOSURES = ['options_risk', 'futures_risk', 'crypto_risk'] as const;
export type Disclosure = (typeof DISCLOSURES)[number];

export interface AccountEntitlements {
  account: Account;
  /** `${assetClass}:${region}` pairs the account may trade. */
  permissions: ReadonlySet<string>;
  disclosures: ReadonlySet<string>;
  subscriptions: ReadonlyMap<MarketDataBundle, { professional: boolean }>;
}

export const permissionKey = (assetClass: AssetClass, region: MarketRegion) => `${assetClass}:${region}`;

export async function loadEntitlements(
  db: Kysely<Database>,
  accountId: string,
): Promise<AccountEntitlements | undefined> {
  const account = await getAccount(db, accountId);
  if (account === undefined) return undefined;
  const [permissions, disclosures, subscriptions] = await Promise.all([
    db.selectFrom('account_permissions').selectAll().where('account_id', '=', accountId).execute(),
    db.selectFrom('account_disclosures').selectAll().where('account_id', '=', accountId).execute(),
    db.selectFrom('account_subscriptions').selectAll().where('account_id', '=', accountId).execute(),
  ]);
  return {
    account,
    permissions: new Set(permissions.map((p) => `${p.asset_class}:${p.region}`)),
    disclosures: new Set(disclosures.map((d) => d.disclosure)),
    subscriptions: new Map(
      subscriptions.map((s) => [s.bundle as MarketDataBundle, { professional: s.professional === 1 }]),
    ),
  };
}

/** A change to an account's entitlements; absent fields stay as they are. */
export interface EntitlementChange {
  frozen?: boolean;
  closingOnly?: boolean;
  optionsLevel?: number;
  type?: Account['type'];
  clientCategory?: Account['clientCategory'];
  grantPermissions?: { assetClass: AssetClass; region: MarketRegion }[];
  revokePermissions?: { assetClass: AssetClass; region: MarketRegion }[];
  acceptDisclosures?: Disclosure[];
  subscribe?: { bundle: MarketDataBundle; professional: boolean }[];
  unsubscribe?: MarketDataBundle[];
}

function check(change: EntitlementChange): void {
  const bad = (message: string) => new GatehouseError('INVALID_REQUEST', message);
  if (change.optionsLevel !== undefined && ![0, 1, 2, 3, 4].includes(change.optionsLevel))
    throw bad('optionsLevel is 0 (none) to 4 (uncovered).');
  for (const p of [...(change.grantPermissions ?? []), ...(change.revokePermissions ?? [])]) {
    if (!ASSET_CLASSES.includes(p.assetClass) || !MARKET_REGIONS.includes(p.region))
      throw bad(`Unknown permission ${p.assetClass}:${p.region}.`);
  }
  for (const d of change.acceptDisclosures ?? [])
    if (!DISCLOSURES.includes(d)) throw bad(`Unknown disclosure ${d}.`);
  for (const b of [...(change.subscribe ?? []).map((s) => s.bundle), ...(change.unsubscribe ?? [])])
    if (!(b in MARKET_DATA_BUNDLES)) throw bad(`Unknown market-data bundle ${b}.`);
}

/** Applies an operator's change in one transaction, audits it, and tells every node. */
export async function changeEntitlements(
  deps: { db: Kysely<Database>; clock: Clock; bus: EventBus },
  accountId: string,
  change: EntitlementChange,
  actor: { userId: string | null; ip: string | null; via: 'cli' | 'admin_api' | 'demo' },
): Promise<AccountEntitlements> {
  check(change);
  const { db, clock } = deps;
  const now = clock.now();
  await db.transaction().execute(async (trx) => {
    const exists = await trx
      .selectFrom('accounts')
      .select('id')
      .where('id', '=', accountId)
      .executeTakeFirst();
    if (exists === undefined) throw new GatehouseError('ACCOUNT_NOT_FOUND');
    const flags = {
      ...(change.frozen === undefined ? {} : { frozen: change.frozen ? 1 : 0 }),
      ...(change.closingOnly === undefined ? {} : { closing_only: change.closingOnly ? 1 : 0 }),
      ...(change.optionsLevel === undefined ? {} : { options_level: change.optionsLevel }),
      ...(change.type === undefined ? {} : { type: change.type }),
      ...(change.clientCategory === undefined ? {} : { client_category: change.clientCategory }),
    };
    if (Object.keys(flags).length > 0) await updateAccountSettings(trx, accountId, flags);
    for (const p of change.grantPermissions ?? []) {
      await trx
        .insertInto('account_permissions')
        .values({ account_id: accountId, asset_class: p.assetClass, region: p.region })
        .onConflict((oc) => oc.doNothing())
        .execute();
    }
    for (const p of change.revokePermissions ?? []) {
      await trx
        .deleteFrom('account_permissions')
        .where('account_id', '=', accountId)
        .where('asset_class', '=', p.assetClass)
        .where('region', '=', p.region)
        .execute();
    }
    for (const d of change.acceptDisclosures ?? []) {
      await trx
        .insertInto('account_disclosures')
        .values({ account_id: accountId, disclosure: d, accepted_at: now })
        .onConflict((oc) => oc.doNothing())
        .execute();
    }
    for (const s of change.subscribe ?? []) {
      await trx
        .insertInto('account_subscriptions')
        .values({
          account_id: accountId,
          bundle: s.bundle,
          professional: s.professional ? 1 : 0,
          created_at: now,
        })
        .onConflict((oc) =>
          oc.columns(['account_id', 'bundle']).doUpdateSet({ professional: s.professional ? 1 : 0 }),
        )
        .execute();
    }
    for (const b of change.unsubscribe ?? []) {
      await trx
        .deleteFrom('account_subscriptions')
        .where('account_id', '=', accountId)
        .where('bundle', '=', b)
        .execute();
    }
    await appendAudit(trx, clock, {
      type: 'account.entitlements_changed',
      userId: actor.userId,
      ip: actor.ip,
      data: { accountId, via: actor.via, change },
    });
  });
  await deps.bus.publish('account.changed', { accountId });
  const loaded = await loadEntitlements(db, accountId);
  if (loaded === undefined) throw new GatehouseError('ACCOUNT_NOT_FOUND');
  return loaded;
}

/** Who reads an account's entitlements, for the sandbox's entitlement faults (`entitlements/faults`). */
export interface EntitlementsReader {
  /** The session, user, API client and instrument at hand; the account is the one read. */
  subject?: Omit<FaultSubject, 'accountId'>;
  /** An order is judged with them: a fault that acts counts a hit and draws its schedule (default: a view). */
  judging?: boolean;
}

/**
 * Entitlements cached per node for the order path: loaded once, dropped when the bus says the account changed,
 * and re-read after `maxAgeMs` in case a message was lost; nothing is kept while the bus does not reach the other
 * nodes, and the cache empties when the bus drops and when it is back (core/event-bus.ts `BusCacheGate`). The sandbox's entitlement faults apply on each read, over
 * the cached value, so starting or clearing one takes effect at the next read and never stays in the cache.
 */
export class EntitlementsCache {
  readonly #cache = new LruCache<string, { value: AccountEntitlements; loadedAt: number }>(10_000);
  readonly #unsubscribe: () => void;
  readonly #gate: BusCacheGate;

  constructor(
    readonly db: Kysely<Database>,
    readonly clock: Clock,
    bus: EventBus,
    readonly maxAgeMs = 30_000,
    readonly faults: FaultProbe = noFaults,
  ) {
    this.#unsubscribe = bus.subscribe('account.changed', (m) => {
      this.#cache.delete(m.accountId);
    });
    this.#gate = new BusCacheGate(bus, () => this.#cache.clear());
  }

  async get(accountId: string, reader?: EntitlementsReader): Promise<AccountEntitlements | undefined> {
    const stored = await this.#stored(accountId);
    if (stored === undefined || !this.faults.armed) return stored;
    return withEntitlementFaults(
      stored,
      { ...reader?.subject, accountId },
      faultLookup(this.faults, reader?.judging === true),
    );
  }

  async #stored(accountId: string): Promise<AccountEntitlements | undefined> {
    const now = this.clock.now();
    const hit = this.#cache.get(accountId);
    if (hit !== undefined && now - hit.loadedAt < this.maxAgeMs) return hit.value;
    const epoch = this.#gate.epoch();
    const value = await loadEntitlements(this.db, accountId);
    if (value !== undefined && this.#gate.mayKeep(epoch))
      this.#cache.set(accountId, { value, loadedAt: now });
    return value;
  }

  close(): void {
    this.#unsubscribe();
    this.#gate.close();
  }
}
