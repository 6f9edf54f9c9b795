/** @module sessions/schema — wire shapes of the session routes. */
import { z } from 'zod';

export const sessionIdParamsSchema = z.strictObject({
  id: z.string().min(1).max(64),
});

export const brokerageRequestSchema = z.strictObject({ compete: z.boolean() });
