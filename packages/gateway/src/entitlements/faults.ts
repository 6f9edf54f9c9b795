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

/**
 * How a reader asks the probe: `take` when an order is judged (a hit), `holds` when it only looks — every fault of
 * the kind, since two bundles may be revoked at once.
 */
export type FaultLookup = (kind: FaultKind, subject: FaultSubject) => ActiveFault[];

/** The probe's lookup for a reader: judging an order counts a hit and draws the schedule, a view does not. */
export function faultLookup(faults: FaultProbe, judging: boolean): FaultLookup {
  return judging
    ? (kind, subject) => faults.takeAll(kind, subject)
    : (kind, subject) => faults.holdsAll(kind, subject);
}

/** The bundles `marketdata.revoked` faults take away from `subject` (empty when none holds). */
export function revokedBundles(lookup: FaultLookup, subject: FaultSubject): Set<MarketDataBundle> {
  return new Set(lookup('marketdata.revoked', subject).map((f) => f.params.bundle as MarketDataBundle));
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
  const bundles = revokedBundles(lookup, subject);
  const removed = lookup('permission.removed', subject).map(
    (f) => f.params as { assetClass: string; region?: string },
  );
  const levels = lookup('options_level.lowered', subject).map((f) => f.params.level as number);
  const lowered = levels.length === 0 ? undefined : Math.min(...levels);
  const closingOnly = lookup('account.closing_only', subject).length > 0;
  const frozen = lookup('account.frozen', subject).length > 0;
  if (bundles.size === 0 && removed.length === 0 && lowered === undefined && !closingOnly && !frozen)
    return e;
  let { subscriptions, permissions } = e;
  if ([...bundles].some((b) => subscriptions.has(b))) {
    const kept = new Map(subscriptions);
    for (const b of bundles) kept.delete(b);
    subscriptions = kept;
  }
  if (removed.length > 0) {
    // `${assetClass}:${region}`; without a region, the asset class goes in every region.
    const gone = (key: string) => {
      const [assetClass, region] = key.split(':');
      return removed.some(
        (r) => assetClass === r.assetClass && (r.region === undefined || region === r.region),
      );
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
