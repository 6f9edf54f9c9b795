/**
 * @module trading/remote
 * Trading methods run on the node that works the account (`trading/placement`). The node a request reached
 * authenticates it and checks that the caller may at least see the account — so a stranger's request never makes a
 * node take an account —, then runs the method here if this node works the account (taking it if it is free), or
 * has the owner run it (`TradingService.serve` there) with the principal it authenticated: the owner's gate, view
 * and journal decide, exactly as for a request that reached it directly.
 */
import { accountAccess } from '../access/index.js';
import { GatehouseError } from '../core/index.js';
import type { Principal } from '../sessions/index.js';
import type { Placement } from './placement.js';

/** The trading methods a node runs for another (`TradingService.serve`). */
export type RemoteMethod =
  | 'place'
  | 'preview'
  | 'confirm'
  | 'modify'
  | 'cancel'
  | 'cancelByOperator'
  | 'summary'
  | 'availability'
  | 'cancelOpen';

const REMOTE_METHODS: ReadonlySet<string> = new Set<RemoteMethod>([
  'place',
  'preview',
  'confirm',
  'modify',
  'cancel',
  'cancelByOperator',
  'summary',
  'availability',
  'cancelOpen',
]);
/** The methods a system principal calls (no person's or program's principal travels with them). */
const SYSTEM_METHODS: ReadonlySet<string> = new Set<RemoteMethod>(['cancelByOperator', 'cancelOpen']);

/**
 * A forwarded call's method and arguments, checked before anything is done for it: a known method, an account id,
 * and a principal exactly when the method is a person's or a program's. `INVALID_REQUEST` otherwise.
 */
export function checkRemoteCall(
  method: string,
  args: unknown,
): Record<string, unknown> & { accountId: string; principal?: unknown } {
  const a = (typeof args === 'object' && args !== null ? args : {}) as Record<string, unknown>;
  const principalGiven = a.principal !== undefined && a.principal !== null;
  if (
    !REMOTE_METHODS.has(method) ||
    typeof a.accountId !== 'string' ||
    a.accountId.length === 0 ||
    a.accountId.length > 64 ||
    principalGiven === SYSTEM_METHODS.has(method)
  )
    throw new GatehouseError('INVALID_REQUEST');
  if (method === 'cancelOpen' && (typeof a.filter !== 'object' || a.filter === null))
    throw new GatehouseError('INVALID_REQUEST');
  return a as Record<string, unknown> & { accountId: string };
}

/** Which of an account's working orders a system cancel takes. */
export interface OpenFilter {
  sessionId?: string;
  excludeGtc?: boolean;
}

/** A principal as it travels to another node: what the gate reads (the session, the profile, a program's grant). */
export function principalToWire(principal: Principal): unknown {
  return { session: principal.session, profile: principal.profile, api: principal.api };
}

export function principalFromWire(wire: unknown): Principal {
  const p = wire as Pick<Principal, 'session' | 'profile' | 'api'>;
  if (typeof p?.session?.id !== 'string' || typeof p.profile?.user?.id !== 'string')
    throw new GatehouseError('INVALID_REQUEST');
  return {
    session: p.session,
    profile: p.profile,
    memo: new Map(),
    ...(p.api === undefined ? {} : { api: p.api }),
  };
}

/**
 * Runs `local` here if this node works the account, else `method` with `args` on the node that does. A request
 * that finds the owner has just handed the account over (a drain) asks once more, and may take it here.
 */
export async function routed<T>(
  placement: Placement,
  principal: Principal | null,
  accountId: string,
  method: RemoteMethod,
  args: Record<string, unknown>,
  local: () => Promise<T>,
): Promise<T> {
  if (principal !== null) accountAccess(principal, accountId, 'view');
  const wire = principal === null ? args : { ...args, principal: principalToWire(principal) };
  for (let attempt = 0; ; attempt++) {
    const where = await placement.locate(accountId);
    if (where === 'here') return local();
    try {
      return (await where.call(method, { accountId, ...wire })) as T;
    } catch (error) {
      const handedOver =
        error instanceof GatehouseError &&
        error.code === 'ACCOUNT_MOVING' &&
        Number(error.details?.retryAfterMs) <= 100;
      if (!handedOver || attempt > 0) throw error;
    }
  }
}
