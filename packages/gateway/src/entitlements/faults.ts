/**
 * @module entitlements/faults
 * The failure sandbox's entitlement faults, applied on read: while a fault holds, the account reads as if an
 * operator had changed it — a market-data bundle unsubscribed (its quotes fall back to the bundle's free view,
 * delayed or none, and the gate asks before an order; research/broker-sessions.md §5), a trading permission
 * removed, the options level lowered, the account closing-only or frozen (research/broker-sessions.md §1.2, the
 * tastytrade `is-closing-only` / `is-frozen` flags). Nothing stored changes, so clearing the fault restores the
 * account at the next read, and no cache of the stored entitlements can hold a faulted answer.
 */
import type { ActiveFault, FaultKind, FaultProbe, FaultSubject } from '../core/index.js';
import type { MarketDataBundle } from '../instruments/index.js';

/** What the faults change of an account's entitlements (`AccountEntitlements` in `entitlements/store`). */
export interface FaultableEntitlements {
  account: { optionsLevel: number; closingOnly: boolean; frozen: boolean };
  /** `${assetClass}:${region}` pairs. */
  permissions: ReadonlySet<string>;
  subscriptions: ReadonlyMap<MarketDataBundle, { professional: boolean }>;
}

/** How a reader asks the probe: `take` when an order is judged (a hit), `holds` when it only looks. */
export type FaultLookup = (kind: FaultKind, subject: FaultSubject) => ActiveFault | undefined;

/** The probe's lookup for a reader: judging an order counts a hit and draws the schedule, a view does not. */
export function faultLookup(faults: FaultProbe, judging: boolean): FaultLookup {
  return judging
    ? (kind, subject) => faults.take(kind, subject)
    : (kind, subject) => faults.holds(kind, subject);
}

/** The bundle a `marketdata.revoked` fault takes away from `subject`, if one holds. */
export function revokedBundle(lookup: FaultLookup, subject: FaultSubject): MarketDataBundle | undefined {
  return lookup('marketdata.revoked', subject)?.params.bundle as MarketDataBundle | undefined;
}

/**
 * The entitlements as they read while the faults that hold for `subject` act on them; `e` itself when none does.
 * Callers test `faults.armed` first.
 */
export function withEntitlementFaults<E extends FaultableEntitlements>(
  e: E,
  subject: FaultSubject,
  lookup: FaultLookup,
): E {
  const bundle = revokedBundle(lookup, subject);
  const removed = lookup('permission.removed', subject)?.params as
    | { assetClass: string; region?: string }
    | undefined;
  const lowered = lookup('options_level.lowered', subject)?.params.level as number | undefined;
  const closingOnly = lookup('account.closing_only', subject) !== undefined;
  const frozen = lookup('account.frozen', subject) !== undefined;
  if (bundle === undefined && removed === undefined && lowered === undefined && !closingOnly && !frozen)
    return e;
  let { subscriptions, permissions } = e;
  if (bundle !== undefined && subscriptions.has(bundle)) {
    const kept = new Map(subscriptions);
    kept.delete(bundle);
    subscriptions = kept;
  }
  if (removed !== undefined) {
    // `${assetClass}:${region}`; without a region, the asset class goes in every region.
    const gone = (key: string) => {
      const [assetClass, region] = key.split(':');
      return assetClass === removed.assetClass && (removed.region === undefined || region === removed.region);
    };
    permissions = new Set([...permissions].filter((key) => !gone(key)));
  }
  const { account } = e;
  const faulted: FaultableEntitlements = {
    ...e,
    subscriptions,
    permissions,
    account: {
      ...account,
      optionsLevel: lowered === undefined ? account.optionsLevel : Math.min(account.optionsLevel, lowered),
      closingOnly: account.closingOnly || closingOnly,
      frozen: account.frozen || frozen,
    },
  };
  return faulted as E;
}
