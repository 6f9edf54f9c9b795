/**
 * @module app/readyz
 * What `GET /readyz` answers: ready, or why not as the error envelope, for the load balancer and the operator. In
 * order: trading halted on this node (and why: a full disk, a read-only database, a database that cannot be reached,
 * which ends by itself with `Retry-After`); the node draining; the database
 * refusing writes (a storage fault seen and still there: `store/faults`, probed again at each check, so the node is
 * ready again by itself once space returns); the database not answering.
 */
import type { ErrorEnvelope } from '@gatehouse/protocol';
import {
  DATABASE_RETRY_AFTER_MS,
  describeStorageFault,
  isDatabaseUnavailable,
  STORAGE_RETRY_AFTER_MS,
  type StorageFaultKind,
  storageFault,
} from '../store/index.js';
import type { GatewayContext } from './context.js';

export type Readiness =
  | { ready: true; database: 'sqlite' | 'postgres' }
  | { ready: false; envelope: ErrorEnvelope; retryAfterMs?: number };

const sentence = (kind: StorageFaultKind) => {
  const words = describeStorageFault(kind);
  return `${words[0]?.toUpperCase()}${words.slice(1)}`;
};

export async function readiness(
  ctx: Pick<GatewayContext, 'trading' | 'cluster' | 'store'>,
): Promise<Readiness> {
  const { store } = ctx;
  // A fault seen by a write: is it still there? (The probe changes nothing and clears it once writes succeed.)
  const fault =
    store.health.fault === null ? null : await store.probeWrites().catch(() => store.health.fault);
  const halted = ctx.trading.halted;
  if (halted !== null && isDatabaseUnavailable(halted))
    return {
      ready: false,
      retryAfterMs: DATABASE_RETRY_AFTER_MS,
      envelope: {
        error: {
          code: 'TRADING_HALTED',
          message:
            'Trading is paused on this node: the database cannot be reached; it resumes once it is back.',
        },
      },
    };
  if (halted !== null) {
    const cause = storageFault(halted);
    const why = cause === undefined ? 'the order journal failed' : describeStorageFault(cause);
    const next =
      fault === null
        ? 'resume it (POST /v1/admin/trading/resume) or restart the node'
        : `${describeStorageFault(fault)} still; resume it (POST /v1/admin/trading/resume) once it takes writes`;
    return {
      ready: false,
      envelope: {
        error: {
          code: 'TRADING_HALTED',
          message: `Trading is halted on this node: ${why}. ${next[0]?.toUpperCase()}${next.slice(1)}.`,
        },
      },
    };
  }
  if (ctx.cluster?.ownership.draining === true)
    return {
      ready: false,
      envelope: {
        error: {
          code: 'SERVICE_UNAVAILABLE',
          message: 'This node is draining: send requests to another node.',
        },
      },
    };
  if (fault !== null)
    return {
      ready: false,
      retryAfterMs: STORAGE_RETRY_AFTER_MS,
      envelope: {
        error: {
          code: 'STORAGE_UNAVAILABLE',
          message: `${sentence(fault)}: logins and changes are refused until it takes writes again; reads still work.`,
          details: { fault, retryAfterMs: STORAGE_RETRY_AFTER_MS },
        },
      },
    };
  try {
    await store.ping();
    return { ready: true, database: store.dialect };
  } catch {
    return {
      ready: false,
      retryAfterMs: DATABASE_RETRY_AFTER_MS,
      envelope: { error: { code: 'SERVICE_UNAVAILABLE', message: 'The database is not reachable.' } },
    };
  }
}
