/**
 * @module oauth/routes
 * The authorization server's endpoints (RFC 8414 metadata, JWKS, PAR, token, revocation, introspection), the
 * consent step of an app's authorization (JSON for now), a user's personal clients, and the operators' app
 * registration. The form endpoints speak `application/x-www-form-urlencoded` and answer errors the OAuth way.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { Config, PublicUrls } from '../config/index.js';
import { type Clock, type FaultProbe, GatehouseError, noFaults, toEnvelope } from '../core/index.js';
import { type Authenticator, parseWith, principalOf, quotedName } from '../http/index.js';
import type { SigningKey } from '../oauth/signing.js';
import { requireSensitive } from '../sessions/index.js';
import type { Database } from '../store/index.js';
import { OAuthError } from './errors.js';
import type { DpopVerifier, OAuthService } from './index.js';
import { oauthOperations as ops } from './schema.js';
import { signIntrospection } from './signing.js';

type Form = Record<string, string | undefined>;

/** Parses a form body; a parameter given twice is an error (RFC 6749 §3.1). */
function parseForm(body: string): Form {
  const form: Form = {};
  for (const [key, value] of new URLSearchParams(body)) {
    if (key in form) throw new OAuthError('invalid_request', `${quotedName(key)} is given more than once`);
    form[key] = value;
  }
  return form;
}

/** What these routes need of the gateway. */
export interface OAuthRoutesDeps {
  auth: Authenticator;
  clock: Clock;
  config: Pick<Config, 'oauth'>;
  db: Kysely<Database>;
  dpop: DpopVerifier;
  oauth: OAuthService;
  oauthSigningKey: SigningKey;
  /** The keys the JWKS publishes (default: the signing key alone); a rotation's previous key until it retires. */
  oauthSigningKeys?: () => readonly SigningKey[];
  urls: PublicUrls;
  /** The failure sandbox's probe: the token endpoint's faults (`refresh.*`); `noFaults` when it is off. */
  faults?: FaultProbe;
}

export async function oauthRoutes(app: FastifyInstance, deps: OAuthRoutesDeps): Promise<void> {
  const { oauth } = deps;
  const faults = deps.faults ?? noFaults;

  app.get('/.well-known/oauth-authorization-server', { config: { operation: ops.metadata } }, async () =>
    oauth.metadata(),
  );
  app.get('/oauth2/jwks', { config: { operation: ops.jwks } }, async () => ({
    keys: (deps.oauthSigningKeys?.() ?? [deps.oauthSigningKey]).map((key) => key.publicJwk),
  }));

  /**
   * The DPoP key the request proves (token and PAR endpoints), checked against this endpoint's URL under the
   * configured public URL: a proof made for another server is refused whatever Host the request names.
   */
  const proofKey = async (request: FastifyRequest, required: boolean): Promise<string | null> => {
    const proof = request.headers.dpop;
    if (proof === undefined && !required) return null;
    const now = deps.clock.now();
    try {
      return await deps.dpop.verify({
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

    form.post('/oauth2/par', { config: { operation: ops.par } }, async (request, reply) => {
      const body = formOf(request);
      const jkt = await proofKey(request, false);
      noStore(reply);
      reply.code(201);
      return oauth.pushAuthorizationRequest(body, oauth.issuer(), jkt);
    });

    form.post('/oauth2/token', { config: { operation: ops.token } }, async (request, reply) => {
      const body = formOf(request);
      // The failure sandbox's token-service faults, decided before anything is checked or recorded.
      const subject = faults.armed ? await oauth.tokenFaultSubject(body) : undefined;
      if (subject !== undefined) {
        const refused = faults.take('refresh.refused', subject);
        if (refused !== undefined) {
          // The token service is down: its 5xx, before any change (the refresh token stays as it was).
          const status = Number(refused.params.status);
          const error = new GatehouseError(status === 503 ? 'SERVICE_UNAVAILABLE' : 'INTERNAL');
          return reply.status(status).header('cache-control', 'no-store').send(toEnvelope(error));
        }
        const hang = faults.take('refresh.timeout', subject);
        if (hang !== undefined) {
          // The token service hangs, then the connection drops with no answer: nothing was committed.
          reply.hijack();
          await new Promise((resolve) => setTimeout(resolve, Number(hang.params.hangMs)));
          request.raw.socket?.destroy();
          return reply;
        }
      }
      const jkt = (await proofKey(request, true)) as string;
      const tokens = await oauth.token(body, oauth.issuer(), jkt);
      if (subject !== undefined && faults.take('refresh.response_lost', subject) !== undefined) {
        // Committed (tokens issued, a rotated refresh token spent), then the connection is cut before the answer.
        await oauth.responseLost(subject);
        reply.hijack();
        request.raw.socket?.destroy();
        return reply;
      }
      noStore(reply);
      return tokens;
    });

    form.post('/oauth2/revoke', { config: { operation: ops.revoke } }, async (request, reply) => {
      await oauth.revoke(formOf(request), oauth.issuer());
      noStore(reply);
      return {};
    });

    form.post('/oauth2/introspect', { config: { operation: ops.introspect } }, async (request, reply) => {
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

  // FAPI 2.0: the authorization endpoint takes only a pushed request (client_id and request_uri).
  app.get('/oauth2/authorize', deps.auth.forPeople({ operation: ops.authorize }), async (request) => {
    const query = parseWith(ops.authorize.query, request.query);
    return oauth.authorizationRequest(principalOf(request), query.client_id, query.request_uri);
  });

  // Giving a program access is a change like adding a factor (security review F4): a second factor verified in the
  // last 5 minutes, not SMS, no step-up pending — checked before the pushed request is spent or a client is made. A
  // stolen cookie, or a session a phished SMS code opened, cannot hand a bot lasting access. Denying gives nothing
  // away, so any session of the user without a pending step-up may.
  app.post('/oauth2/authorize/consent', deps.auth.forPeople({ operation: ops.consent }), async (request) => {
    const body = parseWith(ops.consent.body, request.body);
    const principal = principalOf(request);
    await requireSensitive(deps.db, deps.clock, principal, body.approve ? { factorChange: true } : {});
    return oauth.consent(principal, body, oauth.issuer());
  });

  const registerPersonal = deps.auth.forPeople({ operation: ops.registerPersonal });
  app.post('/v1/oauth/clients', registerPersonal, async (request, reply) => {
    const body = parseWith(ops.registerPersonal.body, request.body);
    const principal = principalOf(request);
    await requireSensitive(deps.db, deps.clock, principal, { factorChange: true });
    reply.code(201);
    return oauth.registerPersonalClient(principal, body);
  });

  app.get('/v1/oauth/clients', deps.auth.forPeople({ operation: ops.list }), async (request) => ({
    clients: await oauth.listForUser(principalOf(request).session.userId),
  }));

  const revokeClient = deps.auth.forPeople({ operation: ops.revokeClient });
  app.delete('/v1/oauth/clients/:clientId', revokeClient, async (request, reply) => {
    const { clientId } = parseWith(ops.revokeClient.params, request.params);
    await oauth.revokeForUser(principalOf(request), clientId);
    return reply.code(204).send();
  });

  const operator = deps.auth.operator;
  if (operator !== undefined) {
    const registerApp = { preHandler: operator, config: { operation: ops.registerApp } };
    app.post('/v1/admin/oauth/clients', registerApp, async (request, reply) => {
      const body = parseWith(ops.registerApp.body, request.body);
      reply.code(201);
      return oauth.registerApp(body);
    });
  }
}
