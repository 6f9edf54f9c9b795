/**
 * @module oauth/schema
 * The OAuth routes as the API reference describes them: the protocol's schemas each takes and answers with (the
 * JSON routes' handlers validate with the same ones). The authorization server's endpoints take form bodies and
 * answer errors the OAuth way; their parameters are read and checked by the OAuth service, as described here.
 */
import {
  apiClientListSchema,
  apiClientViewSchema,
  appRegistrationSchema,
  authorizationRequestViewSchema,
  authorizationServerMetadataSchema,
  authorizeQuerySchema,
  clientParamsSchema,
  consentAnswerSchema,
  consentRequestSchema,
  emptySchema,
  introspectionSchema,
  jwksSchema,
  parFormSchema,
  parResponseSchema,
  personalClientRequestSchema,
  tokenActionFormSchema,
  tokenFormSchema,
  tokenResponseSchema,
} from '@gatehouse/protocol';
import { z } from 'zod';
import { operation } from '../http/index.js';

const tag = 'oauth';
const proof = z.string().meta({ description: 'A DPoP proof (RFC 9449) for this request.' });
const CLIENT_AUTH =
  'The client authenticates with `private_key_jwt` (a JWT signed with its registered key, audience the issuer).';

export const oauthOperations = {
  metadata: operation({
    tag,
    summary: 'Authorization server metadata (RFC 8414)',
    responses: { 200: authorizationServerMetadataSchema },
  }),
  jwks: operation({
    tag,
    summary: 'The authorization server’s signing keys',
    description: 'The key that signs introspection answers asked for as JWTs.',
    responses: { 200: jwksSchema },
  }),
  par: operation({
    tag,
    summary: 'Push an authorization request (RFC 9126)',
    description:
      `An app’s request, before the user sees it: PKCE S256, an exact registered redirect URI; a DPoP proof (or ` +
      `\`dpop_jkt\`) binds the tokens to come. ${CLIENT_AUTH}`,
    headers: z.object({ DPoP: proof.optional() }),
    form: parFormSchema,
    oauthErrors: true,
    responses: { 201: parResponseSchema },
  }),
  token: operation({
    tag,
    summary: 'Issue DPoP-bound tokens',
    description:
      `Client credentials (a personal client), an authorization code with its PKCE verifier (an app), or a ` +
      `refresh token (rotated when the client asks for it; a reused one ends the grant). The DPoP proof is ` +
      `required; the server may answer \`use_dpop_nonce\` with a nonce to retry with. ${CLIENT_AUTH}`,
    headers: z.object({ DPoP: proof }),
    form: tokenFormSchema,
    oauthErrors: true,
    responses: { 200: tokenResponseSchema },
  }),
  revoke: operation({
    tag,
    summary: 'Revoke a token (RFC 7009)',
    description: `A refresh token ends its grant. ${CLIENT_AUTH}`,
    form: tokenActionFormSchema,
    oauthErrors: true,
    responses: { 200: emptySchema },
  }),
  introspect: operation({
    tag,
    summary: 'Introspect a token (RFC 7662)',
    description:
      `A client may ask only about its own tokens. With \`Accept: application/token-introspection+jwt\` the ` +
      `answer is a JWT signed with the key of \`/oauth2/jwks\` (RFC 9701). ${CLIENT_AUTH}`,
    form: tokenActionFormSchema,
    oauthErrors: true,
    responses: {
      200: {
        description: 'The token’s state; an inactive token tells nothing more.',
        schema: introspectionSchema,
        alternatives: { 'application/token-introspection+jwt': { schema: { type: 'string' } } },
      },
    },
  }),
  authorize: operation({
    tag,
    summary: 'An app’s pushed authorization request, for the consent page',
    description:
      'FAPI 2.0: only a pushed request (`client_id` and `request_uri`). A browser asking for HTML gets the ' +
      'consent page itself; the page then asks for this JSON.',
    query: authorizeQuerySchema,
    oauthErrors: true,
    responses: {
      200: {
        description: 'The app, the scopes it asks for, the accounts to choose from, how long access lasts.',
        schema: authorizationRequestViewSchema,
        alternatives: { 'text/html': { schema: { type: 'string' } } },
      },
    },
  }),
  consent: operation({
    tag,
    summary: 'Approve or deny an app',
    description:
      'Approving needs a second factor in the last 5 minutes, stronger than SMS, and no step-up pending, checked ' +
      'before the pushed request is spent; denying needs only the session. Answers where to send the browser.',
    body: consentRequestSchema,
    oauthErrors: true,
    responses: { 200: consentAnswerSchema },
  }),
  registerPersonal: operation({
    tag,
    summary: 'Register a personal client for my own program',
    description:
      'Its public key(s), the accounts (a trading role needed for `trade`) and scopes it may use; the grant is ' +
      'made at once and the program uses client credentials. Needs a second factor in the last 5 minutes, ' +
      'stronger than SMS.',
    body: personalClientRequestSchema,
    responses: { 201: apiClientViewSchema },
  }),
  list: operation({
    tag,
    summary: 'My personal clients and the apps I granted',
    responses: { 200: apiClientListSchema },
  }),
  revokeClient: operation({
    tag,
    summary: 'Revoke a client or an app’s grants',
    description: 'Ends its tokens and program sessions on every node; a personal client is removed.',
    params: clientParamsSchema,
    responses: { 204: { description: 'Revoked.' } },
  }),
  registerApp: operation({
    tag: 'admin',
    summary: 'Register a third-party app',
    description: 'Its keys, exact redirect URIs and the scopes it may ask for.',
    servedWhen: '`secrets.adminApiToken` is set',
    body: appRegistrationSchema,
    responses: { 201: apiClientViewSchema },
  }),
};
