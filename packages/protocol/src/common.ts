/**
 * @module common
 * Pieces every wire shape uses. Schemas carry an `id` (`.meta`) when they are worth a name of their own in the
 * OpenAPI document (`components.schemas`); the gateway's document builder reads it from zod's registry.
 */
import { z } from 'zod';

/** An instant, ISO 8601 in UTC, as every time on the wire is written (`Date.prototype.toISOString`). */
export const timestampSchema = z.iso
  .datetime()
  .meta({ id: 'Timestamp', description: 'An instant, ISO 8601 in UTC (`2026-06-15T15:00:00.000Z`).' });

/** Facts without a fixed shape: an event's data, a notification's, an audit record's. */
export const factsSchema = z.record(z.string(), z.unknown());

/** An account id as routes take it (`U1000001`, `DU1000001`). */
export const accountIdSchema = z.string().min(1).max(16);

/** `{accountId}` in a path. */
export const accountParamsSchema = z.strictObject({ accountId: accountIdSchema });

/** `{id}` in a path (a session, factor or device). */
export const idParamsSchema = z.strictObject({ id: z.string().min(1).max(64) });

/** A body-less answer that says what happened (`{"status":"logged_out"}`). */
export function statusSchema<const S extends string>(status: S) {
  return z.object({ status: z.literal(status) });
}
