/**
 * The OpenAPI document (`GET /openapi.json`, issue 16): valid OpenAPI 3.1, an operation for every route the app
 * registers, the credentials each route takes read from the route itself, and the response check every HTTP test
 * runs through (test-support/openapi.ts) shown to fail on a body of the wrong shape. The rendered reference
 * (`GET /api-reference`) is served from the swagger-ui-dist package under the portal's Content-Security-Policy.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterEach, describe, expect, it } from 'vitest';
import { openApiPath, registeredRoutes } from '../http/index.js';
import { startTestGateway, type TestGateway } from '../test-support/gateway.js';
import { checkResponses, OpenApiResponses, responsesChecked } from '../test-support/openapi.js';

type Json = Record<string, unknown>;
type Operations = Record<string, Record<string, Json>>;

let gw: TestGateway;
afterEach(async () => {
  await gw?.close();
});

/** Every route served: the admin API and the development outbox on, the portal built or not. */
async function fullGateway(): Promise<TestGateway> {
  return startTestGateway({
    config: {
      secrets: { adminApiToken: 'a'.repeat(40) },
      development: { exposeOutboxes: true },
    },
  });
}

async function documentOf(gateway: TestGateway): Promise<Json> {
  const response = await gateway.app.inject({ method: 'GET', url: '/openapi.json' });
  expect(response.statusCode).toBe(200);
  return response.json() as Json;
}

describe('GET /openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    gw = await fullGateway();
    const document = await documentOf(gw);
    const validator = new Validator();
    const result = await validator.validate(document);
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('has an operation for every route the app registers, and no other', async () => {
    gw = await fullGateway();
    const document = await documentOf(gw);
    const paths = document.paths as Operations;
    // HEAD routes are Fastify's own mirrors of GET routes (exposeHeadRoutes): the GET operation describes both.
    const registered = registeredRoutes(gw.app).filter((r) => r.method !== 'HEAD');
    const missing = registered
      .filter((r) => paths[openApiPath(r.url)]?.[r.method.toLowerCase()] === undefined)
      .map((r) => `${r.method} ${r.url}`);
    expect(missing).toEqual([]);
    const served = new Set(registered.map((r) => `${r.method.toLowerCase()} ${openApiPath(r.url)}`));
    const documented = Object.entries(paths).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => `${method} ${path}`),
    );
    expect(documented.filter((op) => !served.has(op))).toEqual([]);
    expect(documented.length).toBe(served.size);
    expect(document['x-undocumented-routes']).toBeUndefined();
    // The routes a reader looks for first, admin and development ones included.
    for (const op of [
      'post /v1/auth/login',
      'get /v1/session',
      'post /v1/accounts/{accountId}/orders',
      'get /v1/stream',
      'post /oauth2/token',
      'patch /v1/admin/accounts/{accountId}/entitlements',
      'get /v1/dev/sms-outbox',
      'get /openapi.json',
      'get /api-reference',
    ])
      expect(documented).toContain(op);
  });

  it('leaves out the routes this configuration does not serve', async () => {
    gw = await startTestGateway();
    const paths = (await documentOf(gw)).paths as Operations;
    expect(paths['/v1/admin/oauth/clients']).toBeUndefined();
    expect(paths['/v1/dev/sms-outbox']).toBeUndefined();
    expect(paths['/v1/auth/login']?.post).toBeDefined();
  });

  it('names the credentials each route takes, read from its pre-handler', async () => {
    gw = await fullGateway();
    const document = await documentOf(gw);
    const paths = document.paths as Operations;
    const security = (path: string, method: string) =>
      (paths[path]?.[method]?.security as Json[] | undefined)?.map((r) => Object.keys(r).sort().join('+'));
    expect(security('/v1/auth/login', 'post')).toBeUndefined();
    expect(security('/v1/session', 'get')).toEqual([
      'sessionCookie',
      'deviceProof+deviceToken',
      'dpopProof+programToken',
    ]);
    expect(security('/v1/accounts/{accountId}/orders', 'post')).toEqual([
      'csrfToken+sessionCookie',
      'deviceProof+deviceToken',
      'dpopProof+programToken',
    ]);
    expect(paths['/v1/accounts/{accountId}/orders']?.post?.security).toContainEqual({
      programToken: ['trade'],
      dpopProof: [],
    });
    // People only: no program token.
    expect(security('/v1/password', 'post')).toEqual(['csrfToken+sessionCookie', 'deviceProof+deviceToken']);
    expect(security('/v1/admin/oauth/clients', 'post')).toEqual(['adminToken']);
    // The stream authenticates in its upgrade check: an Origin instead of a CSRF token, programs with `read`.
    expect(security('/v1/stream', 'get')).toEqual([
      'sessionCookie',
      'deviceProof+deviceToken',
      'dpopProof+programToken',
    ]);
    const schemes = (document.components as Json).securitySchemes as Json;
    expect(Object.keys(schemes).sort()).toEqual([
      'adminToken',
      'csrfToken',
      'deviceProof',
      'deviceToken',
      'dpopProof',
      'programToken',
      'sessionCookie',
    ]);
  });

  it('answers errors with the envelope and its codes, and OAuth errors on the form endpoints', async () => {
    gw = await fullGateway();
    const document = await documentOf(gw);
    const paths = document.paths as Operations;
    const schemas = (document.components as Json).schemas as Record<string, Json>;
    expect(paths['/v1/session']?.get?.responses).toMatchObject({
      '4XX': { content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorEnvelope' } } } },
      '5XX': { content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorEnvelope' } } } },
    });
    expect(schemas.ErrorCode?.enum).toContain('SESSION_COMPETING');
    expect(paths['/oauth2/token']?.post?.responses).toMatchObject({
      '4XX': {
        content: {
          'application/json': {
            schema: {
              anyOf: [
                { $ref: '#/components/schemas/OAuthError' },
                { $ref: '#/components/schemas/ErrorEnvelope' },
              ],
            },
          },
        },
      },
    });
    expect(paths['/oauth2/token']?.post?.requestBody).toMatchObject({
      content: { 'application/x-www-form-urlencoded': {} },
    });
  });
});

describe('the response check of the HTTP tests', () => {
  it('refuses a body of the wrong shape, an undocumented status, and passes the right one', async () => {
    gw = await startTestGateway();
    const responses = new OpenApiResponses(await documentOf(gw));
    const session = { method: 'GET', url: '/v1/session', contentType: 'application/json; charset=utf-8' };
    expect(
      responses.check({ ...session, status: 200, body: JSON.stringify({ user: 'alice', csrfToken: 7 }) }),
    ).not.toEqual([]);
    expect(
      responses.check({
        ...session,
        status: 401,
        body: JSON.stringify({ error: { code: 'NOT_A_CODE', message: 'x' } }),
      }),
    ).not.toEqual([]);
    expect(
      responses.check({
        method: 'POST',
        url: '/v1/auth/logout',
        status: 201,
        contentType: undefined,
        body: '',
      }),
    ).toEqual(['status 201 is not documented']);
    expect(
      responses.check({
        ...session,
        status: 401,
        body: JSON.stringify({ error: { code: 'UNAUTHENTICATED', message: 'Log in first.' } }),
      }),
    ).toEqual([]);
  });

  it('fails the request of a test whose answer is not as the document says', async () => {
    gw = await startTestGateway();
    const document = await documentOf(gw);
    const paths = document.paths as Operations;
    // The same document, but `/healthz` documented to answer `{"status":"down"}`.
    (paths['/healthz'] as Record<string, Json>).get = {
      ...paths['/healthz']?.get,
      responses: {
        200: {
          description: 'Doctored.',
          content: {
            'application/json': {
              schema: { type: 'object', properties: { status: { const: 'down' } }, required: ['status'] },
            },
          },
        },
      },
    };
    checkResponses(gw.app, document);
    await expect(gw.app.inject({ method: 'GET', url: '/healthz' })).rejects.toThrow(
      /GET \/healthz answered 200 other than \/openapi.json documents/,
    );
  });

  it('checks every response of the gateway’s HTTP tests (startTestGateway)', async () => {
    gw = await startTestGateway();
    expect(responsesChecked(gw.app)).toBe(true);
    // A documented answer passes through unchanged.
    const response = await gw.app.inject({ method: 'GET', url: '/v1/session' });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });
  });
});

describe('GET /api-reference', () => {
  it('renders the document from the swagger-ui-dist package under the portal’s Content-Security-Policy', async () => {
    gw = await startTestGateway();
    const page = await gw.app.inject({ method: 'GET', url: '/api-reference' });
    const portal = await gw.app.inject({ method: 'GET', url: '/login' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.headers['content-security-policy']).toBe(portal.headers['content-security-policy']);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['x-frame-options']).toBe('DENY');
    // No inline script or style: every script and stylesheet is a file served from here.
    expect(page.body).not.toMatch(/<script>|<style|style="/);
    const sources = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string);
    expect(sources.sort()).toEqual([
      '/api-reference/init.js',
      '/api-reference/swagger-ui-bundle.js',
      '/api-reference/swagger-ui.css',
    ]);
    for (const source of sources) {
      const asset = await gw.app.inject({ method: 'GET', url: source });
      expect(asset.statusCode, source).toBe(200);
      expect(asset.body.length, source).toBeGreaterThan(0);
    }
    const init = await gw.app.inject({ method: 'GET', url: '/api-reference/init.js' });
    expect(init.body).toContain("url: '/openapi.json'");
    expect(init.body).toContain('supportedSubmitMethods: []');
    const unknown = await gw.app.inject({ method: 'GET', url: '/api-reference/..%2Fpackage.json' });
    expect(unknown.statusCode).toBe(404);
  });
});
