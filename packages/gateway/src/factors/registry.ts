/**
 * @module factors/registry
 * The second factors a user has enrolled, as the login flow and the API list them. Secrets never leave this module.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../store/index.js';

export type FactorType = 'totp';

export interface FactorSummary {
  id: string;
  type: FactorType;
  label: string;
  createdAt: number;
  lastUsedAt: number | null;
}

export async function listFactors(db: Kysely<Database>, userId: string): Promise<FactorSummary[]> {
  const rows = await db
    .selectFrom('second_factors')
    .select(['id', 'type', 'label', 'created_at', 'last_used_at'])
    .where('user_id', '=', userId)
    .orderBy('created_at')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    type: r.type as FactorType,
    label: r.label,
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
  }));
}

/** The distinct factor types a user may choose at login, in a stable order. */
export async function availableFactorTypes(db: Kysely<Database>, userId: string): Promise<FactorType[]> {
  const factors = await listFactors(db, userId);
  return [...new Set(factors.map((f) => f.type))].sort();
}
