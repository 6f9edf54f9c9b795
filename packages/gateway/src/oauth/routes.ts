/**
 * @module oauth/routes
 * The authorization server's endpoints (RFC 8414 metadata, JWKS, PAR, token, revocation, introspection), the
 * consent step of an app's authorization (JSON for now), a user's personal clients, and the operators' app
 * registration. The form endpoints speak `application/x-www-form-urlencoded` and answer errors the OAuth way.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Config, PublicUrls } from '../config/index.js';
import type { Clock } from '../core/index.js';
import { type Authenticator, parseWith, principalOf } from '../http/index.js';
import type { SigningKey } from '../oauth/signing.js';
import { requireSensitive } from '../sessions/index.js';
import type { Database } from '../store/index.js';
import { OAuthError } from './errors.js';
import type { DpopVerifier, OAuthService } from './index.js';
import { SCOPES } from './service.js';
import { signIntrospection } from './signing.js';

type Form = Record<string, string | undefined>;

/** Parses a form body; a parameter given twice is an error (RFC 6749 §3.1). */
function parseForm(body: string): Form {
  const form: Form = {};
  for (const [key, value] of new URLSearchParams(body)) {
    if (key in form) throw new OAuthError('invalid_request', `${key} is given more than once`);
    form[key] = value;
  }
  return form;
}

const sessionLossPolicy = z.enum(['none', 'cancel_day', 'cancel_all']).default('none');
const scopes = z.array(z.enum(SCOPES)).min(1).max(3);

const personalClientBody = z.strictObject({
  name: z.string().min(1).max(100),
  keys: z.array(z.record(z.string(), z.unknown())).min(1).max(5),
  accounts: z.array(z.string().min(1).max(16)).min(1).max(50),
  scopes,
  sessionLossPolicy,
});

const appBody = z.strictObject({
  name: z.string().min(1).max(100),
  keys: z.array(z.record(z.string(), z.unknown())).min(1).max(5),
  redirectUris: z.array(z.string().url().max(2000)).min(1).max(10),
  scopes,
  rotateRefreshTokens: z.boolean().default(false),
  sessionLossPolicy,
});

const authorizeQuery = z.strictObject({
  client_id: z.string().min(1).max(64),
  request_uri: z.string().min(1).max(200),
});

const consentBody = z.strictObject({
  clientId: z.string().min(1).max(64),
  requestUri: z.string().min(1).max(200),
  approve: z.boolean(),
  accounts: z.array(z.string().min(1).max(16)).max(50).default([]),
});

const clientParams = z.strictObject({ clientId: z.string().min(1).max(64) });

/** What these routes need of the gateway. */
export interface OAuthRoutesDeps {
  auth: Authenticator;
  clock: Clock;
  config: Pick<Config, 'oauth'>;
  db: Kysely<Database>;
  dpop: DpopVerifier;
  oauth: OAuthService;
  oauthSigningKey: SigningKey;
  urls: PublicUrls;
}

export async function oauthRoutes(app: FastifyInstance, deps: OAuthRoutesDeps): Promise<void> {
  const { oauth } = deps;

  app.get('/.well-known/oauth-authorization-server', async () => oauth.metadata());
  app.get('/oauth2/jwks', async () => ({ keys: [deps.oauthSigningKey.publicJwk] }));

  /**
   * The DPoP key the request proves (token and PAR endpoints), checked against this endpoint's URL under the
   * configured public URL: a proof made for another server is refused whatever Host the request names.
   */
  const proofKey = (request: FastifyRequest, required: boolean): string | null => {
    const proof = request.headers.dpop;
    if (proof === undefined && !required) return null;
    const now = deps.clock.now();
    try {
      return deps.dpop.verify({
        proof: typeof proof === 'string' ? proof : undefined,
        method: request.method,
        url: `${deps.urls.base}${request.url}`,
        now,
      });
    } catch (error) {
      if (error instanceof OAuthError && error.error === 'use_dpop_nonce')
        error.dpopNonce = deps.dpop.nonce(now);
      throw error;
    }
  };
  const noStore = (reply: FastifyReply) => {
    reply.header('cache-control', 'no-store');
    if (deps.config.oauth.dpopNonce) reply.header('dpop-nonce', deps.dpop.nonce(deps.clock.now()));
  };

  await app.register(async (form) => {
    form.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: 16 * 1024 },
      (_request, body, done) => {
        try {
          done(null, parseForm(body as string));
        } catch (error) {
          done(error as Error, undefined);
        }
      },
    );
    const formOf = (request: FastifyRequest): Form => {
      if (
        typeof request.body !== 'object' ||
        request.body === null ||
        !request.headers['content-type']?.startsWith('application/x-www-form-urlencoded')
      )
        throw new OAuthError('invalid_request', 'send application/x-www-form-urlencoded');
      return request.body as Form;
    };

    form.post('/oauth2/par', async (request, reply) => {
      const body = formOf(request);
      const jkt = proofKey(request, false);
      noStore(reply);
      reply.code(201);
      return oauth.pushAuthorizationRequest(body, oauth.issuer(), jkt);
    });

    form.post('/oauth2/token', async (request, reply) => {
      const body = formOf(request);
      const jkt = proofKey(request, true) as string;
      const tokens = await oauth.token(body, oauth.issuer(), jkt);
      noStore(reply);
      return tokens;
    });

    form.post('/oauth2/revoke', async (request, reply) => {
      await oauth.revoke(formOf(request), oauth.issuer());
      noStore(reply);
      return {};
    });

    form.post('/oauth2/introspect', async (request, reply) => {
      const issuer = oauth.issuer();
      const { clientId, result } = await oauth.introspect(formOf(request), issuer);
      noStore(reply);
      if (request.headers.accept?.includes('application/token-introspection+jwt')) {
        reply.type('application/token-introspection+jwt');
        return signIntrospection(deps.oauthSigningKey, issuer, clientId, result, deps.clock.now());
      }
      return result;
    });
  });

  const authenticated = { preHandler: deps.auth.session };

  // FAPI 2.0: the authorization endpoint takes only a pushed request (client_id and request_uri).
  app.get('/oauth2/authorize', authenticated, async (request) => {
    const query = parseWith(authorizeQuery, request.query);
    return oauth.authorizationRequest(principalOf(request), query.client_id, query.request_uri);
  });

  // Giving a program access is a change like adding a factor (security review F4): a second factor verified in the
  // last 5 minutes, not SMS, no step-up pending — checked before the pushed request is spent or a client is made. A
  // stolen cookie, or a session a phished SMS code opened, cannot hand a bot lasting access. Denying gives nothing
  // away, so any session of the user without a pending step-up may.
  app.post('/oauth2/authorize/consent', authenticated, async (request) => {
    const body = parseWith(consentBody, request.body);
    const principal = principalOf(request);
    await requireSensitive(deps.db, deps.clock, principal, body.approve ? { factorChange: true } : {});
    return oauth.consent(principal, body, oauth.issuer());
  });

  app.post('/v1/oauth/clients', authenticated, async (request, reply) => {
    const body = parseWith(personalClientBody, request.body);
    const principal = principalOf(request);
    await requireSensitive(deps.db, deps.clock, principal, { factorChange: true });
    reply.code(201);
    return oauth.registerPersonalClient(principal, body);
  });

  app.get('/v1/oauth/clients', authenticated, async (request) => ({
    clients: await oauth.listForUser(principalOf(request).session.userId),
  }));

  app.delete('/v1/oauth/clients/:clientId', authenticated, async (request, reply) => {
    const { clientId } = parseWith(clientParams, request.params);
    await oauth.revokeForUser(principalOf(request), clientId);
    return reply.code(204).send();
  });

  const operator = deps.auth.operator;
  if (operator !== undefined) {
    app.post('/v1/admin/oauth/clients', { preHandler: operator }, async (request, reply) => {
      const body = parseWith(appBody, request.body);
      reply.code(201);
      return oauth.registerApp(body);
    });
  }
}
