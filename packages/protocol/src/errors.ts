/**
 * @module errors
 * The stable error codes and the one error envelope the gateway answers with on every transport, and the OAuth
 * error shape of the authorization server's form endpoints. `docs/errors.md` explains each code.
 */
import { z } from 'zod';
import { ERROR_CODES, OAUTH_ERROR_CODES } from './vocabulary.js';

/** The one error envelope: `ruleId` names the product rule that rejected an order. */
export const errorEnvelopeSchema = z
  .object({
    error: z.object({
      code: z.enum(ERROR_CODES).meta({ id: 'ErrorCode', description: 'A stable code; see docs/errors.md.' }),
      message: z.string().meta({ description: 'For people; may change. Never carries internals.' }),
      ruleId: z.string().optional().meta({ description: 'The product rule that rejected an order.' }),
      details: z
        .record(z.string(), z.unknown())
        .optional()
        .meta({ description: 'Non-secret facts a client can act on (`retryAfterMs`, `lotSize`, …).' }),
    }),
  })
  .meta({
    id: 'ErrorEnvelope',
    description: 'Every error of the gateway’s own routes, over HTTP and WebSocket.',
  });
export type ErrorEnvelope = z.infer<typeof errorEnvelopeSchema>;

/** An error of the authorization server's form endpoints, the way OAuth clients expect it (RFC 6749 §5.2). */
export const oauthErrorSchema = z
  .object({ error: z.enum(OAUTH_ERROR_CODES), error_description: z.string() })
  .meta({ id: 'OAuthError', description: 'RFC 6749 §5.2 error response of `/oauth2/*` form endpoints.' });
