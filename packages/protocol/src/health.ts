/** @module health — the load balancer's checks: `GET /healthz` (the process answers) and `GET /readyz`. */
import { z } from 'zod';

export const healthSchema = z.object({ status: z.literal('ok') });

/** Ready: the database answers and trading is not halted (otherwise `503` with the error envelope). */
export const readinessSchema = z.object({
  status: z.literal('ready'),
  database: z.enum(['sqlite', 'postgres']),
  sandbox: z
    .literal(true)
    .optional()
    .meta({
      description:
        'Present, and true, only when the failure sandbox is on (`sandbox.enabled`): faults may be injected here, ' +
        'so this is not a production gateway. Absent otherwise.',
    }),
});
