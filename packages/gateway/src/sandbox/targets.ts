/**
 * @module sandbox/targets
 * Whose a fault's target is. A user may put faults on themselves, their sessions, their API clients and the
 * accounts they may trade (the access policy's `ROLE_ALLOWS`, the one place that says who may do what on an
 * account); everyone and instruments are shared, so only an operator may.
 */
import type { FaultTarget } from '@gatehouse/protocol';
import type { Kysely } from 'kysely';
import { ROLE_ALLOWS } from '../access/index.js';
import type { AccountRole } from '../identity/index.js';
import { ASSET_CLASSES, INSTRUMENTS, MARKET_DATA_BUNDLES, MARKET_REGIONS } from '../instruments/index.js';
import type { Database } from '../store/index.js';
import type { TargetOwners } from './types.js';

/** The owners of `target`, `everyone` for shared targets, undefined when it does not exist. */
export async function targetOwners(db: Kysely<Database>, target: FaultTarget): Promise<TargetOwners> {
  const id = target.id ?? '';
  switch (target.type) {
    case 'all':
      return 'everyone';
    case 'instrument':
      return findBySymbolOrId(id) === undefined ? undefined : 'everyone';
    case 'user': {
      const row = await db.selectFrom('users').select('id').where('id', '=', id).executeTakeFirst();
      return row === undefined ? undefined : new Set([row.id]);
    }
    case 'session': {
      const row = await db
        .selectFrom('sessions')
        .select('user_id')
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return row === undefined ? undefined : new Set([row.user_id]);
    }
    case 'client': {
      const row = await db
        .selectFrom('oauth_clients')
        .select(['user_id'])
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      if (row === undefined) return undefined;
      return row.user_id === null ? 'everyone' : new Set([row.user_id]);
    }
    case 'account': {
      const account = await db.selectFrom('accounts').select('id').where('id', '=', id).executeTakeFirst();
      if (account === undefined) return undefined;
      const roles = await db
        .selectFrom('account_roles')
        .select(['user_id', 'role'])
        .where('account_id', '=', id)
        .execute();
      return new Set(
        roles
          .filter((r) =>
            (ROLE_ALLOWS[r.role as AccountRole] as readonly string[] | undefined)?.includes('trade'),
          )
          .map((r) => r.user_id),
      );
    }
  }
}

/** An instrument by its symbol (`AAPL`) or its id (`265598`). */
export function findBySymbolOrId(key: string) {
  return INSTRUMENTS.find((i) => i.symbol === key || String(i.id) === key);
}

/** The target as faults match it: an instrument named by its id is named by its symbol, as subjects carry it. */
export function canonicalTarget(target: FaultTarget): FaultTarget {
  if (target.type !== 'instrument' || target.id === undefined) return target;
  const instrument = findBySymbolOrId(target.id);
  return instrument === undefined ? target : { type: 'instrument', id: instrument.symbol };
}

const KNOWN: Record<string, readonly string[]> = {
  bundle: Object.keys(MARKET_DATA_BUNDLES),
  assetClass: ASSET_CLASSES,
  region: MARKET_REGIONS,
};

/** A parameter naming a bundle, asset class or region the catalogue does not have (it would act on nothing). */
export function unknownParam(params: Record<string, unknown>): { name: string; message: string } | undefined {
  for (const [name, known] of Object.entries(KNOWN)) {
    const value = params[name];
    if (typeof value === 'string' && !known.includes(value))
      return { name, message: `not one of ${known.join(', ')}` };
  }
  return undefined;
}
