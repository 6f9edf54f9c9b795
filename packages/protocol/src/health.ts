/**
 * @module health — the load balancer's checks: `GET /healthz` (the process answers) and `GET /readyz`; and the
 * operator's way back after trading halted (`POST /v1/admin/trading/resume`).
 */
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

/** `POST /v1/admin/trading/resume`: trading runs on this node (again, if it was halted). */
export const tradingResumedSchema = z.object({
  status: z.literal('running'),
  resumed: z.boolean().meta({ description: 'True when trading had halted and was resumed by this request.' }),
  workingOrders: z.number().int().nonnegative().meta({
    description: 'The working orders loaded from the database when it resumed (0 when it was running).',
  }),
});
