/**
 * @module sandbox/targets
 * Whose a fault's target is. A user may put faults on themselves, their sessions, their API clients and the
 * accounts they own (the access policy's `ROLE_ALLOWS`, the one place that says who may do what on an account:
 * changing how an account behaves is an owner's, as its session-loss policy is); everyone and instruments are
 * shared, so only an operator may.
 */
import type { FaultTarget } from '@gatehouse/protocol';
import type { Kysely } from 'kysely';
import { ROLE_ALLOWS } from '../access/index.js';
import type { AccountRole } from '../identity/index.js';
import { INSTRUMENTS } from '../instruments/index.js';
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
            (ROLE_ALLOWS[r.role as AccountRole] as readonly string[] | undefined)?.includes('own'),
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
