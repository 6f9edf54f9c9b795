/**
 * @module oauth
 * Programs' access: the authorization server's answers (metadata, PAR, tokens, introspection), an app's consent,
 * and the clients a user or an operator registers. The form endpoints take `application/x-www-form-urlencoded`
 * (their parameters are described here as objects of strings).
 */
import { z } from 'zod';
import { accountIdSchema, timestampSchema } from './common.js';
import { sessionLossPolicySchema } from './safety.js';
import { SCOPES } from './vocabulary.js';

export const scopeSchema = z.enum(SCOPES).meta({ id: 'Scope' });

/** The token endpoint's answer (DPoP-bound tokens). */
export const tokenResponseSchema = z
  .object({
    access_token: z.string(),
    token_type: z.literal('DPoP'),
    expires_in: z.number().int(),
    scope: z.string(),
    refresh_token: z.string().optional(),
  })
  .meta({ id: 'TokenResponse' });
export type TokenResponse = z.infer<typeof tokenResponseSchema>;

/** RFC 8414 metadata of the authorization server. */
export const authorizationServerMetadataSchema = z.looseObject({
  issuer: z.string(),
  token_endpoint: z.string(),
  pushed_authorization_request_endpoint: z.string(),
  authorization_endpoint: z.string(),
  revocation_endpoint: z.string(),
  introspection_endpoint: z.string(),
  jwks_uri: z.string(),
  require_pushed_authorization_requests: z.boolean(),
  scopes_supported: z.array(z.string()),
});

/** The authorization server's signing keys (`GET /oauth2/jwks`). */
export const jwksSchema = z.object({ keys: z.array(z.record(z.string(), z.unknown())) });

const formValue = z.string();
/** Client authentication of the form endpoints: `private_key_jwt` (RFC 7523), a JWT signed with the client's key. */
const clientAssertion = {
  client_id: formValue.optional(),
  client_assertion_type: z.literal('urn:ietf:params:oauth:client-assertion-type:jwt-bearer'),
  client_assertion: formValue,
};

/** `POST /oauth2/par` (RFC 9126): the app's authorization request, pushed; PKCE S256 and an exact redirect URI. */
export const parFormSchema = z.looseObject({
  ...clientAssertion,
  response_type: z.literal('code'),
  redirect_uri: formValue,
  scope: formValue,
  state: formValue.max(512).optional(),
  code_challenge: formValue,
  dpop_jkt: formValue
    .optional()
    .meta({ description: 'The DPoP key thumbprint, when no DPoP proof is sent.' }),
  code_challenge_method: z.literal('S256'),
});
export const parResponseSchema = z.object({ request_uri: z.string(), expires_in: z.number().int() });

/** `POST /oauth2/token`: `client_credentials`, `authorization_code` (with PKCE) or `refresh_token`. */
export const tokenFormSchema = z.looseObject({
  ...clientAssertion,
  grant_type: z.enum(['client_credentials', 'authorization_code', 'refresh_token']),
  scope: formValue.optional(),
  code: formValue.optional(),
  redirect_uri: formValue.optional(),
  code_verifier: formValue.optional(),
  refresh_token: formValue.optional(),
});

/** `POST /oauth2/revoke` (RFC 7009) and `POST /oauth2/introspect` (RFC 7662). */
export const tokenActionFormSchema = z.looseObject({
  ...clientAssertion,
  token: formValue,
  token_type_hint: formValue.optional(),
});
export const emptySchema = z.object({});

/** RFC 7662: an inactive token tells nothing more. */
export const introspectionSchema = z.union([
  z.object({ active: z.literal(false) }),
  z.object({
    active: z.literal(true),
    scope: z.string(),
    client_id: z.string(),
    sub: z.string(),
    token_type: z.enum(['DPoP', 'refresh_token']),
    iat: z.number().int(),
    exp: z.number().int().optional(),
    iss: z.string(),
    cnf: z.object({ jkt: z.string().nullable() }),
  }),
]);

/** `GET /oauth2/authorize?client_id&request_uri` (FAPI 2.0: only a pushed request). */
export const authorizeQuerySchema = z.strictObject({
  client_id: z.string().min(1).max(64),
  request_uri: z.string().min(1).max(200),
});

/** `GET /oauth2/authorize` for the consent page: the app, what it asks for, the accounts to choose from. */
export const authorizationRequestViewSchema = z
  .object({
    client: z.object({ clientId: z.string(), name: z.string() }),
    scopes: z.array(z.string()),
    redirectUri: z.string(),
    accounts: z
      .array(z.object({ id: z.string(), title: z.string(), role: z.string(), grantable: z.boolean() }))
      .meta({ description: 'The user’s accounts; `grantable`: the asked scopes may be granted on it.' }),
    lifetime: z
      .object({ idleTimeoutMs: z.number().int(), absoluteLifetimeMs: z.number().int() })
      .meta({ description: 'It ends after `idleTimeoutMs` unused, and `absoluteLifetimeMs` after consent.' }),
  })
  .meta({ id: 'AuthorizationRequestView' });
export type AuthorizationRequestView = z.infer<typeof authorizationRequestViewSchema>;

/** `POST /oauth2/authorize/consent`: the user approves (with the accounts) or denies. */
export const consentRequestSchema = z.strictObject({
  clientId: z.string().min(1).max(64),
  requestUri: z.string().min(1).max(200),
  approve: z.boolean(),
  accounts: z.array(accountIdSchema).max(50).default([]),
});
export const consentAnswerSchema = z.object({
  redirectTo: z
    .string()
    .meta({ description: 'The app’s redirect URI with `code` (or `error`), `state` and `iss`.' }),
});

const requestedScopes = z.array(scopeSchema).min(1).max(3);
const publicJwks = z.array(z.record(z.string(), z.unknown())).min(1).max(5);

/** `POST /v1/oauth/clients`: a user's personal client for their own bot; the bot then uses client credentials. */
export const personalClientRequestSchema = z.strictObject({
  name: z.string().min(1).max(100),
  keys: publicJwks,
  // A refinement, not `.min(1)`: its words are what the client reads (`accounts: choose at least one account`).
  accounts: z
    .array(accountIdSchema)
    .max(50)
    .refine((accounts) => accounts.length > 0, 'choose at least one account')
    .meta({ description: 'At least one of the user’s accounts.' }),
  scopes: requestedScopes,
  sessionLossPolicy: sessionLossPolicySchema.default('none'),
});

/** `POST /v1/admin/oauth/clients`: an operator's third-party app. */
export const appRegistrationSchema = z.strictObject({
  name: z.string().min(1).max(100),
  keys: publicJwks,
  redirectUris: z.array(z.string().url().max(2000)).min(1).max(10),
  scopes: requestedScopes,
  rotateRefreshTokens: z.boolean().default(false),
  sessionLossPolicy: sessionLossPolicySchema.default('none'),
});

/** `GET /v1/oauth/clients`: the user's personal clients and the apps they granted, with the live grants. */
export const apiClientViewSchema = z
  .object({
    clientId: z.string(),
    kind: z.enum(['personal', 'app']),
    name: z.string(),
    scopes: z.array(z.string()),
    redirectUris: z.array(z.string()),
    rotateRefreshTokens: z.boolean(),
    sessionLossPolicy: sessionLossPolicySchema,
    createdAt: timestampSchema,
    grants: z.array(
      z.object({
        grantId: z.string(),
        scopes: z.array(z.string()),
        accounts: z.array(z.string()),
        sessionIds: z.array(z.string()).meta({
          description:
            'The live program sessions acting under the grant, the one last given a token first: one per instance ' +
            '(DPoP key) of a personal client, one for an app.',
        }),
        sessionId: z
          .string()
          .nullable()
          .meta({ description: 'The first of `sessionIds`, or null when no program session is live.' }),
        createdAt: timestampSchema,
      }),
    ),
  })
  .meta({ id: 'ApiClientView' });
export type ApiClientView = z.infer<typeof apiClientViewSchema>;
export const apiClientListSchema = z.object({ clients: z.array(apiClientViewSchema) });

/** `{clientId}` in a path. */
export const clientParamsSchema = z.strictObject({ clientId: z.string().min(1).max(64) });
